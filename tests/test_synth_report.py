"""The synthesis/report pipeline on small designs (the full sweep is the main job, not a test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.hdl import Cat, Module, Signal

from lmul.arith import accumulator
from lmul.designs import DesignParams
from lmul.formats import FormatError
from lmul.report import Sweep, markdown, run_report
from lmul.rtl.latency import REPLICA, marks_replicas
from lmul.scripts.synth import TARGETS, DesignPoint, run_points, run_tools, synthesize
from lmul.sweep import Sweep as SweepDef
from lmul.sweep import acc_label, default_sweep, dot_units, headline_sweep, mac_by_acc, quick_sweep, summarize


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


def test_replicas_stay_separate_flip_flops() -> None:
    """Registers marked ``REPLICA`` keep one flip-flop each through the generic and FPGA flows
    (``opt_merge`` folds identical unmarked ones): two marked copies of one bit and two unmarked
    copies of another are three flip-flops. A pipelined array marks its per-PE valid/last copies;
    at depth 0 the Verilog has no mark (its flow, and cached results, unchanged)."""
    m = Module()
    x, z = Signal(), Signal()
    copies = [Signal(name=f"r{i}", attrs=attrs) for i, attrs in enumerate([REPLICA, REPLICA, {}, {}])]
    m.d.sync += [r.eq(v) for r, v in zip(copies, [x, x, z, z], strict=True)]
    y = Signal(len(copies))
    m.d.comb += y.eq(Cat(*copies))
    vtext = verilog.convert(m, ports=[x, z, y], name="top")
    assert run_tools(vtext, "top", "ice40", "replica", 600)["dff"] == 3
    assert run_tools(vtext, "top", "generic", "replica", 600)["dffs"] == 3
    array = DesignPoint("systolic_array", "e4m3", DesignParams(rows=3, cols=3, k_max=16))
    assert not marks_replicas(verilog.convert(array.component(), name="top"))
    deep = DesignPoint("systolic_array", "e4m3", DesignParams(rows=3, cols=3, k_max=16, pipeline=1))
    assert marks_replicas(verilog.convert(deep.component(), name="top"))


def test_timeouts_are_cached_until_a_longer_limit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A tool run stopped at its time limit is a cached result (a ``--full`` re-run does not spend
    the hour again); a longer limit runs it again, and a real result serves every limit."""
    monkeypatch.setenv("LMUL_BUILD", str(tmp_path))
    point = DesignPoint("lmul_pe", "e4m3")
    res = synthesize(point, "generic", timeout=0.01)
    assert res["timed_out"] == 0.01 and "timed out after" in res["error"] and "transistors" not in res
    assert synthesize(point, "generic", timeout=0.01) == res
    done = synthesize(point, "generic", timeout=600)
    assert "error" not in done and done["transistors"] > 0
    assert synthesize(point, "generic", timeout=0.01) == done


def test_dearest_jobs_start_first() -> None:
    from lmul.scripts.synth import job_weight
    big, small = (DesignPoint("systolic_array", "e4m3", DesignParams(rows=r, cols=r)) for r in (8, 4))
    assert job_weight(big, "generic") > job_weight(small, "generic") > job_weight(small, "ice40")
    assert job_weight(DesignPoint("mac_pe", "bf16"), "ice40") > job_weight(DesignPoint("mac_pe", "e4m3"), "ice40")
    assert job_weight(DesignPoint("lmul_pe", "e4m3"), "ecp5_pnr") > job_weight(DesignPoint("lmul_pe", "e4m3"), "ecp5")
    # one worker runs them in submission order: the dearest target's job (failing fast here) first
    lines: list[str] = []
    bad = DesignPoint("no_such_design", "e4m3")
    res = run_points([(bad, "ice40"), (bad, "generic"), (bad, "ecp5_pnr")], workers=1, progress=lines.append)
    assert [ln.split()[2].rstrip(":") for ln in lines] == ["ecp5_pnr", "generic", "ice40"]
    assert len(res) == 3


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
    # by accumulator (this sweep: kulisch only), and the accumulator study from the numerics
    row = js["saving_by_acc"]["e2m1"]["kulisch"]
    assert row["saving"] == pytest.approx(head["mac_pe_saving"]) and row["lmul"]["ice40_lut4"] > 0
    assert "## Saving per MAC, by accumulator" in md and "k_max = 4, FP32 results" in md
    assert f"| e2m1 | kulisch | {row['lmul']['transistors']:,} / {row['exact']['transistors']:,} |" in md
    assert js["numerics"]["accumulators"]["size"] == "quick"
    assert js["paper_claims"]["accumulators"] == js["numerics"]["accumulators"]     # computed once
    assert (tmp_path / "paper_accumulators.png").stat().st_size > 10_000 and "](paper_accumulators.png)" in md
    assert "paper_accumulators.png" in js["plots"] and md.count("#### The accumulator's own error") == 1
    # the ASIC section (lmul energy): the three E4M3 multipliers for a small sweep, in the report and in
    # the paper part; without the Debian tools it names the packages instead
    from lmul.scripts.asic import missing_tools
    if missing_tools():
        assert js["asic"] == [] and "Skipped:" in md.split("ASIC: OSU 0.18 um")[1]
    else:
        assert [r["design"] for r in js["asic"]] == ["lmul_pe", "fp_multiplier", "fp_multiplier_exact"]
        assert all(r["gate_level_match"] and r["vectors"] == 2000 and r["area_um2"] > 0 for r in js["asic"])
        assert md.count("## ASIC: OSU 0.18 um standard cells") == 2 and "#### ASIC: OSU 0.18 um" in md
        assert js["seconds"]["asic"] >= 0 and js["paper_claims"]["asic"]["rows"] == js["asic"]


