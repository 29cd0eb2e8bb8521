"""Baseline check against Berkeley HardFloat (not a test; no HardFloat code lives in this repo).

``python -m lmul.scripts.hardfloat [HARDFLOAT_DIR] [--formats e4m3_ieee e5m2 bf16] [--check] [--ice40]``

``HARDFLOAT_DIR`` (argument, else ``$HARDFLOAT_DIR``) is a copy of HardFloat Release 1's Verilog:
a folder holding ``mulRecFN.v``, ``fNToRecFN.v``, ``recFNToFN.v``, ``HardFloat_rawFN.v``,
``HardFloat_primitives.v``, ``isSigNaNRecFN.v``, ``HardFloat_consts.vi``,
``HardFloat_localFuncs.vi`` and a specialisation folder (``RISCV/`` by default, ``--specialize``)
with ``HardFloat_specialize.v``/``.vi`` (the release's ``source/`` folder; it is searched for
them recursively). For each IEEE-style format (``Specials.IEEE``, subnormals on, default
overflow: HardFloat's semantics) it writes the wrapper ``top``: ``fNToRecFN`` on both operands,
``mulRecFN`` with the rounding mode tied to RNE (tininess after rounding, which changes only the
flags, left unconnected), ``recFNToFN`` on the output; then it measures that wrapper and our
``FPMultiplier(fmt)`` (rounded, latency 0) with the same generic Yosys flow
(``lmul.scripts.synth``'s ``generic`` target: ``synth -flatten``, ``abc -g cmos3``,
``stat -tech cmos``) and prints transistors, cells and logic depth of both and their ratio.

``--check`` simulates both with Icarus Verilog (``iverilog``/``vvp``) on every operand pair of the
8-bit formats (a fixed sample of special and random pairs for wider ones) and compares bit for
bit, except that when both results are NaN only NaN-ness is compared: HardFloat's RISC-V
specialisation returns the canonical NaN ``0.1..1.10..0`` and does not propagate payloads, while
this project's NaN rule keeps an operand's sign (``lmul.sim.fp_multiplier.multiply_specials``).
Exit status 1 if any pair differs, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from amaranth.back import verilog

from lmul import build_root
from lmul.formats import FloatFormat, Overflow, Specials, get_format

__all__ = ["HARDFLOAT_FILES", "check_equal", "hardfloat_verilog", "main", "measure", "simulate"]

#: Release-1 files the wrapper needs (besides the specialisation folder's).
HARDFLOAT_FILES = ("HardFloat_primitives.v", "HardFloat_rawFN.v", "isSigNaNRecFN.v", "fNToRecFN.v",
                   "recFNToFN.v", "mulRecFN.v")
_INCLUDE = re.compile(r'^\s*`include\s+"([^"]+)"', re.M)


def _find(root: Path, name: str) -> Path:
    hits = sorted(root.rglob(name), key=lambda p: len(p.parts))
    if not hits:
        raise FileNotFoundError(f"HardFloat folder {root}: no {name}")
    return hits[0]


def _inline(path: Path, dirs: list[Path], depth: int = 0) -> str:
    """``path``'s text with every `` `include`` replaced by the file's text (first hit in ``dirs``,
    else next to ``path``); the files' own `` `ifndef`` guards keep repeats harmless."""
    if depth > 20:
        raise ValueError(f"include nesting too deep at {path}")

    def sub(mt: re.Match[str]) -> str:
        for d in [*dirs, path.parent]:
            if (d / mt[1]).is_file():
                return _inline(d / mt[1], dirs, depth + 1)
        raise FileNotFoundError(f"{path}: cannot resolve `include \"{mt[1]}\"")
    return _INCLUDE.sub(sub, path.read_text())


def check_format(fmt: FloatFormat) -> FloatFormat:
    """``fmt`` if HardFloat computes the same function for it (IEEE specials, subnormals,
    default overflow, bias ``2**(E-1) - 1``), else ``ValueError`` naming ``fmt``."""
    if (fmt.specials is not Specials.IEEE or not fmt.subnormals or fmt.overflow is not Overflow.DEFAULT
            or fmt.bias != (1 << (fmt.exp_bits - 1)) - 1 or fmt.exp_bits < 3):
        raise ValueError(f"fmt {fmt}: HardFloat implements IEEE-style formats only (IEEE Inf/NaN, "
                         "subnormals, overflow to Inf, bias 2**(E-1)-1, E >= 3)")
    return fmt


