"""``MatmulEngine`` in the Amaranth simulator: jobs back to back with stalls, bit-exact against the
golden ``matmul``, and the feed contract — in a ``RUN`` job the array gets a beat every cycle from
the first tile to the last while A is still loading, and the first result comes ``k + latency``
cycles after A's first row block. (The full scenario set runs in cocotb: ``test_matmul_cocotb.py``.)"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from streams import get, put, run

from lmul.formats import FP32, get_format
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.matmul_engine import MatmulEngine, Op, cmd_layout
from lmul.sim.systolic_array import matmul

FMT = get_format("e4m3")


def _engine(rows: int, cols: int, m_max: int, k_max: int, n_max: int, pipeline: int = 0) -> MatmulEngine:
    return MatmulEngine(FMT, "lmul", rows, cols, FP32, m_max, k_max, n_max, pipeline=pipeline)


def _collect(beats: list, m: int, n: int, cols: int) -> np.ndarray:
    """C (m×n bits) from a job's ``res`` beats, checking each element comes once and ``last`` only at the end."""
    got = np.full((m, n), -1, dtype=np.int64)
    for idx, beat in enumerate(beats):
        assert beat.last == (idx == len(beats) - 1), f"last on beat {idx} of {len(beats)}"
        for c in range(cols):
            if beat.j0 + c < n:
                assert got[beat.i, beat.j0 + c] == -1, f"C[{beat.i}, {beat.j0 + c}] twice"
                got[beat.i, beat.j0 + c] = beat.c[c].as_bits()
    assert (got >= 0).all(), "missing results"
    return got


# pipeline 7: the array's PEs and column finishers at their deepest for Kulisch (the board's --pipeline)
@pytest.mark.parametrize("pipeline", [0, 7])
def test_jobs_back_to_back_with_stalls_are_bit_exact(pipeline: int) -> None:
    # 3 rows: a 7-row A leaves a last row block with 2 padding rows, which must leave the array
    # before the next command (taken the first cycle it can be) restarts the result counters
    R, C = 3, 2
    dut = _engine(R, C, m_max=7, k_max=6, n_max=5, pipeline=pipeline)
    assert dut.latency == dut.array.latency + 1 and dut.array.pipeline == pipeline
    rng = np.random.default_rng(5)
    cl, fl = cmd_layout(7, 6, 5), FloatLayout(FMT)

    def mat(r: int, c: int) -> np.ndarray:
        return rng.integers(0, 1 << FMT.width, (r, c))

    b1, b2 = mat(4, 5), mat(2, 3)
    jobs = [(Op.WEIGHTS, None, b1), (Op.RUN, mat(7, 4), b1), (Op.RUN, mat(1, 4), b1), (Op.RUN, mat(3, 4), b1),
            (Op.FULL, mat(4, 2), b2), (Op.RUN, mat(5, 2), b2), (Op.RUN, mat(7, 2), b2)]
    results: list[np.ndarray] = []
    stall = random.Random(1)

    async def source(ctx) -> None:
        for op, a, b in jobs:
            m = 1 if a is None else a.shape[0]
            await put(ctx, dut.cmd, [cl.const({"m": m, "k": b.shape[0], "n": b.shape[1], "op": op})])
            elems = {Op.WEIGHTS: [b], Op.RUN: [a], Op.FULL: [a, b]}[op]
            await put(ctx, dut.data, [fl.from_bits(int(v)) for x in elems for v in x.ravel()], rng=stall, stall=0.3)

    async def sink(ctx) -> None:
        for _, a, b in jobs[1:]:
            m, n = a.shape[0], b.shape[1]
            beats = await get(ctx, dut.res, m * -(-n // C), rng=stall, stall=0.3)
            results.append(_collect(beats, m, n, C))

    run(dut, source, sink)
    for (op, a, b), got in zip(jobs[1:], results, strict=True):
        want = matmul(FMT, a, b, FP32, "lmul").astype(np.int64)
        assert np.array_equal(got, want), f"{op.name} {a.shape[0]}x{a.shape[1]}x{b.shape[1]}"


@pytest.mark.parametrize("pipeline", [0, 7])
def test_run_feeds_the_array_every_cycle_while_a_loads(pipeline: int) -> None:
    # n >= rows*cols and k >= rows: a row block of A loads (rows*k cycles) no slower than its tiles
    # compute (n/cols*k), so from the first tile on the array never waits
    R, C, m, k, n = 2, 2, 8, 4, 4
    dut = _engine(R, C, m_max=m, k_max=k, n_max=n, pipeline=pipeline)
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 1 << FMT.width, (m, k)), rng.integers(0, 1 << FMT.width, (k, n))
    cl, fl = cmd_layout(m, k, n), FloatLayout(FMT)
    edges: dict[str, list[int]] = {"data": [], "busy": [], "res_valid": []}     # clock edges, counted from 0
    beats: list = []

    async def source(ctx) -> None:
        await put(ctx, dut.cmd, [cl.const({"m": 1, "k": k, "n": n, "op": Op.WEIGHTS})])
        await put(ctx, dut.data, [fl.from_bits(int(v)) for v in b.ravel()])
        await put(ctx, dut.cmd, [cl.const({"m": m, "k": k, "n": n, "op": Op.RUN})])
        await put(ctx, dut.data, [fl.from_bits(int(v)) for v in a.ravel()])

    async def sink(ctx) -> None:
        beats.extend(await get(ctx, dut.res, m * n // C))

    async def monitor(ctx) -> None:
        edge = 0
        sigs = (dut.data.valid, dut.data.ready, dut.array.i.valid, dut.array.i.ready, dut.res.valid)
        async for _, _, dv, dr, iv, ir, rv in ctx.tick().sample(*sigs):
            edge += 1
            for name, hit in (("data", dv and dr), ("busy", iv and ir), ("res_valid", rv)):
                if hit:
                    edges[name].append(edge)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.add_testbench(monitor, background=True)
    sim.run()

    assert np.array_equal(_collect(beats, m, n, C), matmul(FMT, a, b, FP32, "lmul").astype(np.int64))
    busy, a_beats = edges["busy"], edges["data"][k * n:]          # the RUN's A beats follow B's
    assert len(busy) == (m // R) * (n // C) * k
    assert busy[-1] - busy[0] + 1 == len(busy), "the array waited between tiles"
    # the first result row is valid k + latency cycles after the beat completing A's first row block
    assert edges["res_valid"][0] - a_beats[R * k - 1] == k + dut.latency
    # ... which is while A still streams in: loading and compute overlap
    assert edges["res_valid"][0] < a_beats[-1]
