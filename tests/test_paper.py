"""``lmul paper`` (issue 7): the derivations against brute force, the statistics against
independent computations, and the command line. No expected numbers are copied from outputs."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from lmul import paper
from lmul.formats import E4M3, E5M2, decode
from lmul.numerics import e8m, operator_error, relative_error
from lmul.sim.lmul_pe import lmul


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lmul", "paper", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def quick_data() -> dict:
    return paper.run(samples=20_000, seed=3, quick=True, gates="none")


# --- item 2: the expectation derivations ----------------------------------------------------------------

@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_grid_errors_equal_golden_model_pair_by_pair(m: int) -> None:
    """The closed-form adder reading (incl. the double carry of m = 4) is the golden L-Mul."""
    fmt = e8m(m)
    mant = np.arange(1 << m)
    x, y = (g.ravel() for g in np.meshgrid((fmt.bias << m) | mant, (fmt.bias << m) | mant, indexing="ij"))
    exact = decode(fmt, x) * decode(fmt, y)
    golden = (decode(fmt, lmul(fmt, x, y)) - exact) / exact
    formula = np.array([float(v) for row in paper.grid_errors(m) for v in row])
    assert np.array_equal(golden, formula)


def test_grid_expectation_matches_all_pairs_measurement() -> None:
    op = operator_error()
    for m in range(1, 8):
        e_abs, e_signed = paper.grid_expectation(m)
        assert isinstance(e_abs, Fraction)
        assert math.isclose(float(e_abs), op[f"lmul m={m}"].mean, rel_tol=1e-12)
        assert abs(e_signed) <= e_abs


def test_continuous_expectation_against_monte_carlo_of_golden_model() -> None:
    """m = 20 mantissas are continuous for practical purposes; the golden L-Mul (offset 2^-4)
    on uniform and log-uniform operands agrees with the quadrature within 5 sigma."""
    rng = np.random.default_rng(11)
    fmt = e8m(20)
    n = 200_000
    for density, draw in (("uniform", lambda: 1 + rng.random(n)), ("log", lambda: np.exp2(rng.random(n)))):
        a, b = draw(), draw()
        p = paper.Pipeline("", fmt, "lmul")
        r = relative_error(p.products(a, b), paper.Pipeline("", fmt, "exact").products(a, b))
        theory, _ = paper.continuous_expectation(2.0 ** -4, density)
        assert abs(r.mean() - theory) < 5 * r.std() / math.sqrt(n) + 2.0 ** -19, density


def test_mitchell_limit_always_underestimates_and_grid_converges() -> None:
    e_abs, e_signed = paper.continuous_expectation(0.0)
    assert e_abs > 0 and math.isclose(e_signed, -e_abs, rel_tol=1e-9)
    cont = paper.continuous_expectation(2.0 ** -4)[0]
    gaps = [abs(float(paper.grid_expectation(m)[0]) - cont) for m in (5, 6, 7)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 2.0 ** -7
    with pytest.raises(ValueError, match="density"):
        paper.continuous_expectation(0.1, "normal")


def test_benford_grid_expectation_matches_log_uniform_operands() -> None:
    for m in (2, 3, 4):
        w = paper.benford_weights(m)
        assert math.isclose(w.sum(), 1.0, rel_tol=1e-12) and (w > 0).all()
    rng = np.random.default_rng(5)
    n = 200_000
    a, b = np.exp2(rng.uniform(-6, 6, n)), -np.exp2(rng.uniform(-6, 6, n))
    p = paper.LMUL_WIDE[3]
    r = relative_error(p.products(a, b), paper.Pipeline("", p.fmt, "exact").products(a, b))
    assert abs(r.mean() - paper.grid_expectation_log(3)) < 5 * r.std() / math.sqrt(n)


# --- item 1: statistics against independent computations ------------------------------------------------

def test_all_pairs_rounded_matches_ml_dtypes_and_lmul_errors_are_grid_errors() -> None:
    res = paper.all_pairs_precision(E4M3)
    bits = np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float64)
    vx, vy = (g.ravel() for g in np.meshgrid(bits, bits, indexing="ij"))
    with np.errstate(invalid="ignore", over="ignore"):
        exact = vx * vy
        ok = (np.abs(vx) >= 2.0 ** -6) & (np.abs(vy) >= 2.0 ** -6) & np.isfinite(exact) \
            & (np.abs(exact) >= 2.0 ** -6) & (np.abs(exact) <= 448)
        rounded = exact[ok].astype(ml_dtypes.float8_e4m3fn).astype(np.float64)
    rel = np.abs(rounded - exact[ok]) / np.abs(exact[ok])
    assert res["pairs"]["in_range"] == ok.sum()
    assert math.isclose(res["rounded"]["in_range"]["mean"], rel.mean(), rel_tol=1e-12)
    assert math.isclose(res["rounded"]["in_range"]["max"], rel.max(), rel_tol=1e-12)
    # in range, L-Mul's relative error depends on the mantissas only: one of the 64 grid values
    grid = np.unique(np.abs([float(v) for row in paper.grid_errors(3) for v in row]))
    q = np.array(res["lmul"]["in_range"]["quantiles"])
    assert np.abs(q[:, None] - grid[None, :]).min(axis=1).max() < 1e-12
    assert res["lmul"]["in_range"]["max"] <= grid.max() + 1e-12


def test_error_summary_counts_flushes_and_overflows() -> None:
    exact = np.array([1.0, 2.0, 4.0, 0.0, 8.0])
    approx = np.array([1.5, 0.0, np.inf, 0.0, 8.0])
    s = paper.error_summary(approx, exact)
    assert s["n"] == 3 and s["nonfinite"] == pytest.approx(1 / 4) and s["flushed"] == pytest.approx(1 / 4)
    assert s["mean"] == pytest.approx((0.5 + 1.0 + 0.0) / 3) and s["max"] == 1.0
    assert len(s["quantiles"]) == len(paper.CDF_POINTS) and s["quantiles"][-1] == 1.0


def test_claim_rows_hold_exactly_when_the_means_say_so(quick_data: dict) -> None:
    rows = quick_data["precision"]["claims"]
    assert {r["claim"] for r in rows} == {c[0] for c in paper.CLAIMS}
    for r in rows:
        assert r["ratio"] == pytest.approx(r["lmul_mean"] / r["fp8_mean"])
        strict = "more precise" in r["claim"]
        assert r["holds"] == (r["lmul_mean"] < r["fp8_mean"] if strict else r["lmul_mean"] <= r["fp8_mean"])
    dist = quick_data["precision"]["distributions"]["normal"]
    e4 = next(r for r in rows if r["setup"] == "normal operands" and r["fp8"] == "e4m3 multiply")
    assert e4["fp8_mean"] == dist["e4m3 multiply"]["mean"] and e4["lmul_mean"] == dist[e4["lmul"]]["mean"]


# --- item 5: the matmul path --------------------------------------------------------------------------------

def test_quantise_picks_the_largest_power_of_two_scale() -> None:
    x = np.array([[0.3, -7.1], [2.0, 0.0]])
    for fmt in (E4M3, E5M2):
        _, s = paper.quantise(fmt, x)
        assert math.log2(s).is_integer() and 7.1 * s <= fmt.max_value < 2 * 7.1 * s
    assert paper.quantise(e8m(4), x)[1] == 1.0


def test_exact_matmul_is_the_fp32_rounding_of_the_quantised_product() -> None:
    """Exact products summed exactly and rounded once: for small K the float64 sum of the
    quantised operands' products is exact, so the golden array equals float32(qA @ qB)."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((6, 16)), rng.standard_normal((16, 5))
    (xa, sa), (xb, sb) = paper.quantise(E4M3, a), paper.quantise(E4M3, b)
    want = (decode(E4M3, xa) @ decode(E4M3, xb)).astype(np.float32).astype(np.float64) / (sa * sb)
    got = paper.Pipeline("", E4M3, "exact").matmul(a, b)
    assert np.array_equal(got, want)
    assert paper.rel_fro(got, a @ b) > 0 and paper.rel_fro(a @ b, a @ b) == 0