def hardfloat_verilog(src: Path, fmt: FloatFormat, specialize: str = "RISCV") -> str:
    """One Verilog text: the needed HardFloat modules (includes inlined) and the wrapper ``top``
    (ports ``a``, ``b``, ``o``, ``fmt.width`` bits each)."""
    check_format(fmt)
    src = Path(src)
    spec = _find(src, f"{specialize}/HardFloat_specialize.v")
    files = [_find(src, n) for n in HARDFLOAT_FILES]
    dirs = [spec.parent, files[0].parent]      # as the release's Makefiles: -I<spec> -I<source>
    parts = [_inline(f, dirs) for f in [spec, *files]]
    e, s, w = fmt.exp_bits, fmt.man_bits + 1, fmt.width
    parts.append(f"""
module top(input [{w - 1}:0] a, input [{w - 1}:0] b, output [{w - 1}:0] o);
    wire [{w}:0] ra, rb, ro;
    wire [4:0] flags;
    fNToRecFN#({e}, {s}) conv_a(a, ra);
    fNToRecFN#({e}, {s}) conv_b(b, rb);
    mulRecFN#({e}, {s}) mul(`flControl_tininessAfterRounding, ra, rb, `round_near_even, ro, flags);
    recFNToFN#({e}, {s}) conv_o(ro, o);
endmodule
""")
    return "\n".join(parts)


def ours_verilog(fmt: FloatFormat, name: str = "top") -> str:
    """Our ``FPMultiplier(fmt)`` (rounded, latency 0) as Verilog, top module ``name``."""
    from lmul.rtl.fp_multiplier import FPMultiplier
    return verilog.convert(FPMultiplier(fmt), name=name, emit_src=False)


def measure(src: Path, fmt: FloatFormat, specialize: str = "RISCV", ice40: bool = False) -> dict[str, dict]:
    """``{"hardfloat": figures, "ours": figures}``: the ``generic`` target's transistors, cells and
    depth (plus ``ice40`` LUT4/carry counts when asked) of both designs."""
    from lmul.scripts.synth import DesignPoint, _fpga_synth, _generic, synthesize
    work_root = build_root() / "hardfloat"
    work_root.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(dir=work_root, prefix=f"{fmt}-") as tmp:
        vtext = hardfloat_verilog(src, fmt, specialize)
        out["hardfloat"] = _generic(vtext, "top", Path(tmp), 3600)
        if ice40:
            out["hardfloat"]["ice40"] = _fpga_synth(vtext, "top", Path(tmp), 3600, "ice40")
    point = DesignPoint("fp_multiplier", str(fmt))
    out["ours"] = synthesize(point, "generic")
    if ice40:
        out["ours"]["ice40"] = synthesize(point, "ice40")
    return out


def _pairs(fmt: FloatFormat, sample: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every pair for width <= 8; else specials x specials plus ``sample`` random pairs."""
    n = 1 << fmt.width
    if fmt.width <= 8:
        x, y = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        return x.ravel(), y.ravel()
    m, top = fmt.man_bits, ((1 << fmt.exp_bits) - 1) << fmt.man_bits
    base = [0, 1, 2, 3, fmt.man_mask, 1 << (m - 1), 1 << m, (1 << m) | 1, top - 1, top, top | 1,
            top | (1 << (m - 1)), fmt.bias << m, (fmt.bias << m) | 1, ((fmt.bias // 2) << m) | fmt.man_mask]
    sp = np.array(base + [v | fmt.sign_mask for v in base])
    sx, sy = np.meshgrid(sp, sp, indexing="ij")
    rng = np.random.default_rng(seed)
    return (np.concatenate([sx.ravel(), rng.integers(0, n, sample)]),
            np.concatenate([sy.ravel(), rng.integers(0, n, sample)]))


def simulate(src: Path, fmt: FloatFormat, a: np.ndarray, b: np.ndarray,
             specialize: str = "RISCV") -> tuple[np.ndarray, np.ndarray]:
    """(HardFloat's, our) results on the pairs ``a``, ``b`` from one Icarus Verilog run."""
    if not shutil.which("iverilog") or not shutil.which("vvp"):
        raise FileNotFoundError("iverilog/vvp not found (apt-get install iverilog)")
    w = fmt.width
    bench = f"""
module bench;
    reg [{w - 1}:0] a, b;
    wire [{w - 1}:0] hf, us;
    integer fi, fo, r;
    top hard(.a(a), .b(b), .o(hf));
    ours mine(.a(a), .b(b), .o(us));
    initial begin
        fi = $fopen("pairs.txt", "r");
        fo = $fopen("out.txt", "w");
        while (!$feof(fi)) begin
            r = $fscanf(fi, "%h %h\\n", a, b);
            if (r == 2) begin #1; $fwrite(fo, "%h %h\\n", hf, us); end
        end
        $fclose(fo);
        $finish;
    end
endmodule
"""
    ours = ours_verilog(fmt, "ours")      # flat ports a, b, o: the packed bit patterns
    work_root = build_root() / "hardfloat"
    work_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_root, prefix=f"sim-{fmt}-") as tmp:
        d = Path(tmp)
        (d / "all.v").write_text("\n".join([hardfloat_verilog(src, fmt, specialize), ours, bench]))
        (d / "pairs.txt").write_text("".join(f"{x:x} {y:x}\n" for x, y in zip(a.tolist(), b.tolist(), strict=True)))
        for cmd in (["iverilog", "-o", "sim.vvp", "-s", "bench", "all.v"], ["vvp", "-n", "sim.vvp"]):
            p = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"{cmd[0]} failed: {(p.stdout + p.stderr).strip()[-2000:]}")
        rows = [ln.split() for ln in (d / "out.txt").read_text().split("\n") if ln.strip()]
    if len(rows) != len(a):
        raise RuntimeError(f"simulation returned {len(rows)} results for {len(a)} pairs")
    hf = np.array([int(r[0], 16) for r in rows], dtype=np.int64)
    us = np.array([int(r[1], 16) for r in rows], dtype=np.int64)
    return hf, us


