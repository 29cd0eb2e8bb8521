"""The main job: ``lmul report`` — verification smoke, synthesis sweep, numerics, one folder.

Writes ``report.json`` (every figure, tool versions, the sweep definition), ``report.md`` and PNG
plots into the output folder. Synthesis results are cached by design hash under
``build/synth/cache``, so a re-run only redoes what changed; jobs run in parallel on all cores.

Energy proxy (stated model): dynamic energy per operation ∝ α · C · V² summed over the gates
that switch; with the same activity factor α for both designs and a per-transistor capacitance,
E_op ∝ (transistors of the unit that performs one operation per cycle). For arrays, transistors
per MAC = array transistors / (rows · cols). Savings = 1 − E(L-Mul) / E(exact). This ignores
wires, clock trees and activity differences; it is a proxy, not a power simulation.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmul.designs import DesignParams
from lmul.formats import get_format
from lmul.scripts.synth import TARGETS, DesignPoint, run_points, tool_versions

__all__ = ["Sweep", "default_sweep", "quick_sweep", "run_report", "smoke"]

# The paper's per-operation energy table (Horowitz, ISSCC 2014, 45 nm), as quoted by
# Luo & Sun (arXiv 2410.00907) to derive their -95 % (element-wise) and -80 % (dot product).
PAPER_ENERGY_PJ = {"fp32 mul": 3.7, "fp32 add": 0.9, "fp16 mul": 1.1, "fp16 add": 0.4,
                   "int32 add": 0.1, "int8 add": 0.03, "int32 mul": 3.1, "int8 mul": 0.2}
PAPER_CLAIMS = {"element-wise": 0.95, "dot product": 0.80}


@dataclass
class Sweep:
    formats: list[str]
    array_sizes: dict[str, list[int]]
    k_max: int = 256
    # place and route arrays up to this many PEs (UP5K: a 4x4 E4M3 array needs ~8k LUTs of 5.3k;
    # 8x8 arrays on ECP5 take tens of minutes each in nextpnr: `lmul synth --target ecp5_pnr` runs one)
    pnr_max_pes: dict[str, int] = field(default_factory=lambda: {"ice40_pnr": 4, "ecp5_pnr": 16})
    targets: tuple[str, ...] = TARGETS

    def points(self) -> list[tuple[DesignPoint, str]]:
        jobs: list[tuple[DesignPoint, str]] = []
        synth_targets = [t for t in self.targets if not t.endswith("_pnr")]
        pnr_targets = [t for t in self.targets if t.endswith("_pnr")]
        for name in self.formats:
            fmt = get_format(name)
            unit = [DesignPoint(d, name) for d in ("lmul_pe", "fp_multiplier", "fp_multiplier_exact")]
            unit += [DesignPoint("int_multiplier", name, width=fmt.man_bits + 1),
                     DesignPoint("int_adder", name, width=fmt.field_bits)]
            unit += [DesignPoint(f"mac_pe_{k}", name, DesignParams(k_max=self.k_max)) for k in ("exact", "lmul")]
            for p in unit:
                jobs += [(p, t) for t in synth_targets + pnr_targets]
            for n in self.array_sizes.get(name, []):
                for k in ("exact", "lmul"):
                    p = DesignPoint(f"systolic_array_{k}", name, DesignParams(rows=n, cols=n, k_max=self.k_max))
                    jobs += [(p, t) for t in synth_targets]
                    jobs += [(p, t) for t in pnr_targets if n * n <= self.pnr_max_pes.get(t, 0)]
        return jobs

    def to_dict(self) -> dict:
        return {"formats": self.formats, "array_sizes": self.array_sizes, "k_max": self.k_max,
                "targets": list(self.targets), "pnr_max_pes": self.pnr_max_pes}


def default_sweep() -> Sweep:
    return Sweep(formats=["e4m3", "e5m2", "bf16"], array_sizes={"e4m3": [2, 4, 8], "e5m2": [2, 4, 8], "bf16": [2]})


def quick_sweep() -> Sweep:
    """A small sweep for tests and smoke runs: E4M3 multipliers and MAC PEs, a 2×2 array."""
    return Sweep(formats=["e4m3"], array_sizes={"e4m3": [2]}, k_max=16,
                 targets=("generic", "ice40", "ice40_pnr"))


def smoke(progress: Callable[[str], None]) -> dict[str, str]:
    """Verification smoke: golden models vs ml_dtypes (all E4M3/E5M2 pairs) and the RTL
    multipliers vs the golden models in the Amaranth simulator (random + special pairs)."""
    import ml_dtypes
    from amaranth.sim import Simulator

    from lmul.rtl.fp_multiplier import FPMultiplier
    from lmul.rtl.lmul_pe import LMulPE
    from lmul.sim.fp_multiplier import fp_multiply
    from lmul.sim.lmul_pe import lmul
    from lmul.vectors import multiplier_vectors, special_values

    out: dict[str, str] = {}
    for name, t in (("e4m3", ml_dtypes.float8_e4m3fn), ("e5m2", ml_dtypes.float8_e5m2)):
        fmt = get_format(name)
        x, y = multiplier_vectors(fmt)
        with np.errstate(all="ignore"):
            ref = (x.astype(np.uint8).view(t) * y.astype(np.uint8).view(t)).view(np.uint8)
        ok = np.array_equal(fp_multiply(fmt, x, y), ref)
        out[f"golden {name} vs ml_dtypes (65,536 pairs)"] = "pass" if ok else "FAIL"
        progress(f"smoke: golden {name} vs ml_dtypes: {'pass' if ok else 'FAIL'}")
        rng = np.random.default_rng(0)
        sp = special_values(fmt)
        xs = np.concatenate([rng.integers(0, 256, 300), rng.choice(sp, 200)])
        ys = np.concatenate([rng.integers(0, 256, 300), rng.choice(sp, 200)])
        for label, dut, gold in (("L-Mul PE", LMulPE(fmt), lmul(fmt, xs, ys)),
                                 ("FP multiplier", FPMultiplier(fmt), fp_multiply(fmt, xs, ys))):
            got: list[int] = []

            async def tb(ctx, dut=dut, got=got, xs=xs, ys=ys) -> None:
                for a, b in zip(xs, ys, strict=True):
                    ctx.set(dut.a.as_value(), int(a))
                    ctx.set(dut.b.as_value(), int(b))
                    got.append(ctx.get(dut.o.as_value()))

            sim = Simulator(dut)
            sim.add_testbench(tb)
            sim.run()
            ok = got == [int(v) for v in gold]
            out[f"RTL {label} {name} vs golden (500 pairs)"] = "pass" if ok else "FAIL"
            progress(f"smoke: RTL {label} {name}: {'pass' if ok else 'FAIL'}")
    return out


def _get(res: dict, name: str, target: str, key: str) -> float | None:
    r = res.get((name, target), {})
    v = r.get(key)
    return v if isinstance(v, (int, float)) else None


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _num(x: float | None, fmt: str = "{:,}") -> str:
    return "n/a" if x is None else fmt.format(x)


def summarize(sweep: Sweep, res: dict) -> dict:
    """Headline figures: L-Mul vs exact per format, element-wise and per MAC."""
    head: dict[str, dict] = {}
    for name in sweep.formats:
        fmt = get_format(name)
        pe = f"lmul_pe_{name}_l0"
        mul = f"fp_multiplier_{name}_l0"
        t_l, t_m = _get(res, pe, "generic", "transistors"), _get(res, mul, "generic", "transistors")
        row: dict[str, object] = {"lmul_pe_transistors": t_l, "fp_multiplier_transistors": t_m,
                                  "elementwise_saving": (1 - t_l / t_m) if t_l and t_m else None}
        mac_l = _get(res, f"mac_pe_lmul_{name}_l0", "generic", "transistors")
        mac_e = _get(res, f"mac_pe_exact_{name}_l0", "generic", "transistors")
        row.update({"mac_pe_lmul_transistors": mac_l, "mac_pe_exact_transistors": mac_e,
                    "mac_pe_saving": (1 - mac_l / mac_e) if mac_l and mac_e else None})
        for n in sweep.array_sizes.get(name, []):
            a_l = _get(res, f"systolic_array_lmul_{name}_{n}x{n}", "generic", "transistors")
            a_e = _get(res, f"systolic_array_exact_{name}_{n}x{n}", "generic", "transistors")
            row[f"array_{n}x{n}_lmul_transistors_per_mac"] = a_l / (n * n) if a_l else None
            row[f"array_{n}x{n}_exact_transistors_per_mac"] = a_e / (n * n) if a_e else None
            row[f"array_{n}x{n}_saving"] = (1 - a_l / a_e) if a_l and a_e else None
        row["int_adder_transistors"] = _get(res, f"int_adder_{fmt.field_bits}b_l0", "generic", "transistors")
        row["int_multiplier_transistors"] = _get(res, f"int_multiplier_{fmt.man_bits + 1}b_l0", "generic",
                                                 "transistors")
        head[name] = row
    return head


def markdown(sweep: Sweep, res: dict, head: dict, versions: dict, smoke_res: dict, numerics_md: str | None) -> str:
    L = ["# L-Mul vs exact FP multiplication: gates, transistors, LUTs, Fmax", "",
         "Generated by `lmul report` (see README). Tools: " + "; ".join(f"{k} {v}" for k, v in versions.items()), "",
         "## Verification smoke", ""]
    L += [f"- {k}: {v}" for k, v in smoke_res.items()]
    L += ["", "## Headline: energy proxy = transistor count (same activity for both designs)", "",
          "| format | L-Mul PE | exact FP mul (RNE) | element-wise saving | MAC PE L-Mul / exact | MAC PE saving "
          + "".join(f"| {n}×{n} array per MAC L-Mul / exact | {n}×{n} saving " for n in _all_sizes(sweep)) + "|",
          "|---|---|---|---|---|---" + "|---|---" * len(_all_sizes(sweep)) + "|"]
    for name, h in head.items():
        cells = [name, _num(h["lmul_pe_transistors"]), _num(h["fp_multiplier_transistors"]),
                 _pct(h["elementwise_saving"]),
                 f"{_num(h['mac_pe_lmul_transistors'])} / {_num(h['mac_pe_exact_transistors'])}",
                 _pct(h["mac_pe_saving"])]
        for n in _all_sizes(sweep):
            lk, ek = f"array_{n}x{n}_lmul_transistors_per_mac", f"array_{n}x{n}_exact_transistors_per_mac"
            cells += [f"{_num(h.get(lk), '{:,.0f}')} / {_num(h.get(ek), '{:,.0f}')}",
                      _pct(h.get(f"array_{n}x{n}_saving"))]
        L.append("| " + " | ".join(cells) + " |")
    L += ["", f"The paper claims {PAPER_CLAIMS['element-wise']:.0%} less energy element-wise and "
          f"{PAPER_CLAIMS['dot product']:.0%} less for dot products, from this per-operation table "
          "(Horowitz, ISSCC 2014, 45 nm):", "",
          "| operation | " + " | ".join(PAPER_ENERGY_PJ) + " |", "|---" * (len(PAPER_ENERGY_PJ) + 1) + "|",
          "| energy (pJ) | " + " | ".join(str(v) for v in PAPER_ENERGY_PJ.values()) + " |", "",
          "Our proxy compares the L-Mul datapath with a complete, correctly rounded FP multiplier of the *same* "
          "format (and complete MAC PEs / arrays with exact accumulators), not an FP32 multiplier with an INT32 adder.",
          ""]
    L += ["## Technology-independent gates (Yosys `synth -flatten`, ABC `-g cmos3`)", "",
          "| design | gates | DFFs | transistors (`stat -tech cmos`) | logic depth |", "|---|---|---|---|---|"]
    names = _names(res)
    for n in names:
        r = res.get((n, "generic"), {})
        L.append(f"| {n} | " + (f"error: {r['error'].splitlines()[0][:60]}" if "error" in r else
                                f"{r['cells']:,} | {r['dffs']:,} | {r['transistors']:,} | {r['depth']}") + " |")
    for fam, targets in (("iCE40 (UP5K)", ("ice40", "ice40_pnr")), ("ECP5 (LFE5U-85F)", ("ecp5", "ecp5_pnr"))):
        if not any((n, targets[0]) in res for n in names):
            continue
        extra = " | LUT4 without DSPs" if fam.startswith("ECP5") else ""
        L += ["", f"## {fam}: synthesis counts and place-and-route Fmax (seed 1)", "",
              f"| design | LUT4 | carry | DFF | DSP{extra} | Fmax (MHz) |", "|---|---|---|---|---|---|" +
              ("---|" if extra else "")]
        for n in names:
            r = res.get((n, targets[0]))
            if r is None:
                continue
            if "error" in r:
                L.append(f"| {n} | error: {r['error'].splitlines()[0][:60]} |")
                continue
            p = res.get((n, targets[1]), {})
            fmax = ("not run" if not p else "does not fit" if p.get("fits") is False
                    else f"error: {p['error'].splitlines()[0][:40]}" if "error" in p
                    else _num(p.get("fmax_mhz"), "{:.1f}"))
            nodsp = ""
            if extra:
                nd = res.get((n, "ecp5_nodsp"), {})
                nodsp = f" | {_num(nd.get('lut4'))}"
            L.append(f"| {n} | {r['lut4']:,} | {r['carry']:,} | {r['dff']:,} | {r['dsp']}{nodsp} | {fmax} |")
    if numerics_md:
        L += ["", numerics_md]
    return "\n".join(L) + "\n"


def _all_sizes(sweep: Sweep) -> list[int]:
    return sorted({n for v in sweep.array_sizes.values() for n in v})


def _names(res: dict) -> list[str]:
    seen: list[str] = []
    for n, _ in res:
        if n not in seen:
            seen.append(n)
    return sorted(seen)


def plots(out: Path, sweep: Sweep, res: dict, head: dict) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fmts = list(head)
    x = np.arange(len(fmts))
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (key, label) in enumerate((("lmul_pe_transistors", "L-Mul PE"),
                                      ("fp_multiplier_transistors", "exact FP multiplier (RNE)"),
                                      ("int_adder_transistors", "integer adder (E+m bits)"),
                                      ("int_multiplier_transistors", "integer multiplier (m+1 bits)"))):
        ax.bar(x + (i - 1.5) * 0.2, [head[f][key] or 0 for f in fmts], 0.2, label=label)
    ax.set_xticks(x, fmts)
    ax.set_ylabel("transistors (Yosys stat -tech cmos)")
    ax.set_title("Transistors per multiplier")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "multipliers.png", dpi=120)
    plt.close(fig)
    files.append("multipliers.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    labels, lm, ex = [], [], []
    for f in fmts:
        h = head[f]
        labels.append(f"{f} MAC PE")
        lm.append(h["mac_pe_lmul_transistors"] or 0)
        ex.append(h["mac_pe_exact_transistors"] or 0)
        for n in sweep.array_sizes.get(f, []):
            labels.append(f"{f} {n}×{n}")
            lm.append(h.get(f"array_{n}x{n}_lmul_transistors_per_mac") or 0)
            ex.append(h.get(f"array_{n}x{n}_exact_transistors_per_mac") or 0)
    xi = np.arange(len(labels))
    ax.bar(xi - 0.2, lm, 0.4, label="L-Mul")
    ax.bar(xi + 0.2, ex, 0.4, label="exact")
    ax.set_xticks(xi, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("transistors per MAC")
    ax.set_yscale("log")
    ax.set_title("MAC PE and array cost per MAC (exact accumulators included)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "mac_arrays.png", dpi=120)
    plt.close(fig)
    files.append("mac_arrays.png")

    names = [n for n in _names(res) if any(t.endswith("_pnr") and (n, t) in res for t in TARGETS)]
    if names:
        fig, ax = plt.subplots(figsize=(8, 4))
        xi = np.arange(len(names))
        for i, t in enumerate(("ice40_pnr", "ecp5_pnr")):
            vals = [res.get((n, t), {}).get("fmax_mhz") or 0 for n in names]
            ax.bar(xi + (i - 0.5) * 0.4, vals, 0.4, label={"ice40_pnr": "iCE40 UP5K", "ecp5_pnr": "ECP5-85F"}[t])
        ax.set_xticks(xi, names, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("Fmax (MHz), nextpnr seed 1")
        ax.set_title("Fmax (0 = not run / does not fit)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "fmax.png", dpi=120)
        plt.close(fig)
        files.append("fmax.png")
    return files


def run_report(out: Path, sweep: Sweep, *, workers: int | None = None, numerics_samples: int = 1_000_000,
               progress: Callable[[str], None] | None = None, timeout: float = 3600, paper_quick: bool = False) -> dict:
    """Smoke, numerics, synthesis sweep and the paper-claims section (``lmul.paper``, from this sweep's
    gates; ``paper_quick``: its quick variant) into ``out``; returns what ``report.json`` holds."""
    progress = progress or (lambda s: print(s, file=sys.stderr, flush=True))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    smoke_res = smoke(progress)
    if any(v != "pass" for v in smoke_res.values()):
        raise RuntimeError(f"verification smoke failed: {smoke_res}")
    numerics_md = None
    numerics_json = None
    if numerics_samples:
        from lmul import numerics
        progress("numerics ...")
        rep = numerics.run(numerics_samples, 0, progress=None)
        numerics_md = numerics.format_markdown(rep)
        numerics_json = json.loads(rep.to_json())
    jobs = sweep.points()
    progress(f"synthesis: {len(jobs)} jobs on {workers or 'all'} workers (cached results are reused)")
    res = run_points(jobs, workers=workers, progress=progress, timeout=timeout)
    head = summarize(sweep, res)
    versions = tool_versions()
    files = plots(out, sweep, res, head)
    from lmul import paper
    progress("paper claims (lmul paper) ...")
    paper_data = paper.run(samples=numerics_samples or 100_000, quick=paper_quick, sweep=sweep, results=res,
                           workers=workers, progress=progress)
    md = markdown(sweep, res, head, versions, smoke_res, numerics_md) + "\n" + paper.write(out, paper_data)
    (out / "report.md").write_text(md)
    points = {p.name: p.to_dict() for p, _ in jobs}
    data = {"tool_versions": versions, "sweep": sweep.to_dict(), "smoke": smoke_res, "headline": head,
            "paper": {"energy_pj": PAPER_ENERGY_PJ, "claims": PAPER_CLAIMS},
            "results": [{**points[n], "target": t, **r} for (n, t), r in sorted(res.items())],
            "numerics": numerics_json, "paper_claims": paper_data, "plots": files + paper_data["plots"]}
    (out / "report.json").write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    progress(f"report written to {out} ({time.time() - t0:.0f} s)")
    return data