# --- the sweep's accumulators and the by-accumulator table, from made-up results --------------------------

def test_sweeps_cover_the_accumulators() -> None:
    """Default: MAC PEs of E4M3/E5M2 with kulisch, fp32, fp16, bf16, BF16 with kulisch and fp32, on
    every target; arrays on kulisch only. Quick: E4M3 MAC PEs with kulisch and fp32."""
    d = default_sweep()
    macs = {(p.fmt, p.params.kind, p.params.acc, t) for p, t in d.points() if p.design == "mac_pe"}
    want = {f: ["kulisch", "fp32", "fp16", "bf16"] for f in ("e4m3", "e5m2")} | {"bf16": ["kulisch", "fp32"]}
    assert macs == {(f, k, accumulator(a).name, t) for f, accs in want.items() for a in accs
                    for k in ("exact", "lmul") for t in TARGETS}
    assert {p.params.acc for p, _ in d.points() if p.design == "systolic_array"} == {"kulisch"}
    assert d.acc == "kulisch" and d.mac_accs_of("e4m3")[0] == "kulisch"
    q = quick_sweep()
    assert {(p.params.acc, t) for p, t in q.points() if p.design == "mac_pe"} == \
        {(a, t) for a in ("kulisch", "float:fp32:rne") for t in ("generic", "ice40", "ice40_pnr")}
    assert {p.params.acc for p, _ in q.points() if p.design == "systolic_array"} == {"kulisch"}
    assert "MAC PEs also with the accumulators e4m3: fp32" in q.describe()
    # fused dot units of E4M3 and E5M2: the headline's two (n = 4, fp32, exact / block w = 14) on generic,
    # iCE40 and ECP5 (the first also placed and routed), nine more variants on the generic target only
    dots = {(p.fmt, p.params.kind, p.params.acc, p.params.n, p.params.align, p.params.w, p.params.promote,
             p.params.k_max, p.params.out_fmt, t) for p, t in d.points() if p.design == "dot_unit"}
    head = {("fp32", 4, "exact", 0), ("fp32", 4, "block", 0)}
    for f, k in ((f, k) for f in ("e4m3", "e5m2") for k in ("exact", "lmul")):
        for t in ("generic", "ice40", "ecp5", "ice40_pnr", "ecp5_pnr"):
            got = {(acc_label(a), n, al, pr) for (f_, k_, a, n, al, w, pr, km, o, t_) in dots
                   if (f_, k_, t_) == (f, k, t) and km == 256 and o == "fp32"}
            want = ({("fp32", 4, "exact", 0)} if t.endswith("_pnr") else head if t != "generic" else
                    head | {("fp32", n, "exact", 0) for n in (1, 2, 8, 16)} | {(a, 4, "exact", 0) for a in
                    ("kulisch", "fp16", "bf16")} | {("e8m13:rtz", 4, "block", 0), ("fp32", 4, "block", 128)})
            assert got == want, (f, k, t)
    assert len(dots) == 2 * 2 * (11 + 2 + 2 + 1 + 1)
    assert "dot_unit_lmul_e4m3_float_fp32_rne_k256_fp32_n4_block_w14" in {p.name for p, _ in d.points()}
    assert "fused dot units (e4m3, e5m2: n = 4, fp32, exact; n = 4, fp32, block w=14; n = 1" in d.describe()
    assert not [p for p, _ in q.points() if p.design == "dot_unit"] and "dot unit" not in q.describe()
    for sw in (d, q):
        assert Sweep.from_dict(json.loads(json.dumps(sw.to_dict()))) == sw
    old = {k: v for k, v in q.to_dict().items() if k != "mac_accs"}     # a report JSON from before
    assert Sweep.from_dict(old).mac_accs == {} and Sweep.from_dict(old).mac_accs_of("e4m3") == ["kulisch"]
    assert [acc_label(a) for a in ("kulisch", "fp32", "float:bf16:rne", "e8m13:rtz")] == \
        ["kulisch", "fp32", "bf16", "e8m13:rtz"]