def _is_nan(fmt: FloatFormat, v: np.ndarray) -> np.ndarray:
    top = ((1 << fmt.exp_bits) - 1) << fmt.man_bits
    return ((v & top) == top) & ((v & fmt.man_mask) != 0)


def check_equal(fmt: FloatFormat, hf: np.ndarray, us: np.ndarray) -> np.ndarray:
    """Indices where the results differ: bit patterns must match unless both are NaN."""
    same = (hf == us) | (_is_nan(fmt, hf) & _is_nan(fmt, us))
    return np.flatnonzero(~same)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hardfloat", description=__doc__.split("\n")[0])
    ap.add_argument("src", nargs="?", default=os.environ.get("HARDFLOAT_DIR"),
                    help="HardFloat Release 1 source folder (default: $HARDFLOAT_DIR)")
    ap.add_argument("--formats", nargs="+", default=["e4m3_ieee", "e5m2", "bf16"])
    ap.add_argument("--specialize", default="RISCV", help="specialisation folder (default RISCV)")
    ap.add_argument("--check", action="store_true", help="simulate both and compare results")
    ap.add_argument("--sample", type=int, default=200_000, help="random pairs for formats wider than 8 bits")
    ap.add_argument("--no-synth", action="store_true", help="skip the synthesis table")
    ap.add_argument("--ice40", action="store_true", help="also synth_ice40 LUT4 counts")
    args = ap.parse_args(argv)
    try:
        if not args.src:
            raise ValueError("src: give the HardFloat source folder or set $HARDFLOAT_DIR")
        if not Path(args.src).is_dir():
            raise ValueError(f"src: {args.src} is not a folder")
        fmts = [check_format(get_format(f)) for f in args.formats]
        if args.sample < 0:
            raise ValueError("--sample: must be >= 0")
        hardfloat_verilog(Path(args.src), fmts[0], args.specialize)    # every file is there
    except (ValueError, FileNotFoundError) as exc:
        print(f"hardfloat: error: {exc}", file=sys.stderr)
        return 2
    status = 0
    if not args.no_synth:
        head = (f"{'format':<10} {'HardFloat':>10} {'ours':>8} {'ours/HF':>8}  {'HF cells/depth':>15} "
                f"{'ours cells/depth':>17}")
        if args.ice40:
            head += f" {'HF LUT4':>8} {'ours LUT4':>9}"
        print(head)
        for fmt in fmts:
            r = measure(Path(args.src), fmt, args.specialize, args.ice40)
            hf, us = r["hardfloat"], r["ours"]
            line = (f"{fmt!s:<10} {hf['transistors']:>10,} {us['transistors']:>8,} "
                    f"{us['transistors'] / hf['transistors']:>8.3f}  {hf['cells']:>9}/{hf['depth']:<5} "
                    f"{us['cells']:>11}/{us['depth']:<5}")
            if args.ice40:
                line += f" {hf['ice40']['lut4']:>8} {us['ice40']['lut4']:>9}"
            print(line, flush=True)
    if args.check:
        for fmt in fmts:
            a, b = _pairs(fmt, args.sample)
            hf, us = simulate(Path(args.src), fmt, a, b, args.specialize)
            bad = check_equal(fmt, hf, us)
            nan = int((_is_nan(fmt, hf) & _is_nan(fmt, us)).sum())
            sign = int(((hf != us) & (_is_nan(fmt, hf) & _is_nan(fmt, us))).sum())
            print(f"{fmt}: {len(a):,} pairs, {len(bad)} differ ({nan:,} NaN results, NaN-ness compared; "
                  f"{sign:,} of them differ in sign/payload)", flush=True)
            for i in bad[:5]:
                print(f"  a={a[i]:#x} b={b[i]:#x}: HardFloat {hf[i]:#x}, ours {us[i]:#x}")
            status |= int(len(bad) > 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
