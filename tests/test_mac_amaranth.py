"""Amaranth-simulator tests of the MAC PE and the systolic array vs the golden dot/matmul,
with random valid/ready stalls (the big cocotb runs are in test_matmul_cocotb.py)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from lmul.formats import BF16, E2M1, E2M3, E4M3, E4M3FNUZ, E5M2, FP32, FloatFormat, FormatError, Specials
from lmul.rtl.mac_pe import MacPE
from lmul.rtl.systolic_array import SystolicArray
from lmul.sim.mac_pe import dot
from lmul.sim.systolic_array import matmul
from lmul.vectors import special_values


async def drive(ctx, dut, beats: list, load, sample, rng: np.random.Generator, stall: float,
                drain: int) -> None:
    """Send ``beats`` on ``dut.i`` (``load(beat)`` sets the payload) with random input bubbles and
    random ``o.ready``; ``sample()`` is called every cycle; then ``drain`` idle cycles."""
    for beat in beats:
        while rng.random() < stall:
            ctx.set(dut.i.valid, 0)
            ctx.set(dut.o.ready, int(rng.random() >= stall))
            sample()
            await ctx.tick()
        ctx.set(dut.i.valid, 1)
        load(beat)
        while True:
            ctx.set(dut.o.ready, int(rng.random() >= stall))
            accepted = ctx.get(dut.i.ready)
            sample()
            await ctx.tick()
            if accepted:
                break
    ctx.set(dut.i.valid, 0)
    for _ in range(drain):
        ctx.set(dut.o.ready, int(rng.random() >= stall))
        sample()
        await ctx.tick()


MAC_CASES = [(E4M3, "exact", FP32), (E4M3, "lmul", FP32), (E5M2, "exact", BF16), (E5M2, "lmul", E4M3),
             (BF16, "exact", FP32), (BF16, "lmul", BF16), (E2M1, "lmul", E2M3), (E4M3FNUZ, "exact", E4M3)]


@pytest.mark.parametrize(("fmt", "kind", "out"), MAC_CASES, ids=lambda v: str(v))
def test_mac_pe_dot_products(fmt: FloatFormat, kind: str, out: FloatFormat) -> None:
    rng = np.random.default_rng(7)
    dut = MacPE(fmt, kind, out, k_max=64)
    pool = special_values(fmt)
    vecs = []
    for i, k in enumerate(rng.integers(1, 20, 30)):
        src = (lambda n: rng.choice(pool, n)) if i % 3 == 0 else (lambda n: rng.integers(0, 1 << fmt.width, n))
        vecs.append((src(int(k)), src(int(k))))
    vecs.append((np.full(64, fmt.max_finite_field), np.full(64, fmt.max_finite_field)))   # k_max, max magnitude
    gold = [int(dot(fmt, x, y, out, kind)) for x, y in vecs]
    got: list[int] = []

    async def tb(ctx) -> None:
        def sample() -> None:
            if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                got.append(ctx.get(dut.o.payload.as_value()))

        beats = [(x[j], y[j], j == len(x) - 1) for x, y in vecs for j in range(len(x))]

        def load(beat: tuple) -> None:
            ctx.set(dut.i.p.a.as_value(), int(beat[0]))
            ctx.set(dut.i.p.b.as_value(), int(beat[1]))
            ctx.set(dut.i.p.last, beat[2])

        await drive(ctx, dut, beats, load, sample, rng, 0.3, 60)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert got == gold


ARRAY_CASES = [(E4M3, "exact", FP32, 3, 4), (E4M3, "lmul", FP32, 2, 2), (E5M2, "lmul", BF16, 4, 2),
               (BF16, "exact", FP32, 2, 3)]


@pytest.mark.parametrize("stall", [0.0, 0.35])
@pytest.mark.parametrize(("fmt", "kind", "out", "rows", "cols"), ARRAY_CASES, ids=lambda v: str(v))
def test_systolic_array_tiles(fmt: FloatFormat, kind: str, out: FloatFormat, rows: int, cols: int,
                              stall: float) -> None:
    rng = np.random.default_rng(3)
    dut = SystolicArray(fmt, kind, rows, cols, out, k_max=32)
    pool = special_values(fmt)
    tiles = []
    for i, k in enumerate([5, 1, 2, 7, 3, 12, 1, 1]):
        src = (lambda s: rng.choice(pool, s)) if i == 4 else (lambda s: rng.integers(0, 1 << fmt.width, s))
        tiles.append((src((rows, k)), src((k, cols))))
    expected = [(list(map(int, g[r])), r) for a, b in tiles for g in [matmul(fmt, a, b, out, kind)]
                for r in range(rows)]
    got: list[tuple[list[int], int]] = []
    w = out.width

    async def tb(ctx) -> None:
        def sample() -> None:
            if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                raw = ctx.get(dut.o.payload.as_value())
                got.append(([(raw >> (c * w)) & ((1 << w) - 1) for c in range(cols)], ctx.get(dut.o.payload.row)))

        beats = [(a[:, kk], b[kk, :], kk == a.shape[1] - 1) for a, b in tiles for kk in range(a.shape[1])]

        def load(beat: tuple) -> None:
            for r in range(rows):
                ctx.set(dut.i.p.a[r].as_value(), int(beat[0][r]))
            for c in range(cols):
                ctx.set(dut.i.p.b[c].as_value(), int(beat[1][c]))
            ctx.set(dut.i.p.last, beat[2])

        await drive(ctx, dut, beats, load, sample, rng, stall, 120)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert got == expected


def test_bad_mac_parameters() -> None:
    with pytest.raises(FormatError, match="kind"):
        MacPE(E4M3, "approx")
    with pytest.raises(FormatError, match="k_max"):
        MacPE(E4M3, "exact", k_max=0)
    with pytest.raises(FormatError, match="cannot hold the NaN"):
        MacPE(E4M3, "exact", E2M1)
    with pytest.raises(FormatError, match="rows"):
        SystolicArray(E4M3, "exact", 0, 2)
    with pytest.raises(FormatError, match="mantissa"):
        SystolicArray(FloatFormat("e5m0", 5, 0, 16, Specials.FNUZ), "lmul", 2, 2)
