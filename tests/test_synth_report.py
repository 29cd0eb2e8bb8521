"""The synthesis/report pipeline on small designs (the full sweep is the main job, not a test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmul.formats import FormatError
from lmul.report import Sweep, run_report
from lmul.scripts.synth import DesignPoint, run_points, synthesize


@pytest.fixture(scope="module")
def e4m3_results() -> dict:
    pts = [DesignPoint("lmul_pe", "e4m3"), DesignPoint("fp_multiplier", "e4m3"),
           DesignPoint("int_adder", "e4m3", width=7)]
    return run_points([(p, t) for p in pts for t in ("generic", "ice40", "ecp5", "ice40_pnr")])


def test_generic_counts_parse_and_compare(e4m3_results: dict) -> None:
    lm = e4m3_results[("lmul_pe_e4m3_l0", "generic")]
    fm = e4m3_results[("fp_multiplier_e4m3_l0", "generic")]
    add = e4m3_results[("int_adder_7b_l0", "generic")]
    for r in (lm, fm, add):
        assert "error" not in r, r
        assert r["transistors"] > 0 and r["cells"] > 0 and r["depth"] > 0
        assert r["dffs"] == 0                                 # combinational designs
        assert sum(r["cell_types"].values()) == r["cells"]
    assert add["transistors"] < lm["transistors"] < fm["transistors"]
    assert lm["depth"] < fm["depth"]


def test_fpga_counts_and_fmax(e4m3_results: dict) -> None:
    lm = e4m3_results[("lmul_pe_e4m3_l0", "ice40")]
    fm = e4m3_results[("fp_multiplier_e4m3_l0", "ice40")]
    assert 0 < lm["lut4"] < fm["lut4"]
    assert e4m3_results[("lmul_pe_e4m3_l0", "ecp5")]["lut4"] > 0
    pnr_l = e4m3_results[("lmul_pe_e4m3_l0", "ice40_pnr")]
    pnr_f = e4m3_results[("fp_multiplier_e4m3_l0", "ice40_pnr")]
    assert pnr_l["fits"] and pnr_f["fits"]
    assert pnr_l["fmax_mhz"] > pnr_f["fmax_mhz"] > 0


def test_cache_is_deterministic(e4m3_results: dict) -> None:
    again = synthesize(DesignPoint("lmul_pe", "e4m3"), "generic")
    first = e4m3_results[("lmul_pe_e4m3_l0", "generic")]
    assert again == first
    fresh = synthesize(DesignPoint("lmul_pe", "e4m3"), "generic", cache=False)
    assert {k: v for k, v in fresh.items() if k != "seconds"} == {k: v for k, v in first.items() if k != "seconds"}


def test_bad_points_are_clear_errors() -> None:
    with pytest.raises(FormatError, match="target"):
        synthesize(DesignPoint("lmul_pe", "e4m3"), "vivado")
    res = run_points([(DesignPoint("no_such_design", "e4m3"), "generic")])
    assert "unknown design" in next(iter(res.values()))["error"]


def test_report_folder(tmp_path: Path) -> None:
    sweep = Sweep(formats=["e2m1"], array_sizes={}, k_max=4, targets=("generic", "ice40"))
    data = run_report(tmp_path, sweep, numerics_samples=2000, progress=lambda s: None)
    assert (tmp_path / "report.md").exists() and (tmp_path / "multipliers.png").stat().st_size > 1000
    js = json.loads((tmp_path / "report.json").read_text())
    assert js["tool_versions"]["yosys"].startswith("Yosys")
    assert all(v == "pass" for v in js["smoke"].values())
    head = js["headline"]["e2m1"]
    assert 0 < head["lmul_pe_transistors"] < head["fp_multiplier_transistors"]
    assert 0 < head["elementwise_saving"] < 1
    assert not [r for r in js["results"] if "error" in r]
    md = (tmp_path / "report.md").read_text()
    assert "| e2m1 |" in md and "Verification smoke" in md
    assert data["headline"]["e2m1"] == head            # the JSON holds what the run returned
