"""Golden model of the MAC processing element (twin of ``rtl/mac_pe.py``): dot products.

``dot(fmt, x, y, out, kind, acc)``: each product formed by the product kind ``kind``
(``lmul.arith.PRODUCT_KINDS``: ``exact`` = ``fp_product``, the unrounded product; ``lmul`` =
``lmul_product``, the unbounded L-Mul adder result), summed along the last axis by the
accumulator ``acc`` (``lmul.arith.ACCUMULATORS``: ``kulisch`` = ``lmul.sim.kulisch``, exact sum
and one RNE rounding to ``out``).
"""

from __future__ import annotations

import numpy as np

from lmul.arith import Accumulator, ProductKind, accumulator, kulisch_bits, product_kind, sum_bits
from lmul.formats import FP32, FloatFormat, get_format
from lmul.sim.fp_multiplier import FixedProducts
from lmul.sim.kulisch import accumulate, round_fixed

__all__ = [
    "ProductKind",
    "accumulate",
    "accumulator_bits",
    "dot",
    "product_bits",
    "products",
    "round_fixed",
    "sum_bits",
]



def products(fmt: FloatFormat | str, x: np.ndarray | int, y: np.ndarray | int,
             kind: str | ProductKind = "exact") -> FixedProducts:
    """Exact fixed-point products of the chosen product kind."""
    return product_kind(kind).golden()(get_format(fmt), x, y)


def product_bits(fmt: FloatFormat | str, kind: str | ProductKind = "exact") -> int:
    return product_kind(kind).bits(get_format(fmt))


def accumulator_bits(fmt: FloatFormat | str, k: int, kind: str | ProductKind = "exact") -> int:
    """Two's-complement Kulisch accumulator width that cannot overflow for ``k`` products."""
    return kulisch_bits(get_format(fmt), kind, k)


def reduce(fmt: FloatFormat | str, x: np.ndarray | int, y: np.ndarray | int, out: FloatFormat | str,
           kind: str | ProductKind, acc: str | Accumulator, axis: int) -> np.ndarray:
    """Products of ``x`` and ``y`` (broadcast) summed along ``axis`` by ``acc``, results in ``out``
    (``fmt``, ``out``: ``FloatFormat`` or ``get_format`` specs)."""
    fmt, out = get_format(fmt), get_format(out)
    a = accumulator(acc)
    return a.golden()(a, out, products(fmt, x, y, kind), axis)


def dot(fmt: FloatFormat | str, x: np.ndarray, y: np.ndarray, out: FloatFormat | str = FP32,
        kind: str | ProductKind = "exact", acc: str | Accumulator = "kulisch") -> np.ndarray:
    """Dot product(s) along the last axis of ``x`` and ``y`` (bit patterns of ``fmt``), results as bit
    patterns of ``out``; ``fmt`` and ``out`` are ``FloatFormat`` objects or ``get_format`` specs
    (``dot("e4m3", x, y, "bf16", kind="lmul")``)."""
    fmt, out = get_format(fmt), get_format(out)
    return reduce(fmt, x, y, out, kind, acc, axis=-1)