def test_accumulator_item_is_the_study_rendered(quick_data: dict) -> None:
    """Item 6 is ``lmul.acc_numerics``' data (quick size in a quick run), rendered by its own
    Markdown under the paper's heading, its plot linked."""
    from lmul import acc_numerics
    acc = quick_data["accumulators"]
    assert acc["size"] == "quick" and acc["seed"] == quick_data["seed"]
    assert [s["name"] for s in acc["settings"]] == [s.name for s in acc_numerics.QUICK_SETTINGS]
    md = paper.markdown(quick_data)
    sec = md.split("### 6. Accumulators")[1].split("\n### Summary (computed)")[0]
    assert acc_numerics.markdown(acc, "###", paper.PLOTS[4]).split("\n", 1)[1] in sec
    assert len(paper.PLOTS) == 5 and f"]({paper.PLOTS[4]})" in sec


def test_matmul_summary_is_computed_from_the_numbers(quick_data: dict) -> None:
    mm = quick_data["matmul"]
    assert set(mm["vs_float64"]) == set(paper.MATRICES)
    for d, row in mm["vs_float64"].items():
        assert set(row) == {p.label for p in paper.MATMUL_PIPELINES} and all(v > 0 for v in row.values()), d
        assert set(mm["lmul_vs_exact"][d]) == {"e4m3, L-Mul (m=3)", "e5m2, L-Mul (m=2)"}
    line = next(s for s in paper.summary_lines(quick_data) if s.startswith("- Matmul"))
    worse = sum(r["e4m3, L-Mul (m=3)"] > r["e4m3, exact products"] for r in mm["vs_float64"].values())
    assert f"on {worse} of {len(mm['vs_float64'])}" in line
    flipped = copy.deepcopy(quick_data)
    for r in flipped["matmul"]["vs_float64"].values():
        r["e4m3, L-Mul (m=3)"], r["e4m3, exact products"] = r["e4m3, exact products"], r["e4m3, L-Mul (m=3)"]
    line2 = next(s for s in paper.summary_lines(flipped) if s.startswith("- Matmul"))
    assert f"on {len(mm['vs_float64']) - worse} of" in line2


