"""Shared test data: the ml_dtypes twin of every supported named format, plus ml_dtypes helpers.

``ML_DTYPES`` maps each named format to the ml_dtypes type with the same encoding. FP16 and FP32
are numpy's own ``float16``/``float32``. ``float8_e8m0fnu`` is intentionally absent: it is a
scale-only type (no sign, zero or mantissa) that ``FloatFormat`` does not model.

ml_dtypes stores the 6- and 4-bit types in one byte each: viewing ``uint8`` codes ``0 .. 2**width-1``
as those types gives exactly the format's encodings.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from lmul.formats import (
    BF16,
    E2M1,
    E2M3,
    E3M2,
    E3M4,
    E4M3,
    E4M3_IEEE,
    E4M3B11FNUZ,
    E4M3FNUZ,
    E5M2,
    E5M2FNUZ,
    FP16,
    FloatFormat,
)

ML_DTYPES: dict[FloatFormat, type] = {
    E4M3: ml_dtypes.float8_e4m3fn,
    E5M2: ml_dtypes.float8_e5m2,
    E4M3_IEEE: ml_dtypes.float8_e4m3,
    E3M4: ml_dtypes.float8_e3m4,
    E4M3FNUZ: ml_dtypes.float8_e4m3fnuz,
    E5M2FNUZ: ml_dtypes.float8_e5m2fnuz,
    E4M3B11FNUZ: ml_dtypes.float8_e4m3b11fnuz,
    E2M3: ml_dtypes.float6_e2m3fn,
    E3M2: ml_dtypes.float6_e3m2fn,
    E2M1: ml_dtypes.float4_e2m1fn,
    BF16: ml_dtypes.bfloat16,
}

SMALL_FORMATS: list[FloatFormat] = [f for f in ML_DTYPES if f.width <= 8]

# ML_DTYPES plus numpy's float16 for FP16: the reference conversions of the helpers below.
TWINS: dict[FloatFormat, type] = {**ML_DTYPES, FP16: np.float16}


def storage(fmt: FloatFormat) -> type:
    """Unsigned dtype ml_dtypes uses for ``fmt`` (one byte up to 8 bits, else two)."""
    return np.uint8 if fmt.width <= 8 else np.uint16


def all_codes(fmt: FloatFormat) -> np.ndarray:
    return np.arange(1 << fmt.width, dtype=np.int64)


def all_pairs(fmt: FloatFormat) -> tuple[np.ndarray, np.ndarray]:
    c = all_codes(fmt)
    x, y = np.meshgrid(c, c, indexing="ij")
    return x.ravel(), y.ravel()


def ml_view(fmt: FloatFormat, codes: np.ndarray) -> np.ndarray:
    return np.asarray(codes).astype(storage(fmt)).view(TWINS[fmt])


def ml_decode(fmt: FloatFormat, codes: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return ml_view(fmt, codes).astype(np.float64)


def ml_encode(fmt: FloatFormat, values: np.ndarray) -> np.ndarray:
    """ml_dtypes' conversion from float32 (RNE), as codes (int64)."""
    with np.errstate(all="ignore"):
        return np.asarray(values, dtype=np.float32).astype(TWINS[fmt]).view(storage(fmt)).astype(np.int64)


def ml_multiply(fmt: FloatFormat, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return (ml_view(fmt, x) * ml_view(fmt, y)).view(storage(fmt)).astype(np.int64)


@pytest.fixture(scope="session")
def ml_dtype_map() -> dict[FloatFormat, type]:
    """The format -> ml_dtypes type mapping (same object as ``ML_DTYPES``)."""
    return ML_DTYPES
