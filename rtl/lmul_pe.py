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

from lmul.arith import check_lmul_format, lmul_constant
from lmul.formats import FloatFormat, get_format
from lmul.rtl.float_layout import FloatLayout, classify, pack_result, special_result_daz
from lmul.rtl.latency import check_latency, drive_output, register_inputs
from lmul.rtl.rounding import signed_width

__all__ = ["LMulPE", "sum_shape"]


def sum_shape(fmt: FloatFormat) -> signed:
    """Signed shape holding every adder output ``F_a + F_b + C`` (and the pre-biased ``b``)."""
    c = lmul_constant(fmt)
    return signed(signed_width(min(0, c), 2 * fmt.field_mask + max(c, 0)))


class LMulPE(wiring.Component):
    """L-Mul of two operands of ``fmt``; ports ``a``, ``b``, ``o`` (``FloatLayout`` views)."""

    def __init__(self, fmt: FloatFormat | str, *, latency: int = 0) -> None:
        self.fmt = fmt = get_format(fmt)
        check_lmul_format(fmt)
        self.latency = check_latency("LMulPE", latency)
        super().__init__({"a": In(FloatLayout(fmt)), "b": In(FloatLayout(fmt)), "o": Out(FloatLayout(fmt))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt = self.fmt
        mb = fmt.man_bits
        a, b = register_inputs(m, self.latency, self.a, self.b)

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
        drive_output(m, self.latency, self.o, res)
        return m
