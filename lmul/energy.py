"""Area, timing and activity-based energy per operation in a real standard-cell library (issue 15).

``energy(design, fmt, params, data=..., vectors=...)`` maps a registry design (``lmul.designs``) to
the OSU 0.18 um library, times it with OpenSTA, simulates the *mapped netlist* with the library's
cell models on an operand stream (zero delay, and with the cells' delays: glitches included),
checks every gate-level output against the golden model on the same stream, and weights the
counted transitions of every net with the library's energies (``lmul.scripts.asic``;
``docs/energy.md``: method, formulas, limits). Results are cached under
``build_root() / "energy" / "cache"`` by netlist, stimulus and tool versions.

Operand streams (``DATA``): ``normal`` — N(0,1) activations and weights, ``llm`` — LLM-like
activations (1 % outlier channels scaled by 20-100, ``lmul.acc_numerics``) with N(0,1) weights, both
quantised to the format with a per-tensor power-of-two scale (``lmul.acc_numerics.quantise``);
``uniform`` — uniformly random bit patterns (NaN and Inf included). Operands come as dot products of
``DOT_K`` terms: activation row i times weight column i.

Energy per operation: per multiplication for the multipliers (a combinational multiplier: per new
operand pair), per multiply-accumulate (product accumulated) for MAC PEs, dot units and arrays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from lmul import build_root
from lmul.errors import ParameterError, check_choice, check_int
from lmul.formats import FloatFormat, get_format

__all__ = ["DATA", "DOT_K", "MAX_GATE_CYCLES", "MAX_VECTORS", "SUPPORTED", "EnergyError", "add_parser",
           "asic_rows", "asic_section", "asic_table", "energy", "headline_points", "main", "operands"]

DATA = {
    "normal": "N(0,1) activations x N(0,1) weights, per-tensor power-of-two scaled",
    "llm": "LLM-like activations (1 % outlier channels x20-100) x N(0,1) weights, per-tensor scaled",
    "uniform": "uniformly random bit patterns (NaN and Inf included)",
}
DOT_K = 32                      # terms per dot product of the stream
MAX_VECTORS = 1_000_000
# gate-level budget: cells x simulated cycles (x2 runs); Icarus runs ~1e7 cell-cycles/s on one core
MAX_GATE_CYCLES = 2_000_000_000
SUPPORTED = ("lmul_pe", "fp_multiplier", "fp_multiplier_exact", "mac_pe", "dot_unit", "systolic_array")
MULTIPLIERS = ("lmul_pe", "fp_multiplier", "fp_multiplier_exact")
CACHE_VERSION = "2"


class EnergyError(RuntimeError):
    """The flow could not produce a trustworthy figure (tool failure, gate-level mismatch, budget)."""


# --- stimulus --------------------------------------------------------------------------------------------

def operands(fmt: FloatFormat | str, data: str, vectors: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) bit patterns of ``fmt``, ``vectors`` rounded up to whole dot products of ``DOT_K`` terms:
    x[i*K:(i+1)*K] is activation row i, y[...] weight column i."""
    from lmul.acc_numerics import DATA as ACC_DATA
    from lmul.acc_numerics import quantise
    fmt = get_format(fmt)
    check_choice("data", data, DATA)
    dots = -(-vectors // DOT_K)
    rng = np.random.default_rng(seed)
    if data == "uniform":
        x, y = rng.integers(0, 1 << fmt.width, (2, dots * DOT_K), dtype=np.int64)
        return x, y
    a, b = ACC_DATA["normal" if data == "normal" else "outliers"][1](rng, dots, DOT_K, dots)
    xa, _ = quantise(fmt, a)
    yb, _ = quantise(fmt, b)
    return np.asarray(xa, np.int64).ravel(), np.asarray(yb, np.int64).T.ravel()


# --- design adapters: port words in, golden comparison out --------------------------------------------------

def _payload_layout(comp: object, port: str) -> object:
    return comp.signature.members[port].signature.members["payload"].shape  # type: ignore[attr-defined]


def _pack(words: list[int], lay: object, name: str, values: np.ndarray, elem_bits: int) -> None:
    """OR ``values`` (cycles x elements) into ``words`` at field ``name`` of ``lay`` (element j at +j*bits)."""
    off = lay[name].offset  # type: ignore[index]
    vals = np.asarray(values, dtype=object).reshape(len(words), -1)
    for c in range(len(words)):
        w = words[c]
        for j, v in enumerate(vals[c]):
            w |= int(v) << (off + j * elem_bits)
        words[c] = w


def _field(word: int, lay: object, name: str, index: int | None = None, bits: int = 0) -> int:
    f = lay[name]  # type: ignore[index]
    if index is None:
        return (word >> f.offset) & ((1 << _width(f.shape)) - 1)
    return (word >> (f.offset + index * bits)) & ((1 << bits) - 1)


def _width(shape: object) -> int:
    from amaranth.hdl import Shape
    from amaranth.lib import data
    try:
        return data.Layout.cast(shape).size
    except TypeError:
        return Shape.cast(shape).width


class _Plan:
    """How to drive one design for ``ops`` operations and check its outputs (``check(rows) -> (ok, msg)``)."""

    def __init__(self, design: str, fmt: FloatFormat, params: object, comp: object, x: np.ndarray, y: np.ndarray,
                 ports: dict[str, tuple[str, int]]) -> None:
        from lmul.designs import _dot_args, resolve_n
        self.design, self.fmt, self.params = design, fmt, params
        self.clocked = "clk" in ports
        w = fmt.width
        p = params
        if design in MULTIPLIERS:
            lat = p.latency  # type: ignore[attr-defined]
            self.ops = len(x)
            self.cycles = len(x) + lat
            pad = np.zeros(lat, np.int64)
            self.inputs = {"a": np.concatenate([x, pad]), "b": np.concatenate([y, pad])}

            def check(rows: list[dict]) -> tuple[bool, str]:
                out = "p" if design == "fp_multiplier_exact" else "o"
                got = [r[out] for r in rows[lat:lat + len(x)]]
                return self._check_mul(got, x, y)
            self.check = check
            return
        out_fmt = get_format(p.out_fmt)  # type: ignore[attr-defined]
        lay_in, lay_out = _payload_layout(comp, "i"), _payload_layout(comp, "o")
        latency = int(comp.latency)  # type: ignore[attr-defined]
        k = DOT_K
        xa, yb = x.reshape(-1, k), y.reshape(-1, k)
        dots = xa.shape[0]
        if design == "mac_pe":
            self.ops, beats = dots * k, dots * k
            words = [0] * beats
            _pack(words, lay_in, "a", x, w)
            _pack(words, lay_in, "b", y, w)
            _pack(words, lay_in, "last", np.tile((np.arange(k) == k - 1).astype(np.int64), dots), 1)
            from lmul.sim.mac_pe import dot
            gold = dot(fmt, xa, yb, out_fmt, p.kind, p.acc)  # type: ignore[attr-defined]
            n_out = dots
        elif design == "dot_unit":
            n = resolve_n(design, p)  # type: ignore[arg-type]
            if k % n:
                raise ParameterError(f"n must divide the stream's dot length {k}, got {n}")
            beats, self.ops = dots * (k // n), dots * k
            words = [0] * beats
            _pack(words, lay_in, "a", x, w)
            _pack(words, lay_in, "b", y, w)
            _pack(words, lay_in, "count", np.full(beats, n), _width(lay_in["count"].shape))  # type: ignore[index]
            _pack(words, lay_in, "last", np.tile((np.arange(k // n) == k // n - 1).astype(np.int64), dots), 1)
            from lmul.sim.dot_unit import dot_unit
            wd, promote = _dot_args(p)
            gold = dot_unit(fmt, xa, yb, out_fmt, p.kind, n, p.acc, p.align, wd, promote)  # type: ignore[attr-defined]
            n_out = dots
        else:                                           # systolic_array: tiles of rows x K times K x cols
            if resolve_n(design, p) != 1:  # type: ignore[arg-type]
                raise ParameterError("the energy flow drives the systolic array with n = 1 (MAC PEs) only")
            rows_, cols_ = p.rows, p.cols  # type: ignore[attr-defined]
            tiles = max(1, dots // max(rows_, cols_))
            at = xa[:tiles * rows_].reshape(tiles, rows_, k) if dots >= tiles * rows_ else None
            bt = yb[:tiles * cols_].reshape(tiles, cols_, k) if dots >= tiles * cols_ else None
            if at is None or bt is None:
                raise ParameterError(f"vectors too few for one {rows_}x{cols_} tile of K={k}")
            beats, self.ops = tiles * k, tiles * rows_ * cols_ * k
            words = [0] * beats
            _pack(words, lay_in, "a", at.transpose(0, 2, 1).reshape(beats, rows_), w)   # beat k: A[:, k]
            _pack(words, lay_in, "b", bt.transpose(0, 2, 1).reshape(beats, cols_), w)   # beat k: B[k, :]
            _pack(words, lay_in, "last", np.tile((np.arange(k) == k - 1).astype(np.int64), tiles), 1)
            from lmul.sim.systolic_array import matmul
            gold = np.stack([matmul(fmt, at[t], bt[t].T, out_fmt, p.kind, p.acc)  # type: ignore[attr-defined]
                             for t in range(tiles)])
            n_out = tiles * rows_
        drain = latency + 8 + (p.rows if design == "systolic_array" else 0)  # type: ignore[attr-defined]
        self.cycles = beats + drain
        self.inputs = {"i__payload": words + [0] * drain,
                       "i__valid": [1] * beats + [0] * drain, "o__ready": [1] * self.cycles}
        ow = out_fmt.width

        def check_stream(rows: list[dict]) -> tuple[bool, str]:
            if any(r.get("i__ready") != 1 for r in rows[:beats]):
                return False, "the design stalled its input (i.ready low) on a stream that should flow"
            outs = [r["o__payload"] for r in rows if r.get("o__valid") == 1]
            if any(o is None for o in outs) or any(r.get("o__valid") is None for r in rows):
                return False, "x/z on the output stream"
            if len(outs) != n_out:
                return False, f"{len(outs)} output beats, expected {n_out}"
            if design == "systolic_array":
                c = lay_out
                got = np.array([[_field(o, c, "c", j, ow) for j in range(p.cols)] for o in outs],  # type: ignore[attr-defined]
                               dtype=np.int64).reshape(gold.shape)
            else:
                got = np.array(outs, dtype=np.int64).reshape(gold.shape)
            bad = np.nonzero(got != np.asarray(gold, np.int64))
            if len(bad[0]):
                i = tuple(b[0] for b in bad)
                return False, (f"{len(bad[0])} of {gold.size} results differ from the golden model "
                               f"(first at {i}: gate-level {int(got[i]):#x}, golden {int(gold[i]):#x})")
            return True, f"{gold.size} results equal the golden model"
        self.check = check_stream

    def _check_mul(self, got: list[int | None], x: np.ndarray, y: np.ndarray) -> tuple[bool, str]:
        if any(g is None for g in got):
            return False, "x/z on the multiplier output"
        fmt = self.fmt
        g = np.array(got, dtype=object)
        if self.design == "fp_multiplier_exact":
            from lmul.rtl.fp_multiplier import ExactProductLayout
            from lmul.sim.fp_multiplier import fp_product
            lay = ExactProductLayout(fmt)
            f = {n: np.array([(int(v) >> lay[n].offset) & ((1 << _width(lay[n].shape)) - 1) for v in g],
                             dtype=object) for n in ("sig", "shift", "sign", "nan", "inf")}
            mag = f["sig"] * np.array([1 << int(s) for s in f["shift"]], dtype=object)
            val = np.where(f["sign"] == 1, -mag, mag)
            nan, inf = f["nan"] == 1, f["inf"] == 1
            val = np.where(nan | inf, 0, val)
            gold = fp_product(fmt, x, y)
            bad = np.nonzero((val != np.asarray(gold.value, dtype=object)) | (nan != gold.nan)
                             | (inf != (gold.inf != 0)))[0]
        else:
            if self.design == "lmul_pe":
                from lmul.sim.lmul_pe import lmul as golden
            else:
                from lmul.sim.fp_multiplier import fp_multiply as golden
            gold = np.asarray(golden(fmt, x, y), np.int64)
            val = g.astype(np.int64)
            bad = np.nonzero(val != gold)[0]
        if len(bad):
            i = bad[0]
            return False, (f"{len(bad)} of {len(x)} products differ from the golden model (first: "
                           f"{int(x[i]):#x} * {int(y[i]):#x}, gate-level {int(g[i]):#x})")
        return True, f"{len(x)} products equal the golden model"


# --- the flow --------------------------------------------------------------------------------------------

def _cache_dir() -> Path:
    return build_root() / "energy" / "cache"


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _mapped(vtext: str, top: str) -> tuple[str, dict]:
    """The osu018 netlist of ``vtext`` and its stat (cached by the Verilog and tool versions)."""
    from lmul.scripts import asic
    key = _key("map", CACHE_VERSION, asic.tool_versions(), vtext)
    cdir = _cache_dir()
    net_f, stat_f = cdir / f"map-{key}.v", cdir / f"map-{key}.json"
    if net_f.exists() and stat_f.exists():
        return net_f.read_text(), json.loads(stat_f.read_text())
    cdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cdir.parent, prefix="map-") as tmp:
        net, stat = asic.map_design(vtext, top, Path(tmp))
    net_f.write_text(net)
    stat_f.write_text(json.dumps(stat, indent=1))
    return net, stat


def _params(design: str, params: object | None) -> object:
    from lmul.designs import DesignParams
    if params is None:
        return DesignParams()
    if not isinstance(params, DesignParams):
        raise TypeError(f"params must be a DesignParams, got {type(params).__name__}")
    return params


def check_request(design: str, fmt: FloatFormat | str, params: object | None = None, data: str = "normal",
                  vectors: int = 10_000, seed: int = 0) -> tuple[FloatFormat, object]:
    """Validate every argument of ``energy`` (``ParameterError`` / ``TypeError`` naming it)."""
    from lmul.designs import DESIGNS, check_params
    if design not in DESIGNS:
        raise ParameterError(f"design must be one of {', '.join(SUPPORTED)}; got {design!r}")
    if design not in SUPPORTED:
        raise ParameterError(f"design {design!r} is not supported by the energy flow (its memories make a "
                             f"gate-level simulation meaningless); supported: {', '.join(SUPPORTED)}")
    fmt = get_format(fmt)
    params = _params(design, params)
    check_params(design, params)  # type: ignore[arg-type]
    check_choice("data", data, DATA)
    check_int("vectors", vectors, DOT_K, MAX_VECTORS)
    check_int("seed", seed, 0)
    return fmt, params


def energy(design: str, fmt: FloatFormat | str, params: object | None = None, *, data: str = "normal",
           vectors: int = 10_000, seed: int = 0, cache: bool = True, netlist: str | None = None,
           check: bool = True, max_gate_cycles: int = MAX_GATE_CYCLES,
           stream: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Area (um^2), maximum clock (MHz) and energy per operation (pJ, zero-delay and with-delay bounds)
    of ``design`` in ``fmt`` on the OSU 0.18 um library (module docstring; ``docs/energy.md``).

    ``netlist`` replaces the mapped netlist (tests: a deliberately broken one). With ``check`` (default)
    a gate-level output that differs from the golden model raises ``EnergyError``; without, the result
    has ``gate_level_match: false``. A design whose cells x cycles exceed ``max_gate_cycles`` raises
    ``EnergyError`` before simulating; missing tools raise ``EnergyError`` naming the Debian packages.
    ``stream``: explicit operand bit patterns ``(x, y)`` instead of ``data``/``vectors``/``seed`` (e.g.
    every pair of a small format, ``lmul.vectors.multiplier_vectors``); MACs take whole dot products
    of ``DOT_K`` terms; the result's ``data`` is ``"stream"``."""
    from amaranth.back import verilog

    from lmul.designs import build_design, module_name
    from lmul.scripts import asic
    if stream is not None:
        x_s, y_s = (np.asarray(v, dtype=np.int64).ravel() for v in stream)
        vectors = len(x_s)
        if len(y_s) != vectors:
            raise ParameterError(f"stream: x has {vectors} operands, y {len(y_s)}")
    fmt, params = check_request(design, fmt, params, data, vectors, seed)
    if stream is not None:
        if min(x_s.min(), y_s.min()) < 0 or max(x_s.max(), y_s.max()) >= 1 << fmt.width:
            raise ParameterError(f"stream: operands must be {fmt.name} bit patterns (0..{(1 << fmt.width) - 1})")
        if design not in MULTIPLIERS and vectors % DOT_K:
            raise ParameterError(f"stream: {design} takes whole dot products of {DOT_K} terms, got {vectors}")
        if design == "systolic_array":
            raise ParameterError("stream: not supported for systolic_array (tiles come from data=)")
    if asic.missing_tools():
        raise EnergyError(asic.install_hint())
    t0 = time.time()
    comp = build_design(design, fmt, params)  # type: ignore[arg-type]
    vtext = verilog.convert(comp, name="top", emit_src=False)
    try:
        net, stat = _mapped(vtext, "top") if netlist is None else (netlist, None)
        nl = asic.parse_netlist(net)
        if stat is None:
            _, stat = _mapped(vtext, "top")
        need = vectors
        if design == "systolic_array":          # whole tiles: rows x cols x K MACs each
            r_, c_ = params.rows, params.cols  # type: ignore[attr-defined]
            need = -(-vectors // (r_ * c_ * DOT_K)) * max(r_, c_) * DOT_K
        x, y = operands(fmt, data, need, seed) if stream is None else (x_s, y_s)
        if design in MULTIPLIERS:
            x, y = x[:vectors], y[:vectors]
        plan = _Plan(design, fmt, params, comp, x, y, nl.ports)
        budget = stat["cells"] * plan.cycles
        if budget > max_gate_cycles:
            raise EnergyError(f"{module_name(design, fmt, params)}: {stat['cells']:,} cells x {plan.cycles:,} "
                              f"cycles = {budget:.2e} exceeds the gate-level simulation budget {max_gate_cycles:.1e} "
                              f"(use fewer --vectors or a smaller design)")
        stim_hash = hashlib.sha256(json.dumps({k: [int(v) for v in vs] for k, vs in plan.inputs.items()},
                                              sort_keys=True).encode()).hexdigest()
        key = _key("energy", CACHE_VERSION, asic.tool_versions(), net, stim_hash, asic.IN_SLEW, check)
        cfile = _cache_dir() / f"{key}.json"
        if cache and cfile.exists():
            res = json.loads(cfile.read_text())
            res["cached"] = True
            return res
        res = _run(design, fmt, params, net, nl, stat, plan, check)
    except asic.AsicError as exc:
        raise EnergyError(str(exc)) from None
    res.update({"design": design, "format": fmt.name, "params": asdict(params),  # type: ignore[call-overload]
                "name": module_name(design, fmt, params), "data": data if stream is None else "stream",
                "data_doc": DATA[data] if stream is None else "explicit operand stream",
                "seed": seed, "tool_versions": asic.tool_versions(), "seconds": round(time.time() - t0, 1),
                "cached": False})
    if netlist is None:
        cfile.parent.mkdir(parents=True, exist_ok=True)
        cfile.write_text(json.dumps(res, indent=1, sort_keys=True))
    return res


def _run(design: str, fmt: FloatFormat, params: object, net: str, nl: object, stat: dict, plan: _Plan,
         check: bool) -> dict:
    from lmul.scripts import asic
    lib = asic.library()
    energies = asic.net_energies(nl, lib)  # type: ignore[arg-type]
    leak_nw = sum(lib.cells[c].leakage_nw * n for c, n in stat["cell_types"].items())
    _cache_dir().parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=_cache_dir().parent, prefix="run-") as tmp:
        work = Path(tmp)
        (work / "net.v").write_text(net)
        sta = asic.timing(work / "net.v", nl.top, plan.clocked, work)  # type: ignore[attr-defined]
        bounds, matches, notes = {}, [], []
        for mode, delays in (("zero_delay", False), ("with_delays", True)):
            period = 10.0 if not delays else math.ceil(2 * sta["critical_ns"] + 2)
            rows, toggles, cycles = asic.simulate(work / "net.v", nl, plan.inputs, plan.cycles, work,  # type: ignore[arg-type]
                                                  clocked=plan.clocked, delays=delays, period_ns=period)
            ok, msg = plan.check(rows)
            matches.append(ok)
            notes.append(f"{mode}: {msg}")
            if not ok and check:
                raise EnergyError(f"gate-level outputs differ from the golden model ({mode}): {msg}")
            parts = {"switching": 0.0, "internal": 0.0, "clock": 0.0}
            for bit, e in energies.items():
                r, f = toggles.get(bit, (0, 0))
                if not r and not f:
                    continue
                if bit == "clk":
                    parts["clock"] += r * e["rise"] + f * e["fall"]
                    continue
                parts["switching"] += (r + f) * e["switching"]
                parts["internal"] += r * (e["internal"][0] + e["pin"][0]) + f * (e["internal"][1] + e["pin"][1])
            # leakage over the operations' time at the maximum clock: cycles x critical path
            parts["leakage"] = leak_nw * cycles * sta["critical_ns"] * 1e-6
            per_op = {k: v / plan.ops for k, v in parts.items()}
            bounds[mode] = {"total": sum(per_op.values()), **per_op,
                            "toggles_per_op": sum(r + f for b, (r, f) in toggles.items()
                                                  if b in energies and b != "clk") / plan.ops,
                            "period_ns": period}
    zd, wd = bounds["zero_delay"], bounds["with_delays"]
    return {"area_um2": stat["area_um2"], "cells": stat["cells"], "flops": stat["flops"],
            "cell_types": stat["cell_types"], "critical_ns": sta["critical_ns"], "fmax_mhz": sta["fmax_mhz"],
            "critical_path": sta["path"], "clocked": plan.clocked, "vectors": plan.ops, "cycles": plan.cycles,
            "energy_pj": {"zero_delay": round(zd["total"], 4), "with_delays": round(wd["total"], 4)},
            "energy_breakdown_pj": {k: {kk: round(vv, 5) for kk, vv in v.items()} for k, v in bounds.items()},
            "glitch_factor": round((wd["switching"] + wd["internal"])
                                   / max(zd["switching"] + zd["internal"], 1e-12), 3),
            "gate_level_match": all(matches), "gate_level_check": "; ".join(notes),
            "leakage_nw": round(leak_nw, 1)}


# --- tables for README / report / paper --------------------------------------------------------------------

def headline_points(fmt: str = "e4m3", *, arrays: bool = True) -> list[tuple[str, str, str, object]]:
    """(label, design, format, DesignParams) of the headline ASIC table."""
    from lmul.designs import DesignParams
    d = DesignParams()
    pts = [("L-Mul PE", "lmul_pe", fmt, d), ("exact multiplier, rounded", "fp_multiplier", fmt, d),
           ("exact multiplier, unrounded", "fp_multiplier_exact", fmt, d)]
    for kind in ("lmul", "exact"):
        for acc in ("kulisch", "fp32"):
            pts.append((f"MAC PE {kind}, {acc}", "mac_pe", fmt, replace(d, kind=kind, acc=acc)))
    for acc in ("fp32", "kulisch"):             # both accumulator kinds, as the MAC PEs
        for kind in ("lmul", "exact"):
            pts.append((f"dot unit n=4 {kind}, {acc}", "dot_unit", fmt, replace(d, kind=kind, acc=acc, n=4)))
    if arrays:
        for kind in ("lmul", "exact"):
            pts.append((f"4x4 array {kind}, kulisch (per MAC)", "systolic_array", fmt, replace(d, kind=kind)))
    return pts


def asic_rows(points: list[tuple[str, str, str, object]] | None = None, *, data: str = "normal",
              vectors: int = 10_000, progress: object = None, workers: int | None = None) -> list[dict]:
    """``energy`` of each headline point (errors recorded as ``{"error": ...}``), ``workers`` at a
    time (default: the machine's cores; the tools are subprocesses), rows in the order of ``points``."""
    from concurrent.futures import ThreadPoolExecutor

    def one(point: tuple[str, str, str, object]) -> dict:
        label, design, fmt, params = point
        try:
            r = energy(design, fmt, params, data=data, vectors=vectors)
        except (EnergyError, ValueError) as exc:
            r = {"design": design, "format": fmt, "error": str(exc)}
        r["label"] = label
        if progress:
            progress(f"asic {label} {fmt}: " + (r.get("error") or f"{r['energy_pj']}"))  # type: ignore[operator]
        return r

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(pool.map(one, points or headline_points()))


def _value(r: dict, key: str, no_clock: bool = False) -> float:
    if key == "area_um2":
        return r["area_um2"]
    return r["energy_pj"][key] - (r["energy_breakdown_pj"][key]["clock"] if no_clock else 0.0)


def _ratio(a: dict, b: dict | None, key: str, no_clock: bool = False) -> str:
    if not b or "error" in a or "error" in b:
        return ""
    vb = _value(b, key, no_clock)
    return f"{_value(a, key, no_clock) / vb:.2f}" if vb else ""


def _short(version: str) -> str:
    return version.split(" (git")[0]


def asic_table(rows: list[dict] | None = None, *, points: list[tuple[str, str, str, object]] | None = None,
               heading: str = "##", data: str = "normal", vectors: int = 10_000, progress: object = None) -> list[str]:
    """The ASIC section as Markdown lines (one call for ``lmul report`` / ``lmul paper``): area, fmax and
    pJ/op (both bounds) of ``points`` (default ``headline_points()``; or precomputed ``rows`` of
    ``asic_rows``), L-Mul/exact ratios, method and limits. Cached results cost nothing; a cold full
    table takes ~15 min on 2 cores. Without the Debian tools the lines say which packages to install."""
    from lmul.scripts import asic
    miss = asic.missing_tools()
    lines = [f"{heading} ASIC: OSU 0.18 um standard cells, activity-based energy", ""]
    if miss:
        return [*lines, f"Skipped: {asic.install_hint(miss)}.", ""]
    rows = rows if rows is not None else asic_rows(points, data=data, vectors=vectors, progress=progress)
    by = {r["label"]: r for r in rows}
    lines += ["| design | format | um^2 | max MHz | pJ/op zero-delay | pJ/op with delays | clock share | glitch x | "
              "L-Mul/exact area | L-Mul/exact energy (zd / delays) | same without clock |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['label']} | {r['format']} | error: {r['error'][:120]} | | | | | | | | |")
            continue
        label = r["label"]
        twin = None
        if "lmul" in label.lower() or label.startswith("L-Mul"):
            twin = by.get("exact multiplier, rounded") if label == "L-Mul PE" else \
                by.get(label.replace("lmul", "exact"))
        ratio_e = f"{_ratio(r, twin, 'zero_delay')} / {_ratio(r, twin, 'with_delays')}" if twin else ""
        ratio_l = (f"{_ratio(r, twin, 'zero_delay', True)} / {_ratio(r, twin, 'with_delays', True)}"
                   if twin and r.get("clocked") else "")
        clock = r["energy_breakdown_pj"]["zero_delay"]["clock"] / r["energy_pj"]["zero_delay"]
        lines.append(f"| {label} | {r['format']} | {r['area_um2']:,.0f} | {r['fmax_mhz']:,.0f} | "
                     f"{r['energy_pj']['zero_delay']:.3f} | {r['energy_pj']['with_delays']:.3f} | {clock:.0%} | "
                     f"{r['glitch_factor']:.2f} | {_ratio(r, twin, 'area_um2') if twin else ''} | {ratio_e} | "
                     f"{ratio_l} |")
    ok = [r for r in rows if "error" not in r]
    vers = ok[0]["tool_versions"] if ok else asic.tool_versions()
    lm, unr = by.get("L-Mul PE"), by.get("exact multiplier, unrounded")
    if lm and unr and "error" not in lm and "error" not in unr:
        lines += ["", f"L-Mul PE / unrounded exact multiplier (the product a MAC accumulates): area "
                  f"{_ratio(lm, unr, 'area_um2')}, energy {_ratio(lm, unr, 'zero_delay')} (zero delay) / "
                  f"{_ratio(lm, unr, 'with_delays')} (with delays)."]
    if any(r.get("clocked") for r in ok):
        lines += ["", "Clock share: the flip-flops' clock-pin energy (no clock tree) in the zero-delay figure; it "
                  "dilutes the L-Mul/exact ratio of the clocked designs (both kinds keep the same accumulator "
                  "state), so the last column gives the ratio without it."]
    if any(r.get("clocked") for r in ok):
        lines += ["", "Max MHz of clocked designs with wide state (arrays, BF16 Kulisch MACs) is pessimistic: "
                  "`abc -liberty` inserts no buffers, so the advance/stall enable that drives every state "
                  "multiplexer is one unbuffered net (~49 pF in the E4M3 4x4 array)."]
    lines += ["", f"Stimulus: {DATA[data]}, {vectors:,} operations per design (dot products of {DOT_K}); every "
              "gate-level output equals the golden model on the same stream (both simulations). pJ/op: per "
              "multiplication (multipliers) or per multiply-accumulate (MACs, dot units, arrays); zero-delay = "
              "no glitches, with delays = the cells' delays (Icarus -gspecify), glitches included; clock energy "
              "of the flip-flops and leakage at the maximum clock included. No wires, no clock tree, a 2004-era "
              "0.18 um node at 1.8 V: the ratios transfer, the absolute pJ do not (for scale, the paper's 45 nm "
              "table: 8-bit integer add 0.03 pJ, 32-bit integer add 0.1 pJ, FP32 add 0.9 pJ, FP32 multiply 3.7 pJ). "
              "Method: docs/energy.md. Tools: "
              + ", ".join(f"{k} {_short(v)}" for k, v in vers.items()) + ".", ""]
    return lines


def asic_section(points: list[tuple[str, str, str, object]] | None = None, *, heading: str = "##",
                 data: str = "normal", vectors: int = 10_000, progress: object = None,
                 workers: int | None = None) -> tuple[list[str], list[dict]]:
    """(Markdown lines, JSON-able rows) of the ASIC section: the one call for ``lmul report`` and
    ``lmul paper``. Without the Debian tools: the "Skipped: install ..." lines and no rows."""
    from lmul.scripts import asic
    if asic.missing_tools():
        return asic_table([], heading=heading, data=data, vectors=vectors), []
    rows = asic_rows(points, data=data, vectors=vectors, progress=progress, workers=workers)
    return asic_table(rows, heading=heading, data=data, vectors=vectors), rows


# --- CLI -------------------------------------------------------------------------------------------------

def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``lmul energy`` (called by ``lmul.cli.build_parser``)."""
    from lmul.arith import ALIGNS, N_CHOICES, PRODUCT_KINDS
    from lmul.designs import DesignParams
    d = DesignParams()
    s = subparsers.add_parser("energy", help="standard-cell area, max clock and activity-based energy per op")
    s.add_argument("--design", required=True, help=f"one of {', '.join(SUPPORTED)}")
    s.add_argument("--format", default="e4m3", help="operand format (default e4m3)")
    s.add_argument("--kind", choices=PRODUCT_KINDS.names(), default="lmul", help="MAC product kind (default lmul)")
    s.add_argument("--acc", default="kulisch", help="MAC accumulator (default kulisch)")
    s.add_argument("--out-format", default="fp32", help="MAC result format (default fp32)")
    s.add_argument("--k-max", type=int, default=d.k_max, help=f"longest dot product (default {d.k_max})")
    s.add_argument("--size", default="4x4", help="systolic array RxC (default 4x4)")
    s.add_argument("--latency", type=int, choices=[0, 1, 2], default=0, help="multiplier pipeline registers")
    s.add_argument("--n", type=int, choices=N_CHOICES, default=d.n,
                   help="dot_unit products per beat (default: the design's, 4)")
    s.add_argument("--align", choices=ALIGNS, default=d.align, help="dot_unit alignment")
    s.add_argument("--data", choices=list(DATA), default="normal", help="operand stream (default normal)")
    s.add_argument("--vectors", type=int, default=10_000, help="operations to simulate (default 10000)")
    s.add_argument("--seed", type=int, default=0, help="stimulus seed (default 0)")
    s.add_argument("--no-cache", action="store_true", help="recompute even if cached")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=main)
    return s


def main(args: argparse.Namespace) -> int:
    """``lmul energy``: one error line and exit code 2 on bad input, tool failure or a gate-level mismatch."""
    from lmul.arith import accumulator
    from lmul.designs import DesignParams
    try:
        try:
            rows, cols = (int(v) for v in str(args.size).lower().split("x"))
        except ValueError:
            raise ParameterError(f"--size must be RxC such as 4x4, got {args.size!r}") from None
        params = DesignParams(latency=args.latency, rows=rows, cols=cols, k_max=args.k_max, kind=args.kind,
                              acc=accumulator(args.acc).name, out_fmt=get_format(args.out_format).name,
                              n=args.n, align=args.align)
        res = energy(args.design, args.format, params, data=args.data, vectors=args.vectors, seed=args.seed,
                     cache=not args.no_cache)
    except (ValueError, TypeError, EnergyError) as exc:
        print(f"lmul energy: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res, sort_keys=True))
        return 0
    e = res["energy_pj"]
    print(f"{res['name']} ({res['data']}, {res['vectors']:,} ops): {res['area_um2']:,.0f} um^2, "
          f"{res['cells']:,} cells ({res['flops']} flip-flops), critical path {res['critical_ns']} ns "
          f"= {res['fmax_mhz']:,.1f} MHz; energy {e['zero_delay']:.3f} pJ/op zero-delay, {e['with_delays']:.3f} "
          f"pJ/op with delays (glitch factor {res['glitch_factor']}); gate level matches the golden model: "
          f"{res['gate_level_match']}{' (cached)' if res.get('cached') else ''}")
    return 0
