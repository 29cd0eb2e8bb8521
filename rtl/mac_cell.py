"""MAC datapath cell: exact product -> fixed point -> exact (Kulisch) accumulator.

Shared by ``MacPE`` (stream interface + rounder) and the PEs of ``SystolicArray``. Semantics
are those of ``lmul.sim.mac_pe`` (``dot``): each product is exact — ``kind="exact"`` via
``FPMultiplier(mode="exact")``, ``kind="lmul"`` the unbounded L-Mul adder result — aligned to
the fixed-point LSB ``2**(2*quantum_exp)`` and added to a two's-complement accumulator of
``accumulator_bits(fmt, k_max, kind)`` bits, which cannot overflow for up to ``k_max`` products.

Pipeline (all registers advance only when ``en``): stage 1 registers the aligned product with
``valid``/``last``; stage 2 accumulates. On a ``last`` product the final sum and special flags
(``nan``; ``pinf``/``ninf``: some +Inf / -Inf product) go to the result registers and ``done``
is set until the next ``en`` cycle; the accumulator restarts at zero. One product per cycle, latency 2.

``b`` may be given pre-biased for L-Mul (``prebiased=True``, layout ``PreOperand``): the field
``F_b + C`` and the decoded flags, computed once per operand (e.g. at the top of an array
column) so the PE's L-Mul is a plain two-operand adder.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lmul.formats import FloatFormat, FormatError
from lmul.rtl.float_layout import FloatLayout, classify
from lmul.rtl.fp_multiplier import FPMultiplier
from lmul.rtl.lmul_pe import sum_shape
from lmul.sim.lmul_pe import check_lmul_format, lmul_constant
from lmul.sim.mac_pe import accumulator_bits, product_bits

__all__ = ["MacCell", "PreOperand", "check_mac", "prebias"]


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


def check_mac(fmt: FloatFormat, kind: str, k_max: int, prebiased: bool = False) -> None:
    """Reject bad MAC parameters with a clear ``FormatError``."""
    if kind not in ("exact", "lmul"):
        raise FormatError(f"MAC kind must be 'exact' or 'lmul', got {kind!r}")
    if not isinstance(k_max, int) or isinstance(k_max, bool) or k_max < 1:
        raise FormatError(f"k_max must be a positive int, got {k_max!r}")
    if kind == "lmul":
        check_lmul_format(fmt)
    elif prebiased:
        raise FormatError("prebiased operands exist only for kind='lmul'")


class MacCell(wiring.Component):
    def __init__(self, fmt: FloatFormat, kind: str, k_max: int, *, prebiased: bool = False) -> None:
        check_mac(fmt, kind, k_max, prebiased)
        self.fmt, self.kind, self.k_max, self.prebiased = fmt, kind, k_max, prebiased
        self.acc_bits = accumulator_bits(fmt, k_max, kind)
        self.prod_bits = product_bits(fmt, kind)
        super().__init__({
            "en": In(1), "valid": In(1), "last": In(1),
            "a": In(FloatLayout(fmt)), "b": In(PreOperand(fmt) if prebiased else FloatLayout(fmt)),
            "done": Out(1), "sum": Out(signed(self.acc_bits)),
            "nan": Out(1), "pinf": Out(1), "ninf": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt = self.fmt
        mag = Signal(self.prod_bits)
        p_nan, p_inf, p_sign = Signal(), Signal(), Signal()
        if self.kind == "exact":
            m.submodules.mul = mul = FPMultiplier(fmt, mode="exact")
            m.d.comb += [mul.a.eq(self.a), mul.b.eq(self.b),
                         mag.eq(mul.p.sig << mul.p.shift),
                         p_nan.eq(mul.p.nan), p_inf.eq(mul.p.inf), p_sign.eq(mul.p.sign)]
        else:
            self._lmul_product(m, mag, p_nan, p_inf, p_sign)

        # stage 1: aligned signed product
        prod = Signal(signed(self.prod_bits + 1))
        s1_valid, s1_last, s1_nan, s1_pinf, s1_ninf = (Signal(name=n) for n in
                                                       ("s1_valid", "s1_last", "s1_nan", "s1_pinf", "s1_ninf"))
        with m.If(self.en):
            m.d.sync += [
                prod.eq(Mux(p_sign, -mag, mag)),
                s1_valid.eq(self.valid), s1_last.eq(self.valid & self.last),
                s1_nan.eq(self.valid & p_nan),
                s1_pinf.eq(self.valid & p_inf & ~p_sign), s1_ninf.eq(self.valid & p_inf & p_sign),
            ]
        # stage 2: accumulate
        acc = Signal(signed(self.acc_bits))
        f_nan, f_pinf, f_ninf = Signal(), Signal(), Signal()
        total = Signal(signed(self.acc_bits))
        m.d.comb += total.eq(acc + Mux(s1_valid, prod, 0))
        with m.If(self.en):
            m.d.sync += self.done.eq(0)
            with m.If(s1_last):
                m.d.sync += [self.sum.eq(total), self.nan.eq(f_nan | s1_nan),
                             self.pinf.eq(f_pinf | s1_pinf), self.ninf.eq(f_ninf | s1_ninf),
                             self.done.eq(1), acc.eq(0), f_nan.eq(0), f_pinf.eq(0), f_ninf.eq(0)]
            with m.Else():
                m.d.sync += [acc.eq(total), f_nan.eq(f_nan | s1_nan),
                             f_pinf.eq(f_pinf | s1_pinf), f_ninf.eq(f_ninf | s1_ninf)]
        return m

    def _lmul_product(self, m: Module, mag: Signal, p_nan: Signal, p_inf: Signal, p_sign: Signal) -> None:
        """Unbounded L-Mul product ``(2**m + S mod 2**m) << ((S >> m) + bias + m - 2)``."""
        fmt = self.fmt
        mb = fmt.man_bits
        pa = prebias(m, fmt, self.a, "a")              # (only its flags are used)
        pb = self.b if self.prebiased else prebias(m, fmt, self.b, "b")
        s = Signal(sum_shape(fmt))
        m.d.comb += s.eq(self.a.as_value()[:fmt.field_bits] + pb.field)     # F_a + (F_b + C)
        zero = pa.zero | pb.zero
        nan = pa.nan | pb.nan | (pa.inf & pb.zero) | (pb.inf & pa.zero)
        m.d.comb += [p_nan.eq(nan), p_inf.eq((pa.inf | pb.inf) & ~nan), p_sign.eq(pa.sign ^ pb.sign)]
        shift = Signal(range(max(2, self.prod_bits)))
        m.d.comb += shift.eq((s >> mb) + (fmt.bias + mb - 2))
        with m.If(~(zero | nan | p_inf)):
            m.d.comb += mag.eq(Cat(s[:mb], 1) << shift)
