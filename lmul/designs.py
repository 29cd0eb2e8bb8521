"""Registry of exportable/synthesisable designs: one name -> a component factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from lmul.formats import FloatFormat, FormatError

__all__ = ["DESIGNS", "DesignParams", "build_design", "export_design", "identifier", "module_name"]


@dataclass(frozen=True)
class DesignParams:
    """Parameters a design may use: pipeline latency (multipliers), array size, K limit,
    accumulator output format (MACs/arrays)."""

    latency: int = 0
    rows: int = 4
    cols: int = 4
    k_max: int = 256
    out_fmt: str = "fp32"


Factory = Callable[[FloatFormat, DesignParams], wiring.Component]


def _lmul_pe(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
    from lmul.rtl.lmul_pe import LMulPE
    return LMulPE(fmt, latency=p.latency)


def _fp_mul(mode: str) -> Factory:
    def make(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
        from lmul.rtl.fp_multiplier import FPMultiplier
        return FPMultiplier(fmt, mode=mode, latency=p.latency)
    return make


def _mac_pe(kind: str) -> Factory:
    def make(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
        from lmul.rtl.mac_pe import MacPE
        return MacPE(fmt, kind, p.out_fmt, k_max=p.k_max)
    return make


def _array(kind: str) -> Factory:
    def make(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
        from lmul.rtl.systolic_array import SystolicArray
        return SystolicArray(fmt, kind, p.rows, p.cols, p.out_fmt, k_max=p.k_max)
    return make


def _engine(kind: str) -> Factory:
    def make(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
        from lmul.rtl.matmul_engine import MatmulEngine
        return MatmulEngine(fmt, kind, p.rows, p.cols, p.out_fmt, m_max=4 * p.rows, k_max=p.k_max,
                            n_max=4 * p.cols)
    return make


DESIGNS: dict[str, Factory] = {
    "lmul_pe": _lmul_pe,
    "fp_multiplier": _fp_mul("rounded"),
    "fp_multiplier_exact": _fp_mul("exact"),
    "mac_pe_exact": _mac_pe("exact"),
    "mac_pe_lmul": _mac_pe("lmul"),
    "systolic_array_exact": _array("exact"),
    "systolic_array_lmul": _array("lmul"),
    "matmul_engine_exact": _engine("exact"),
    "matmul_engine_lmul": _engine("lmul"),
}
SIZED = {"systolic_array_exact", "systolic_array_lmul", "matmul_engine_exact", "matmul_engine_lmul"}


def identifier(fmt: FloatFormat) -> str:
    """The format's name as a Verilog/file-safe identifier (``e4m3:sat`` -> ``e4m3_sat``)."""
    return "".join(c if c.isalnum() else "_" for c in fmt.name)


def module_name(design: str, fmt: FloatFormat, params: DesignParams) -> str:
    safe = identifier(fmt)
    extra = f"_{params.rows}x{params.cols}" if design in SIZED else f"_l{params.latency}"
    return f"{design}_{safe}{extra}"


def build_design(design: str, fmt: FloatFormat, params: DesignParams | None = None) -> wiring.Component:
    if design not in DESIGNS:
        raise FormatError(f"unknown design {design!r} (known: {', '.join(DESIGNS)})")
    return DESIGNS[design](fmt, params or DesignParams())


def export_design(design: str, fmt: FloatFormat, params: DesignParams, out_dir: Path) -> Path:
    """Write the design as Verilog ``<out_dir>/<module>.v``; returns the path."""
    comp = build_design(design, fmt, params)
    name = module_name(design, fmt, params)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    path.write_text(verilog.convert(comp, name=name, emit_src=False))
    return path
