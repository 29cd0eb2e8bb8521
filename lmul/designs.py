"""Registry of exportable/synthesisable designs: one name -> a component factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from lmul.formats import FloatFormat, FormatError

__all__ = ["DESIGNS", "build_design", "export_design", "module_name"]


def _lmul_pe(fmt: FloatFormat, latency: int) -> wiring.Component:
    from lmul.rtl.lmul_pe import LMulPE
    return LMulPE(fmt, latency=latency)


def _fp_mul(fmt: FloatFormat, latency: int) -> wiring.Component:
    from lmul.rtl.fp_multiplier import FPMultiplier
    return FPMultiplier(fmt, latency=latency)


def _fp_mul_exact(fmt: FloatFormat, latency: int) -> wiring.Component:
    from lmul.rtl.fp_multiplier import FPMultiplier
    return FPMultiplier(fmt, mode="exact", latency=latency)


DESIGNS: dict[str, Callable[[FloatFormat, int], wiring.Component]] = {
    "lmul_pe": _lmul_pe,
    "fp_multiplier": _fp_mul,
    "fp_multiplier_exact": _fp_mul_exact,
}


def module_name(design: str, fmt: FloatFormat, latency: int) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in fmt.name)
    return f"{design}_{safe}_l{latency}"


def build_design(design: str, fmt: FloatFormat, latency: int = 0) -> wiring.Component:
    if design not in DESIGNS:
        raise FormatError(f"unknown design {design!r} (known: {', '.join(DESIGNS)})")
    return DESIGNS[design](fmt, latency)


def export_design(design: str, fmt: FloatFormat, latency: int, out_dir: Path) -> Path:
    """Write the design as Verilog ``<out_dir>/<module>.v``; returns the path."""
    comp = build_design(design, fmt, latency)
    name = module_name(design, fmt, latency)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    path.write_text(verilog.convert(comp, name=name, emit_src=False))
    return path
