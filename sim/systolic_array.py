"""Golden model of the systolic array (twin of ``rtl/systolic_array.py``): matrix multiply.

``C = A @ B`` with each output element one PE's dot product over all of K, in k order:

* ``n = 1``, ``align="exact"``, no promotion (the default, MAC PEs): ``lmul.sim.mac_pe.dot`` with
  the given product kind and accumulator. With ``acc="kulisch"`` (exact accumulation, one
  rounding) the result does not depend on tiling or accumulation order.
* otherwise (dot-unit PEs, n K-steps per beat): ``lmul.sim.dot_unit.dot_unit(fmt, A[r, :],
  B[:, c], out, kind, n, acc, align, w, promote)`` — groups of n consecutive k (k = 0 .. n-1,
  n .. 2n-1, ...; a last, shorter group when K is not a multiple of n), one rounding per group.
  For n = 1 in exact mode without promotion this is the same as the MAC PE (``dot_unit``'s
  specification), so the two cases agree where they overlap.
"""

from __future__ import annotations

import numpy as np

from lmul.arith import Accumulator, ProductKind, check_dot_unit
from lmul.formats import FP32, FloatFormat, FormatError, get_format
from lmul.sim.dot_unit import dot_unit
from lmul.sim.mac_pe import reduce

__all__ = ["matmul"]


def matmul(fmt: FloatFormat | str, a: np.ndarray, b: np.ndarray, out: FloatFormat | str = FP32,
           kind: str | ProductKind = "exact", acc: str | Accumulator = "kulisch", n: int = 1,
           align: str = "exact", w: int | None = None, promote: int | None = None) -> np.ndarray:
    """Bit patterns ``A`` (M×K) and ``B`` (K×N) of ``fmt`` -> ``C`` (M×N) bit patterns of ``out``
    (``fmt``, ``out``: ``FloatFormat`` objects or ``get_format`` specs such as ``"e4m3"``);
    ``n``/``align``/``w``/``promote``: the PEs' dot-unit options (``lmul.sim.dot_unit``)."""
    fmt, out = get_format(fmt), get_format(out)
    check_dot_unit(n, acc, align, w, promote)
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or a.shape[1] == 0:
        raise FormatError(f"matmul needs A (M×K) and B (K×N) with K >= 1, got {a.shape} and {b.shape}")
    if n == 1 and align == "exact" and promote is None:
        return reduce(fmt, a[:, :, None], b[None, :, :], out, kind, acc, axis=1)
    return dot_unit(fmt, a[:, None, :], b.T[None, :, :], out, kind, n, acc, align, w, promote)
