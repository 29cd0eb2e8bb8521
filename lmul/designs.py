"""Registry of exportable/synthesisable designs: one name -> a component factory and the
parameters it uses; ``module_name`` encodes every one of them, so no two netlists share a name.

``export_design`` writes ``<module>.v`` and, beside it, the port map of the Verilog: ``<module>.json``
(``port_map``) and ``<module>.md`` (``port_map_markdown``). Amaranth flattens every stream and
struct port into one packed vector (``cmd__payload[18:0]``); the port map gives each port's
direction and width and, for packed ports, every field's name, bit offset and width (recursively:
``res__payload`` -> ``c[0].man``, ``c[0].exp``, ..., ``i``, ``j0``, ``last``), plus the component's
``latency`` (if it has one) and the parameters it was built with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import data, wiring

from lmul.arith import accumulator, check_dot_unit, product_kind
from lmul.errors import ParameterError, check_int
from lmul.formats import FloatFormat, get_format
from lmul.rtl.latency import REPLICA_ATTR, REPLICA_YOSYS, marks_replicas

__all__ = ["DEFAULT_N", "DESIGNS", "MAX_ENGINE_WORDS", "MAX_K", "MAX_PIPELINE", "MAX_SIDE", "Design", "DesignParams",
           "build_design",
           "check_params", "engine_words", "export_design", "identifier", "module_name", "port_map",
           "port_map_markdown", "resolve_n"]

# Limits of the registry designs, checked before elaboration (``check_params``) so a typo cannot
# start an elaboration that runs for hours or out of memory.
MAX_SIDE = 64               # array rows / cols
MAX_K = 1 << 20             # k_max: the accumulators grow by log2(k_max) bits only
MAX_PIPELINE = 16          # pipeline: extra register stages of MAC PEs / arrays / dot units (each has its own max)
MAX_ENGINE_WORDS = 1 << 20  # matmul_engine A+B memory words: the Verilog lists every one (2x2, k 65535: 20 s)


@dataclass(frozen=True)
class DesignParams:
    """Parameters a design may use: pipeline latency (multipliers, 0..2), extra register stages
    ``pipeline`` (MAC PEs, arrays, dot units: ``MacPE(pipeline=...)``, 0 = today's), product kind and accumulator
    (MACs, arrays, engines, dot units; ``lmul.arith`` registries), array size, K limit, result
    format; for the fused dot unit (``lmul.rtl.dot_unit.DotUnit``) and the systolic array's
    dot-unit PEs (``SystolicArray(..., n=...)``) products per beat ``n`` (None: the design's
    default, ``DEFAULT_N``: 4 for ``dot_unit``, 1 for ``systolic_array``, whose n = 1 with exact
    alignment and no promotion is the plain MAC array), alignment ``align`` (``exact`` or
    ``block``), block window ``w`` (``align="block"`` only) and promotion interval ``promote``
    (0: no promotion)."""

    latency: int = 0
    rows: int = 4
    cols: int = 4
    k_max: int = 256
    out_fmt: str = "fp32"
    kind: str = "lmul"
    acc: str = "kulisch"
    n: int | None = None
    align: str = "exact"
    w: int = 14
    promote: int = 0
    pipeline: int = 0


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
    return MacPE(fmt, p.kind, p.out_fmt, k_max=p.k_max, acc=p.acc, pipeline=p.pipeline)


def _array(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
    from lmul.rtl.systolic_array import SystolicArray
    w, promote = _dot_args(p)
    return SystolicArray(fmt, p.kind, p.rows, p.cols, p.out_fmt, k_max=p.k_max, acc=p.acc,
                         n=resolve_n("systolic_array", p), align=p.align, w=w, promote=promote, pipeline=p.pipeline)


def _engine(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
    from lmul.rtl.matmul_engine import MatmulEngine
    return MatmulEngine(fmt, p.kind, p.rows, p.cols, p.out_fmt, m_max=4 * p.rows, k_max=p.k_max,
                        n_max=4 * p.cols, acc=p.acc, pipeline=p.pipeline)


def _dot_args(p: DesignParams) -> tuple[int | None, int | None]:
    """``(w, promote)`` as ``DotUnit`` / ``check_dot_unit`` take them: ``w`` only for block alignment,
    ``promote`` 0 as None (no promotion)."""
    return (p.w if p.align == "block" else None), (p.promote or None)


def _dot_unit(fmt: FloatFormat, p: DesignParams) -> wiring.Component:
    from lmul.rtl.dot_unit import DotUnit
    w, promote = _dot_args(p)
    return DotUnit(fmt, p.kind, resolve_n("dot_unit", p), p.out_fmt, k_max=p.k_max, acc=p.acc, align=p.align,
                   w=w, promote=promote, pipeline=p.pipeline)


#: ``n`` of the designs that use it when ``DesignParams.n`` is None.
DEFAULT_N = {"dot_unit": 4, "systolic_array": 1}


def resolve_n(design: str, p: DesignParams) -> int:
    """``p.n``, or ``design``'s default (``DEFAULT_N``) when it is None."""
    return DEFAULT_N.get(design, 1) if p.n is None else p.n


def _plain_array(p: DesignParams) -> bool:
    """The systolic array without dot-unit options: today's MAC array (names without n/align)."""
    return resolve_n("systolic_array", p) == 1 and p.align == "exact" and not p.promote


MAC = ("kind", "acc", "k_max", "out_fmt")
DESIGNS: dict[str, Design] = {d.name: d for d in (
    Design("lmul_pe", _lmul_pe, ("latency",), "L-Mul PE (one adder)"),
    Design("fp_multiplier", _fp_mul("rounded"), ("latency",), "exact FP multiplier, RNE-rounded"),
    Design("fp_multiplier_exact", _fp_mul("exact"), ("latency",), "exact FP multiplier, unrounded product"),
    Design("mac_pe", _mac_pe, (*MAC, "pipeline"), "MAC PE with stream ports"),
    Design("systolic_array", _array, (*MAC, "size", "n", "align", "promote", "pipeline"),
           "output-stationary systolic array (n > 1, block alignment or promotion: dot-unit PEs)"),
    Design("matmul_engine", _engine, (*MAC, "size", "pipeline"),
           "matmul engine (banked memories + array; m/n max 4x the size)"),
    Design("dot_unit", _dot_unit, (*MAC, "n", "align", "promote", "pipeline"),
           "fused n-term dot-product unit (exact or block alignment, optional FP32 promotion; w with block only)"),
)}


def identifier(fmt: FloatFormat | str) -> str:
    """A name as a Verilog/file-safe identifier (``e4m3:sat`` -> ``e4m3_sat``)."""
    return "".join(c if c.isalnum() else "_" for c in str(fmt))


def _design(design: str) -> Design:
    if design not in DESIGNS:
        raise ParameterError(f"design must be one of {', '.join(DESIGNS)}; got {design!r}")
    return DESIGNS[design]


def module_name(design: str, fmt: FloatFormat, params: DesignParams) -> str:
    """``<design>[_<kind>]_<fmt>[_<acc>_k<k_max>_<out_fmt>][_<R>x<C>][_n<n>_<align>[_w<w>][_p<promote>]][_l<latency>]``,
    e.g. ``mac_pe_lmul_e4m3_kulisch_k256_fp32``, ``systolic_array_exact_e5m2_kulisch_k256_fp32_4x4``,
    ``dot_unit_lmul_e4m3_float_fp32_rne_k256_fp32_n4_block_w14``, ``lmul_pe_e4m3_l0``: every parameter
    the design uses, nothing else (``w`` only with block alignment, ``p`` only when promote > 0; the
    systolic array has the ``_n..`` part only with dot-unit PEs, so the MAC array keeps its name:
    ``systolic_array_lmul_e4m3_float_fp32_rne_k256_fp32_4x4_n4_exact``)."""
    uses = _design(design).uses
    if design == "systolic_array" and _plain_array(params):
        uses = tuple(u for u in uses if u not in ("n", "align", "promote"))
    parts = [design]
    if "kind" in uses:
        parts.append(product_kind(params.kind).name)
    parts.append(identifier(fmt))
    if "acc" in uses:
        parts += [identifier(accumulator(params.acc).name), f"k{params.k_max}", identifier(get_format(params.out_fmt))]
    if "size" in uses:
        parts.append(f"{params.rows}x{params.cols}")
    if "n" in uses:
        parts.append(f"n{resolve_n(design, params)}")
    if "align" in uses:
        parts.append(identifier(params.align))
        if params.align == "block":
            parts.append(f"w{params.w}")
    if "promote" in uses and params.promote:
        parts.append(f"p{params.promote}")
    if "pipeline" in uses and params.pipeline:
        parts.append(f"pipe{params.pipeline}")
    if "latency" in uses:
        parts.append(f"l{params.latency}")
    return "_".join(parts)


def engine_words(params: DesignParams) -> int:
    """Memory words of a ``matmul_engine`` (``_engine``: m_max = 4 rows, n_max = 4 cols): ``rows`` A banks
    of ``4 * k_max`` words and ``cols`` B banks of ``4 * k_max`` words."""
    return (params.rows + params.cols) * 4 * params.k_max


def check_params(design: str, params: DesignParams) -> None:
    """``ParameterError`` for parameters outside the limits (``MAX_SIDE``, ``MAX_K``, ``MAX_ENGINE_WORDS``)
    of what ``design`` uses, and for the dot unit's ``n``/``align``/``w``/``promote`` (with its
    accumulator: ``lmul.arith.check_dot_unit``); ``TypeError`` for non-ints."""
    uses = _design(design).uses
    if "size" in uses:
        check_int("rows", params.rows, 1, MAX_SIDE)
        check_int("cols", params.cols, 1, MAX_SIDE)
    if "k_max" in uses:
        check_int("k_max", params.k_max, 1, MAX_K)
    if "pipeline" in uses:      # the component checks its own maximum (max_pipeline)
        check_int("pipeline", params.pipeline, 0, MAX_PIPELINE)
    if "n" in uses:
        check_dot_unit(resolve_n(design, params), params.acc, params.align, *_dot_args(params))
    if design == "matmul_engine" and engine_words(params) > MAX_ENGINE_WORDS:
        raise ParameterError(
            f"matmul_engine {params.rows}x{params.cols} with k_max {params.k_max} needs {engine_words(params):,} "
            f"memory words ((rows + cols) banks of 4*k_max), more than the {MAX_ENGINE_WORDS:,} an export or "
            f"synthesis handles (the Verilog lists every word); use a smaller k_max or size")


def build_design(design: str, fmt: FloatFormat | str, params: DesignParams | None = None) -> wiring.Component:
    """The component of ``design`` in ``fmt`` (a ``FloatFormat`` or ``get_format`` spec), checked first."""
    params = params or DesignParams()
    check_params(design, params)
    return _design(design).factory(get_format(fmt), params)


def export_design(design: str, fmt: FloatFormat | str, params: DesignParams, out_dir: Path) -> Path:
    """Write the design as Verilog ``<out_dir>/<module>.v`` and its port map beside it
    (``<module>.json``: ``port_map``; ``<module>.md``: ``port_map_markdown``); returns the Verilog path."""
    fmt = get_format(fmt)
    comp = build_design(design, fmt, params)
    name = module_name(design, fmt, params)
    if "n" in _design(design).uses:
        params = replace(params, n=resolve_n(design, params))        # the port map records the n built
    text = verilog.convert(comp, name=name, emit_src=False)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    path.write_text(text)
    ports = port_map(comp, text, name, design=design, fmt=fmt, params=params)
    path.with_suffix(".json").write_text(json.dumps(ports, indent=1) + "\n")
    path.with_suffix(".md").write_text(port_map_markdown(ports))
    return path


# --- port maps of exported Verilog -----------------------------------------------------------------

_CLOCK_PORTS = {"clk": "clock of the sync domain (rising edge)",
                "rst": "synchronous reset of the sync domain, active high"}


def _verilog_ports(text: str, module: str) -> list[tuple[str, str, int]]:
    """``(name, "in"|"out"|"inout", width)`` of every port of ``module`` in Amaranth's Verilog, in order."""
    mt = re.search(rf"^module {re.escape(module)}\((.*?)\);(.*?)^endmodule", text, re.S | re.M)
    if not mt:
        raise ParameterError(f"module {module!r} not found in the Verilog")
    order = [p.strip() for p in mt[1].split(",") if p.strip()]
    decl = {d[3]: (d[1], int(d[2] or 0) + 1) for d in re.finditer(
        r"^\s*(input|output|inout)\s+(?:\[(\d+):0\]\s+)?(\w+);", mt[2], re.M)}
    return [(p, {"input": "in", "output": "out"}.get(decl[p][0], decl[p][0]), decl[p][1]) for p in order]


def _leaf(shape: object) -> dict:
    """Width, signedness and (for enums) the named values of a non-aggregate field shape."""
    sh = Shape.cast(shape)
    out: dict = {"width": sh.width, "signed": sh.signed}
    if isinstance(shape, type) and issubclass(shape, Enum):
        out["enum"] = {m.name: int(m.value) for m in shape}
    return out


def _layout(shape: object) -> data.Layout | None:
    try:
        return data.Layout.cast(shape)
    except TypeError:
        return None


def _fields(layout: data.Layout, prefix: str = "", base: int = 0) -> list[dict]:
    """Every leaf field of ``layout`` in bit order: ``{name, offset, width, signed[, enum]}``,
    names ``a.b`` for struct members and ``a[i]`` for array elements."""
    out = []
    for key, fld in layout:
        name = f"{prefix}[{key}]" if isinstance(key, int) else (f"{prefix}.{key}" if prefix else str(key))
        sub = _layout(fld.shape)
        if sub is not None:
            out += _fields(sub, name, base + fld.offset)
        else:
            out.append({"name": name, "offset": base + fld.offset, **_leaf(fld.shape)})
    return sorted(out, key=lambda f: f["offset"])


def port_map(comp: wiring.Component, text: str, module: str, *, design: str | None = None,
             fmt: FloatFormat | None = None, params: DesignParams | None = None) -> dict:
    """The ports of ``module`` in the Verilog ``text`` converted from ``comp``: for each, its direction,
    width and, for packed struct/array ports, ``fields`` (name, bit offset, width, signedness, enum
    values); with the component's ``latency`` and the parameters it was built with (JSON-able)."""
    members = {"__".join(map(str, path)): (path, m) for path, m in comp.signature.members.flatten() if m.is_port}
    order = list(members)
    vports = sorted(_verilog_ports(text, module),       # signature order, then clk / rst / anything else
                    key=lambda p: order.index(p[0]) if p[0] in members else len(order))
    ports = []
    for name, direction, width in vports:
        port: dict = {"name": name, "direction": direction, "width": width}
        if name in members:
            path, member = members[name]
            port["member"] = ".".join(map(str, path))
            lay = _layout(member.shape)
            if lay is not None:
                port["fields"] = _fields(lay)
            else:
                port.update({k: v for k, v in _leaf(member.shape).items() if k != "width"})
        elif name in _CLOCK_PORTS:
            port["doc"] = _CLOCK_PORTS[name]
        ports.append(port)
    latency = getattr(comp, "latency", None)
    out: dict = {"module": module, "design": design, "latency": latency if isinstance(latency, int) else None}
    if fmt is not None:
        out["format"] = {"name": fmt.name, "spec": fmt.spec}
    if params is not None:
        out["params"] = asdict(params)
        if design in DESIGNS:
            out["uses"] = list(DESIGNS[design].uses)
    out["ports"] = ports
    # per-PE copies a synthesis tool must not merge (lmul.rtl.latency.REPLICA)
    out["replica_attr"] = REPLICA_ATTR if marks_replicas(text) else None
    return out


def port_map_markdown(pm: dict) -> str:
    """``port_map``'s data as a short Markdown page: parameters, latency, one row per port and per field."""
    lines = [f"# `{pm['module']}`", ""]
    if pm.get("design"):
        fmt = pm.get("format") or {}
        used = ", ".join(f"{k}={pm['params'].get(k, '')}" for k in pm.get("uses", []) if k != "size")
        if "size" in pm.get("uses", []):
            used += f", size={pm['params']['rows']}x{pm['params']['cols']}"
        if "align" in pm.get("uses", []) and pm["params"].get("align") == "block":
            used += f", w={pm['params']['w']}"
        lines.append(f"Design `{pm['design']}`, format `{fmt.get('name')}` (`{fmt.get('spec')}`)"
                     + (f"; parameters: {used}" if used else "") + ".")
        lines.append("")
    lat = pm.get("latency")
    lines += [f"Latency: {lat} cycle{'' if lat == 1 else 's'} (the component's `latency`)." if lat is not None
              else "Latency: the component has no `latency` attribute.", "",
              "Packed ports: bit 0 is the LSB; `[hi:lo]` are the field's bits in the port.", ""]
    if pm.get("replica_attr"):
        lines += [f"Synthesis: the flip-flops of signals marked `(* {pm['replica_attr']} *)` are per-PE copies of one "
                  "control bit; keep each one (Yosys, right after reading the Verilog: "
                  f"`{REPLICA_YOSYS.strip().replace(chr(10), '; ')}`; other tools: their keep / don't-touch "
                  "attribute), or synthesis merges them into nets that span the array.", ""]
    lines += [
              "| port | direction | width | field | bits | width |", "|---|---|---|---|---|---|"]
    for p in pm["ports"]:
        extra = f" {p['doc']}" if "doc" in p else ""
        lines.append(f"| `{p['name']}` | {p['direction']} | {p['width']} |{extra} | | |")
        for f in p.get("fields", []):
            hi, lo = f["offset"] + f["width"] - 1, f["offset"]
            note = f" ({', '.join(f'{k}={v}' for k, v in f['enum'].items())})" if "enum" in f else ""
            signed = " signed" if f["signed"] else ""
            lines.append(f"| | | | `{f['name']}`{signed}{note} | [{hi}:{lo}] | {f['width']} |")
    return "\n".join(lines) + "\n"
