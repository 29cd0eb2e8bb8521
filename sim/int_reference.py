"""Golden models of the integer reference blocks (twin of ``rtl/int_reference.py``)."""

from __future__ import annotations

import numpy as np

__all__ = ["int_add", "int_multiply"]


def int_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=object) * np.asarray(b, dtype=object)


def int_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=object) + np.asarray(b, dtype=object)
