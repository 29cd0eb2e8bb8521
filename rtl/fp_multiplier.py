"""Reference exact floating-point multiplier (twin of ``lmul.sim.fp_multiplier``).

``mode="rounded"``: ``o = fp_multiply(fmt, a, b)`` bit for bit — the exact product rounded once
to ``fmt`` with round-to-nearest-even, subnormal operands and results, the format's specials,
the project's NaN rule and the overflow policy.

``mode="exact"``: the unrounded product for MAC units, equal to ``fp_product``:
``value = (-1)**sign * sig << shift`` at fixed-point LSB ``2**(2*quantum_exp)``, with
``sig`` the (2m+2)-bit significand product, ``shift = max(Ea,1) + max(Eb,1) - 2`` and the
``nan``/``inf`` flags (``sig`` is 0 for zero, NaN and Inf products).

Datapath (rounded): (m+1)×(m+1) significand multiplier; exponent sum; leading-zero count of the
product, needed only when subnormal operands are supported; one left shift (normalise, limited
so the exponent stays >= 1) or right shift (subnormal result); RNE increment whose carry ripples
into the exponent field; overflow compare; special-value mux. ``latency`` = 0, 1 (output
register) or 2 (input and output registers).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lmul.formats import FloatFormat, FormatError, get_format
from lmul.rtl.float_layout import FloatLayout, classify, pack_result, special_result

__all__ = ["ExactProductLayout", "FPMultiplier"]


class ExactProductLayout(data.StructLayout):
    """Unrounded product: ``sig`` (2m+2 bits), ``shift``, ``sign``, ``nan``, ``inf``."""

    def __init__(self, fmt: FloatFormat) -> None:
        self.fmt = fmt
        super().__init__({
            "sig": 2 * fmt.man_bits + 2,
            "shift": (2 * fmt.max_exp_field - 2).bit_length() or 1,
            "sign": 1, "nan": 1, "inf": 1,
        })


def _signed_width(lo: int, hi: int) -> int:
    w = 2
    while not (-(1 << (w - 1)) <= lo and hi < (1 << (w - 1))):
        w += 1
    return w


class FPMultiplier(wiring.Component):
    """Exact FP multiplier of ``fmt``; ports ``a``, ``b`` and ``o`` (rounded) or ``p`` (exact)."""

    def __init__(self, fmt: FloatFormat | str, *, mode: str = "rounded", latency: int = 0) -> None:
        self.fmt = fmt = get_format(fmt)
        if mode not in ("rounded", "exact"):
            raise FormatError(f"FPMultiplier mode must be 'rounded' or 'exact', got {mode!r}")
        if latency not in (0, 1, 2):
            raise FormatError(f"FPMultiplier latency must be 0, 1 or 2, got {latency!r}")
        self.mode, self.latency = mode, latency
        out = {"o": Out(FloatLayout(fmt))} if mode == "rounded" else {"p": Out(ExactProductLayout(fmt))}
        super().__init__({"a": In(FloatLayout(fmt)), "b": In(FloatLayout(fmt)), **out})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt = self.fmt
        mb = fmt.man_bits
        a, b = self.a, self.b
        if self.latency == 2:
            a_r, b_r = Signal.like(a), Signal.like(b)
            m.d.sync += [a_r.eq(a), b_r.eq(b)]
            a, b = a_r, b_r

        cx, cy = classify(m, fmt, a, "a"), classify(m, fmt, b, "b")
        special, special_bits = special_result(m, fmt, cx, cy)
        zero = Signal()
        m.d.comb += zero.eq(cx.zero | cy.zero)
        sign = cx.sign ^ cy.sign

        # significands with hidden bit, effective exponents max(E, 1)
        hid_a = ~cx.exp_zero if fmt.subnormals else Const(1)
        hid_b = ~cy.exp_zero if fmt.subnormals else Const(1)
        ea = Mux(cx.exp_zero, 1, a.exp)
        eb = Mux(cy.exp_zero, 1, b.exp)
        w = 2 * mb + 2
        prod = Signal(w)
        m.d.comb += prod.eq(Cat(a.man, hid_a) * Cat(b.man, hid_b))

        if self.mode == "exact":
            res = Signal(ExactProductLayout(fmt))
            nan = Signal()
            m.d.comb += nan.eq(special & (cx.nan | cy.nan | cx.inf & cy.zero | cy.inf & cx.zero))
            m.d.comb += [
                res.sig.eq(Mux(zero | special, 0, prod)),
                res.shift.eq(Mux(zero | special, 0, ea + eb - 2)),
                res.sign.eq(sign), res.nan.eq(nan), res.inf.eq(special & ~nan),
            ]
            target = self.p
        else:
            res = self._round(m, fmt, prod, ea, eb, zero, sign, special, special_bits)
            target = self.o
        if self.latency >= 1:
            m.d.sync += target.eq(res)
        else:
            m.d.comb += target.eq(res)
        return m

    @staticmethod
    def _round(m: Module, fmt: FloatFormat, prod: Signal, ea, eb, zero, sign, special, special_bits):
        mb = fmt.man_bits
        w = 2 * mb + 2
        # d = Ea + Eb - bias: biased exponent of the product when prod's top bit is the hidden bit,
        # minus one; also the largest left shift that keeps the exponent field >= 1.
        emax_f = fmt.max_exp_field
        d = Signal(signed(_signed_width(2 - fmt.bias, 2 * emax_f - fmt.bias)))
        m.d.comb += d.eq(ea + eb - fmt.bias)

        lshift = Signal(range(w + 1))
        rshift = Signal(range(mb + 3))
        if fmt.subnormals:
            lz = Signal(range(w + 1))          # leading zeros of prod (priority encoder)
            m.d.comb += lz.eq(w)
            for i in range(w):                 # last assignment wins: the highest set bit
                with m.If(prod[i]):
                    m.d.comb += lz.eq(w - 1 - i)
            with m.If(d < 0):
                m.d.comb += [lshift.eq(0), rshift.eq(Mux(-d > mb + 2, mb + 2, -d))]
            with m.Elif(d < lz):
                m.d.comb += [lshift.eq(d), rshift.eq(0)]
            with m.Else():
                m.d.comb += [lshift.eq(lz), rshift.eq(0)]
        else:
            # normal operands only: prod in [2**(2m), 2**(2m+2)), at most one leading zero
            with m.If(d < 0):
                m.d.comb += [lshift.eq(0), rshift.eq(Mux(-d > mb + 2, mb + 2, -d))]
            with m.Else():
                m.d.comb += [lshift.eq(Mux((d > 0) & ~prod[w - 1], 1, 0)), rshift.eq(0)]
        ebase = Signal(range(2 * emax_f + 1))
        m.d.comb += ebase.eq(Mux(d < 0, 0, d - lshift))

        r = mb + 2                              # right-shift room: everything below lands in sticky
        norm = Signal(w)
        m.d.comb += norm.eq(prod << lshift)
        ext = Signal(w + r)
        m.d.comb += ext.eq(Cat(Const(0, r), norm) >> rshift)
        top = w + r
        n_trunc = ext[top - mb - 1: top]
        guard = ext[top - mb - 2]
        sticky = ext[: top - mb - 2].any()
        round_up = guard & (sticky | n_trunc[0])
        field = Signal(range((2 * emax_f + 2) << mb))
        m.d.comb += field.eq((ebase << mb) + n_trunc + round_up)
        over = Signal()
        m.d.comb += over.eq(field > fmt.max_finite_field)
        return pack_result(m, fmt, field, over, zero, sign, special, special_bits)
