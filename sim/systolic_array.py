"""Golden model of the systolic array (twin of ``rtl/systolic_array.py``): matrix multiply.

``C = A @ B`` with each output element a MAC-PE dot product (``sim.mac_pe``): exact products
(exact multiplier or L-Mul), exact fixed-point accumulation over all of K, one RNE rounding to
the output format. The result does not depend on tiling or accumulation order.
"""

from __future__ import annotations

import numpy as np

from lmul.formats import FP32, FloatFormat, FormatError
from lmul.sim.mac_pe import ProductKind, accumulate, products

__all__ = ["matmul"]


def matmul(fmt: FloatFormat, a: np.ndarray, b: np.ndarray, out: FloatFormat = FP32,
           kind: ProductKind = "exact") -> np.ndarray:
    """Bit patterns ``A`` (M×K) and ``B`` (K×N) of ``fmt`` -> ``C`` (M×N) bit patterns of ``out``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or a.shape[1] == 0:
        raise FormatError(f"matmul needs A (M×K) and B (K×N) with K >= 1, got {a.shape} and {b.shape}")
    p = products(fmt, a[:, :, None], b[None, :, :], kind)   # (M, K, N)
    return accumulate(out, p, axis=1)
