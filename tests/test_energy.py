"""``lmul energy``: standard-cell mapping, gate-level simulation against the golden models, energy.

The flow needs Debian's ``opensta``, ``qflow-tech-osu018`` and ``iverilog`` (CI installs them); the
tests that run it skip with that reason when they are absent. The VCD toggle counter, the bad-input
paths and the missing-tool error need none of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lmul.cli import main as cli_main
from lmul.designs import DesignParams
from lmul.energy import DOT_K, EnergyError, _mapped, energy, operands
from lmul.errors import ParameterError
from lmul.formats import get_format
from lmul.scripts import asic

needs_tools = pytest.mark.skipif(bool(asic.missing_tools()), reason=asic.install_hint() if asic.missing_tools()
                                 else "")


@pytest.fixture(scope="module", autouse=True)
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private build folder: cold cache at the start, shared by this module's tests."""
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("energy_build")
    mp.setenv("LMUL_BUILD", str(path))
    yield path
    mp.undo()


# --- no tools needed -------------------------------------------------------------------------------------

def test_count_toggles_end_of_step_values(tmp_path: Path) -> None:
    """Transitions count the value at the end of each time step: a zero-width pulse is none, x is none."""
    vcd = tmp_path / "t.vcd"
    vcd.write_text("""$timescale 1ps $end
$scope module dut $end
$var wire 1 ! n $end
$var wire 3 " v [2:0] $end
$var wire 1 # clk $end
$upscope $end
$enddefinitions $end
#0
x!
b000 "
0#
#10
1!
0!
b101 "
1#
#20
1!
b1 "
0#
#30
0!
bx10 "
1#
#40
1!
""")
    t, clk = asic.count_toggles(vcd)
    # n: x, (1,0 in one step = 0), 1, 0, 1 -> rises 2, falls 1
    assert t["n"] == (2, 1)
    # v: 000 -> 101 -> 001 (short value: zero-extended) -> x10; bit 2 ends at x (no transition)
    assert t["v[0]"] == (1, 1)
    assert t["v[1]"] == (1, 0)
    assert t["v[2]"] == (1, 1)
    assert clk == 2 and t["clk"] == (2, 1)


def test_bad_inputs_raise_naming_the_parameter() -> None:
    with pytest.raises(ParameterError, match="design must be one of"):
        energy("no_such_design", "e4m3")
    with pytest.raises(ParameterError, match="not supported by the energy flow"):
        energy("matmul_engine", "e4m3")
    with pytest.raises(ParameterError, match="data must be one of"):
        energy("lmul_pe", "e4m3", data="gaussian")
    with pytest.raises(ParameterError, match="vectors must be in"):
        energy("lmul_pe", "e4m3", vectors=3)
    with pytest.raises(TypeError, match="vectors must be an int"):
        energy("lmul_pe", "e4m3", vectors=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="params must be a DesignParams"):
        energy("lmul_pe", "e4m3", {"latency": 0})


