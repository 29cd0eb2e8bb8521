"""The exact (Kulisch) accumulator plug-in, ``acc="kulisch"`` (golden twin: ``lmul.sim.kulisch``).

Two components, the two halves of one accumulator kind: ``KulischAccumulator`` keeps the exact
running sum inside a PE; ``KulischRounder`` turns a finished sum into the output format. An
array keeps one accumulator per PE and one rounder per column, so they are separate blocks.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lmul.arith import Accumulator, ProductKind, accumulator, kulisch_bits, product_kind
from lmul.formats import FloatFormat, FormatError, encode
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.fp_accumulator import check_pipeline, pipe, round_staged
from lmul.rtl.products import ProductLayout

__all__ = ["ROUNDER_CUTS", "KulischAccumulator", "KulischRounder", "KulischState", "check_out_format"]


class KulischState(data.StructLayout):
    """A finished exact sum: ``sum`` (two's complement, ``acc_bits``), ``nan``, and ``pinf``/``ninf``
    (some +Inf / -Inf product). The fields are packed LSB first: ``sum`` then the three flags."""

    def __init__(self, acc_bits: int) -> None:
        super().__init__({"sum": signed(acc_bits), "nan": 1, "pinf": 1, "ninf": 1})


def check_out_format(fmt: FloatFormat, out_fmt: FloatFormat) -> None:
    if (fmt.has_nan or fmt.has_inf) and not out_fmt.has_nan:
        raise FormatError(f"output format {out_fmt.name} cannot hold the NaN a {fmt.name} dot product can give")


class KulischAccumulator(wiring.Component):
    """Exact two's-complement accumulation of exact products.

    Parameters
    ----------
    fmt : FloatFormat
        Operand format (sets the fixed-point LSB ``2**(2*quantum_exp)``).
    kind : str or ProductKind
        Product kind feeding it (sets the product width).
    k_max : int
        Longest dot product: the accumulator has ``kulisch_bits(fmt, kind, k_max)`` bits and
        cannot overflow for up to ``k_max`` products; longer ones are outside the contract.
    acc : str or Accumulator
        ``"kulisch"`` (no options).
    pipeline : int
        Extra register stages, 0 (default) or 1: 1 registers the incoming product (``p``,
        ``valid``, ``last``) before it is negated, so the product logic upstream and the negation
        are in different cycles. ``ParameterError`` otherwise.

    Attributes
    ----------
    en : In(1)
        Advance: every register moves only when high (the whole PE stalls when low).
    valid, last : In(1)
        ``p`` holds a product; it is the final one of its dot product.
    p : In(ProductLayout(kind.bits(fmt)))
        The exact product (sign-magnitude, flags).
    done : Out(1)
        ``result`` holds a newly finished sum (high for one ``en`` cycle).
    result : Out(KulischState(acc_bits))
        The last finished sum and its special flags (held until the next one finishes).

    latency : int
        ``2 + pipeline`` ``en`` cycles from a ``last`` product to ``done`` (the optional input
        register; stage 1 registers the signed product, stage 2 adds it).

    Throughput one product per cycle at every depth; the sum restarts at zero after each
    ``last``, so dot products follow back to back. What limits Fmax: the negation (a carry chain
    of ``kind.bits(fmt) + 1`` bits) and the accumulate add (a carry chain of ``acc_bits`` bits,
    loop-carried, so it stays one cycle).
    """

    #: Most extra register stages ``pipeline`` takes.
    max_pipeline = 1
    #: Latency at the default depth (instances: ``2 + pipeline``).
    latency = 2

    def __init__(self, fmt: FloatFormat, kind: str | ProductKind, k_max: int,
                 acc: str | Accumulator = "kulisch", *, pipeline: int = 0) -> None:
        self.pipeline = check_pipeline("KulischAccumulator", pipeline, self.max_pipeline)
        self.latency = 2 + self.pipeline
        self.fmt, self.kind, self.acc = fmt, product_kind(kind), accumulator(acc)
        self.prod_bits = self.kind.bits(fmt)
        self.acc_bits = kulisch_bits(fmt, self.kind, k_max)
        self.state_layout = KulischState(self.acc_bits)
        super().__init__({"en": In(1), "valid": In(1), "last": In(1), "p": In(ProductLayout(self.prod_bits)),
                          "done": Out(1), "result": Out(self.state_layout)})

    @staticmethod
    def finisher_max_pipeline(acc: Accumulator, out_fmt: FloatFormat) -> int:
        """``max_pipeline`` of the finisher to ``out_fmt``, known before building one."""
        return KulischRounder.max_pipeline

    def finisher(self, out_fmt: FloatFormat, *, pipeline: int = 0) -> KulischRounder:
        """The component rounding this accumulator's ``result`` to ``out_fmt`` (with ``pipeline``
        register stages, ``KulischRounder``)."""
        return KulischRounder(self.fmt, out_fmt, self.acc_bits, pipeline=pipeline)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        # stage 0 (pipeline 1): the incoming product, registered
        s0 = pipe(m, self.en, self.pipeline >= 1, "s0", p=self.p, valid=self.valid, last=self.last)
        p = s0["p"]
        valid, last = s0["valid"], s0["last"]
        # stage 1: aligned signed product (0 for a bubble)
        mag = Signal(self.prod_bits)
        m.d.comb += mag.eq(Mux(valid, p.mag, 0))
        prod = Signal(signed(self.prod_bits + 1))
        s1_valid, s1_last, s1_nan, s1_pinf, s1_ninf = (Signal(name=n) for n in
                                                       ("s1_valid", "s1_last", "s1_nan", "s1_pinf", "s1_ninf"))
        with m.If(self.en):
            m.d.sync += [
                prod.eq(Mux(p.sign, -mag, mag)),
                s1_valid.eq(valid), s1_last.eq(valid & last),
                s1_nan.eq(valid & p.nan),
                s1_pinf.eq(valid & p.inf & ~p.sign), s1_ninf.eq(valid & p.inf & p.sign),
            ]
        # stage 2: accumulate
        acc = Signal(signed(self.acc_bits))
        f_nan, f_pinf, f_ninf = Signal(), Signal(), Signal()
        total = Signal(signed(self.acc_bits))
        r = self.result
        m.d.comb += total.eq(acc + prod)        # prod is 0 for a bubble: no mux inside the loop
        with m.If(self.en):
            m.d.sync += self.done.eq(0)
            with m.If(s1_last):
                m.d.sync += [r.sum.eq(total), r.nan.eq(f_nan | s1_nan),
                             r.pinf.eq(f_pinf | s1_pinf), r.ninf.eq(f_ninf | s1_ninf),
                             self.done.eq(1), acc.eq(0), f_nan.eq(0), f_pinf.eq(0), f_ninf.eq(0)]
            with m.Else():
                m.d.sync += [acc.eq(total), f_nan.eq(f_nan | s1_nan),
                             f_pinf.eq(f_pinf | s1_pinf), f_ninf.eq(f_ninf | s1_ninf)]
        return m


#: The rounder's cut points in the order its ``pipeline`` registers are placed: ``"shift"``
#: after the normalising shift, ``"abs"`` after the absolute value (before the leading-zero
#: count), ``"lzc"`` after the leading-zero count, ``"round"`` after the RNE increment (before
#: the overflow compare and the special mux), ``"sticky"`` after the round-up bit (guard and
#: sticky); ``lmul.rtl.fp_accumulator.round_staged``. The order is the measured one: each stage
#: added splits the then longest path (iCE40 UP5K, E4M3 MAC PE; ``README.md``, "Pipelining").
ROUNDER_CUTS = ("shift", "abs", "lzc", "round", "sticky")


class KulischRounder(wiring.Component):
    """A finished exact sum -> ``out_fmt`` bits, one RNE rounding (golden:
    ``lmul.sim.kulisch.accumulate``); combinational by default, pipelined on request.

    Parameters
    ----------
    fmt : FloatFormat
        Operand format (the sum's LSB is ``2**(2*fmt.quantum_exp)``).
    out_fmt : FloatFormat
        Result format; must have a NaN when ``fmt`` has NaN or Inf.
    acc_bits : int
        Width of the sum.
    pipeline : int
        Extra register stages, ``0..5`` (default 0: combinational): registers at the first
        ``pipeline`` cut points of ``ROUNDER_CUTS`` (after the shift, after the absolute value,
        after the leading-zero count, after the RNE increment, after the round-up bit).
        ``ParameterError`` otherwise.

    Attributes
    ----------
    en : In(1, init=1)
        Advance: the pipeline registers move only when high (unused at ``pipeline=0``; left
        undriven it is 1, a free-running pipeline).
    i : In(KulischState(acc_bits))
        Sum and special flags.
    o : Out(FloatLayout(out_fmt))
        Rounded result: a NaN product, or both +Inf and -Inf, give ``out_fmt``'s NaN; ±Inf gives
        ``encode(out_fmt, ±inf)``; a zero sum is +0.
    latency : int
        ``pipeline``: ``o`` is the rounding of ``i`` as it was ``latency`` ``en`` cycles earlier.

    Datapath: absolute value (an ``acc_bits`` carry chain; with the ``"abs"`` cut a carry
    select of two half-length chains) | leading-zero count (log-depth tree) | normalising shift
    | guard, sticky, round-up bit | RNE increment (carry into the exponent) | overflow compare,
    special mux. Throughput one sum per cycle at every depth.
    """

    #: Most extra register stages ``pipeline`` takes.
    max_pipeline = len(ROUNDER_CUTS)
    #: Latency at the default depth (instances: ``pipeline``).
    latency = 0

    def __init__(self, fmt: FloatFormat, out_fmt: FloatFormat, acc_bits: int, *, pipeline: int = 0) -> None:
        check_out_format(fmt, out_fmt)
        self.pipeline = check_pipeline("KulischRounder", pipeline, self.max_pipeline)
        self.latency = self.pipeline
        self.fmt, self.out_fmt, self.acc_bits = fmt, out_fmt, acc_bits
        super().__init__({"en": In(1, init=1), "i": In(KulischState(acc_bits)), "o": Out(FloatLayout(out_fmt))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        out, w = self.out_fmt, self.acc_bits
        cuts = set(ROUNDER_CUTS[:self.pipeline])
        s = self.i.sum.as_signed()
        neg = s[w - 1]
        mag = Signal(w - 1)
        if "abs" in cuts and w > 16:
            # carry select: the two halves of -s side by side (half-length carry chains); the
            # upper half is ~hi + 1 when the lower half is zero, else ~hi
            h = (w - 1) // 2
            lo, hi = s[:h], s[h:w - 1]
            lo_neg, hi_neg = Signal(h), Signal(w - 1 - h)
            m.d.comb += [lo_neg.eq(-lo), hi_neg.eq(-hi)]
            m.d.comb += mag.eq(Mux(neg, Cat(lo_neg, Mux(lo.any(), ~hi, hi_neg)), s[:w - 1]))
        else:
            m.d.comb += mag.eq(Mux(neg, -s, s))
        # value = sum * 2**lsb; mag's top bit (w-2) has unbiased exponent w-2+lsb
        lsb = 2 * self.fmt.quantum_exp
        d = w - 2 + lsb + out.bias - 1
        nan = self.i.nan | (self.i.pinf & self.i.ninf)
        special = nan | self.i.pinf | self.i.ninf

        def bits(v: float) -> int:
            return int(encode(out, np.array([v]))[0]) if not (np.isnan(v) and not out.has_nan) else 0

        special_bits = Mux(nan, bits(np.nan), Mux(self.i.pinf, bits(np.inf), bits(-np.inf)))
        zero = Signal()
        m.d.comb += zero.eq(s == 0)             # beside the absolute value, not after it
        q = pipe(m, self.en, "abs" in cuts, "abs", mag=mag, neg=neg, zero=zero, special=special,
                 special_bits=special_bits)
        res = round_staged(m, out, q["mag"], d, q["zero"], q["neg"], q["special"], q["special_bits"],
                           cuts=cuts - {"abs"}, en=self.en, name="rnd")
        m.d.comb += self.o.eq(res)
        return m