# made-up figures per (kind, acc): transistors, depth, iCE40 LUT4, iCE40 Fmax
FAKE_MAC = {("lmul", "kulisch"): (9000, 80, 500, 11.5), ("exact", "kulisch"): (10000, 90, 600, 10.5),
            ("lmul", "float:fp32:rne"): (11000, 120, 700, 7.5), ("exact", "float:fp32:rne"): (12000, 130, 800, 6.5)}


# made-up transistors of the fused dot units per (kind, align)
FAKE_DOT = {("lmul", "exact"): 30000, ("exact", "exact"): 36000, ("lmul", "block"): 26000, ("exact", "block"): 28000}


def fake_results(sweep: Sweep) -> dict:
    res: dict = {}
    for i, (p, t) in enumerate(sweep.points()):
        tr, depth, lut, fmax = FAKE_MAC.get((p.params.kind, p.params.acc), (1000 + i, 10, 50 + i, 50.0)) \
            if p.design == "mac_pe" else (1000 + 7 * i, 10, 50 + i, 50.0)
        if p.design == "dot_unit":
            tr = FAKE_DOT[(p.params.kind, p.params.align)]
        if p.design == "systolic_array":
            tr *= p.params.rows * p.params.cols
        res[(p.name, t)] = ({"transistors": tr, "cells": tr // 4, "dffs": 0, "depth": depth} if t == "generic" else
                            {"fits": True, "fmax_mhz": fmax} if t.endswith("_pnr") else
                            {"lut4": lut, "carry": 1, "dff": 2, "dsp": 0})
    return res


def test_saving_by_accumulator_table() -> None:
    q = quick_sweep()
    res = fake_results(q)
    head = summarize(q, res)["e4m3"]
    assert head["mac_pe_saving"] == pytest.approx(0.1)                    # the headline keys are unchanged
    assert head["mac_pe_lmul_transistors"] == 9000 and head["array_2x2_saving"] is not None
    assert head["mac_pe_lmul_float_fp32_rne_transistors"] == 11000
    assert head["mac_pe_float_fp32_rne_saving"] == pytest.approx(1 - 11000 / 12000)
    assert not [k for k in head if k.startswith("array_") and "float" in k]  # arrays: kulisch only
    by = mac_by_acc(q, res)["e4m3"]
    assert list(by) == ["kulisch", "float:fp32:rne"] and by["float:fp32:rne"]["label"] == "fp32"
    assert by["float:fp32:rne"]["lmul"] == {"transistors": 11000, "depth": 120, "ice40_lut4": 700,
                                            "ice40_fmax_mhz": 7.5, "ecp5_lut4": None, "ecp5_fmax_mhz": None}
    assert by["kulisch"]["design"] == "mac_pe_lmul_e4m3_kulisch_k16_fp32"
    md = markdown(q, res, summarize(q, res), {"yosys": "Yosys test"}, {"smoke": "pass"}, None)
    sec = md.split("## Saving per MAC, by accumulator")[1].split("\n## ")[0]
    assert "k_max = 16, FP32 results" in sec and "80 %" in sec
    assert "| format | accumulator | transistors L-Mul / exact | saving | logic depth L-Mul / exact | " \
           "iCE40 LUT4 L-Mul / exact | iCE40 Fmax (MHz) L-Mul / exact |" in sec
    assert "ECP5" not in sec                                              # no ECP5 figures in this sweep
    assert "| e4m3 | kulisch | 9,000 / 10,000 | 10.0 % | 80 / 90 | 500 / 600 | 11.5 / 10.5 |" in sec
    assert "| e4m3 | fp32 | 11,000 / 12,000 | 8.3 % | 120 / 130 | 700 / 800 | 7.5 / 6.5 |" in sec
    del res[("mac_pe_lmul_e4m3_float_fp32_rne_k16_fp32", "generic")]     # a missing figure reads n/a
    md = markdown(q, res, summarize(q, res), {}, {}, None)
    assert "| e4m3 | fp32 | n/a / 12,000 | n/a |" in md


def test_headline_sweep_is_the_whole_sweeps_headline_in_a_quarter_of_the_jobs() -> None:
    """The main job's sweep: the same jobs (same names, so the same cache entries) as the whole
    sweep for E4M3/E5M2 multipliers, MAC PEs by accumulator, one 4x4 array and the dot units, on the
    generic and iCE40 targets; k_max 256 (not the quick sweep's 16); about a quarter of its jobs."""
    h, d = headline_sweep(), default_sweep()
    hj, dj = h.points(), d.points()
    assert len(hj) <= len(dj) // 3
    assert {(p.name, t) for p, t in hj} <= {(p.name, t) for p, t in dj}
    assert h.k_max == 256 and set(h.targets) == {"generic", "ice40", "ice40_pnr"}
    macs = {(p.fmt, p.params.kind, p.params.acc) for p, _ in hj if p.design == "mac_pe"}
    want = {"e4m3": ["kulisch", "fp32", "fp16", "bf16"], "e5m2": ["kulisch", "fp32"]}
    assert macs == {(f, k, accumulator(a).name) for f, accs in want.items() for a in accs for k in ("exact", "lmul")}
    assert {(p.fmt, p.params.rows, p.params.cols, t) for p, t in hj if p.design == "systolic_array"} == \
        {("e4m3", 4, 4, "generic"), ("e4m3", 4, 4, "ice40")}
    assert {p.params.align for p, _ in hj if p.design == "dot_unit"} == {"exact", "block"}
    assert {(p.design, p.fmt) for p, _ in hj if p.design in ("lmul_pe", "fp_multiplier")} == \
        {(dn, f) for dn in ("lmul_pe", "fp_multiplier") for f in ("e4m3", "e5m2")}
    assert h.describe().startswith("the headline sweep of `lmul report` (`lmul report --full`: the whole sweep)")
    assert SweepDef.from_dict(h.to_dict()).label == "headline" and d.label == "full"


def test_report_cli_picks_the_sweep(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`lmul report` runs the headline sweep, `--full` the whole one, `--quick` the small one; never both."""
    import lmul.report
    from lmul.cli import main
    seen = []

    def fake_run_report(out: Path, sweep: SweepDef, **kw: object) -> dict:
        seen.append(sweep.label)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text("x")
        return {"results": []}

    monkeypatch.setattr(lmul.report, "run_report", fake_run_report)
    monkeypatch.setenv("LMUL_BUILD", str(tmp_path))
    for args, label in (([], "headline"), (["--full"], "full"), (["--quick"], "quick")):
        assert main(["report", "-q", *args]) == 0
        assert seen[-1] == label
    with pytest.raises(SystemExit) as exc:
        main(["report", "--full", "--quick"])
    assert exc.value.code == 2


def test_fused_dot_unit_table() -> None:
    """The headline sweep's dot units per MAC (transistors / n) with the saving, iCE40 LUT4 and the fp32
    MAC PE beside them; the quick sweep has no such table; the whole sweep's variants."""
    d = headline_sweep()
    res = fake_results(d)
    res[("mac_pe_lmul_e4m3_float_fp32_rne_k256_fp32", "generic")]["transistors"] = 13700
    res[("mac_pe_exact_e4m3_float_fp32_rne_k256_fp32", "generic")]["transistors"] = 14500
    dots = dot_units(d, res)
    assert list(dots) == ["e4m3"] and list(dots["e4m3"]) == ["n4_fp32_exact", "n4_fp32_block_w14"]
    block = dots["e4m3"]["n4_fp32_block_w14"]
    assert block["label"] == "n = 4, fp32, block w=14" and block["n"] == 4 and block["acc"] == "fp32"
    assert block["design"] == "dot_unit_lmul_e4m3_float_fp32_rne_k256_fp32_n4_block_w14"
    assert block["lmul"]["transistors"] == 26000 and block["lmul"]["per_mac"] == 6500
    assert block["exact"]["per_mac"] == 7000
    lut = {k: res[(f"dot_unit_{k}_e4m3_float_fp32_rne_k256_fp32_n4_block_w14", "ice40")]["lut4"]
           for k in ("lmul", "exact")}
    assert block["lmul"]["ice40_lut4"] == lut["lmul"] and block["lmul"]["ice40_fmax_mhz"] is None
    assert block["saving"] == pytest.approx(1 - 26000 / 28000)
    assert block["mac_pe"] == {"exact": 14500, "lmul": 13700}
    md = markdown(d, res, summarize(d, res), {}, {}, None)
    sec = md.split("## Fused dot units")[1].split("\n## ")[0]
    assert "k_max = 256" in sec and "Hopper-style" in sec
    assert ("| format | dot unit | transistors L-Mul / exact | per MAC L-Mul / exact | saving | "
            "iCE40 LUT4 L-Mul / exact | MAC PE (same accumulator) L-Mul / exact |") in sec
    assert "| e4m3 | n = 4, fp32, exact | 30,000 / 36,000 | 7,500 / 9,000 | 16.7 % | " in sec
    assert (f"| e4m3 | n = 4, fp32, block w=14 | 26,000 / 28,000 | 6,500 / 7,000 | 7.1 % | "
            f"{lut['lmul']:,} / {lut['exact']:,} | 13,700 / 14,500 |") in sec
    del res[("dot_unit_exact_e4m3_float_fp32_rne_k256_fp32_n4_exact", "generic")]   # a missing figure reads n/a
    assert "| e4m3 | n = 4, fp32, exact | 30,000 / n/a | 7,500 / n/a | n/a |" in \
        markdown(d, res, summarize(d, res), {}, {}, None)
    q = quick_sweep()
    assert dot_units(q, fake_results(q)) == {}
    assert "Fused dot units" not in markdown(q, fake_results(q), summarize(q, fake_results(q)), {}, {}, None)
    # the whole sweep: 11 variants per format; the narrow accumulator has no MAC PE to compare with
    full = dot_units(default_sweep(), fake_results(default_sweep()))
    assert list(full) == ["e4m3", "e5m2"] and all(len(v) == 11 for v in full.values())
    assert full["e5m2"]["n4_e8m13_rtz_block_w14"]["mac_pe"] is None
    assert full["e5m2"]["n4_kulisch_exact"]["mac_pe"] is not None
    assert full["e4m3"]["n16_fp32_exact"]["lmul"]["ecp5_lut4"] is None          # FPGA: the headline's only
    assert full["e4m3"]["n4_fp32_exact"]["lmul"]["ecp5_fmax_mhz"] is not None


def test_pipelined_mac_table() -> None:
    """The headline sweep builds the E4M3 Kulisch MAC PEs also at pipeline depth 7 on every target, and
    the report shows them beside depth 0 (latency 3 + depth, Fmax per family)."""
    from lmul.report import pipeline_table
    from lmul.sweep import pipelined_macs
    d = headline_sweep()
    deep = {(p.params.kind, p.params.acc, t) for p, t in d.points() if p.design == "mac_pe" and p.params.pipeline}
    assert deep == {(k, "kulisch", t) for k in ("exact", "lmul") for t in d.targets}
    res = fake_results(d)
    res[("mac_pe_lmul_e4m3_kulisch_k256_fp32_pipe7", "ice40_pnr")]["fmax_mhz"] = 42.3
    piped = pipelined_macs(d, res)
    assert list(piped) == ["e4m3"] and piped["e4m3"]["depth"] == 7
    assert piped["e4m3"]["lmul"][7]["ice40_fmax_mhz"] == 42.3
    assert piped["e4m3"]["lmul"][0]["transistors"] == 9000 and piped["e4m3"]["lmul"][7]["ecp5_lut4"] is None
    lines = pipeline_table(d, piped)
    assert lines[0] == "## Pipelined MAC PEs"
    row = next(ln for ln in lines if ln.startswith("| e4m3 | L-Mul | 7 | 10 |"))
    assert row.endswith(" | 42.3 |")
    assert "## Pipelined MAC PEs" in markdown(d, res, summarize(d, res), {}, {}, None)
    assert pipelined_macs(quick_sweep(), fake_results(quick_sweep())) == {}


def test_pipelined_array_table() -> None:
    """The whole sweep places and routes the 4×4 E4M3 Kulisch array at the MAC PEs' depth (7) on the
    ECP5 for both kinds and the report shows it beside the depth-0 array's figures."""
    from lmul.report import array_speed_table
    from lmul.sweep import pipelined_arrays
    full = default_sweep()
    speed = {(p.params.kind, t) for p, t in full.points()
             if p.design == "systolic_array" and p.params.pipeline == 7 and p.params.rows == p.params.cols == 4}
    assert speed == {(k, t) for k in ("exact", "lmul") for t in ("ecp5", "ecp5_pnr")}
    res = fake_results(full)
    res[("systolic_array_lmul_e4m3_kulisch_k256_fp32_4x4_pipe7", "ecp5_pnr")]["fmax_mhz"] = 123.4
    res[("systolic_array_lmul_e4m3_kulisch_k256_fp32_4x4_pipe7", "ecp5")]["lut4"] = 4800
    arrays = pipelined_arrays(full, res)
    assert list(arrays) == ["e4m3"] and arrays["e4m3"]["size"] == 4 and arrays["e4m3"]["depth"] == 7
    assert arrays["e4m3"]["lmul"][0]["ecp5_fmax_mhz"] is not None             # depth 0: the sweep's 4x4 job
    lines = array_speed_table(full, arrays)
    assert "| e4m3 | 4×4 | L-Mul | 7 | 4,800 | 300 | 2 | 123.4 |" in lines
    assert "### Pipelined arrays (ECP5)" in markdown(full, res, summarize(full, res), {}, {}, None)
    assert pipelined_arrays(headline_sweep(), fake_results(headline_sweep())) == {}
    assert array_speed_table(headline_sweep(), {}) == []


def test_pareto_view(tmp_path: Path) -> None:
    """The headline sweep measures the E4M3 multipliers at latency 0-2 and the Kulisch MAC PEs at
    pipeline 0, 3, 7 on the generic, iCE40 and iCE40 place-and-route targets; a point is Pareto-optimal
    unless another of its format and family is no worse in transistors, Fmax and energy and better in one."""
    from lmul.report import pareto_plot, pareto_table
    from lmul.sweep import pareto
    d = headline_sweep()
    pts = d.pareto_points()
    assert {(pt.family, pt.kind, pt.depth) for pt in pts} == \
        {("multiplier", k, lat) for k in ("lmul", "exact") for lat in (0, 1, 2)} | \
        {("mac_pe", k, dp) for k in ("lmul", "exact") for dp in (0, 3, 7)}
    jobs = {(p.name, t) for p, t in d.points()}
    assert all((pt.point.name, t) in jobs for pt in pts for t in ("generic", "ice40", "ice40_pnr"))
    res = fake_results(d)
    mac = {dp: f"mac_pe_lmul_e4m3_kulisch_k256_fp32{'_pipe' + str(dp) if dp else ''}" for dp in (0, 3, 7)}
    for dp, (tr, mhz) in {0: (12000, 12.0), 3: (15000, 11.0), 7: (21000, 42.0)}.items():
        res[(mac[dp], "generic")]["transistors"] = tr
        res[(mac[dp], "ice40_pnr")]["fmax_mhz"] = mhz
    energy = {mac[0]: {"area_um2": 60000.0, "energy_pj": {"zero_delay": 50.0, "with_delays": 65.0}},
              mac[7]: {"area_um2": 110000.0, "energy_pj": {"zero_delay": 117.0, "with_delays": 127.0}}}
    rows = pareto(d, res, energy)
    by = {(r["family"], r["kind"], r["depth"]): r for r in rows}
    assert by[("mac_pe", "lmul", 0)]["pareto"] and by[("mac_pe", "lmul", 7)]["pareto"]
    assert not by[("mac_pe", "lmul", 3)]["pareto"]               # more transistors and slower than depth 0
    assert by[("mac_pe", "lmul", 7)]["energy_pj"]["zero_delay"] == 117.0
    assert by[("mac_pe", "lmul", 3)]["area_um2"] is None
    lines = pareto_table(rows)
    assert lines[0].startswith("## Pareto view")
    assert "| e4m3 | mac pe | L-Mul | 7 | 21,000 |" in "\n".join(lines)
    row7 = next(ln for ln in lines if ln.startswith("| e4m3 | mac pe | L-Mul | 7 |"))
    assert row7.endswith("| 42.0 | 110,000 | 117.00 / 127.00 | ★ |")
    assert pareto_plot(tmp_path, rows) == ["pareto.png"] and (tmp_path / "pareto.png").stat().st_size > 10_000
    assert pareto(quick_sweep(), fake_results(quick_sweep())) == [] and pareto_table([]) == []