# --- items 3, 4: gates and energy ---------------------------------------------------------------------------

def test_horowitz_reconstructions_recompute_from_the_table() -> None:
    from lmul.sweep import PAPER_ENERGY_PJ
    for r in paper.horowitz_reconstructions():
        assert r["saving"] == pytest.approx(1 - r["after_pj"] / r["before_pj"])
        assert r["before_pj"] in {PAPER_ENERGY_PJ["fp32 mul"], PAPER_ENERGY_PJ["fp16 mul"],
                                  round(PAPER_ENERGY_PJ["fp32 mul"] + PAPER_ENERGY_PJ["fp32 add"], 4),
                                  round(PAPER_ENERGY_PJ["fp16 mul"] + PAPER_ENERGY_PJ["fp16 add"], 4)}


def fake_report(path: Path) -> dict[str, int]:
    """A report JSON with made-up generic transistor counts for the E4M3 unit designs and MAC PEs
    (Kulisch and FP32 accumulators)."""
    t = {"lmul_pe_e4m3_l0": 600, "fp_multiplier_e4m3_l0": 2000, "fp_multiplier_exact_e4m3_l0": 800,
         "int_adder_7b_l0": 250, "int_multiplier_4b_l0": 450, "mac_pe_exact_e4m3_kulisch_k256_fp32": 10000,
         "mac_pe_lmul_e4m3_kulisch_k256_fp32": 9000, "mac_pe_exact_e4m3_float_fp32_rne_k256_fp32": 12000,
         "mac_pe_lmul_e4m3_float_fp32_rne_k256_fp32": 11000}
    results = [{"name": n, "target": "generic", "transistors": v, "cells": v // 4, "depth": 10} for n, v in t.items()]
    path.write_text(json.dumps({"sweep": {"formats": ["e4m3"], "array_sizes": {}, "k_max": 256,
                                          "mac_accs": {"e4m3": ["fp32"]}}, "results": results}))
    return t


def test_cli_quick_from_a_report_json(tmp_path: Path) -> None:
    t = fake_report(tmp_path / "report.json")
    r = run_cli("--quick", "--samples", "3000", "--report-json", str(tmp_path / "report.json"),
                "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "o"
    md = (out / "paper.md").read_text()
    assert r.stdout == md + "\n"
    for name in paper.PLOTS:
        assert (out / name).stat().st_size > 5000 and f"]({name})" in md
    data = json.loads((out / "paper.json").read_text())
    assert data["samples"] == 3000 and data["quick"] and data["gates"]["formats"] == ["e4m3"]
    assert data["gates"]["provenance"]["synth_jobs"] == 0
    e = data["gates"]["energy"]["e4m3"]
    assert e["elementwise_lmul_pe"] == pytest.approx(1 - t["lmul_pe_e4m3_l0"] / t["fp_multiplier_e4m3_l0"])
    assert e["elementwise_bare_adder"] == pytest.approx(1 - t["int_adder_7b_l0"] / t["fp_multiplier_e4m3_l0"])
    mac_l, mac_e = t["mac_pe_lmul_e4m3_kulisch_k256_fp32"], t["mac_pe_exact_e4m3_kulisch_k256_fp32"]
    assert e["mac_pe"] == pytest.approx(1 - mac_l / mac_e)
    fp32_l, fp32_e = t["mac_pe_lmul_e4m3_float_fp32_rne_k256_fp32"], t["mac_pe_exact_e4m3_float_fp32_rne_k256_fp32"]
    assert e["mac_pe_by_acc"] == {"kulisch": pytest.approx(1 - mac_l / mac_e),
                                  "fp32": pytest.approx(1 - fp32_l / fp32_e)}
    assert f"| dot product: MAC PE, fp32 accumulator (per MAC) | {100 * (1 - fp32_l / fp32_e):.1f} % | 80 % |" in md
    assert "| dot product: MAC PE, kulisch (exact) accumulator (per MAC) | 10.0 % | 80 % |" in md
    assert "- MAC PE saving by accumulator (claim 80 %): e4m3: kulisch 10.0 %, fp32 8.3 %." in md
    assert data["accumulators"]["size"] == "quick" and "### 6. Accumulators" in md
    assert data["gates"]["cost"]["e4m3"]["lmul_pe"] == {"cells": 150, "transistors": 600, "depth": 10}
    assert "| FP multiplier, RNE-rounded | 500 / 2,000 / 10 |" in md
    assert "could not be checked" in md and "not available" in md
    assert "wrote" in r.stderr and "precision:" in r.stderr


def test_cli_gates_none_is_quiet_and_skips_gate_tables(tmp_path: Path) -> None:
    r = run_cli("--quick", "--samples", "2000", "--gates", "none", "-q", "--out", str(tmp_path / "o"))
    assert r.returncode == 0 and r.stderr == ""
    data = json.loads((tmp_path / "o" / "paper.json").read_text())
    assert data["gates"]["formats"] == [] and data["gates"]["energy"] == {}
    assert "(no gate-level results in this run)" in r.stdout


@pytest.mark.parametrize("args", [("--samples", "0"), ("--gates", "bogus"), ("--seed", "x"), ("--nope",),
                                  ("--report-json", "bad.json")])
def test_bad_arguments_exit_2_with_one_line(args: tuple[str, ...], tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    r = run_cli("--quick", "--out", "never-written", *args, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("lmul") and "error" in r.stderr
    assert not (tmp_path / "never-written").exists()


def test_help_lists_paper() -> None:
    r = subprocess.run([sys.executable, "-m", "lmul", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and " paper " in r.stdout
