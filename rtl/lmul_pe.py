"""L-Mul processing element: one integer adder (golden twin: ``lmul.sim.lmul_pe``; spec:
``docs/lmul-spec.md``)."""

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
        Pipeline registers: 0 (combinational), 1 (output register) or 2 (input and output
        registers); anything else raises ``ParameterError`` (``TypeError`` if not an int).

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
    stall). Reset clears the pipeline registers to the all-zero code (+0); there is no other
    state.
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
