"""Quick Amaranth-simulator checks of the multipliers (random + special pairs, all latencies).

The exhaustive runs are the cocotb ones (test_rtl_cocotb.py). Set ``LMUL_VCD=<dir>`` to write a
VCD waveform per test into that folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import ShapeCastable
from amaranth.sim import Simulator

from lmul.formats import BF16, E2M1, E3M4, E4M3, E4M3_IEEE, E5M2, FP16, FloatFormat, FormatError, Specials, get_format
from lmul.rtl.fp_multiplier import FPMultiplier
from lmul.rtl.int_reference import IntAdder, IntMultiplier
from lmul.rtl.lmul_pe import LMulPE
from lmul.sim.fp_multiplier import fp_multiply, fp_product
from lmul.sim.int_reference import int_add, int_multiply
from lmul.sim.lmul_pe import lmul
from lmul.vectors import special_values

FORMATS = [E4M3, E5M2, E2M1, BF16, FP16, get_format("e4m3fnuz"), get_format("e3m4:sat")]


def vectors(fmt: FloatFormat, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    sp = special_values(fmt)
    sx, sy = (g.ravel() for g in np.meshgrid(sp, sp, indexing="ij"))
    sel = rng.choice(len(sx), min(len(sx), 400), replace=False)
    return (np.concatenate([sx[sel], rng.integers(0, 1 << fmt.width, n)]),
            np.concatenate([sy[sel], rng.integers(0, 1 << fmt.width, n)]))


def const(port, bits: int):
    """``bits`` as a constant of ``port``'s shape: ``layout.from_bits`` for a ``FloatLayout`` view."""
    shape = port.shape()
    return shape.from_bits(bits) if isinstance(shape, ShapeCastable) else bits


def simulate(dut, x: np.ndarray, y: np.ndarray, read, name: str) -> list:
    """Drive one pair per cycle; collect each output ``dut.latency`` cycles later (the same
    cycle for latency 0). The component's ``latency`` attribute sets the expected timing."""
    latency = dut.latency
    got: list = []

    async def tb(ctx) -> None:
        for i in range(len(x) + latency):
            if i < len(x):
                ctx.set(dut.a, const(dut.a, int(x[i])))
                ctx.set(dut.b, const(dut.b, int(y[i])))
            if latency == 0:
                got.append(read(ctx))
            else:
                await ctx.tick()
                if i + 1 >= latency:
                    got.append(read(ctx))

    sim = Simulator(dut)
    if latency:
        sim.add_clock(1e-8)
    sim.add_testbench(tb)
    vcd_dir = os.environ.get("LMUL_VCD")
    if vcd_dir:
        Path(vcd_dir).mkdir(parents=True, exist_ok=True)
        with sim.write_vcd(str(Path(vcd_dir) / f"{name}.vcd")):
            sim.run()
    else:
        sim.run()
    return got[:len(x)]


@pytest.mark.parametrize("latency", [0, 1, 2])
@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_lmul_pe(fmt: FloatFormat, latency: int) -> None:
    x, y = vectors(fmt)
    dut = LMulPE(fmt, latency=latency)
    assert dut.latency == latency
    got = simulate(dut, x, y, lambda ctx: ctx.get(dut.o).as_bits(), f"lmul_{fmt.name}_{latency}")
    np.testing.assert_array_equal(np.array(got), lmul(fmt, x, y).astype(np.int64))


@pytest.mark.parametrize("latency", [0, 1, 2])
@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_fp_multiplier_rounded(fmt: FloatFormat, latency: int) -> None:
    x, y = vectors(fmt)
    dut = FPMultiplier(fmt, latency=latency)
    assert dut.latency == latency
    got = simulate(dut, x, y, lambda ctx: ctx.get(dut.o).as_bits(), f"mul_{fmt.name}_{latency}")
    np.testing.assert_array_equal(np.array(got), fp_multiply(fmt, x, y).astype(np.int64))


@pytest.mark.parametrize("latency", [0, 1, 2])
@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_fp_multiplier_exact(fmt: FloatFormat, latency: int) -> None:
    x, y = vectors(fmt)
    dut = FPMultiplier(fmt, mode="exact", latency=latency)
    assert dut.latency == latency

    def read(ctx) -> tuple[int, bool, bool]:
        p = dut.p
        v = ctx.get(p.sig) << ctx.get(p.shift)
        return (-v if ctx.get(p.sign) else v), bool(ctx.get(p.nan)), bool(ctx.get(p.inf))

    got = simulate(dut, x, y, read, f"exact_{fmt.name}_{latency}")
    gold = fp_product(fmt, x, y)
    assert [g[0] for g in got] == [int(v) for v in gold.value]
    assert [g[1] for g in got] == list(gold.nan)
    assert [g[2] for g in got] == list(gold.inf != 0)


