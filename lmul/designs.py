"""Registry of exportable/synthesisable designs: one name -> a component factory and the
parameters it uses; ``module_name`` encodes every one of them, so no two netlists share a name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from lmul.arith import accumulator, product_kind
from lmul.errors import ParameterError
from lmul.formats import FloatFormat, get_format

__all__ = ["DESIGNS", "Design", "DesignParams", "build_design", "export_design", "identifier", "module_name"]


@dataclass(frozen=True)
class DesignParams:
    """Parameters a design may use: pipeline latency (multipliers), product kind and accumulator
    (MACs, arrays, engines; ``lmul.arith`` registries), array size, K limit, result format."""

    latency: int = 0
    rows: int = 4
    cols: int = 4
    k_max: int = 256
    out_fmt: str = "fp32"
    kind: str = "lmul"
    acc: str = "kulisch"


Factory = Callable[[FloatFormat, DesignParams], wiring.Component]


@dataclass(frozen=True)
class Design:
    """A registry entry: ``uses`` lists the ``DesignParams`` fields that change its netlist."""

    name: str
    factory: Factory
    uses: tuple[str, ...]
    doc: str


def _lmul_pe(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
    from lmul.rtl.lmul_pe import LMulPE
    return LMulPE(fmt, latency=p.latency)


def _fp_mul(mode: str) -> Factory:
    def make(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
        from lmul.rtl.fp_multiplier import FPMultiplier
        return FPMultiplier(fmt, mode=mode, latency=p.latency)
    return make


def _mac_pe(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
    from lmul.rtl.mac_pe import MacPE
    return MacPE(fmt, p.kind, p.out_fmt, k_max=p.k_max, acc=p.acc)


def _array(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
    from lmul.rtl.systolic_array import SystolicArray
    return SystolicArray(fmt, p.kind, p.rows, p.cols, p.out_fmt, k_max=p.k_max, acc=p.acc)


def _engine(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
    from lmul.rtl.matmul_engine import MatmulEngine
    return MatmulEngine(fmt, p.kind, p.rows, p.cols, p.out_fmt, m_max=4 * p.rows, k_max=p.k_max,
                        n_max=4 * p.cols, acc=p.acc)


MAC = ("kind", "acc", "k_max", "out_fmt")
DESIGNS: dict[str, Design] = {d.name: d for d in (
    Design("lmul_pe", _lmul_pe, ("latency",), "L-Mul PE (one adder)"),
    Design("fp_multiplier", _fp_mul("rounded"), ("latency",), "exact FP multiplier, RNE-rounded"),
    Design("fp_multiplier_exact", _fp_mul("exact"), ("latency",), "exact FP multiplier, unrounded product"),
    Design("mac_pe", _mac_pe, MAC, "MAC PE with stream ports"),
    Design("systolic_array", _array, (*MAC, "size"), "output-stationary systolic array"),
    Design("matmul_engine", _engine, (*MAC, "size"), "matmul engine (banked memories + array; m/n max 4x the size)"),
)}


def identifier(fmt: FloatFormat | str) -> str:
    """A name as a Verilog/file-safe identifier (``e4m3:sat`` -> ``e4m3_sat``)."""
    return "".join(c if c.isalnum() else "_" for c in str(fmt))


def _design(design: str) -> Design:
    if design not in DESIGNS:
        raise ParameterError(f"design must be one of {', '.join(DESIGNS)}; got {design!r}")
    return DESIGNS[design]


def module_name(design: str, fmt: FloatFormat, params: DesignParams) -> str:
    """``<design>[_<kind>]_<fmt>[_<acc>_k<k_max>_<out_fmt>][_<R>x<C>][_l<latency>]``, e.g.
    ``mac_pe_lmul_e4m3_kulisch_k256_fp32``, ``systolic_array_exact_e5m2_kulisch_k256_fp32_4x4``,
    ``lmul_pe_e4m3_l0``: every parameter the design uses, nothing else."""
    uses = _design(design).uses
    parts = [design]
    if "kind" in uses:
        parts.append(product_kind(params.kind).name)
    parts.append(identifier(fmt))
    if "acc" in uses:
        parts += [identifier(accumulator(params.acc).name), f"k{params.k_max}", identifier(get_format(params.out_fmt))]
    if "size" in uses:
        parts.append(f"{params.rows}x{params.cols}")
    if "latency" in uses:
        parts.append(f"l{params.latency}")
    return "_".join(parts)


def build_design(design: str, fmt: FloatFormat, params: DesignParams | None = None) -> wiring.Component:
    return _design(design).factory(fmt, params or DesignParams())


def export_design(design: str, fmt: FloatFormat, params: DesignParams, out_dir: Path) -> Path:
    """Write the design as Verilog ``<out_dir>/<module>.v``; returns the path."""
    comp = build_design(design, fmt, params)
    name = module_name(design, fmt, params)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    path.write_text(verilog.convert(comp, name=name, emit_src=False))
    return path
