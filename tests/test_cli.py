"""The ``lmul`` command line, run as ``python -m lmul`` in a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from conftest import ML_DTYPES
from refmodel import fields, ref_fp_multiply, ref_lmul, to_float, value

from lmul.formats import FP16, FP32, NAMED_FORMATS, FloatFormat, Specials


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lmul", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def test_help_lists_subcommands() -> None:
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("formats", "numerics", "report", "export"):
        assert re.search(rf"^\s+{cmd}\s", r.stdout, re.M), cmd


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"lmul \d+\.\d+\.\d+\n", r.stdout)


def test_formats_lists_every_named_format() -> None:
    r = run("formats")
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines] == list(NAMED_FORMATS)
    maxima: dict[str, float] = {f.name: float(ml_dtypes.finfo(t).max) for f, t in ML_DTYPES.items()}
    maxima[FP16.name] = float(np.finfo(np.float16).max)
    maxima[FP32.name] = float(np.finfo(np.float32).max)
    for ln in lines:
        name = ln.split(":")[0]
        fmt = NAMED_FORMATS[name]
        assert f"E{fmt.exp_bits}M{fmt.man_bits}" in ln and f"bias={fmt.bias}" in ln
        assert f"max={maxima[name]:g}" in ln, ln
        assert f"specials={fmt.specials.value}" in ln


@pytest.fixture(scope="module")
def numerics_run() -> subprocess.CompletedProcess[str]:
    return run("numerics", "--samples", "2000", "-q")


def test_numerics_prints_tables_and_claims(numerics_run: subprocess.CompletedProcess[str]) -> None:
    r = numerics_run
    assert r.returncode == 0
    assert r.stderr == ""                                   # -q: no progress
    out = r.stdout
    assert "### Operator error: all mantissa pairs" in out
    assert "### End to end: 2000 pairs, normal operands" in out
    assert "### End to end: 2000 pairs, loguniform operands" in out
    assert "### The paper's claims, checked" in out
    claims = out.split("### The paper's claims, checked")[1]
    for dist in ("operator", "normal", "loguniform"):
        assert re.search(rf"^- {dist}: L-Mul m=4 mean .*% vs e4m3 .*%.*L-Mul m=3 mean .*% vs e5m2 .*%", claims, re.M)
    for m in range(1, 8):
        assert re.search(rf"^\| {m} \| {[1, 2, 3, 3, 4, 4, 4][m - 1]} \|", out, re.M), m
    for row in ("e4m3 multiply", "e5m2 multiply", "rne m=4", "lmul m=3", "literal m=7"):
        assert len(re.findall(rf"^\| {row} \|", out, re.M)) == 2, row


def operator_means(m: int) -> dict[str, str]:
    """Mean relative errors over all mantissa pairs in [1, 2), from the reference models."""
    fmt = FloatFormat(f"e8m{m}", 8, m, 127, Specials.IEEE)
    l = {1: 1, 2: 2, 3: 3, 4: 3}.get(m, 4)
    tot = {"rne": Fraction(0), "lmul": Fraction(0), "literal": Fraction(0)}
    n = 0
    for a in range(1 << m):
        for b in range(1 << m):
            x, y = (127 << m) | a, (127 << m) | b
            vx, vy = value(fmt, x), value(fmt, y)
            assert isinstance(vx, tuple) and isinstance(vy, tuple)
            exact = vx[1] * vy[1]
            rne = value(fmt, ref_fp_multiply(fmt, x, y))
            lm = value(fmt, ref_lmul(fmt, x, y))
            assert isinstance(rne, tuple) and isinstance(lm, tuple)
            lit = 1 + Fraction(fields(fmt, x)[2] + fields(fmt, y)[2], 1 << m) + Fraction(1, 1 << l)
            tot["rne"] += abs(rne[1] - exact) / exact
            tot["lmul"] += abs(lm[1] - exact) / exact
            tot["literal"] += abs(lit - exact) / exact
            n += 1
    return {k: f"{100 * to_float((0, v / n)):7.3f}%" for k, v in tot.items()}


def test_numerics_operator_table_values(numerics_run: subprocess.CompletedProcess[str]) -> None:
    """The operator-error means equal an independent exact computation (all mantissa pairs)."""
    rows = {int(mt[1]): mt[0] for mt in re.finditer(r"^\| (\d) \| \d \|.*$", numerics_run.stdout, re.M)}
    assert sorted(rows) == list(range(1, 8))
    for m in range(1, 8):
        cells = [c for c in rows[m].split("|")[1:-1]]
        means = operator_means(m)
        assert cells[2] == f" {means['rne']} ", (m, cells)
        assert cells[4] == f" {means['lmul']} ", (m, cells)
        assert cells[6] == f" {means['literal']} ", (m, cells)


def test_numerics_out_folder(tmp_path: Path) -> None:
    r = run("numerics", "--samples", "300", "--seed", "4", "-q", "--out", str(tmp_path / "o"))
    assert r.returncode == 0
    md = (tmp_path / "o" / "numerics.md").read_text()
    assert r.stdout == md + "\n"
    data = json.loads((tmp_path / "o" / "numerics.json").read_text())
    assert data["samples"] == 300 and data["seed"] == 4
    assert set(data["end_to_end"]) == {"normal", "loguniform"}
    assert data["operator"]["lmul m=4"]["n"] == 256
    assert data["end_to_end"]["normal"]["e4m3 multiply"]["n"] <= 300
    assert "numerics.md" in r.stderr and r.stderr.count("\n") == 1


def test_report_help() -> None:
    """``report`` is the (long) main job; only its interface is checked here."""
    r = run("report", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: lmul report")
    assert "--samples" in r.stdout


def test_numerics_progress_on_stderr() -> None:
    r = run("numerics", "--samples", "50")
    assert r.returncode == 0
    assert "[1/" in r.stderr and "L-Mul m=7" in r.stderr
    assert "[" not in r.stdout.splitlines()[0]


@pytest.mark.parametrize("args", [("numerics", "--samples", "-3"), ("numerics", "--samples", "0"),
                                  ("numerics", "--samples", "abc"), ("report", "--samples", "1.5"),
                                  ("nosuch",), (), ("numerics", "--bogus"), ("formats", "extra"),
                                  ("export", "--format", "e9m9", "--out", "never-written"),
                                  ("export", "--latency", "7")])
def test_bad_arguments_exit_2_with_one_line(args: tuple[str, ...], tmp_path: Path) -> None:
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.endswith("\n") and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("lmul") and "error" in r.stderr
    assert not (tmp_path / "never-written").exists()


# ---- board commands (lmul.boards.cli, registered by lmul.cli) -----------------------------------


def test_board_commands_are_registered_with_acc() -> None:
    r = run("--help")
    for cmd in ("build", "board"):
        assert re.search(rf"^\s+{cmd}\s", r.stdout, re.M), cmd
        h = run(cmd, "--help")
        assert h.returncode == 0 and h.stdout.startswith(f"usage: lmul {cmd}")
        for opt in ("--board", "--format", "--kind", "--acc", "--size", "--k-max"):
            assert opt in h.stdout, (cmd, opt)


@pytest.mark.parametrize("cmd", ["board", "build"])
def test_bad_acc_is_one_error_line_naming_the_choices(cmd: str, tmp_path: Path) -> None:
    r = run(cmd, "--acc", "wallace", "--out" if cmd == "build" else "--seed", "never-written" if cmd == "build"
            else "1", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("lmul: error: acc must be one of kulisch") and r.stderr.count("\n") == 1
    assert "'wallace'" in r.stderr
    assert not (tmp_path / "never-written").exists()


def test_board_with_acc_against_the_golden_model() -> None:
    r = run("board", "--acc", "kulisch", "--kind", "exact", "--m", "3", "--k", "4", "--n", "2")
    assert r.returncode == 0, r.stderr
    assert "device: e4m3 exact kulisch 2x2" in r.stdout and "bit-exact with the golden model" in r.stdout
