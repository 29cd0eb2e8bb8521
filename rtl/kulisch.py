"""The exact (Kulisch) accumulator plug-in, ``acc="kulisch"`` (golden twin: ``lmul.sim.kulisch``).

Two components, the two halves of one accumulator kind: ``KulischAccumulator`` keeps the exact
running sum inside a PE; ``KulischRounder`` turns a finished sum into the output format. An
array keeps one accumulator per PE and one rounder per column, so they are separate blocks.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lmul.arith import Accumulator, ProductKind, accumulator, kulisch_bits, product_kind
from lmul.formats import FloatFormat, FormatError, encode
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.products import ProductLayout
from lmul.rtl.rounding import round_to_format

__all__ = ["KulischAccumulator", "KulischRounder", "KulischState", "check_out_format"]


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

    Latency 2 ``en`` cycles from a ``last`` product to ``done`` (stage 1 registers the signed
    product, stage 2 adds it). Throughput one product per cycle; the sum restarts at zero after
    each ``last``, so dot products follow back to back.
    """

    latency = 2

    def __init__(self, fmt: FloatFormat, kind: str | ProductKind, k_max: int,
                 acc: str | Accumulator = "kulisch") -> None:
        self.fmt, self.kind, self.acc = fmt, product_kind(kind), accumulator(acc)
        self.prod_bits = self.kind.bits(fmt)
        self.acc_bits = kulisch_bits(fmt, self.kind, k_max)
        self.state_layout = KulischState(self.acc_bits)
        super().__init__({"en": In(1), "valid": In(1), "last": In(1), "p": In(ProductLayout(self.prod_bits)),
                          "done": Out(1), "result": Out(self.state_layout)})

    def finisher(self, out_fmt: FloatFormat) -> KulischRounder:
        """The component rounding this accumulator's ``result`` to ``out_fmt``."""
        return KulischRounder(self.fmt, out_fmt, self.acc_bits)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self.p
        # stage 1: aligned signed product
        prod = Signal(signed(self.prod_bits + 1))
        s1_valid, s1_last, s1_nan, s1_pinf, s1_ninf = (Signal(name=n) for n in
                                                       ("s1_valid", "s1_last", "s1_nan", "s1_pinf", "s1_ninf"))
        with m.If(self.en):
            m.d.sync += [
                prod.eq(Mux(p.sign, -p.mag, p.mag)),
                s1_valid.eq(self.valid), s1_last.eq(self.valid & self.last),
                s1_nan.eq(self.valid & p.nan),
                s1_pinf.eq(self.valid & p.inf & ~p.sign), s1_ninf.eq(self.valid & p.inf & p.sign),
            ]
        # stage 2: accumulate
        acc = Signal(signed(self.acc_bits))
        f_nan, f_pinf, f_ninf = Signal(), Signal(), Signal()
        total = Signal(signed(self.acc_bits))
        r = self.result
        m.d.comb += total.eq(acc + Mux(s1_valid, prod, 0))
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


class KulischRounder(wiring.Component):
    """Combinational: a finished exact sum -> ``out_fmt`` bits, one RNE rounding
    (golden: ``lmul.sim.kulisch.accumulate``).

    Parameters
    ----------
    fmt : FloatFormat
        Operand format (the sum's LSB is ``2**(2*fmt.quantum_exp)``).
    out_fmt : FloatFormat
        Result format; must have a NaN when ``fmt`` has NaN or Inf.
    acc_bits : int
        Width of the sum.

    Attributes
    ----------
    i : In(KulischState(acc_bits))
        Sum and special flags.
    o : Out(FloatLayout(out_fmt))
        Rounded result: a NaN product, or both +Inf and -Inf, give ``out_fmt``'s NaN; ±Inf gives
        ``encode(out_fmt, ±inf)``; a zero sum is +0.

    Latency 0 (combinational: negate, leading-zero count, shift, RNE increment).
    """

    latency = 0

    def __init__(self, fmt: FloatFormat, out_fmt: FloatFormat, acc_bits: int) -> None:
        check_out_format(fmt, out_fmt)
        self.fmt, self.out_fmt, self.acc_bits = fmt, out_fmt, acc_bits
        super().__init__({"i": In(KulischState(acc_bits)), "o": Out(FloatLayout(out_fmt))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        out, w = self.out_fmt, self.acc_bits
        s = self.i.sum.as_signed()
        neg = s[w - 1]
        mag = Signal(w - 1)
        m.d.comb += mag.eq(Mux(neg, -s, s))
        # value = sum * 2**lsb; mag's top bit (w-2) has unbiased exponent w-2+lsb
        lsb = 2 * self.fmt.quantum_exp
        d = Const(w - 2 + lsb + out.bias - 1)
        nan = self.i.nan | (self.i.pinf & self.i.ninf)
        special = nan | self.i.pinf | self.i.ninf

        def bits(v: float) -> int:
            return int(encode(out, np.array([v]))[0]) if not (np.isnan(v) and not out.has_nan) else 0

        special_bits = Mux(nan, bits(np.nan), Mux(self.i.pinf, bits(np.inf), bits(-np.inf)))
        res = round_to_format(m, out, mag, d, mag == 0, neg, special, special_bits, lzc=True)
        m.d.comb += self.o.eq(res)
        return m
