"""Golden model of the reference exact FP multiplier (twin of ``rtl/fp_multiplier.py``).

``fp_multiply``: the product rounded once to the operand format, round-to-nearest-even, with
subnormals, special values and the overflow policy of the format. Bit-exact with ml_dtypes'
multiply on x86-64 (which computes in float32, exactly for these widths, and rounds once).

NaN rule (the one ml_dtypes exhibits on x86-64, used by every multiplier of this project):
the result is the format's canonical quiet NaN whose sign is the sign of ``y`` if ``y`` is NaN,
else of ``x`` if ``x`` is NaN, else 1 (an invalid ``0 × Inf`` gives the x86 default NaN, negative).
FNUZ formats have a single NaN. Inf × nonzero gives Inf with ``sign = sx xor sy``.

``fp_product``: the unrounded product as an exact fixed-point integer (for MAC units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmul.arith import fp_product_bits
from lmul.formats import FloatFormat, apply_overflow_and_sign, decode, get_format, round_fields

__all__ = [
    "FixedProducts",
    "fixed_dtype",
    "fp_multiply",
    "fp_product",
    "multiply_specials",
    "operands",
    "to_fixed",
]


def operands(fmt: FloatFormat, x: np.ndarray | int, y: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Validated, broadcast int64 bit patterns of two operand arrays."""
    bx, by = fmt.check_bits(x, "x"), fmt.check_bits(y, "y")
    return np.broadcast_arrays(bx, by)


def nan_bits(fmt: FloatFormat, sign: np.ndarray) -> np.ndarray:
    """Canonical NaN of ``fmt`` with a per-element sign (ignored for FNUZ)."""
    if fmt.has_neg_zero:
        return fmt.nan_bits(0) | (sign.astype(np.int64) << fmt.field_bits)
    return np.full(sign.shape, fmt.nan_bits(), dtype=np.int64)


def multiply_specials(fmt: FloatFormat, bx: np.ndarray, by: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nan mask, inf mask, special result bits) of ``x * y`` per the NaN rule above."""
    cx, cy = fmt.classify(bx), fmt.classify(by)
    invalid = (cx["inf"] & cy["zero"]) | (cy["inf"] & cx["zero"])
    nan = cx["nan"] | cy["nan"] | invalid
    inf = (cx["inf"] | cy["inf"]) & ~nan
    sign = cx["sign"] ^ cy["sign"]
    bits = np.zeros(bx.shape, dtype=np.int64)
    if fmt.has_nan:
        nan_sign = np.where(cy["nan"], cy["sign"], np.where(cx["nan"], cx["sign"], True))
        bits = np.where(nan, nan_bits(fmt, nan_sign), bits)
    if fmt.has_inf:
        bits = np.where(inf, fmt.inf_bits(0) | (sign.astype(np.int64) << fmt.field_bits), bits)
    return nan, inf, bits


def fp_multiply(fmt: FloatFormat | str, x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray:
    """Exact product of two ``fmt`` bit-pattern arrays, rounded once (RNE) to ``fmt``
    (a ``FloatFormat`` or any ``get_format`` spec, e.g. ``"e4m3"``)."""
    fmt = get_format(fmt)
    bx, by = operands(fmt, x, y)
    # float64 holds every product exactly: significands <= 24 bits, exponents within +-600.
    with np.errstate(invalid="ignore", over="ignore"):
        p = decode(fmt, bx) * decode(fmt, by)
    sign = (bx ^ by) >> fmt.field_bits & 1
    field = round_fields(fmt, np.where(np.isfinite(p), p, 0.0))
    out = apply_overflow_and_sign(fmt, field, sign)
    nan, inf, sbits = multiply_specials(fmt, bx, by)
    return np.where(nan | inf, sbits, out).astype(fmt.dtype)


# --- exact fixed-point products -----------------------------------------------------------------

@dataclass(frozen=True)
class FixedProducts:
    """Products as exact signed integers ``value * 2**lsb_exp`` plus special flags.

    ``value`` is int64 when ``bits`` <= 62, else a numpy object array of Python ints.
    ``nan``: the product is NaN; ``inf``: +1/-1 for ±Inf, 0 otherwise (``value`` is 0 there).
    ``bits``: magnitude bits any finite product of this kind can need (sign excluded).
    """

    value: np.ndarray
    lsb_exp: int
    nan: np.ndarray
    inf: np.ndarray
    bits: int


def fixed_dtype(bits: int) -> type:
    return np.int64 if bits <= 62 else object


def to_fixed(fmt: FloatFormat, bits: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """Unsigned integer ``X`` with ``|value| = X * 2**fmt.quantum_exp`` (0 for zeros/DAZ/specials)."""
    cls = fmt.classify(bits)
    _, e, m = fmt.unpack(bits)
    sig = np.where(e > 0, m + (1 << fmt.man_bits), m)
    sig = np.where(cls["zero"] | cls["nan"] | cls["inf"], 0, sig)
    shift = np.maximum(e, 1) - 1
    # np.asarray: with 0-d operands numpy returns Python scalars, which must stay exact ints
    return np.asarray(sig.astype(dtype) << shift.astype(dtype), dtype=dtype)


def fixed_products(mag: np.ndarray, sign: np.ndarray, dead: np.ndarray, nan: np.ndarray, inf: np.ndarray,
                   lsb_exp: int, bits: int) -> FixedProducts:
    """Package unsigned product magnitudes as ``FixedProducts``: apply the sign, zero the
    ``dead`` ones (zeros/specials), keep the dtype exact (0-d results stay numpy arrays)."""
    dt = fixed_dtype(bits)
    mag = np.asarray(mag, dtype=dt)
    value = np.asarray(np.where(dead, 0, np.asarray(np.where(sign, -mag, mag), dtype=dt)), dtype=dt)
    return FixedProducts(value, lsb_exp, nan, np.where(inf, np.where(sign, -1, 1), 0).astype(np.int8), bits)


def fp_product(fmt: FloatFormat | str, x: np.ndarray | int, y: np.ndarray | int) -> FixedProducts:
    """Unrounded products ``x * y`` as exact fixed-point integers at ``2 * fmt.quantum_exp``
    (``fmt``: a ``FloatFormat`` or a ``get_format`` spec)."""
    fmt = get_format(fmt)
    bx, by = operands(fmt, x, y)
    nbits = fp_product_bits(fmt)
    dt = fixed_dtype(nbits)
    mag = to_fixed(fmt, bx, dt) * to_fixed(fmt, by, dt)
    sign = ((bx ^ by) >> fmt.field_bits & 1).astype(bool)
    nan, inf, _ = multiply_specials(fmt, bx, by)
    return fixed_products(mag, sign, nan | inf, nan, inf, 2 * fmt.quantum_exp, nbits)
