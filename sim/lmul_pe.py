"""Golden model of the L-Mul processing element (twin of ``rtl/lmul_pe.py``).

This is the project's L-Mul specification; ``docs/lmul-spec.md`` explains it in prose.

Operands ``x``, ``y`` in one format with ``m`` mantissa bits, ``m >= 1``. Let ``F = E << m | M``
(the exponent+mantissa field as an unsigned integer) and ``l(m) = m (m <= 3), 3 (m = 4),
4 (m > 4)``. The adder computes::

    S = F_x + F_y + C,    C = 2**(m - l(m)) - bias * 2**m           (one integer addition)

and ``S`` *is* the result's exponent+mantissa field: a mantissa carry flows into the exponent
(Mitchell's logarithmic product plus the paper's offset — the "adder reading" of the formula).
``sign = s_x xor s_y``. Cases the formula leaves open:

* subnormal operands are read as zero (DAZ): the adder cannot normalise them;
* a zero (or subnormal) operand gives ±0 (FNUZ: +0);
* underflow ``S < 2**m`` (exponent field <= 0) gives ±0 (FTZ, no subnormal results);
* overflow ``S > max_finite_field`` follows the format's overflow policy
  (Inf / NaN / saturate to ±max), exactly as ``fp_multiply``;
* NaN and Inf operands as ``fp_multiply`` (same NaN rule; Inf × zero-or-subnormal is NaN).

The constants ``l(m)``, ``C`` and the product width live in ``lmul.arith`` (shared with the RTL).
``lmul_product`` gives the same adder result unbounded (no FTZ, no overflow) as an exact
fixed-point integer at ``2 * quantum_exp`` — the wide product a MAC accumulates.
``lmul_literal`` evaluates the formula's other reading (value ``1 + x_m + y_m + 2**-l`` kept,
not carried), as float64, for the numerics comparison only.
"""

from __future__ import annotations

import numpy as np

from lmul.arith import check_lmul_format, lmul_constant, lmul_l, lmul_product_bits
from lmul.formats import FloatFormat, apply_overflow_and_sign, get_format
from lmul.sim.fp_multiplier import FixedProducts, fixed_dtype, fixed_products, multiply_specials, operands

__all__ = [
    "lmul",
    "lmul_constant",
    "lmul_l",
    "lmul_literal",
    "lmul_product",
    "lmul_product_bits",
    "lmul_sum",
    "lmul_value",
]


def daz(fmt: FloatFormat) -> FloatFormat:
    """``fmt`` with subnormals read as zero: the operand view L-Mul uses for its specials."""
    return fmt if not fmt.subnormals else fmt.with_(subnormals=False)


def lmul_sum(fmt: FloatFormat, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    """The adder output ``S = F_x + F_y + C`` (int64, unbounded)."""
    return (bx & fmt.field_mask) + (by & fmt.field_mask) + lmul_constant(fmt)


def _zero_operand(fmt: FloatFormat, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Zero or subnormal operand (DAZ), specials excluded."""
    cx, cy = fmt.classify(bx), fmt.classify(by)
    zx = (cx["zero"] | cx["sub"]) & ~cx["nan"]
    zy = (cy["zero"] | cy["sub"]) & ~cy["nan"]
    return zx | zy


def lmul(fmt: FloatFormat | str, x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray:
    """L-Mul of two ``fmt`` bit-pattern arrays, result in ``fmt`` (see module docstring); ``fmt`` is a
    ``FloatFormat`` or any ``get_format`` spec (``"e4m3"``), like every public function here."""
    fmt = get_format(fmt)
    check_lmul_format(fmt)
    bx, by = operands(fmt, x, y)
    s = lmul_sum(fmt, bx, by)
    zero = _zero_operand(fmt, bx, by) | (s < (1 << fmt.man_bits))
    field = np.where(zero, 0, s)
    sign = (bx ^ by) >> fmt.field_bits & 1
    out = apply_overflow_and_sign(fmt, field, sign)
    nan, inf, sbits = multiply_specials(daz(fmt), bx, by)
    return np.where(nan | inf, sbits, out).astype(fmt.dtype)


def lmul_product(fmt: FloatFormat | str, x: np.ndarray | int, y: np.ndarray | int) -> FixedProducts:
    """Unbounded L-Mul products as exact fixed-point integers at ``2 * fmt.quantum_exp``.

    ``value = (2**m + (S mod 2**m)) << ((S >> m) + bias + m - 2)``; the shift is >= m >= 1
    because DAZ leaves only normal operands (exponent fields >= 1).
    """
    fmt = get_format(fmt)
    check_lmul_format(fmt)
    bx, by = operands(fmt, x, y)
    nbits = lmul_product_bits(fmt)
    dt = fixed_dtype(nbits)
    m = fmt.man_bits
    s = lmul_sum(fmt, bx, by)
    zero = _zero_operand(fmt, bx, by)
    nan, inf, _ = multiply_specials(daz(fmt), bx, by)
    dead = zero | nan | inf
    s = np.where(dead, 2 << m, s)                 # any valid sum; masked below
    shift = (s >> m) + fmt.bias + m - 2
    mag = ((1 << m) + (s & fmt.man_mask)).astype(dt) << shift.astype(dt)
    sign = ((bx ^ by) >> fmt.field_bits & 1).astype(bool)
    return fixed_products(mag, sign, dead, nan, inf, 2 * fmt.quantum_exp, nbits)


def lmul_value(fmt: FloatFormat | str, x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray:
    """float64 value of the unbounded L-Mul product (adder reading; no FTZ/overflow)."""
    fmt = get_format(fmt)
    p = lmul_product(fmt, x, y)
    v = np.ldexp(np.asarray(p.value).astype(np.float64), p.lsb_exp)
    v = np.where(p.inf > 0, np.inf, np.where(p.inf < 0, -np.inf, v))
    return np.where(p.nan, np.nan, v)


def lmul_literal(fmt: FloatFormat | str, x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray:
    """float64 value of the literal reading ``(1 + x_m + y_m + 2**-l) * 2**(x_e + y_e)``
    (no carry into the exponent, no output rounding), same specials/DAZ as ``lmul``."""
    fmt = get_format(fmt)
    check_lmul_format(fmt)
    bx, by = operands(fmt, x, y)
    m = fmt.man_bits
    _, ex, mx = fmt.unpack(bx)
    _, ey, my = fmt.unpack(by)
    frac = 1.0 + (mx + my) / float(1 << m) + 2.0 ** -lmul_l(m)
    v = np.ldexp(frac, ex + ey - 2 * fmt.bias)
    v = np.where(_zero_operand(fmt, bx, by), 0.0, v)
    sign = ((bx ^ by) >> fmt.field_bits & 1).astype(bool)
    v = np.where(sign, -v, v)
    nan, inf, _ = multiply_specials(daz(fmt), bx, by)
    v = np.where(inf, np.where(sign, -np.inf, np.inf), v)
    return np.where(nan, np.nan, v)
