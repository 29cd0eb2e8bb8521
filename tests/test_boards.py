"""Board targets and the board CLI: a real (small) iCEBreaker bitstream build with the YoWASP
tools, the host-side ``lmul board`` run against the golden model, and argument errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from test_host_link import flipped_acc  # noqa: F401 (fixture: a toy accumulator in the registry)

from lmul.arith import AccKind
from lmul.boards.cli import BOARD_NAMES
from lmul.boards.targets import BOARDS, BoardTop, configure, program
from lmul.cli import main
from lmul.formats import FormatError


def test_board_configs_are_consistent() -> None:
    for b in BOARDS.values():
        assert abs(b.core_hz / b.divisor - b.baud) / b.baud < 0.02       # UART rate error < 2 %
        assert b.cfg.max_payload <= 0xFFFF and b.cfg.max_result <= 0xFFFF
    with pytest.raises(FormatError):
        configure(BOARDS["icebreaker"], size=(0, 2))
    with pytest.raises(FormatError):
        BoardTop(BOARDS["icebreaker"].__class__(**{**BOARDS["icebreaker"].__dict__, "clk_div": 3}))


def test_configure_takes_acc_and_the_cli_knows_every_board() -> None:
    assert BOARD_NAMES == list(BOARDS)
    ice = BOARDS["icebreaker"]
    assert ice.cfg.acc == "kulisch" and configure(ice).cfg == ice.cfg
    assert configure(ice, acc="KULISCH").cfg.acc == "kulisch"              # canonical name
    assert configure(ice, kind="exact").cfg.acc == "kulisch"               # other overrides keep it
    with pytest.raises(FormatError, match="acc must be one of kulisch; got 'wallace'"):
        configure(ice, acc="wallace")


def test_configure_takes_a_pipeline_depth_down_to_the_array() -> None:
    ice = BOARDS["icebreaker"]
    # the iCEBreaker is built at pipeline 3 (timing margin at 12 MHz), the ULX3S at 0 (LUTs)
    assert ice.pipeline == 3 and configure(ice).pipeline == 3 and BOARDS["ulx3s"].pipeline == 0
    deep = configure(ice, pipeline=7, size=(1, 2))
    assert deep.pipeline == 7 and configure(deep, kind="exact").pipeline == 7      # kept by later overrides
    top = BoardTop(deep)
    assert top.core.engine.array.pipeline == 7 and top.core.engine.latency == top.core.engine.array.latency + 1
    assert BoardTop(ice).core.engine.latency < top.core.engine.latency
    with pytest.raises(FormatError, match="pipeline"):
        configure(ice, pipeline=15)                 # more stages than the Kulisch array has cut points


def test_board_default_depth_follows_the_accumulator() -> None:
    # a board's default depth shrinks to what the chosen accumulator has room for (an FP32 MAC array
    # into FP32: 3, the converter being wires) instead of failing; asking for more is an error
    deep = replace(BOARDS["icebreaker"], pipeline=7)
    assert configure(deep).pipeline == 7
    fp = configure(deep, acc="fp32", size=(1, 1))
    assert fp.pipeline == 3 and BoardTop(fp).core.engine.array.pipeline == 3
    with pytest.raises(FormatError, match="pipeline"):
        configure(deep, acc="fp32", pipeline=4)


def test_lmul_board_sim_runs_the_pipelined_rtl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["board", "--sim", "--pipeline", "7", "--size", "1x2", "--m", "2", "--k", "3", "--n", "3",
                 "--m-max", "2", "--k-max", "4", "--n-max", "4"]) == 0
    assert "bit-exact with the golden model" in capsys.readouterr().out


def test_icebreaker_core_clock_with_and_without_the_divider() -> None:
    # the default core runs on the 12 MHz oscillator; clk_div 2 (still supported) adds a constrained
    # 6 MHz clock from a toggle flop. prepare() only elaborates: no tool runs.
    ice = configure(BOARDS["icebreaker"], size=(1, 1), m_max=2, k_max=4, n_max=2)
    assert ice.clk_div == 1 and ice.core_hz == 12e6 and ice.divisor == 104
    for div, want in ((1, ["set_frequency clk12_0__io 12.0"]),
                      (2, ["set_frequency half 6.0", "set_frequency clk12_0__io 12.0"])):
        plan = ice.make_platform().prepare(BoardTop(replace(ice, clk_div=div)), "top")
        pcf = plan.files["top.pcf"]
        assert [line for line in pcf.splitlines() if line.startswith("set_frequency")] == want


def _fake_loader(tmp_path: Path, rc: int = 0) -> tuple[Path, Path]:
    """An executable standing in for openFPGALoader: records its arguments, exits with ``rc``."""
    log, tool = tmp_path / "ofl.args", tmp_path / "fake-openFPGALoader"
    tool.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{log}"\nexit {rc}\n')
    tool.chmod(0o755)
    return tool, log


def test_lmul_build_small_icebreaker_bitstream_and_program(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    tool, log = _fake_loader(tmp_path)
    monkeypatch.setenv("OPENFPGALOADER", str(tool))
    out = tmp_path / "ice"
    rc = main(["build", "--board", "icebreaker", "--size", "1x1", "--m-max", "2", "--k-max", "4", "--n-max", "2",
               "--out", str(out), "--program"])
    text = capsys.readouterr().out
    res = json.loads((out / "build.json").read_text())
    assert (out / "top.bin").stat().st_size > 100_000                  # a UP5K bitstream (~104 kB)
    assert res["utilization"]["ICESTORM_LC"]["used"] > 500
    assert "ICESTORM_LC" in text and "Fmax" in text
    assert res["target_mhz"] == 12.0
    assert res["config"]["acc"] == "kulisch" and res["config"]["kind"] == "lmul"
    assert res["config"]["pipeline"] == 3                               # the board's default depth
    # one constrained clock: the core runs on the 12 MHz board clock (no divider)
    assert list(res["constraint_mhz"].values()) == [12.0]
    met = all(res["fmax_mhz"][k] >= res["constraint_mhz"][k] for k in res["fmax_mhz"])
    assert res["timing_met"] == met and rc == (0 if met else 1) and ("timing met" in text) == met
    # --program hands exactly this bitstream to openFPGALoader (only when timing is met)
    assert log.exists() == met
    if met:
        assert log.read_text().split() == ["-b", "ice40_generic", str(out / "top.bin")]


def test_lmul_build_too_big_says_what_does_not_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a 3x3 array needs ~7,700 logic cells of the UP5K's 5,280: nextpnr gives up, the CLI says why
    out = tmp_path / "ice3"
    rc = main(["build", "--board", "icebreaker", "--size", "3x3", "--m-max", "3", "--k-max", "4", "--n-max", "3",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc != 0 and not (out / "top.bin").exists()
    assert "tool run failed" in err and "does not fit: ICESTORM_LC" in err and "of 5,280" in err
    assert "Traceback" not in err


def test_program_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    board = BOARDS["ulx3s"]
    monkeypatch.setenv("OPENFPGALOADER", str(tmp_path / "no-such-loader"))
    with pytest.raises(FormatError, match="not found"):
        program(board, "top.bit")
    tool, log = _fake_loader(tmp_path, rc=1)
    monkeypatch.setenv("OPENFPGALOADER", str(tool))
    with pytest.raises(FormatError, match="programming failed"):
        program(board, "top.bit")
    assert log.read_text().split() == ["-b", "ulx3s", "top.bit"]


def test_lmul_board_against_the_golden_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["board", "--m", "20", "--k", "24", "--n", "17", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert "bit-exact with the golden model" in text and "2x2" in text


def test_lmul_board_over_a_port_checks_the_device_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    """``lmul board --port`` runs against whatever the device says it is (its STATUS); options given on
    the command line that disagree with it are an error, not silently ignored."""
    from test_host_link import _ModelOverTCP

    cfg = BOARDS["icebreaker"].cfg
    assert main(["board", "--port", _ModelOverTCP(cfg).url, "--m", "3", "--k", "5", "--n", "20"]) == 0
    assert "bit-exact with the golden model" in capsys.readouterr().out
    assert main(["board", "--port", _ModelOverTCP(cfg).url, "--size", "2x2", "--k-max", str(cfg.k_max)]) == 0
    capsys.readouterr()
    rc = main(["board", "--port", _ModelOverTCP(cfg).url, "--size", "4x4", "--format", "e5m2", "--k-max", "64"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "does not match --format, --size" in err and "2x2" in err


def test_lmul_board_over_a_port_checks_the_accumulator(flipped_acc: AccKind,  # noqa: F811
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``--acc`` is checked against the device's STATUS like ``--kind``: a device built with another
    accumulator is refused; asking for the one it has (or not asking) runs."""
    from test_host_link import _ModelOverTCP

    cfg = BOARDS["icebreaker"].cfg.__class__(**{**BOARDS["icebreaker"].cfg.__dict__, "acc": "flipped"})
    rc = main(["board", "--port", _ModelOverTCP(cfg).url, "--acc", "kulisch"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "does not match --acc" in err and "flipped" in err
    for extra in ([], ["--acc", "flipped"]):
        assert main(["board", "--port", _ModelOverTCP(cfg).url, "--m", "2", "--k", "3", "--n", "2", *extra]) == 0
        out = capsys.readouterr().out
        assert "e4m3 lmul flipped 2x2" in out and "bit-exact with the golden model" in out


@pytest.mark.parametrize("argv", [
    ["board", "--board", "nexys"], ["board", "--k", "65"], ["build", "--size", "0x2"],
    ["board", "--format", "fp32"], ["board", "--port", "/dev/x", "--sim"], ["board", "--sim", "--baud", "9600"],
    ["board", "--acc", "wallace"], ["build", "--acc", "kulisch:3"], ["board", "--port", "/dev/x", "--acc", "w"],
    ["board", "--pipeline", "3"], ["board", "--port", "/dev/x", "--pipeline", "1"], ["build", "--pipeline", "15"],
    ["build", "--pipeline", "-1"], ["build", "--pipeline", "99"],
])
def test_board_cli_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "error" in err


def test_loader_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``$OPENFPGALOADER``, else ``openFPGALoader`` on PATH, else the ``openfpgaloader`` package's binary."""
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    pkg = tmp_path / "site" / "openfpgaloader"
    (pkg / "bin").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    tool, log = _fake_loader(tmp_path)
    (pkg / "bin" / "openFPGALoader").symlink_to(tool)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    program(BOARDS["ulx3s"], "a.bit")                                   # the bundled binary
    assert log.read_text().split() == ["-b", "ulx3s", "a.bit"]
    on_path = tmp_path / "path"
    on_path.mkdir()
    (on_path / "openFPGALoader").symlink_to(_fake_loader(on_path)[0])
    monkeypatch.setenv("PATH", str(on_path))
    program(BOARDS["icebreaker"], "b.bin")                              # PATH wins over the package
    assert (on_path / "ofl.args").read_text().split() == ["-b", "ice40_generic", "b.bin"]
    assert log.read_text().split() == ["-b", "ulx3s", "a.bit"]
