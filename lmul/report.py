"""The main job: ``lmul report`` — verification smoke, synthesis sweep, numerics, one folder.

Writes ``report.json`` (every figure, tool versions, the sweep definition), ``report.md`` and PNG
plots into the output folder. Synthesis results are cached by design hash under
``build/synth/cache``, so a re-run only redoes what changed; jobs run in parallel on all cores.
What is measured and how the headline is read (``Sweep``, ``summarize``) is ``lmul.sweep``, shared
with ``lmul paper``; the report appends the paper-claims section (``lmul.paper``) computed from
its own sweep. Every table and plot states the MAC parameters it was made with.

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
from pathlib import Path

import numpy as np

from lmul import paper
from lmul.formats import get_format
from lmul.scripts.synth import TARGETS, run_points, tool_versions
from lmul.sweep import (
    BASELINE,
    CANDIDATE,
    PAPER_CLAIMS,
    PAPER_ENERGY_PJ,
    Sweep,
    default_sweep,
    dot_units,
    headline_sweep,
    mac_by_acc,
    pareto,
    pipelined_arrays,
    pipelined_macs,
    quick_sweep,
    summarize,
)

# The sweep lives in lmul.sweep (shared with lmul paper); re-exported here for existing callers.
__all__ = ["PAPER_CLAIMS", "PAPER_ENERGY_PJ", "Sweep", "acc_table", "default_sweep", "dot_table",
           "headline_sweep", "mac_by_acc", "markdown", "plots", "quick_sweep", "run_report", "smoke", "summarize"]


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


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _num(x: float | None, fmt: str = "{:,}") -> str:
    return "n/a" if x is None else fmt.format(x)


# column groups of the by-accumulator table: (header, MAC_FIGURES key, number format)
ACC_TABLE_COLUMNS = (("transistors", "transistors", "{:,}"), ("logic depth", "depth", "{:,}"),
                     ("iCE40 LUT4", "ice40_lut4", "{:,}"), ("iCE40 Fmax (MHz)", "ice40_fmax_mhz", "{:.1f}"),
                     ("ECP5 LUT4", "ecp5_lut4", "{:,}"), ("ECP5 Fmax (MHz)", "ecp5_fmax_mhz", "{:.1f}"))


def acc_table(sweep: Sweep, by_acc: dict) -> list[str]:
    """The "saving per MAC, by accumulator" section (Markdown lines) from ``mac_by_acc``'s data:
    one row per format and MAC PE accumulator; column groups without any figure are left out."""
    lc, lb = _kind_label(CANDIDATE), _kind_label(BASELINE)
    rows = [(f, r) for f, accs in by_acc.items() for r in accs.values()]
    floats = list(dict.fromkeys(r["label"] for _, r in rows if r["label"] != "kulisch"))
    cols = [c for c in ACC_TABLE_COLUMNS
            if any(r.get(k, {}).get(c[1]) is not None for _, r in rows for k in (CANDIDATE, BASELINE))]
    L = ["## Saving per MAC, by accumulator", "",
         f"MAC PEs (one multiply-accumulate per cycle, product kind + accumulator + result rounding): k_max = "
         f"{sweep.k_max}, {sweep.out_fmt.upper()} results; accumulators as specified in `docs/accumulators.md` "
         "(`kulisch`: exact sum, one rounding at the end"
         + (f"; {', '.join(f'`{a}`' for a in floats)}: acc ← round(acc + p) at every step" if floats else "")
         + "). Saving = 1 − "
         f"transistors({lc}) / transistors({lb}) of the same MAC PE: the figure the paper's "
         f"−{100 * PAPER_CLAIMS['dot product']:.0f} % per dot product must be held against. Transistors and "
         "logic depth: generic `cmos3` flow; LUT4: `synth_ice40` / `synth_ecp5`; Fmax: nextpnr seed 1, design "
         "inside the I/O harness (n/a: not in this sweep or not synthesised).", "",
         "| format | accumulator | " + " | ".join(
             f"{h} {lc} / {lb}" + (" | saving" if key == "transistors" else "") for h, key, _ in cols) + " |",
         "|---|---|" + "".join("---|---|" if key == "transistors" else "---|" for _, key, _ in cols)]
    for f, r in rows:
        cells = [f, r["label"]]
        for _, key, nf in cols:
            cells.append(f"{_num(r[CANDIDATE][key], nf)} / {_num(r[BASELINE][key], nf)}")
            if key == "transistors":
                cells.append(_pct(r["saving"]))
        L.append("| " + " | ".join(cells) + " |")
    return L


def dot_table(sweep: Sweep, dots: dict) -> list[str]:
    """The "fused dot units" section (Markdown lines) from ``dot_units``'s data: one row per format
    and dot-unit variant, transistors per unit and per MAC (/ n), the saving, iCE40/ECP5 LUT4 and
    Fmax where the sweep has them, and the MAC PE with the same accumulator (when the sweep has it);
    no lines when the sweep has no dot units."""
    rows = [(f, r) for f, variants in dots.items() for r in variants.values()]
    if not rows:
        return []
    lc, lb = _kind_label(CANDIDATE), _kind_label(BASELINE)
    has_mac = any(r["mac_pe"] for _, r in rows)
    fpga = [c for c in ACC_TABLE_COLUMNS if c[1] not in ("transistors", "depth")
            and any(r.get(k, {}).get(c[1]) is not None for _, r in rows for k in (CANDIDATE, BASELINE))]
    L = ["## Fused dot units", "",
         "`DotUnit` (`rtl/dot_unit.py`, spec `lmul.sim.dot_unit`): n products per cycle summed and added to the "
         "accumulator with one rounding per cycle (exact: exact group sum, FDOT-style; block: products and "
         "accumulator truncated to a window of w bits below the largest exponent, Hopper-style; promote P: the "
         f"partial sum is added into an FP32 accumulator every P products), k_max = {sweep.k_max}, "
         f"{sweep.out_fmt.upper()} results. Transistors: generic `cmos3` flow; per MAC = transistors / n. "
         f"Saving = 1 − transistors({lc}) / transistors({lb}) (`lmul synth --design dot_unit --kind "
         f"{CANDIDATE}|{BASELINE} --acc A --n N [--align block --w W] [--promote P]`). LUT4 and Fmax are per "
         "unit (n/a: not in this sweep).", "",
         f"| format | dot unit | transistors {lc} / {lb} | per MAC {lc} / {lb} | saving"
         + "".join(f" | {h} {lc} / {lb}" for h, _, _ in fpga)
         + (" | MAC PE (same accumulator) " + f"{lc} / {lb}" if has_mac else "") + " |",
         "|---|---|---|---|---|" + "---|" * len(fpga) + ("---|" if has_mac else "")]
    for f, r in rows:
        cells = [f, r["label"], f"{_num(r[CANDIDATE]['transistors'])} / {_num(r[BASELINE]['transistors'])}",
                 f"{_num(r[CANDIDATE]['per_mac'], '{:,.0f}')} / {_num(r[BASELINE]['per_mac'], '{:,.0f}')}",
                 _pct(r["saving"])]
        cells += [f"{_num(r[CANDIDATE][key], nf)} / {_num(r[BASELINE][key], nf)}" for _, key, nf in fpga]
        if has_mac:
            m = r["mac_pe"] or {}
            cells.append(f"{_num(m.get(CANDIDATE))} / {_num(m.get(BASELINE))}")
        L.append("| " + " | ".join(cells) + " |")
    return L


def pipeline_table(sweep: Sweep, piped: dict) -> list[str]:
    """The "pipelined MAC PEs" section (Markdown lines) from ``pipelined_macs``'s data: each product
    kind's MAC PE at depth 0 and at the sweep's depth; no lines when the sweep has none."""
    if not piped:
        return []
    cols = [c for c in ACC_TABLE_COLUMNS if c[1] != "depth"
            and any(r[k][d].get(c[1]) is not None for r in piped.values() for k in sweep.kinds for d in r[k])]
    L = ["## Pipelined MAC PEs", "",
         f"`MacPE(pipeline=d)`: d extra register stages (rounder, accumulator input, product), latency 3 + d, "
         f"one MAC per cycle at every depth, bit-exact at every depth; {sweep.parameters()}. Fmax: nextpnr seed 1, "
         "design inside the I/O harness (`lmul synth --design mac_pe --pipeline d`).", "",
         "| format | product | pipeline | latency | " + " | ".join(h for h, _, _ in cols) + " |",
         "|---|---|---|---|" + "---|" * len(cols)]
    for f, r in piped.items():
        for k in sweep.kinds:
            for d, fig in r[k].items():
                L.append(f"| {f} | {_kind_label(k)} | {d} | {3 + d} | "
                         + " | ".join(_num(fig[key], nf) for _, key, nf in cols) + " |")
    return L


def array_speed_table(sweep: Sweep, arrays: dict) -> list[str]:
    """The "pipelined arrays" lines from ``pipelined_arrays``'s data (arrays at the MAC PEs' depth
    beside depth 0 on the ECP5-85F); no lines when the sweep has none."""
    if not arrays:
        return []
    L = ["### Pipelined arrays (ECP5)", "",
         f"`SystolicArray(pipeline=d)` on the LFE5U-85F (`lmul synth --design systolic_array --size RxC --pipeline d "
         f"--target ecp5 --target ecp5_pnr`; nextpnr seed 1, design inside the I/O harness); {sweep.parameters()}. "
         "n/a: not in this sweep.", "",
         "| format | array | product | pipeline | ECP5 LUT4 | per PE | FF | Fmax (MHz) |",
         "|---|---|---|---|---|---|---|---|"]
    for f, r in arrays.items():
        n = r["size"]
        for k in sweep.kinds:
            for d, fig in r[k].items():
                lut = fig["ecp5_lut4"]
                L.append(f"| {f} | {n}×{n} | {_kind_label(k)} | {d} | {_num(lut)} | "
                         f"{_num(None if lut is None else lut / (n * n), '{:,.0f}')} | {_num(fig['ecp5_ff'])} | "
                         f"{_num(fig['ecp5_fmax_mhz'], '{:.1f}')} |")
    return L


def markdown(sweep: Sweep, res: dict, head: dict, versions: dict, smoke_res: dict, numerics_md: str | None,
             by_acc: dict | None = None, dots: dict | None = None) -> str:
    L = ["# L-Mul vs exact FP multiplication: gates, transistors, LUTs, Fmax", "",
         "Generated by `lmul report` (see README). Tools: " + "; ".join(f"{k} {v}" for k, v in versions.items()), "",
         "## Verification smoke", ""]
    L += [f"- {k}: {v}" for k, v in smoke_res.items()]
    lc, lb = _kind_label(CANDIDATE), _kind_label(BASELINE)
    L += ["", "## Headline: energy proxy = transistor count (same activity for both designs)", "",
          f"Parameters: {sweep.describe()}.", "",
          f"| format | L-Mul PE | exact FP mul (RNE) | element-wise saving | MAC PE {lc} / {lb} | MAC PE saving "
          + "".join(f"| {n}×{n} array per MAC {lc} / {lb} | {n}×{n} saving " for n in _all_sizes(sweep)) + "|",
          "|---|---|---|---|---|---" + "|---|---" * len(_all_sizes(sweep)) + "|"]
    for name, h in head.items():
        cells = [name, _num(h["lmul_pe_transistors"]), _num(h["fp_multiplier_transistors"]),
                 _pct(h["elementwise_saving"]),
                 f"{_num(h.get(f'mac_pe_{CANDIDATE}_transistors'))} / {_num(h.get(f'mac_pe_{BASELINE}_transistors'))}",
                 _pct(h["mac_pe_saving"])]
        for n in _all_sizes(sweep):
            lk, ek = (f"array_{n}x{n}_{k}_transistors_per_mac" for k in (CANDIDATE, BASELINE))
            cells += [f"{_num(h.get(lk), '{:,.0f}')} / {_num(h.get(ek), '{:,.0f}')}",
                      _pct(h.get(f"array_{n}x{n}_saving"))]
        L.append("| " + " | ".join(cells) + " |")
    L += ["", f"The paper claims {PAPER_CLAIMS['element-wise']:.0%} less energy element-wise and "
          f"{PAPER_CLAIMS['dot product']:.0%} less for dot products, from this per-operation table "
          "(Horowitz, ISSCC 2014, 45 nm):", "",
          "| operation | " + " | ".join(PAPER_ENERGY_PJ) + " |", "|---" * (len(PAPER_ENERGY_PJ) + 1) + "|",
          "| energy (pJ) | " + " | ".join(str(v) for v in PAPER_ENERGY_PJ.values()) + " |", "",
          "Our proxy compares the L-Mul datapath with a complete, correctly rounded FP multiplier of the *same* "
          f"format (and complete MAC PEs / arrays with the {sweep.acc} accumulator; every MAC PE accumulator in the "
          "next table), not an FP32 multiplier with an INT32 adder.", ""]
    L += [*acc_table(sweep, by_acc if by_acc is not None else mac_by_acc(sweep, res)), ""]
    dot_lines = dot_table(sweep, dots if dots is not None else dot_units(sweep, res))
    L += [*dot_lines, ""] if dot_lines else []
    pipe_lines = pipeline_table(sweep, pipelined_macs(sweep, res))
    pipe_lines += ["", *speed] if (speed := array_speed_table(sweep, pipelined_arrays(sweep, res))) else []
    L += [*pipe_lines, ""] if pipe_lines else []
    L += ["## Technology-independent gates (Yosys `synth -flatten`, ABC `-g cmos3`)", "",
          "| design | gates | DFFs | transistors (`stat -tech cmos`) | logic depth |", "|---|---|---|---|---|"]
    names = _names(res)
    for n in names:
        r = res.get((n, "generic"), {})
        L.append(f"| {n} | " + (f"error: {r['error'].splitlines()[0][:60]}" if "error" in r else "not run" if not r
                                else f"{r['cells']:,} | {r['dffs']:,} | {r['transistors']:,} | {r['depth']}") + " |")
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


def _kind_label(kind: str) -> str:
    return {"lmul": "L-Mul"}.get(kind, kind)


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
    # cost comparisons: linear axes from zero (a log axis makes a few per cent look like a factor),
    # one panel per format so each has its own scale; every bar carries its value
    units = (("lmul_pe_transistors", "L-Mul PE"), ("fp_multiplier_transistors", "exact FP multiplier (RNE)"),
             ("int_adder_transistors", "integer adder (E+m bits)"),
             ("int_multiplier_transistors", "integer multiplier (m+1 bits)"))
    width = max(7.0, 3.2 * len(fmts) + 1.5)
    fig, axes = plt.subplots(1, len(fmts), figsize=(width, 4.4), squeeze=False)
    for ax, f in zip(axes[0], fmts, strict=True):
        vals = [head[f][key] or 0 for key, _ in units]
        bars = ax.bar(range(len(units)), vals, color=[f"C{i}" for i in range(len(units))])
        ax.bar_label(bars, [_num(v or None) for v in vals], fontsize=7)
        ax.set_xticks([])
        ax.set_ylim(0, 1.12 * max([*vals, 1]))
        ax.set_title(f"{f}: L-Mul PE saves {_pct(head[f]['elementwise_saving'])} vs RNE", fontsize=9)
    axes[0][0].set_ylabel("transistors (Yosys stat -tech cmos)")
    fig.legend(bars, [label for _, label in units], fontsize=8, loc="lower center", ncol=2)
    fig.suptitle("Transistors per multiplier (combinational, latency 0)", fontsize=10)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(out / "multipliers.png", dpi=120)
    plt.close(fig)
    files.append("multipliers.png")

    kinds = sorted(sweep.kinds, key=lambda k: (k != CANDIDATE, k != BASELINE))
    groups = {f: [("MAC PE", "mac_pe_{k}_transistors", "mac_pe_saving")]
              + [(f"{n}×{n} array", f"array_{n}x{n}_{{k}}_transistors_per_mac", f"array_{n}x{n}_saving")
                 for n in sweep.array_sizes.get(f, [])] for f in fmts}
    ngroups = [len(groups[f]) for f in fmts]
    fig, axes = plt.subplots(1, len(fmts), figsize=(max(7.0, 1.5 + 1.4 * sum(ngroups)), 4.6), squeeze=False,
                             gridspec_kw={"width_ratios": ngroups})
    for ax, f in zip(axes[0], fmts, strict=True):
        h = head[f]
        bw = 0.8 / len(kinds)
        top = 1.0
        for i, k in enumerate(kinds):
            vals = [h.get(key.format(k=k)) or 0 for _, key, _ in groups[f]]
            top = max(top, *vals)
            bars = ax.bar(np.arange(len(groups[f])) + (i - (len(kinds) - 1) / 2) * bw, vals, bw,
                          label=_kind_label(k), color=f"C{i}")
            ax.bar_label(bars, [_num(v or None, "{:,.0f}") for v in vals], fontsize=6, rotation=90, padding=2)
        ax.set_xticks(range(len(groups[f])), [f"{g}\nsaves {_pct(h.get(sk))}" for g, _, sk in groups[f]],
                      fontsize=7)
        ax.set_ylim(0, 1.25 * top)
        ax.set_title(f, fontsize=9)
    axes[0][0].set_ylabel("transistors per MAC")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"MAC PE and array cost per MAC, accumulator included\n{sweep.parameters()}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "mac_arrays.png", dpi=120)
    plt.close(fig)
    files.append("mac_arrays.png")

    names = [n for n in _names(res) if any(t.endswith("_pnr") and (n, t) in res for t in TARGETS)]
    if names:
        fig, ax = plt.subplots(figsize=(max(8.0, 2 + 0.3 * len(names)), 4 + 0.06 * max(len(n) for n in names)))
        xi = np.arange(len(names))
        for i, t in enumerate(("ice40_pnr", "ecp5_pnr")):
            vals = [res.get((n, t), {}).get("fmax_mhz") or 0 for n in names]
            ax.bar(xi + (i - 0.5) * 0.4, vals, 0.4, label={"ice40_pnr": "iCE40 UP5K", "ecp5_pnr": "ECP5-85F"}[t])
        ax.set_xticks(xi, names, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("Fmax (MHz), nextpnr seed 1")
        ax.set_title(f"Fmax (0 = not run / does not fit); MAC designs: {sweep.parameters()}", fontsize=9)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "fmax.png", dpi=120)
        plt.close(fig)
        files.append("fmax.png")
    return files


def asic_points(sweep: Sweep) -> tuple[list, int]:
    """The ASIC section's design points (``lmul.energy.headline_points``) and operand count for a
    sweep: headline — E4M3 multipliers, MAC PEs (kulisch, fp32) and dot units, 10,000 vectors; full —
    also the 4×4 array and E5M2; any other (quick, custom) — the three E4M3 multipliers, 2,000 vectors."""
    from lmul.energy import headline_points
    if sweep.label == "headline":
        return headline_points("e4m3", arrays=False), 10_000
    if sweep.label == "full":
        return [*headline_points("e4m3"), *headline_points("e5m2", arrays=False)], 10_000
    return headline_points("e4m3", arrays=False)[:3], 2_000


def asic_for(sweep: Sweep, progress: Callable[[str], None]) -> tuple[list[str], list[dict]]:
    """(Markdown lines, rows) of the ASIC section (``lmul.energy.asic_section``); without the Debian
    tools the lines name the packages to install and there are no rows."""
    from lmul.energy import asic_section
    points, vectors = asic_points(sweep)
    progress(f"asic: {len(points)} gate-level energy runs ({vectors:,} vectors each; cached results are reused)")
    return asic_section(points, vectors=vectors, progress=progress)


def paper_asic_lines(sweep: Sweep, rows: list[dict]) -> list[str]:
    """The ASIC section of ``asic_for``'s ``rows`` rendered for ``lmul paper``'s item 4 (a level-4 heading)."""
    from lmul.energy import asic_table
    return asic_table(rows, heading="####", vectors=asic_points(sweep)[1])


def pareto_energy(sweep: Sweep, progress: Callable[[str], None]) -> dict[str, dict]:
    """ASIC energy (``lmul.energy.asic_rows``, 10,000 vectors: the depth-0 points are the ASIC
    section's cache entries) of every Pareto point, by design name; {} without the Debian tools."""
    from lmul.energy import asic_rows
    from lmul.scripts import asic
    pts = sweep.pareto_points()
    if not pts or asic.missing_tools():
        return {}
    progress(f"pareto: {len(pts)} gate-level energy runs (cached results are reused)")
    rows = asic_rows([(pt.point.name, pt.point.design, pt.point.fmt, pt.point.params) for pt in pts],
                     vectors=10_000, progress=progress)
    return {r["label"]: r for r in rows if "error" not in r}


def pareto_table(rows: list[dict]) -> list[str]:
    """The "Pareto view" section (Markdown lines) from ``lmul.sweep.pareto``'s rows."""
    if not rows:
        return []
    L = ["## Pareto view: area, Fmax and energy across pipeline depths", "",
         "Multipliers at latency 0–2 (`--latency`) and MAC PEs at several `pipeline` depths: transistors "
         "(generic), iCE40 UP5K LUT4 and Fmax (nextpnr seed 1), OSU 0.18 µm area and energy per operation "
         "(`lmul energy`, 10,000 N(0,1) operands, zero delay / with delays; pipelined designs pay for their "
         "flip-flops' clock energy). ★: Pareto-optimal within its format and family (no other point has fewer "
         "transistors, a higher Fmax and no more zero-delay energy). See `pareto.png`.", "",
         "| format | design | product | depth | transistors | iCE40 LUT4 | iCE40 Fmax (MHz) | µm² | pJ/op | |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = r["energy_pj"] or {}
        pj = f"{e['zero_delay']:.2f} / {e['with_delays']:.2f}" if e else "n/a"
        L.append(f"| {r['format']} | {r['family'].replace('_', ' ')} | {_kind_label(r['kind'])} | {r['depth']} | "
                 f"{_num(r['transistors'])} | {_num(r['ice40_lut4'])} | {_num(r['ice40_fmax_mhz'], '{:.1f}')} | "
                 f"{_num(r['area_um2'], '{:,.0f}')} | {pj} | {'★' if r['pareto'] else ''} |")
    return L


def pareto_plot(out: Path, rows: list[dict]) -> list[str]:
    """``pareto.png``: iCE40 Fmax against transistors per family, one line per format and kind through
    its depths (labelled), marker area ∝ zero-delay energy per operation where measured."""
    pts = [r for r in rows if r["transistors"] is not None and r["ice40_fmax_mhz"] is not None]
    if not pts:
        return []
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fams = list(dict.fromkeys(r["family"] for r in pts))
    fig, axes = plt.subplots(1, len(fams), figsize=(6.2 * len(fams), 4.6), squeeze=False)
    for ax, fam in zip(axes[0], fams, strict=True):
        fmts = list(dict.fromkeys(r["format"] for r in pts))
        for key in dict.fromkeys((r["format"], r["kind"]) for r in pts if r["family"] == fam):
            i = 2 * fmts.index(key[0]) + (key[1] != CANDIDATE)      # the same colour per kind in every panel
            line = sorted((r for r in pts if (r["format"], r["kind"]) == key and r["family"] == fam),
                          key=lambda r: r["depth"])
            x, y = [r["transistors"] for r in line], [r["ice40_fmax_mhz"] for r in line]
            pj = [((r["energy_pj"] or {}).get("zero_delay") or 0) for r in line]
            ax.plot(x, y, "-", color=f"C{i}", label=f"{key[0]} {_kind_label(key[1])}")
            ax.scatter(x, y, s=[20 + 4 * v for v in pj], color=f"C{i}", alpha=0.6)
            for r, xi, yi in zip(line, x, y, strict=True):
                ax.annotate(f"d={r['depth']}" + ("★" if r["pareto"] else ""), (xi, yi), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.set_xlim(0, 1.1 * max(r["transistors"] for r in pts if r["family"] == fam))
        ax.set_ylim(0, 1.15 * max(r["ice40_fmax_mhz"] for r in pts if r["family"] == fam))
        ax.set_xlabel("transistors (generic cmos3; linear from 0)")
        ax.set_ylabel("iCE40 UP5K Fmax (MHz, nextpnr seed 1)")
        ax.set_title(f"{fam.replace('_', ' ')}: pipeline depth d; marker area ∝ pJ/op (OSU 0.18 µm)", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "pareto.png", dpi=120)
    plt.close(fig)
    return ["pareto.png"]


def run_report(out: Path, sweep: Sweep, *, workers: int | None = None, numerics_samples: int = 1_000_000,
               progress: Callable[[str], None] | None = None, timeout: float = 3600, paper_quick: bool = False,
               scheduler: str | None = None) -> dict:
    """Smoke, numerics, synthesis sweep and the paper-claims section (``lmul.paper``, from this sweep's
    gates; ``paper_quick``: its quick variant) into ``out``; returns what ``report.json`` holds.
    ``scheduler``: a Dask scheduler address for the sweep's tool runs (``run_points``)."""
    progress = progress or (lambda s: print(s, file=sys.stderr, flush=True))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    phases: dict[str, float] = {}

    def phase(name: str, since: float) -> float:
        now = time.time()
        phases[name] = round(now - since, 1)
        return now

    smoke_res = smoke(progress)
    t = phase("smoke", t0)
    if any(v != "pass" for v in smoke_res.values()):
        raise RuntimeError(f"verification smoke failed: {smoke_res}")
    numerics_md = None
    numerics_json = None
    acc_study = None
    if numerics_samples:
        from lmul import numerics
        progress("numerics (incl. the accumulator study) ...")
        rep = numerics.run(numerics_samples, 0, progress=None)
        acc_study = rep.accumulators
        # the accumulator study is shown once, as item 6 of the paper section (same data)
        numerics_md = numerics.format_markdown(rep, accumulators=False) + (
            "\nThe accumulator study of `lmul numerics` is item 6 of the paper section below.\n" if acc_study else "")
        numerics_json = json.loads(rep.to_json())
    t = phase("numerics", t)
    jobs = sweep.points()
    where = f"the Dask cluster at {scheduler}" if scheduler else f"{workers or 'all'} local workers"
    progress(f"synthesis: {len(jobs)} jobs on {where} (cached results are reused)")
    res = run_points(jobs, workers=workers, progress=progress, timeout=timeout, scheduler=scheduler)
    t = phase("synthesis", t)
    asic_lines, asic_rows = asic_for(sweep, progress)
    pareto_rows = pareto(sweep, res, pareto_energy(sweep, progress))
    t = phase("asic", t)
    head = summarize(sweep, res)
    by_acc = mac_by_acc(sweep, res)
    dots = dot_units(sweep, res)
    versions = tool_versions()
    files = plots(out, sweep, res, head)
    progress("paper claims (lmul paper) ...")
    paper_data = paper.run(samples=numerics_samples or 100_000, quick=paper_quick, sweep=sweep, results=res,
                           workers=workers, progress=progress, acc_study=acc_study,
                           scheduler=scheduler, asic=(paper_asic_lines(sweep, asic_rows), asic_rows))
    pareto_png = pareto_plot(out, pareto_rows)
    files += pareto_png
    pareto_lines = [*pareto_table(pareto_rows), *(["", "![pareto](pareto.png)"] if pareto_png else [])]
    md = (markdown(sweep, res, head, versions, smoke_res, numerics_md, by_acc, dots) + "\n"
          + "\n".join([*asic_lines, *pareto_lines, ""]) + "\n" + paper.write(out, paper_data))
    phase("paper", t)
    phases["total"] = round(time.time() - t0, 1)
    (out / "report.md").write_text(md)
    points = {p.name: p.to_dict() for p, _ in jobs}
    data = {"tool_versions": versions, "sweep": sweep.to_dict(), "smoke": smoke_res, "headline": head,
            "saving_by_acc": by_acc, "dot_units": dots, "pipelined_macs": pipelined_macs(sweep, res),
            "pipelined_arrays": pipelined_arrays(sweep, res),
            "paper": {"energy_pj": PAPER_ENERGY_PJ, "claims": PAPER_CLAIMS},
            "results": [{**points[n], "target": t, **r} for (n, t), r in sorted(res.items())],
            "numerics": numerics_json, "paper_claims": paper_data, "plots": files + paper_data["plots"],
            "asic": asic_rows, "pareto": pareto_rows, "seconds": phases}
    (out / "report.json").write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    progress(f"report written to {out} ({time.time() - t0:.0f} s: "
             + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items() if k != "total") + ")")
    return data
