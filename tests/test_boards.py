"""Board targets and the board CLI: a real (small) iCEBreaker bitstream build with the YoWASP
tools, the host-side ``lmul board`` run against the golden model, and argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmul.boards.targets import BOARDS, BoardTop, configure
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


def test_lmul_build_small_icebreaker_bitstream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ice"
    rc = main(["build", "--board", "icebreaker", "--size", "1x1", "--m-max", "2", "--k-max", "4", "--n-max", "2",
               "--out", str(out)])
    text = capsys.readouterr().out
    res = json.loads((out / "build.json").read_text())
    assert (out / "top.bin").stat().st_size > 100_000                  # a UP5K bitstream (~104 kB)
    assert res["utilization"]["ICESTORM_LC"]["used"] > 500
    assert "ICESTORM_LC" in text and "Fmax" in text
    assert res["target_mhz"] == 6.0
    met = min(res["fmax_mhz"].values()) >= 6.0
    assert rc == (0 if met else 1) and ("timing met" in text) == met


def test_lmul_board_against_the_golden_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["board", "--m", "20", "--k", "24", "--n", "17", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert "bit-exact with the golden model" in text and "2x2" in text


@pytest.mark.parametrize("argv", [
    ["board", "--board", "nexys"], ["board", "--k", "65"], ["build", "--size", "0x2"],
    ["board", "--format", "fp32"], ["board", "--port", "/dev/x", "--sim"],
])
def test_board_cli_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "error" in err
