"""Reference exact floating-point multiplier, rounded or unrounded (golden twin:
``lmul.sim.fp_multiplier``: ``fp_multiply`` and ``fp_product``)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lmul.errors import check_choice
from lmul.formats import FloatFormat, get_format
from lmul.rtl.float_layout import FloatLayout, classify, special_result
from lmul.rtl.latency import check_latency, drive_output, register_inputs
from lmul.rtl.rounding import round_to_format, signed_width

__all__ = ["ExactProductLayout", "FPMultiplier"]


class ExactProductLayout(data.StructLayout):
    """Unrounded product of two ``fmt`` operands, as ``FPMultiplier(mode="exact")`` gives it
    (equal to ``lmul.sim.fp_multiplier.fp_product``):
    ``value = (-1)**sign * sig << shift`` at fixed-point LSB ``2**(2*quantum_exp)``.

    Fields, LSB first:

    * ``sig`` — unsigned(2m+2): the significand product (hidden bits included); 0 for zero, NaN
      and Inf products.
    * ``shift`` — unsigned, ``(2*max_exp_field - 2).bit_length()`` bits (at least 1):
      ``max(Ea,1) + max(Eb,1) - 2`` of the biased exponent fields; 0 for zero, NaN and Inf
      products.
    * ``sign`` — 1 bit: ``sign_a ^ sign_b``.
    * ``nan``, ``inf`` — 1 bit each: the product is NaN / ±Inf (project's NaN rule; ``inf``
      excludes NaN).

    Parameters
    ----------
    fmt : FloatFormat
        Operand format.
    """

    def __init__(self, fmt: FloatFormat) -> None:
        self.fmt = fmt
        super().__init__({
            "sig": 2 * fmt.man_bits + 2,
            "shift": (2 * fmt.max_exp_field - 2).bit_length() or 1,
            "sign": 1, "nan": 1, "inf": 1,
        })


class FPMultiplier(wiring.Component):
    """Exact floating-point multiplier of ``fmt``, rounded once or unrounded.

    ``mode="rounded"``: ``o = fp_multiply(fmt, a, b)`` bit for bit — the exact product rounded
    once to ``fmt`` with round-to-nearest-even, subnormal operands and results, the format's
    specials, the project's NaN rule and the overflow policy. Datapath: (m+1)×(m+1) significand
    multiplier; exponent sum; leading-zero count of the product, needed only when subnormal
    operands are supported; one left shift (normalise, limited so the exponent stays >= 1) or
    right shift (subnormal result); RNE increment whose carry ripples into the exponent field;
    overflow compare; special-value mux (``round_to_format``).

    ``mode="exact"``: the unrounded product for MAC units, equal to ``fp_product``: significand
    product, shift amount and ``nan``/``inf`` flags (``ExactProductLayout``); no rounding.

    Parameters
    ----------
    fmt : FloatFormat or str
        Operand (and, rounded, result) format.
    mode : str
        ``"rounded"`` (default) or ``"exact"``; anything else raises ``ParameterError``.
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
        ``mode="rounded"`` only: ``fp_multiply(fmt, a, b)``.
    p : Out(ExactProductLayout(fmt))
        ``mode="exact"`` only: ``fp_product(fmt, a, b)``.
    mode : str
        The ``mode`` parameter.
    latency : int
        Clock cycles from ``a``/``b`` to ``o``/``p`` (the ``latency`` parameter; 0: same cycle).

    Throughput one operand pair per cycle at every latency (fully pipelined, no handshake, no
    stall). Reset clears the pipeline registers to all-zero codes; there is no other state.
    """

    def __init__(self, fmt: FloatFormat | str, *, mode: str = "rounded", latency: int = 0) -> None:
        self.fmt = fmt = get_format(fmt)
        self.mode = check_choice("FPMultiplier mode", mode, ("rounded", "exact"))
        self.latency = check_latency("FPMultiplier", latency)
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