@pytest.mark.parametrize("latency", [1, 2])
@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_reset_state(fmt: FloatFormat, latency: int) -> None:
    """From reset until the first operands have passed through (``latency`` cycles) every output
    is all zeros (+0; the zero ``ExactProductLayout``), whatever the operands on the inputs:
    the pipeline registers' reset values are a zero product at every stage."""
    x, y = vectors(fmt, 20)
    for dut in (LMulPE(fmt, latency=latency), FPMultiplier(fmt, latency=latency),
                FPMultiplier(fmt, mode="exact", latency=latency)):
        port = dut.o if hasattr(dut, "o") else dut.p
        seen: list[int] = []

        async def tb(ctx, dut=dut, port=port, seen=seen) -> None:
            for i in range(latency):
                ctx.set(dut.a, const(dut.a, int(x[-1 - i])))
                ctx.set(dut.b, const(dut.b, int(y[-1 - i])))
                await ctx.delay(1e-9)
                seen.append(ctx.get(port.as_value()))
                await ctx.tick()

        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(tb)
        sim.run()
        assert seen == [0] * latency, type(dut).__name__


BENCH_V = """
module bench;
    reg clk = 0, rst = 0;
    reg [{hi}:0] a = 0, b = 0;
    wire [{hi}:0] o;
    integer fi, fo, r, i;
    dut d(.clk(clk), .rst(rst), .a(a), .b(b), .o(o));
    initial begin
        fi = $fopen("pairs.txt", "r");
        fo = $fopen("out.txt", "w");
        i = 0;
        while (i < {steps}) begin
            if (!$feof(fi)) r = $fscanf(fi, "%h %h\\n", a, b);
            #1;
            if ({lat} == 0) $fwrite(fo, "%h\\n", o);
            else if (i < {lat} && o !== 0) $fwrite(fo, "reset-state output %h\\n", o);
            clk = 1; #1; clk = 0; #1;
            if ({lat} > 0) $fwrite(fo, "%h\\n", o);
            i = i + 1;
        end
        $fclose(fo);
        $finish;
    end
endmodule
"""


@pytest.mark.parametrize("latency", [1, 2])
@pytest.mark.parametrize("design", ["lmul", "rounded"])
@pytest.mark.parametrize("fmt", [E4M3, E5M2, E4M3_IEEE, E3M4], ids=str)
def test_pipelined_all_pairs_icarus(fmt: FloatFormat, design: str, latency: int, tmp_path: Path) -> None:
    """Every operand pair, one per cycle, through the pipelined LMulPE / rounded FPMultiplier
    (E3M4: the m >= 4 cut placement) in Icarus Verilog (the Amaranth simulator is too slow for
    65,536 cycles per case): results ``latency`` cycles on equal the golden model's, and the
    output holds +0 (the reset state) until the first result arrives."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        pytest.skip("Icarus Verilog not installed")
    n = 1 << fmt.width
    x, y = (g.ravel() for g in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    dut = LMulPE(fmt, latency=latency) if design == "lmul" else FPMultiplier(fmt, latency=latency)
    assert dut.latency == latency
    src = verilog.convert(dut, name="dut", emit_src=False)
    (tmp_path / "all.v").write_text(src + BENCH_V.format(hi=fmt.width - 1, lat=latency,
                                                                          steps=n * n + max(latency - 1, 0)))
    (tmp_path / "pairs.txt").write_text("".join(f"{u:x} {v:x}\n" for u, v in zip(x.tolist(), y.tolist(),
                                                                                    strict=True)))
    subprocess.run(["iverilog", "-o", "sim.vvp", "-s", "bench", "all.v"], cwd=tmp_path, check=True)
    subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp_path, check=True, capture_output=True)
    lines = (tmp_path / "out.txt").read_text().split("\n")
    assert not [ln for ln in lines if ln.startswith("reset")]
    got = np.array([int(v, 16) for v in lines if v.strip()][max(latency - 1, 0):], dtype=np.int64)
    want = (lmul if design == "lmul" else fp_multiply)(fmt, x, y).astype(np.int64)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("latency", [0, 2])
@pytest.mark.parametrize(("cls", "gold"), [(IntMultiplier, int_multiply), (IntAdder, int_add)])
def test_int_references(cls: type, gold, latency: int) -> None:
    width = 5
    codes = np.arange(1 << width)
    x, y = (g.ravel() for g in np.meshgrid(codes, codes, indexing="ij"))
    dut = cls(width, latency)
    assert dut.latency == latency
    got = simulate(dut, x, y, lambda ctx: ctx.get(dut.o), f"{cls.__name__}_{latency}")
    assert got == list(gold(x, y))


def test_bad_parameters() -> None:
    with pytest.raises(FormatError, match="mantissa"):
        LMulPE(FloatFormat("e5m0", 5, 0, 15, Specials.FNUZ))
    with pytest.raises(FormatError, match="latency"):
        LMulPE(E4M3, latency=3)
    with pytest.raises(FormatError, match="latency"):
        FPMultiplier(E4M3, latency=-1)
    with pytest.raises(FormatError, match="mode"):
        FPMultiplier(E4M3, mode="approx")
    with pytest.raises(FormatError, match="unknown format"):
        LMulPE("e4m3x")
    assert LMulPE("e2m1").fmt == E2M1
