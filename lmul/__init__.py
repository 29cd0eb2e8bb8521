"""L-Mul in hardware: formats, golden models (``lmul.sim``), RTL (``lmul.rtl``), reports.

This package exports the format layer (numpy only; importing ``lmul`` loads neither Amaranth nor
the RTL): ``FloatFormat``, ``get_format`` (a name such as ``"e4m3"`` or a spec such as
``"e6m1:fn:sat"``), ``encode`` / ``decode`` (float64 <-> bit patterns), the named formats
(``E4M3``, ``E5M2``, ``BF16``, ... and ``NAMED_FORMATS``), and ``build_root()``, the one folder
every build output goes to. Golden models: ``lmul.sim`` (``fp_multiply``, ``lmul``, ``dot``,
``matmul``, ...); gateware: ``lmul.rtl``; quickstart: ``docs/quickstart.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    FP32,
    NAMED_FORMATS,
    FloatFormat,
    FormatError,
    decode,
    encode,
    get_format,
)

__version__ = "0.1.0"

__all__ = [
    "BF16",
    "E2M1",
    "E2M3",
    "E3M2",
    "E3M4",
    "E4M3",
    "E4M3B11FNUZ",
    "E4M3FNUZ",
    "E4M3_IEEE",
    "E5M2",
    "E5M2FNUZ",
    "FP16",
    "FP32",
    "NAMED_FORMATS",
    "FloatFormat",
    "FormatError",
    "__version__",
    "build_root",
    "decode",
    "encode",
    "get_format",
]


def build_root() -> Path:
    """The folder for every build output (Verilog, cocotb builds, synthesis cache, reports, bitstreams):
    ``$LMUL_BUILD`` if set, else ``build`` in the current working directory. Read at each call, so a
    process that changes directory or the variable sees the new folder."""
    return Path(os.environ.get("LMUL_BUILD") or "build").absolute()
