"""Amaranth-simulator tests of the MAC PE and the systolic array vs the golden dot/matmul,
with random valid/ready stalls (the big cocotb runs are in test_matmul_cocotb.py), their
``latency`` attributes against measured cycles, and their parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Shape
from amaranth.lib.fifo import SyncFIFOBuffered
from streams import expect_idle, get, put, results_and_latencies, run

from lmul.errors import ParameterError
from lmul.formats import BF16, E2M1, E2M3, E4M3, E4M3FNUZ, E5M2, FP32, FloatFormat, FormatError, Specials
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.mac_pe import MacPE
from lmul.rtl.mac_pe import in_layout as mac_in_layout
from lmul.rtl.systolic_array import SystolicArray
from lmul.rtl.systolic_array import in_layout as array_in_layout
from lmul.sim.mac_pe import dot
from lmul.sim.systolic_array import matmul
from lmul.vectors import special_values


def mac_beats(fmt: FloatFormat, vecs: list[tuple[np.ndarray, np.ndarray]]) -> list:
    """``{a, b, last}`` constants for the dot products ``vecs``, one beat per pair."""
    lay, fl = mac_in_layout(fmt), FloatLayout(fmt)
    return [lay.const({"a": fl.from_bits(int(x[j])), "b": fl.from_bits(int(y[j])), "last": int(j == len(x) - 1)})
            for x, y in vecs for j in range(len(x))]


def tile_beats(fmt: FloatFormat, tiles: list[tuple[np.ndarray, np.ndarray]]) -> list:
    """``{a[rows], b[cols], last}`` constants: column k of each A tile, row k of its B tile."""
    fl = FloatLayout(fmt)
    beats = []
    for a, b in tiles:
        lay = array_in_layout(fmt, a.shape[0], b.shape[1])
        k = a.shape[1]
        beats += [lay.const({"a": [fl.from_bits(int(v)) for v in a[:, kk]],
                             "b": [fl.from_bits(int(v)) for v in b[kk, :]], "last": int(kk == k - 1)})
                  for kk in range(k)]
    return beats


MAC_CASES = [(E4M3, "exact", FP32), (E4M3, "lmul", FP32), (E5M2, "exact", BF16), (E5M2, "lmul", E4M3),
             (BF16, "exact", FP32), (BF16, "lmul", BF16), (E2M1, "lmul", E2M3), (E4M3FNUZ, "exact", E4M3)]


@pytest.mark.parametrize("acc", ["kulisch"])
@pytest.mark.parametrize(("fmt", "kind", "out"), MAC_CASES, ids=lambda v: str(v))
def test_mac_pe_dot_products(fmt: FloatFormat, kind: str, out: FloatFormat, acc: str) -> None:
    rng = np.random.default_rng(7)
    dut = MacPE(fmt, kind, out, k_max=64, acc=acc)
    pool = special_values(fmt)
    vecs = []
    for i, k in enumerate(rng.integers(1, 20, 30)):
        src = (lambda n: rng.choice(pool, n)) if i % 3 == 0 else (lambda n: rng.integers(0, 1 << fmt.width, n))
        vecs.append((src(int(k)), src(int(k))))
    vecs.append((np.full(64, fmt.max_finite_field), np.full(64, fmt.max_finite_field)))   # k_max, max magnitude
    gold = [int(dot(fmt, x, y, out, kind, acc)) for x, y in vecs]
    got: list[int] = []

    async def source(ctx) -> None:
        await put(ctx, dut.i, mac_beats(fmt, vecs), rng=rng, stall=0.3)

    async def sink(ctx) -> None:
        got.extend(c.as_bits() for c in await get(ctx, dut.o, len(vecs), rng=np.random.default_rng(8), stall=0.3))
        await expect_idle(ctx, dut.o, 60)

    run(dut, source, sink)
    assert got == gold


@pytest.mark.parametrize(("fmt", "kind"), [(E4M3, "exact"), (E4M3, "lmul"), (BF16, "lmul")], ids=str)
def test_mac_pe_latency(fmt: FloatFormat, kind: str) -> None:
    """Cycles from each ``last`` beat's transfer to ``o.valid`` (``o`` always ready) equal
    ``MacPE.latency``, for back-to-back and spaced dot products (K = 1 included)."""
    dut = MacPE(fmt, kind, FP32, k_max=16, acc="kulisch")
    assert dut.latency == 3                      # documented for kulisch: accumulator 2 + output register
    rng = np.random.default_rng(5)
    vecs = [(rng.integers(0, 1 << fmt.width, k), rng.integers(0, 1 << fmt.width, k)) for k in (1, 1, 4, 1, 7, 2, 16)]
    got, latencies = results_and_latencies(dut, mac_beats(fmt, vecs), len(vecs), rng)
    assert got == [int(dot(fmt, x, y, FP32, kind, "kulisch")) for x, y in vecs]
    assert latencies == [dut.latency] * len(vecs)


ARRAY_CASES = [(E4M3, "exact", FP32, 3, 4), (E4M3, "lmul", FP32, 2, 2), (E5M2, "lmul", BF16, 4, 2),
               (BF16, "exact", FP32, 2, 3)]


@pytest.mark.parametrize("stall", [0.0, 0.35])
@pytest.mark.parametrize(("fmt", "kind", "out", "rows", "cols"), ARRAY_CASES, ids=lambda v: str(v))
def test_systolic_array_tiles(fmt: FloatFormat, kind: str, out: FloatFormat, rows: int, cols: int,
                              stall: float) -> None:
    """Tiles of K = 1..12 (K < rows included) back to back, bit-exact; without stalls (output
    always ready, so the output FIFO never backs up) every tile's row 0 comes ``latency`` cycles
    after its ``last`` beat."""
    rng = np.random.default_rng(3)
    dut = SystolicArray(fmt, kind, rows, cols, out, k_max=32)
    pool = special_values(fmt)
    tiles = []
    for i, k in enumerate([5, 1, 2, 7, 3, 12, 1, 1]):
        src = (lambda s: rng.choice(pool, s)) if i == 4 else (lambda s: rng.integers(0, 1 << fmt.width, s))
        tiles.append((src((rows, k)), src((k, cols))))
    expected = [(list(map(int, g[r])), r) for a, b in tiles for g in [matmul(fmt, a, b, out, kind)]
                for r in range(rows)]
    beats = tile_beats(fmt, tiles)
    got: list[tuple[list[int], int]] = []
    t_in: list[int] = []
    t_out: list[int] = []

    async def source(ctx) -> None:
        await put(ctx, dut.i, beats, rng=rng, stall=stall, cycles=t_in)

    async def sink(ctx) -> None:
        rows_out = await get(ctx, dut.o, len(expected), rng=np.random.default_rng(4), stall=stall, cycles=t_out)
        got.extend(([c.as_bits() for c in p.c], p.row) for p in rows_out)
        await expect_idle(ctx, dut.o, 120)

    run(dut, source, sink)
    assert got == expected
    if stall == 0.0:
        last_in = [t for t, beat in zip(t_in, beats, strict=True) if beat.last]
        row0_out = t_out[::rows]
        assert [o - i for i, o in zip(last_in, row0_out, strict=True)] == [dut.latency] * len(tiles)


# SyncFIFOBuffered (the array's output FIFO): a row written on one clock edge is on the read side
# (r_rdy) two cycles later. SystolicArray.latency counts to o.valid, i.e. it includes these two
# cycles: rows + cols + 2 (kulisch) cycles to the FIFO write + FIFO_DELAY.
FIFO_DELAY = 2


@pytest.mark.parametrize(("rows", "cols"), [(2, 2), (3, 4), (4, 2)])
def test_systolic_array_latency_parts(rows: int, cols: int) -> None:
    """The output FIFO's own delay, measured on the same FIFO, and the array's latency split into
    the path to the FIFO (skew, hops, accumulator, drain and rounder registers) plus that delay."""
    dut = SystolicArray(E4M3, "exact", rows, cols, FP32, k_max=8, acc="kulisch")
    fifo = SyncFIFOBuffered(width=Shape.cast(dut.o.payload.shape()).width, depth=dut.fifo_depth)
    t_in: list[int] = []
    t_out: list[int] = []

    async def source(ctx) -> None:
        await put(ctx, fifo.w_stream, [1, 2, 3], rng=np.random.default_rng(0), stall=0.5, cycles=t_in)

    async def sink(ctx) -> None:
        assert await get(ctx, fifo.r_stream, 3, cycles=t_out) == [1, 2, 3]

    run(fifo, source, sink)
    assert [o - i for i, o in zip(t_in, t_out, strict=True)] == [FIFO_DELAY] * 3
    acc_latency = dut.cells[0][0].latency
    assert dut.latency == (rows - 1) + (cols - 1) + acc_latency + 2 + FIFO_DELAY


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


@pytest.mark.parametrize("cls", [MacPE, SystolicArray])
def test_bad_acc(cls: type) -> None:
    with pytest.raises(ValueError, match="acc") as err:
        cls(E4M3, "lmul", acc="fp99")
    assert isinstance(err.value, ParameterError)
    with pytest.raises(TypeError, match="acc"):
        cls(E4M3, "lmul", acc=3)
