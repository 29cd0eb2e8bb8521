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
from lmul.rtl.float_layout import FloatLayout, classify, special_result
from lmul.rtl.latency import check_latency, drive_output, register_inputs
from lmul.rtl.rounding import round_to_format, signed_width

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


class FPMultiplier(wiring.Component):
    """Exact FP multiplier of ``fmt``; ports ``a``, ``b`` and ``o`` (rounded) or ``p`` (exact)."""

    def __init__(self, fmt: FloatFormat | str, *, mode: str = "rounded", latency: int = 0) -> None:
        self.fmt = fmt = get_format(fmt)
        if mode not in ("rounded", "exact"):
            raise FormatError(f"FPMultiplier mode must be 'rounded' or 'exact', got {mode!r}")
        self.mode, self.latency = mode, check_latency("FPMultiplier", latency)
        out = {"o": Out(FloatLayout(fmt))} if mode == "rounded" else {"p": Out(ExactProductLayout(fmt))}
        super().__init__({"a": In(FloatLayout(fmt)), "b": In(FloatLayout(fmt)), **out})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt = self.fmt
        mb = fmt.man_bits
        a, b = register_inputs(m, self.latency, self.a, self.b)

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
            # Restates the NaN condition of special_result on purpose: reusing that signal is the
            # same logic but maps differently in ABC (BF16: +24 transistors), and this netlist is
            # the one the published report measured inside every exact MAC and array.
            nan = Signal()
            m.d.comb += nan.eq(special & (cx.nan | cy.nan | cx.inf & cy.zero | cy.inf & cx.zero))
            m.d.comb += [
                res.sig.eq(Mux(zero | special, 0, prod)),
                res.shift.eq(Mux(zero | special, 0, ea + eb - 2)),
                res.sign.eq(sign), res.nan.eq(nan), res.inf.eq(special & ~nan),
            ]
            target = self.p
        else:
            # d = Ea + Eb - bias: the biased exponent of prod's top bit, minus one
            d = Signal(signed(signed_width(2 - fmt.bias, 2 * fmt.max_exp_field - fmt.bias)))
            m.d.comb += d.eq(ea + eb - fmt.bias)
            res = round_to_format(m, fmt, prod, d, zero, sign, special, special_bits, lzc=fmt.subnormals)
            target = self.o
        drive_output(m, self.latency, target, res)
        return m
