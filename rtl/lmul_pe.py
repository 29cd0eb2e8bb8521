"""L-Mul processing element: one integer adder (twin of ``lmul.sim.lmul_pe``).

Contract (``docs/lmul-spec.md``): ``o = lmul(fmt, a, b)`` bit for bit. The magnitude datapath
is the single addition ``S = F_a + F_b + C`` with ``C = 2**(m-l(m)) - bias*2**m`` a constant
operand that synthesis folds into the adder (a weight-stationary array can instead store
weights pre-biased, ``F_w + C``, making each PE a plain two-operand adder). Around it: sign
xor, exponent-field-zero detection (DAZ), two comparisons of ``S`` (underflow/overflow) and the NaN/Inf rule.

``latency`` = 0 (combinational), 1 (output register) or 2 (input and output registers).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lmul.formats import FloatFormat, FormatError, get_format
from lmul.rtl.float_layout import FloatLayout, classify, pack_result, special_result_daz
from lmul.sim.lmul_pe import check_lmul_format, lmul_constant

__all__ = ["LMulPE", "sum_shape"]


def sum_shape(fmt: FloatFormat) -> signed:
    """Signed shape holding every adder output ``F_a + F_b + C`` (and the pre-biased ``b``)."""
    c = lmul_constant(fmt)
    lo, hi = min(0, c), 2 * fmt.field_mask + max(c, 0)
    width = 2
    while not (-(1 << (width - 1)) <= lo and hi < (1 << (width - 1))):
        width += 1
    return signed(width)


class LMulPE(wiring.Component):
    """L-Mul of two operands of ``fmt``; ports ``a``, ``b``, ``o`` (``FloatLayout`` views)."""

    def __init__(self, fmt: FloatFormat | str, *, latency: int = 0) -> None:
        self.fmt = fmt = get_format(fmt)
        check_lmul_format(fmt)
        if latency not in (0, 1, 2):
            raise FormatError(f"LMulPE latency must be 0, 1 or 2, got {latency!r}")
        self.latency = latency
        super().__init__({"a": In(FloatLayout(fmt)), "b": In(FloatLayout(fmt)), "o": Out(FloatLayout(fmt))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt = self.fmt
        mb = fmt.man_bits
        a, b, o = self.a, self.b, self.o
        if self.latency == 2:
            a_r, b_r = Signal.like(a), Signal.like(b)
            m.d.sync += [a_r.eq(a), b_r.eq(b)]
            a, b = a_r, b_r

        s = Signal(sum_shape(fmt))
        cx, cy = classify(m, fmt, a, "a"), classify(m, fmt, b, "b")
        m.d.comb += s.eq(a.as_value()[:fmt.field_bits] + b.as_value()[:fmt.field_bits] + lmul_constant(fmt))

        special, special_bits = special_result_daz(m, fmt, cx, cy)
        zero = Signal()
        over = Signal()
        m.d.comb += [
            zero.eq(cx.exp_zero | cy.exp_zero | (s < (1 << mb))),
            over.eq(s > fmt.max_finite_field),
        ]
        res = pack_result(m, fmt, s.as_unsigned(), over, zero, cx.sign ^ cy.sign, special, special_bits)
        if self.latency >= 1:
            m.d.sync += o.eq(res)
        else:
            m.d.comb += o.eq(res)
        return m
