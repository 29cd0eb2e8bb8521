"""lmul.scripts.hardfloat: the HardFloat baseline wrapper, its equality check and the CLI.

HardFloat itself is not part of this repository: the tests that need it run only when
``$HARDFLOAT_DIR`` names a HardFloat Release 1 ``source`` folder (plus Icarus Verilog for the
simulation); the rest use a stand-in folder with the same file layout.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lmul.formats import BF16, E4M3, E4M3_IEEE, E5M2, get_format
from lmul.scripts.hardfloat import (
    HARDFLOAT_FILES,
    _pairs,
    check_equal,
    check_format,
    hardfloat_verilog,
    main,
    measure,
    simulate,
)

HF_DIR = os.environ.get("HARDFLOAT_DIR")
needs_hf = pytest.mark.skipif(not HF_DIR, reason="$HARDFLOAT_DIR (HardFloat Release 1 source) not set")


def fake_release(root: Path) -> Path:
    """A folder with HardFloat's file names: each .v file a guarded one-line module that
    includes the constants file (as the release's files do)."""
    (root / "RISCV").mkdir(parents=True)
    (root / "HardFloat_consts.vi").write_text(
        "`ifndef CONSTS\n`define CONSTS\n`define round_near_even 3'b000\n"
        "`define flControl_tininessAfterRounding 1'b1\n`endif\n")
    (root / "RISCV" / "HardFloat_specialize.vi").write_text("`define SPEC_RISCV 1\n")
    (root / "RISCV" / "HardFloat_specialize.v").write_text(
        '`include "HardFloat_specialize.vi"\nmodule spec_stub; endmodule\n')
    for name in HARDFLOAT_FILES:
        stem = name.removesuffix(".v")
        (root / name).write_text(f'`include "HardFloat_consts.vi"\nmodule {stem}_stub; endmodule\n')
    return root


def test_wrapper_text(tmp_path: Path) -> None:
    src = fake_release(tmp_path / "source")
    v = hardfloat_verilog(src, BF16)
    assert "`include" not in v                       # every include inlined
    assert "`define SPEC_RISCV 1" in v              # the specialisation folder's .vi, not another
    for name in HARDFLOAT_FILES:
        assert f"module {name.removesuffix('.v')}_stub;" in v
    assert "module top(input [15:0] a, input [15:0] b, output [15:0] o);" in v
    for inst in ("fNToRecFN#(8, 8) conv_a(a, ra)", "fNToRecFN#(8, 8) conv_b(b, rb)",
                 "mulRecFN#(8, 8) mul(`flControl_tininessAfterRounding, ra, rb, `round_near_even, ro, flags)",
                 "recFNToFN#(8, 8) conv_o(ro, o)"):
        assert inst in v
    assert "mulRecFN#(4, 4)" in hardfloat_verilog(src, E4M3_IEEE)
    assert "mulRecFN#(5, 3)" in hardfloat_verilog(src, E5M2)


def test_missing_files(tmp_path: Path) -> None:
    src = fake_release(tmp_path / "source")
    (src / "mulRecFN.v").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape("mulRecFN.v")):
        hardfloat_verilog(src, E5M2)
    with pytest.raises(FileNotFoundError, match=re.escape("ARM-VFPv2/HardFloat_specialize.v")):
        hardfloat_verilog(fake_release(tmp_path / "other"), E5M2, "ARM-VFPv2")
    src = fake_release(tmp_path / "third")
    (src / "recFNToFN.v").write_text('`include "nowhere.vi"\n')
    with pytest.raises(FileNotFoundError, match=re.escape("nowhere.vi")):
        hardfloat_verilog(src, E5M2)


def test_check_format() -> None:
    for fmt in (E4M3_IEEE, E5M2, BF16, get_format("fp16")):
        assert check_format(fmt) is fmt
    for spec in ("e4m3", "e5m2:sat", "e5m2:ftz", "e5m2fnuz", "e2m1"):
        with pytest.raises(ValueError, match="fmt"):
            check_format(get_format(spec))


def test_check_equal_compares_nan_ness_only() -> None:
    fmt = E5M2                                        # NaNs: 0x7d..0x7f, 0xfd..0xff; Inf 0x7c
    hf = np.array([0x00, 0x7E, 0x7D, 0x7C, 0x7E, 0x3C, 0x80])
    us = np.array([0x00, 0xFE, 0x7F, 0x7C, 0x7C, 0x3D, 0x00])
    assert check_equal(fmt, hf, us).tolist() == [4, 5, 6]


def test_pairs() -> None:
    x, y = _pairs(E4M3_IEEE, 10)
    assert len(x) == 65536 and len(set(zip(x.tolist(), y.tolist(), strict=True))) == 65536
    x, y = _pairs(BF16, 1000)
    assert len(x) == 30 * 30 + 1000 and x.max() < 1 << 16 and y.max() < 1 << 16
    assert 0x7F80 in x and 0xFF80 in y                # ±Inf among the special operands


def test_cli_bad_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HARDFLOAT_DIR", raising=False)
    assert main([]) == 2
    assert "HardFloat source folder" in capsys.readouterr().err
    assert main([str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err
    src = fake_release(tmp_path / "source")
    assert main([str(src), "--formats", "e4m3"]) == 2
    assert "IEEE-style formats only" in capsys.readouterr().err
    assert main([str(tmp_path), "--specialize", "8086-SSE"]) == 2
    assert "8086-SSE/HardFloat_specialize.v" in capsys.readouterr().err


@needs_hf
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed")
@pytest.mark.parametrize("fmt", [E4M3_IEEE, E5M2], ids=str)
def test_same_function_as_hardfloat(fmt) -> None:
    """All 65,536 pairs: our rounded FPMultiplier and HardFloat (RNE) agree bit for bit except
    for NaN sign/payload (HardFloat's RISC-V canonical NaN)."""
    x, y = _pairs(fmt, 0)
    hf, us = simulate(Path(HF_DIR), fmt, x, y)
    assert len(hf) == 65536
    assert check_equal(fmt, hf, us).size == 0
    assert (hf != us).any()                           # NaN payload/sign conventions do differ


@needs_hf
def test_baseline_beats_hardfloat() -> None:
    """Issue 16: our exact RNE multiplier at <= 0.9x HardFloat's transistors in the generic flow."""
    for fmt in (E4M3_IEEE, E5M2, BF16):
        r = measure(Path(HF_DIR), fmt)
        assert r["ours"]["transistors"] <= 0.9 * r["hardfloat"]["transistors"], (fmt, r)


def test_e4m3_is_not_hardfloats() -> None:
    with pytest.raises(ValueError, match="e4m3"):
        hardfloat_verilog(Path("."), E4M3)
