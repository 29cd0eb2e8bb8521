"""Packed float layouts and the special-value decode/encode shared by the RTL multipliers
(golden twins: ``FloatFormat.classify``, ``lmul.sim.fp_multiplier.multiply_specials``,
``lmul.formats.apply_overflow_and_sign``)."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data

from lmul.formats import FloatFormat, Specials

__all__ = ["Classes", "FloatLayout", "classify", "overflow_field", "pack_result", "special_result",
           "special_result_daz"]


class FloatLayout(data.StructLayout):
    """``sign | exp | man`` of a format, as a ``lib.data.StructLayout`` built from a
    :class:`lmul.formats.FloatFormat`.

    Fields, LSB first: ``man`` (``fmt.man_bits``), ``exp`` (``fmt.exp_bits``), ``sign`` (1), so
    ``.as_value()`` is the format's bit pattern.

    Parameters
    ----------
    fmt : FloatFormat
        The format (kept as ``self.fmt``).
    """

    def __init__(self, fmt: FloatFormat) -> None:
        self.fmt = fmt
        super().__init__({"man": fmt.man_bits, "exp": fmt.exp_bits, "sign": 1})


@dataclass
class Classes:
    """Per-operand class masks built by ``classify`` (each a 1-bit value)."""

    nan: Value
    inf: Value
    zero: Value      # true zero, or subnormal when subnormals are off (DAZ)
    sub: Value       # subnormal (only when subnormals are on)
    exp_zero: Value  # exponent field == 0 (zero or subnormal)
    sign: Value


def classify(m: Module, fmt: FloatFormat, v: data.View, name: str) -> Classes:
    """Gate-level ``FloatFormat.classify`` of a ``FloatLayout`` view: the same masks as the
    golden model's, as combinational signals named ``{name}_*``."""
    raw = v.as_value()
    field = raw[:fmt.field_bits]
    exp_zero = Signal(name=f"{name}_exp_zero")
    man_zero = Signal(name=f"{name}_man_zero")
    nan = Signal(name=f"{name}_nan")
    inf = Signal(name=f"{name}_inf")
    m.d.comb += [exp_zero.eq(v.exp == 0), man_zero.eq(v.man == 0)]
    if fmt.specials is Specials.IEEE:
        top = v.exp == (1 << fmt.exp_bits) - 1
        m.d.comb += [nan.eq(top & ~man_zero), inf.eq(top & man_zero)]
    elif fmt.specials is Specials.FN:
        m.d.comb += nan.eq(field == fmt.field_mask)
    elif fmt.specials is Specials.FNUZ:
        m.d.comb += nan.eq(raw == fmt.sign_mask)
    zero = Signal(name=f"{name}_zero")
    sub = Signal(name=f"{name}_sub")
    if fmt.subnormals:
        m.d.comb += [zero.eq(exp_zero & man_zero & ~nan), sub.eq(exp_zero & ~man_zero)]
    else:
        m.d.comb += zero.eq(exp_zero & ~nan)
    return Classes(nan, inf, zero, sub, exp_zero, v.sign)


def special_result(m: Module, fmt: FloatFormat, cx: Classes, cy: Classes) -> tuple[Signal, Value]:
    """(is_special, bits): NaN/Inf results of ``x * y`` per the project's NaN rule
    (``lmul.sim.fp_multiplier.multiply_specials``)
    (NaN sign from ``y`` if NaN, else ``x`` if NaN, else 1 for an invalid 0 × Inf).
    ``classify`` already counts subnormals as zero when the format has them off (DAZ)."""
    return _specials(m, fmt, cx, cy, cx.zero, cy.zero)


def special_result_daz(m: Module, fmt: FloatFormat, cx: Classes, cy: Classes) -> tuple[Signal, Value]:
    """As ``special_result`` but with subnormals read as zero (L-Mul's DAZ)."""
    return _specials(m, fmt, cx, cy, cx.exp_zero & ~cx.nan, cy.exp_zero & ~cy.nan)


def _specials(m: Module, fmt: FloatFormat, cx: Classes, cy: Classes, x_zero: Value,
              y_zero: Value) -> tuple[Signal, Value]:
    nan = Signal(name="res_nan")
    inf = Signal(name="res_inf")
    m.d.comb += nan.eq(cx.nan | cy.nan | (cx.inf & y_zero) | (cy.inf & x_zero))
    m.d.comb += inf.eq((cx.inf | cy.inf) & ~nan)
    special = Signal(name="res_special")
    m.d.comb += special.eq(nan | inf)
    sign = cx.sign ^ cy.sign
    bits = Signal(fmt.width, name="res_special_bits")
    if fmt.has_nan:
        nan_sign = Mux(cy.nan, cy.sign, Mux(cx.nan, cx.sign, 1))
        nan_bits = (Const(fmt.nan_bits(), fmt.width) if not fmt.has_neg_zero
                    else Cat(Const(fmt.nan_bits(0), fmt.field_bits), nan_sign))
        inf_bits = Cat(Const(fmt.inf_bits(0), fmt.field_bits), sign) if fmt.has_inf else nan_bits
        m.d.comb += bits.eq(Mux(nan, nan_bits, inf_bits))
    return special, bits


def overflow_field(fmt: FloatFormat) -> int:
    """Magnitude field an overflowing finite result takes (``apply_overflow_and_sign``)."""
    if fmt.saturates:
        return fmt.max_finite_field
    if fmt.has_inf:
        return fmt.inf_bits(0)
    return fmt.nan_bits(0) & fmt.field_mask


def pack_result(m: Module, fmt: FloatFormat, field: Value, over: Value, zero: Value, sign: Value,
                special: Value, special_bits: Value) -> Signal:
    """Final result mux shared by both multipliers: specials > zero > overflow > field.
    Mirrors ``lmul.formats.apply_overflow_and_sign`` (FNUZ: +0 and the single NaN)."""
    pre = Signal(fmt.field_bits, name="res_pre")
    m.d.comb += pre.eq(Mux(zero, 0, Mux(over, overflow_field(fmt), field[:fmt.field_bits])))
    mag = Signal(fmt.field_bits, name="res_mag")
    if fmt.subnormals:
        m.d.comb += mag.eq(pre)
    else:                                   # FTZ: a result that rounded to a subnormal is ±0
        m.d.comb += mag.eq(Mux(pre < (1 << fmt.man_bits), 0, pre))
    out = Signal(fmt.width, name="res_bits")
    if fmt.specials is Specials.FNUZ:
        finite = Mux(mag == 0, 0, Cat(mag, sign))
        if not fmt.saturates:
            finite = Mux(over & ~zero, fmt.nan_bits(), finite)
        m.d.comb += out.eq(Mux(special, special_bits, finite))
    else:
        m.d.comb += out.eq(Mux(special, special_bits, Cat(mag, sign)))
    return out