def test_missing_tools_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setenv("LMUL_OSU018", str(tmp_path / "nowhere"))
    assert "qflow-tech-osu018" in asic.missing_tools()
    with pytest.raises(EnergyError, match=r"apt-get install -y opensta qflow-tech-osu018 iverilog"):
        energy("lmul_pe", "e2m1", vectors=64)
    assert cli_main(["energy", "--design", "lmul_pe", "--format", "e2m1", "--vectors", "64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "qflow-tech-osu018" in err[0]


def test_cli_bad_design_one_line(capsys) -> None:
    assert cli_main(["energy", "--design", "bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lmul energy: error: design must be one of")


def test_operands_are_format_bit_patterns() -> None:
    fmt = get_format("e4m3")
    for data in ("normal", "llm", "uniform"):
        x, y = operands(fmt, data, 100, seed=1)
        assert len(x) == len(y) == 4 * DOT_K          # whole dot products
        assert x.min() >= 0 and max(x.max(), y.max()) < 1 << fmt.width
    xn, _ = operands(fmt, "normal", 640)
    xl, _ = operands(fmt, "llm", 640)
    assert len(set(xn.tolist())) > 20 and not (xn == xl).all()


# --- the flow --------------------------------------------------------------------------------------------

@needs_tools
def test_liberty_tables_match_the_file() -> None:
    lib = asic.library()
    inv = lib.cells["INVX1"]
    assert lib.voltage == pytest.approx(1.8) and inv.area == 16 and inv.pins["A"].cap == pytest.approx(0.00932456)
    rise = inv.pins["Y"].internal[0].rise
    assert rise.at(0.005, 0.06) == pytest.approx(0.023555)     # a grid point of the INVX1 table
    assert rise.at(0.15, 1.2) == pytest.approx(0.057524)
    assert lib.cells["DFFPOSX1"].sequential and not inv.sequential


@needs_tools
@pytest.mark.parametrize("design", ["lmul_pe", "fp_multiplier", "fp_multiplier_exact"])
def test_e4m3_multipliers_gate_level_match(design: str) -> None:
    r = energy(design, "e4m3", vectors=400, data="uniform")
    assert r["gate_level_match"] is True and "400 products equal the golden model" in r["gate_level_check"]
    assert r["area_um2"] > 1000 and r["fmax_mhz"] > 50 and r["flops"] == 0 and not r["clocked"]
    e = r["energy_pj"]
    assert 0 < e["zero_delay"] <= e["with_delays"]          # glitches only add transitions
    assert r["vectors"] == 400 and r["data"] == "uniform"


@needs_tools
def test_lmul_smaller_than_exact_and_cached() -> None:
    lm = energy("lmul_pe", "e4m3", vectors=400, data="uniform")
    ex = energy("fp_multiplier", "e4m3", vectors=400, data="uniform")
    again = energy("lmul_pe", "e4m3", vectors=400, data="uniform")
    assert again["cached"] and again["energy_pj"] == lm["energy_pj"]      # cache hit: same figures
    assert not energy("lmul_pe", "e4m3", vectors=400, data="uniform", cache=False)["cached"]
    assert lm["area_um2"] < 0.6 * ex["area_um2"]
    assert lm["energy_pj"]["zero_delay"] < ex["energy_pj"]["zero_delay"]


@needs_tools
def test_e2m1_json_cli(capsys) -> None:
    assert cli_main(["energy", "--design", "lmul_pe", "--format", "e2m1", "--vectors", "256", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("area_um2", "fmax_mhz", "energy_pj", "vectors", "data", "gate_level_match", "tool_versions"):
        assert key in out
    assert set(out["energy_pj"]) == {"zero_delay", "with_delays"}
    assert out["gate_level_match"] is True and out["vectors"] == 256
    assert {"yosys", "opensta", "iverilog", "library"} <= set(out["tool_versions"])


@needs_tools
def test_small_mac_pe_gate_level_match() -> None:
    p = DesignParams(kind="lmul", acc="kulisch", k_max=32)
    r = energy("mac_pe", "e2m1", p, vectors=256, data="llm")
    assert r["gate_level_match"] is True and "8 results equal the golden model" in r["gate_level_check"]
    assert r["clocked"] and r["flops"] > 0
    zd = r["energy_breakdown_pj"]["zero_delay"]
    assert zd["clock"] > 0 and zd["switching"] > 0 and zd["leakage"] > 0


_SWAP = {"NAND2X1": "NOR2X1", "NOR2X1": "NAND2X1", "AND2X1": "OR2X1", "OR2X1": "AND2X1", "XOR2X1": "XNOR2X1",
         "XNOR2X1": "XOR2X1", "AOI21X1": "OAI21X1", "OAI21X1": "AOI21X1", "AOI22X1": "OAI22X1",
         "OAI22X1": "AOI22X1", "NAND3X1": "NOR3X1", "NOR3X1": "NAND3X1", "INVX1": "BUFX2"}


@needs_tools
def test_broken_netlist_is_caught() -> None:
    """The driver of an output bit swapped for a cell of another function: the gate-level check fails."""
    from amaranth.back import verilog

    from lmul.designs import build_design
    vtext = verilog.convert(build_design("lmul_pe", "e4m3"), name="top", emit_src=False)
    net, _ = _mapped(vtext, "top")
    mt = re.search(r"^\s*(\w+) (\S+) \((?:[^;]*?)\.Y\(o\[2\]\)", net, re.M | re.S)
    assert mt and mt[1] in _SWAP, mt and mt[1]
    broken = net[:mt.start(1)] + _SWAP[mt[1]] + net[mt.end(1):]
    with pytest.raises(EnergyError, match="differ from the golden model"):
        energy("lmul_pe", "e4m3", vectors=200, data="uniform", netlist=broken)
    r = energy("lmul_pe", "e4m3", vectors=200, data="uniform", netlist=broken, check=False)
    assert r["gate_level_match"] is False
    good = energy("lmul_pe", "e4m3", vectors=200, data="uniform", netlist=net)
    assert good["gate_level_match"] is True


@needs_tools
def test_gate_level_budget() -> None:
    with pytest.raises(EnergyError, match="exceeds the gate-level simulation budget"):
        energy("lmul_pe", "e4m3", vectors=1000, max_gate_cycles=1000)


@needs_tools
def test_pipelined_multiplier_aligns_latency() -> None:
    """latency 2: outputs two cycles after their operands; a wrong alignment would fail the check."""
    r = energy("lmul_pe", "e2m1", DesignParams(latency=2), vectors=256, data="uniform")
    assert r["gate_level_match"] is True and r["clocked"] and r["flops"] > 0
    assert r["energy_breakdown_pj"]["with_delays"]["clock"] > 0


@needs_tools
@pytest.mark.parametrize("design", ["lmul_pe", "fp_multiplier", "fp_multiplier_exact"])
def test_e2m1_multipliers_exhaustive_gate_level(design: str) -> None:
    """Every E2M1 operand pair (256) through the mapped netlist, both simulations, on raw bits."""
    from lmul.vectors import multiplier_vectors
    x, y = multiplier_vectors(get_format("e2m1"))
    assert len(x) == 256
    r = energy(design, "e2m1", stream=(x, y))
    assert r["gate_level_match"] is True and "256 products equal the golden model" in r["gate_level_check"]
    assert r["data"] == "stream" and r["vectors"] == 256


def test_stream_is_checked() -> None:
    with pytest.raises(ParameterError, match="stream: operands must be"):
        energy("lmul_pe", "e2m1", stream=([0] * 40, [16] * 40))
    with pytest.raises(ParameterError, match="whole dot products"):
        energy("mac_pe", "e2m1", stream=([0] * 40, [0] * 40))


def test_asic_section_without_tools_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lmul.energy import asic_section
    monkeypatch.setenv("LMUL_OSU018", str(tmp_path / "nowhere"))
    lines, rows = asic_section()
    assert rows == [] and any("Skipped" in ln and "qflow-tech-osu018" in ln for ln in lines)


@needs_tools
def test_asic_section_table_and_ratios() -> None:
    from lmul.energy import asic_section, headline_points
    lines, rows = asic_section(headline_points("e2m1", arrays=False)[:3], vectors=256)
    assert [r["label"] for r in rows] == ["L-Mul PE", "exact multiplier, rounded", "exact multiplier, unrounded"]
    row = next(ln for ln in lines if ln.startswith("| L-Mul PE | e2m1 |"))
    lm, ex = rows[0], rows[1]
    assert f"{lm['area_um2'] / ex['area_um2']:.2f}" in row      # the L-Mul/exact area ratio column
    assert any("L-Mul PE / unrounded exact multiplier" in ln for ln in lines)
