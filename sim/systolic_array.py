"""Golden model of the systolic array (twin of ``rtl/systolic_array.py``): matrix multiply.

``C = A @ B`` with each output element a MAC-PE dot product (``lmul.sim.mac_pe``) of the given
product kind and accumulator, over all of K. With ``acc="kulisch"`` (exact accumulation, one
rounding) the result does not depend on tiling or accumulation order.
"""

from __future__ import annotations

import numpy as np

from lmul.arith import Accumulator, ProductKind
from lmul.formats import FP32, FloatFormat, FormatError, get_format
from lmul.sim.mac_pe import reduce

__all__ = ["matmul"]


def matmul(fmt: FloatFormat | str, a: np.ndarray, b: np.ndarray, out: FloatFormat | str = FP32,
           kind: str | ProductKind = "exact", acc: str | Accumulator = "kulisch") -> np.ndarray:
    """Bit patterns ``A`` (M×K) and ``B`` (K×N) of ``fmt`` -> ``C`` (M×N) bit patterns of ``out``
    (``fmt``, ``out``: ``FloatFormat`` objects or ``get_format`` specs such as ``"e4m3"``)."""
    fmt, out = get_format(fmt), get_format(out)
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or a.shape[1] == 0:
        raise FormatError(f"matmul needs A (M×K) and B (K×N) with K >= 1, got {a.shape} and {b.shape}")
    return reduce(fmt, a[:, :, None], b[None, :, :], out, kind, acc, axis=1)
