"""RTL builders of the product kinds (``lmul.arith.PRODUCT_KINDS``): how a MAC forms its exact product.

A builder is made per operand format, ``cls(fmt)``, and used at elaboration time (it is not a
component: its logic lands in the caller's module, so a MAC cell stays one flat datapath):

* ``operand_layout``: the ``b`` operand as it travels through an array (the exact kind keeps the
  ``FloatLayout``; L-Mul sends it pre-biased, ``PreOperand``);
* ``prepare(m, b, name)``: ``FloatLayout`` view -> ``operand_layout`` view, combinational, done
  once per operand (at the top of an array column, or inside a lone MAC cell);
* ``build(m, a, b_prepared, *, stage=None)``: ``ProductLayout`` view: the exact product
  ``(-1)**sign * mag`` at the fixed-point LSB ``2**(2*quantum_exp)`` plus ``nan``/``inf`` flags
  (``mag`` is 0 for zero, NaN and Inf products). ``mag`` has ``kind.bits(fmt)`` bits.
  Combinational unless ``stage`` is given: then the builder passes the values crossing its one
  cut point (before the alignment shift that places the significand on the fixed-point grid)
  through ``stage(name, **values) -> dict`` (``lmul.rtl.fp_accumulator.pipe`` bound to the
  caller's enable), i.e. one register stage: latency 1 instead of 0;
* ``sig_bits``: how many bits from its leading to its lowest set bit any ``mag`` can span (what a
  floating-point accumulator must align; ``tests/test_fp_accumulator.py`` checks it against the
  golden products).

Golden twins: ``exact`` -> ``lmul.sim.fp_multiplier.fp_product``, ``lmul`` ->
``lmul.sim.lmul_pe.lmul_product`` (bit-exact, verified through ``MacPE`` and ``SystolicArray``).
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import data

from lmul.arith import check_lmul_format, fp_product_bits, lmul_constant, lmul_product_bits
from lmul.formats import FloatFormat
from lmul.rtl.float_layout import FloatLayout, classify
from lmul.rtl.fp_multiplier import FPMultiplier
from lmul.rtl.lmul_pe import sum_shape

__all__ = ["ExactProduct", "LMulProduct", "PreOperand", "ProductLayout", "Stage", "prebias"]

#: A builder's register hook: ``stage(name, **values)`` returns the values one pipeline stage
#: later (``lmul.rtl.fp_accumulator.pipe`` with the caller's module and enable bound).
Stage = Callable[..., dict[str, Value]]


def _through(name: str, **values: Value) -> dict[str, Value]:
    return values


class ProductLayout(data.StructLayout):
    """An exact product in sign-magnitude: ``mag`` (``bits`` wide), ``sign``, ``nan``, ``inf``."""

    def __init__(self, bits: int) -> None:
        super().__init__({"mag": bits, "sign": 1, "nan": 1, "inf": 1})


class ExactProduct:
    """``kind="exact"``: ``FPMultiplier(mode="exact")``'s unrounded product, shifted into place."""

    def __init__(self, fmt: FloatFormat) -> None:
        self.fmt = fmt
        self.bits = fp_product_bits(fmt)
        self.sig_bits = 2 * (fmt.man_bits + 1)    # set bits of any mag span at most the significand product
        self.operand_layout = FloatLayout(fmt)

    def prepare(self, m: Module, b: data.View, name: str) -> data.View:
        return b

    def build(self, m: Module, a: data.View, b: data.View, *, stage: Stage | None = None) -> data.View:
        m.submodules.mul = mul = FPMultiplier(self.fmt, mode="exact")
        m.d.comb += [mul.a.eq(a), mul.b.eq(b)]
        # cut: significand product and exponent sum | alignment shift
        q = (stage or _through)("prod", sig=mul.p.sig, shift=mul.p.shift, sign=mul.p.sign, nan=mul.p.nan,
                                inf=mul.p.inf)
        p = Signal(ProductLayout(self.bits))
        m.d.comb += [p.mag.eq(q["sig"] << q["shift"]), p.nan.eq(q["nan"]), p.inf.eq(q["inf"]), p.sign.eq(q["sign"])]
        return p


class PreOperand(data.StructLayout):
    """A pre-biased L-Mul operand: ``field = F + C`` plus what the special logic needs."""

    def __init__(self, fmt: FloatFormat) -> None:
        super().__init__({"field": sum_shape(fmt), "sign": 1, "nan": 1, "inf": 1, "zero": 1})


def prebias(m: Module, fmt: FloatFormat, v: data.View, name: str) -> data.View:
    """Combinational ``FloatLayout`` -> ``PreOperand`` (zero means zero or subnormal: DAZ)."""
    c = classify(m, fmt, v, name)
    out = Signal(PreOperand(fmt), name=f"{name}_pre")
    m.d.comb += [out.field.eq(v.as_value()[:fmt.field_bits] + lmul_constant(fmt)), out.sign.eq(v.sign),
                 out.nan.eq(c.nan), out.inf.eq(c.inf), out.zero.eq(c.exp_zero & ~c.nan)]
    return out


class LMulProduct:
    """``kind="lmul"``: the unbounded L-Mul adder result
    ``(2**m + S mod 2**m) << ((S >> m) + bias + m - 2)`` with ``S = F_a + (F_b + C)``; ``b`` is
    pre-biased once (``prebias``), so the per-product datapath is a two-operand adder and a shifter."""

    def __init__(self, fmt: FloatFormat) -> None:
        check_lmul_format(fmt)
        self.fmt = fmt
        self.bits = lmul_product_bits(fmt)
        self.sig_bits = fmt.man_bits + 1           # mag = (2**m + S mod 2**m) << shift
        self.operand_layout = PreOperand(fmt)

    def prepare(self, m: Module, b: data.View, name: str) -> data.View:
        return prebias(m, self.fmt, b, name)

    def build(self, m: Module, a: data.View, pb: data.View, *, stage: Stage | None = None) -> data.View:
        fmt = self.fmt
        mb = fmt.man_bits
        p = Signal(ProductLayout(self.bits))
        pa = prebias(m, fmt, a, "a")              # (only its flags are used)
        s = Signal(sum_shape(fmt))
        m.d.comb += s.eq(a.as_value()[:fmt.field_bits] + pb.field)     # F_a + (F_b + C)
        zero = pa.zero | pb.zero
        nan = pa.nan | pb.nan | (pa.inf & pb.zero) | (pb.inf & pa.zero)
        if stage is None:           # (kept in this order: the depth-0 netlist is the published one)
            m.d.comb += [p.nan.eq(nan), p.inf.eq((pa.inf | pb.inf) & ~nan), p.sign.eq(pa.sign ^ pb.sign)]
        else:                       # cut: the L-Mul adder and the special rule | alignment shift
            q = stage("lmul", s=s, zero=zero, nan=nan, inf=(pa.inf | pb.inf) & ~nan, sign=pa.sign ^ pb.sign)
            s, zero, nan = q["s"], q["zero"], q["nan"]
            m.d.comb += [p.nan.eq(nan), p.inf.eq(q["inf"]), p.sign.eq(q["sign"])]
        shift = Signal(range(max(2, self.bits)))
        m.d.comb += shift.eq((s >> mb) + (fmt.bias + mb - 2))
        with m.If(~(zero | nan | p.inf)):
            m.d.comb += p.mag.eq(Cat(s[:mb], 1) << shift)
        return p
