"""Golden model of the exact (Kulisch) accumulator (twin of ``rtl/kulisch.py``), ``acc="kulisch"``.

Semantics (deterministic, order-independent, bit-exact):

1. each product is exact (``FixedProducts``: a signed integer at ``2**(2 * quantum_exp)``);
2. products are summed exactly in a two's-complement fixed-point accumulator with the same LSB,
   ``kulisch_bits(fmt, kind, k)`` bits wide: with ``P`` magnitude bits per product,
   ``|sum| <= k * (2**P - 1) < 2**(P + ceil(log2 k))``, so ``P + ceil(log2 k) + 1`` bits (sign
   included) can never overflow for ``k`` terms;
3. the sum is rounded once, round-to-nearest-even, to the output format.

Specials: a NaN product, or both +Inf and -Inf products, give the output format's canonical
NaN (positive); otherwise any ±Inf product gives ±Inf (converted with the output format's
policy: NaN for FN/FNUZ, ±max when saturating). An exact zero sum is +0.
"""

from __future__ import annotations

import numpy as np

from lmul.arith import Accumulator, sum_bits
from lmul.formats import FloatFormat, encode
from lmul.sim.fp_multiplier import FixedProducts

__all__ = ["accumulate", "kulisch_accumulate", "round_fixed"]


def round_fixed(out: FloatFormat, value: np.ndarray, lsb_exp: int) -> np.ndarray:
    """Round exact integers ``value * 2**lsb_exp`` once (RNE) to ``out`` bit patterns.

    Converts to float64 with round-to-odd (53 bits >= out precision + 2, so the following
    RNE rounding by ``encode`` is the correctly rounded result), then encodes.
    """
    v = np.asarray(value)
    if v.dtype != np.int64 or (v.size and np.abs(v).max() >= 1 << 62):
        v = v.astype(object)                      # Python ints: exact whatever the size
    f = v.astype(np.float64)                      # RNE conversion, exact comparison below
    if v.dtype == object:
        above, below = (v > f).astype(bool), (v < f).astype(bool)
    else:
        back = f.astype(np.int64)                 # |v| < 2**62: the cast cannot overflow
        above, below = v > back, v < back
    even = (f.view(np.uint64) & 1) == 0
    f = np.where(above & even, np.nextafter(f, np.inf), f)
    f = np.where(below & even, np.nextafter(f, -np.inf), f)
    return encode(out, np.ldexp(f, lsb_exp) + 0.0)   # +0.0: an exact zero sum is +0


def accumulate(out: FloatFormat, p: FixedProducts, axis: int) -> np.ndarray:
    """Sum products exactly along ``axis`` and round once to ``out`` (specials as above)."""
    k = p.value.shape[axis]
    value = p.value
    if value.dtype != object and sum_bits(p.bits, max(k, 1)) > 63:
        value = value.astype(object)          # the exact sum may not fit int64
    total = value.sum(axis=axis)
    nan = p.nan.any(axis=axis) | ((p.inf > 0).any(axis=axis) & (p.inf < 0).any(axis=axis))
    pos_inf = (p.inf > 0).any(axis=axis) & ~nan
    neg_inf = (p.inf < 0).any(axis=axis) & ~nan
    res = round_fixed(out, total, p.lsb_exp)
    if (pos_inf | neg_inf).any():
        res = np.where(pos_inf, encode(out, np.inf), np.where(neg_inf, encode(out, -np.inf), res))
    if nan.any():
        res = np.where(nan, encode(out, np.nan), res)
    return res.astype(out.dtype)


def kulisch_accumulate(acc: Accumulator, out: FloatFormat, p: FixedProducts, axis: int) -> np.ndarray:
    """The ``kulisch`` registry entry's golden function (``lmul.arith`` accumulator interface)."""
    return accumulate(out, p, axis)
