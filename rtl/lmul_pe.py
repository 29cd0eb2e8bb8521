"""L-Mul processing element: one integer adder (golden twin: ``lmul.sim.lmul_pe``; spec:
``docs/lmul-spec.md``)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lmul.arith import check_lmul_format, lmul_constant
from lmul.formats import FloatFormat, get_format
from lmul.rtl.float_layout import FloatLayout, classify, pack_result, special_result_daz
from lmul.rtl.latency import check_latency, stage
from lmul.rtl.rounding import signed_width

__all__ = ["LMulPE", "sum_shape"]


def sum_shape(fmt: FloatFormat) -> signed:
    """Signed shape holding every adder output ``F_a + F_b + C`` (and the pre-biased ``b``)."""
    c = lmul_constant(fmt)
    return signed(signed_width(min(0, c), 2 * fmt.field_mask + max(c, 0)))


class LMulPE(wiring.Component):
    """L-Mul of two operands of ``fmt``: ``o = lmul(fmt, a, b)`` bit for bit.

    The magnitude datapath is the single addition ``S = F_a + F_b + C`` (``F`` the exponent and
    mantissa fields read as one unsigned integer) with ``C = 2**(m-l(m)) - bias*2**m``
    (``lmul.arith.lmul_constant``) a constant operand that synthesis folds into the adder (a
    weight-stationary array can instead store weights pre-biased, ``F_w + C``, making each PE a
    plain two-operand adder). Around it: sign xor, exponent-field-zero detection (DAZ: subnormal
    operands read as zero), two comparisons of ``S`` (underflow: ``S < 2**m`` gives ±0; overflow:
    ``S`` above the largest finite field takes the format's overflow value) and the NaN/Inf rule
    (``special_result_daz``).

    Parameters
    ----------
    fmt : FloatFormat or str
        Operand and result format; must have at least one mantissa bit
        (``lmul.arith.check_lmul_format``, else ``FormatError``).
    latency : int
        Pipeline depth, 0 (combinational), 1 or 2; anything else raises ``ParameterError``
        (``TypeError`` if not an int). Where the registers sit: 1: after the adder (``S``, the
        DAZ flag, sign and special-value flags); 2: also after the two comparisons of ``S``,
        before the result mux. The stages are adder, comparisons, mux.

    Attributes
    ----------
    a : In(FloatLayout(fmt))
        First operand (``{man, exp, sign}`` view, LSB first).
    b : In(FloatLayout(fmt))
        Second operand.
    o : Out(FloatLayout(fmt))
        ``lmul(fmt, a, b)``.
    latency : int
        Clock cycles from ``a``/``b`` to ``o`` (the ``latency`` parameter; 0: same cycle).

    Throughput one operand pair per cycle at every latency (fully pipelined, no handshake, no
    stall). Reset clears the pipeline registers; until the first operands have passed through,
    the output is the all-zero code (+0). There is no other state.
    """

    def __init__(self, fmt: FloatFormat | str, *, latency: int = 0) -> None:
        self.fmt = fmt = get_format(fmt)
        check_lmul_format(fmt)
        self.latency = check_latency("LMulPE", latency)
        super().__init__({"a": In(FloatLayout(fmt)), "b": In(FloatLayout(fmt)), "o": Out(FloatLayout(fmt))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt = self.fmt
        mb = fmt.man_bits
        a, b = self.a, self.b
        # stage 1: the adder, in parallel with the operand classes
        s = Signal(sum_shape(fmt))
        cx, cy = classify(m, fmt, a, "a"), classify(m, fmt, b, "b")
        m.d.comb += s.eq(a.as_value()[:fmt.field_bits] + b.as_value()[:fmt.field_bits] + lmul_constant(fmt))
        special, special_bits = special_result_daz(m, fmt, cx, cy)
        daz = Signal()
        m.d.comb += daz.eq(cx.exp_zero | cy.exp_zero)
        sign = cx.sign ^ cy.sign
        s, daz, sign, special, special_bits = stage(
            m, self.latency >= 1, "sum", s, daz, sign, special, special_bits)
        # stage 2: range checks of S, on its exponent part S >> m where the constant allows
        # (ABC maps that smaller than whole-S compares: E4M3 -46, E5M2 -116 transistors);
        # stage 3: the result mux
        zero = Signal()
        over = Signal()
        s_hi = s[mb:].as_signed()
        emax, mmax = fmt.max_finite_field >> mb, fmt.max_finite_field & fmt.man_mask
        m.d.comb += [
            zero.eq(daz | s_hi[-1] | (s_hi == 0)),
            over.eq((s_hi > emax) | ((s_hi == emax) & (s[:mb] > mmax))),
        ]
        s, zero, over, sign, special, special_bits = stage(
            m, self.latency >= 2, "range", s, zero, over, sign, special, special_bits)
        res = pack_result(m, fmt, s.as_unsigned(), over, zero, sign, special, special_bits)
        m.d.comb += self.o.eq(res)
        return m
