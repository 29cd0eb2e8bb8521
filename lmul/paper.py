"""The L-Mul paper's checkable claims, reproduced with our golden models and gates (``lmul paper``).

Issue 7. Five items, every number computed here; the only paper-side inputs are the claims
quoted in ``docs/paper-sources.md`` (the paper's body — error formula, Table 1, operation counts,
precision setup — was not available; the output says so wherever it matters):

1. precision of L-Mul vs FP8 multiplication: random operands from stated distributions (our
   substitute for the paper's setup) and all pairs of each 8-bit format;
2. expected error of L-Mul: our derivation (exact over the uniform mantissa grid, and the
   continuous uniform / log-uniform limits) vs the measured mean;
3. cost: third-party reports of the paper's bit-level operation counts vs our gate and
   transistor counts (Yosys generic synthesis, ``lmul.scripts.synth``);
4. energy: the claimed 95 % / 80 % recomputed from the 45 nm table the paper cites (several
   candidate derivations) and from our transistor counts (multipliers, MAC PEs, arrays);
5. matmul accuracy through the array's bit-exact golden model (``lmul.sim.systolic_array``);
6. the accumulators (issue 14): each one's matmul error against the exact sum of the same
   products and against float64, exact and L-Mul products (``lmul.acc_numerics``), beside item 4's
   MAC PE saving per accumulator.

``run`` computes everything into a JSON-able dict; ``markdown`` and ``plots`` render it, so every
table and figure is regenerated from the same data (``paper.json``). The work is split by concern:
``lmul.paper_analyses`` (the computations), ``lmul.paper_render`` (Markdown), ``lmul.paper_plots``
(matplotlib); this module composes them and is the public API. Gate figures come from the
synthesis sweep shared with ``lmul report`` (``lmul.sweep``).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from lmul import acc_numerics
from lmul.numerics import operator_error
from lmul.paper_analyses import (
    ALL_PAIRS_FORMATS,
    CDF_POINTS,
    CLAIMS,
    EXTRA_FORMATS,
    LMUL_WIDE,
    MATMUL_PIPELINES,
    MATRICES,
    SOURCES,
    THIRD_PARTY_COUNTS,
    PaperError,
    Pipeline,
    Progress,
    all_pairs_precision,
    benford_weights,
    claim_rows,
    continuous_expectation,
    cost_table,
    distribution_precision,
    energy_table,
    error_summary,
    expected_error,
    gate_results,
    grid_errors,
    grid_expectation,
    grid_expectation_log,
    horowitz_reconstructions,
    matmul_accuracy,
    quantise,
    rel_fro,
)
from lmul.paper_plots import PLOTS, plots
from lmul.paper_render import markdown, summary_lines
from lmul.sweep import PAPER_CLAIMS, PAPER_ENERGY_PJ, Sweep, unit_points

__all__ = ["CDF_POINTS", "CLAIMS", "LMUL_WIDE", "MATMUL_PIPELINES", "MATRICES", "PLOTS", "PaperError", "Pipeline",
           "all_pairs_precision", "benford_weights", "continuous_expectation", "error_summary", "grid_errors",
           "grid_expectation", "grid_expectation_log", "horowitz_reconstructions", "main", "markdown",
           "matmul_accuracy", "plots", "quantise", "rel_fro", "run", "summary_lines", "write"]


def _versions() -> dict[str, str]:
    import matplotlib
    import ml_dtypes
    return {"python": platform.python_version(), "numpy": np.__version__, "ml_dtypes": ml_dtypes.__version__,
            "matplotlib": matplotlib.__version__}


def run(*, samples: int = 1_000_000, seed: int = 0, quick: bool = False, gates: str = "auto",
        report_json: Path | None = Path("build/report/report.json"), sweep: Sweep | None = None,
        results: dict | None = None, workers: int | None = None, progress: Progress | None = None,
        acc_study: dict | None = None, scheduler: str | None = None,
        asic: tuple[list[str], list[dict]] | None = None) -> dict:
    """Compute all six items; returns the JSON-able data that ``markdown`` and ``plots`` render.
    ``acc_study``: item 6's data (``lmul.acc_numerics.run``) if already computed (``lmul report``
    passes its numerics'), else computed here (``quick``: the quick size). ``scheduler``: a Dask
    scheduler address for the synthesis jobs (``lmul.scripts.synth.run_points``). ``asic``: the ASIC
    section (``lmul.energy.asic_section``'s lines with a level-4 heading, and rows) if already
    computed (``lmul report``), else computed here unless ``gates="none"`` (``quick``: the three E4M3
    multipliers, 2,000 vectors)."""
    say = progress or (lambda s: None)
    t0 = time.time()
    sweep, res, prov = gate_results(gates, quick, report_json, sweep, results, workers, say,   # fails early
                                    scheduler=scheduler)
    dist = distribution_precision(samples, seed, say)
    say("precision: all pairs of e4m3, e5m2, e3m4")
    pairs = {f.name: all_pairs_precision(f) for f in ALL_PAIRS_FORMATS}
    op = operator_error()
    claims = claim_rows(dist, pairs, op)
    expect = expected_error(samples, seed, op, say)
    names = {k[0] for k in res}
    gate_formats = [f for f in dict.fromkeys([*(sweep.formats if sweep else []), *EXTRA_FORMATS])
                    if any(p.name in names for p in unit_points(f).values())]
    shape, trials = ((32, 64, 32), 1) if quick else ((64, 128, 64), 3)
    mm = matmul_accuracy(shape, trials, seed, say)
    if acc_study is None:
        acc_study = acc_numerics.run(seed, "quick" if quick else "full", say)
    data = {
        "generated_by": "lmul paper", "samples": samples, "seed": seed, "quick": quick, "versions": _versions(),
        "paper": {"claims": PAPER_CLAIMS, "energy_pj": PAPER_ENERGY_PJ, "third_party_counts": THIRD_PARTY_COUNTS,
                  "sources": SOURCES},
        "precision": {"distributions": dist, "all_pairs": pairs, "claims": claims},
        "expected_error": expect,
        "gates": {"provenance": prov, "formats": gate_formats, "cost": cost_table(res, gate_formats),
                  "energy": energy_table(sweep, res, gate_formats) if sweep is not None else {}},
        "energy_reconstructions": horowitz_reconstructions(),
        "matmul": mm,
        "accumulators": acc_study,
    }
    if asic is None and gates != "none":
        from lmul.energy import asic_section, headline_points
        pts = headline_points("e4m3", arrays=False)
        asic = asic_section(pts[:3] if quick else pts, heading="####", vectors=2_000 if quick else 10_000,
                            progress=say)
    if asic is not None:
        lines, rows = asic
        data["asic"] = {"markdown": lines, "rows": rows}
    data["seconds"] = round(time.time() - t0, 1)
    return data


def write(out: Path, data: dict, img_prefix: str = "") -> str:
    """Write ``paper.json``, ``paper.md`` and the plots into ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    data["plots"] = plots(out, data)
    (out / "paper.json").write_text(json.dumps(data, indent=1, default=str))
    md = markdown(data, img_prefix)
    (out / "paper.md").write_text(md)
    return md


def main(out: Path, *, samples: int | None, seed: int, quick: bool, gates: str, report_json: Path,
         workers: int | None = None, quiet: bool = False) -> int:
    """``lmul paper``: compute, write ``out``, print the Markdown."""
    say = (lambda s: None) if quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    data = run(samples=samples or (100_000 if quick else 1_000_000), seed=seed, quick=quick, gates=gates,
               report_json=report_json, workers=workers, progress=say)
    print(write(out, data))
    say(f"wrote {out / 'paper.md'}, {out / 'paper.json'} and {len(data['plots'])} plots ({data['seconds']} s)")
    return 0
