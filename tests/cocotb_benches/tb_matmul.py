"""cocotb testbench: ``MatmulEngine`` vs the golden ``matmul``, bit-exact, with stream stalls.

Configuration (env ``LMUL_TB_CONFIG``, JSON): fmt, kind, acc (default ``kulisch``), out, rows,
cols, m_max, k_max, n_max, seed, stall (with this probability the ``data`` source adds an idle
cycle before a beat and the ``res`` sink drops ready in a cycle; ``cmd`` is not stalled),
latency (the engine's ``latency`` attribute).
Scenarios: random shapes (square, tall, wide, K not a multiple of the array, K = 1), special
values, all-zero, max-magnitude at K = k_max, back-to-back jobs, reset in the middle of a job,
refused commands, and ``WEIGHTS`` then ``RUN`` jobs (tiles issued while A still loads: the first
result ``k + latency`` cycles after A's first row block; ``RUN`` refused without weights and after
a reset in the middle of a ``RUN``). The streams are driven by ``StreamSource``/``StreamSink``
(``.streams``); command and result beats are built and read with ``cmd_layout(...).const`` and
``res_layout(...).from_bits``.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from lmul.formats import get_format
from lmul.rtl.matmul_engine import Op, cmd_layout, res_layout
from lmul.sim.systolic_array import matmul
from lmul.vectors import special_values

from .streams import StreamSink, StreamSource

TIMEOUT_NS = 500_000          # a result beat must come within 50,000 cycles (10 ns clock)


class Env:
    def __init__(self, dut) -> None:
        cfg = json.loads(os.environ["LMUL_TB_CONFIG"])
        self.dut, self.cfg = dut, cfg
        self.fmt, self.out = get_format(cfg["fmt"]), get_format(cfg["out"])
        self.kind, self.acc, self.R, self.C = cfg["kind"], cfg.get("acc", "kulisch"), cfg["rows"], cfg["cols"]
        self.m_max, self.k_max, self.n_max = cfg["m_max"], cfg["k_max"], cfg["n_max"]
        self.stall = cfg.get("stall", 0.3)
        self.seed = cfg.get("seed", 0)
        self.rng = np.random.default_rng(self.seed)
        self.cmd_lay = cmd_layout(self.m_max, self.k_max, self.n_max)
        self.res_lay = res_layout(self.out, self.C, self.m_max, self.n_max)
        self.cmd = self.data = self.res = None

    async def start(self) -> None:
        d = self.dut
        cocotb.start_soon(Clock(d.clk, 10, unit="ns").start())
        self.cmd = StreamSource(d, "cmd", d.clk)
        self.data = StreamSource(d, "data", d.clk, rng=random.Random(self.seed), stall=self.stall)
        self.res = StreamSink(d, "res", d.clk, rng=random.Random(self.seed + 1), stall=self.stall,
                              decode=self.res_lay.from_bits)
        await self.reset()

    async def reset(self) -> None:
        d = self.dut
        d.rst.value = 1
        self.cmd.clear()
        self.data.clear()
        for _ in range(3):
            await RisingEdge(d.clk)
        await FallingEdge(d.clk)
        d.rst.value = 0
        self.res.clear()

    def command(self, m: int, k: int, n: int, op: Op = Op.FULL) -> Any:
        return self.cmd_lay.const({"m": m, "k": k, "n": n, "op": op})

    def random_matrix(self, rows: int, cols: int, pool: np.ndarray | None = None) -> np.ndarray:
        if pool is None:
            return self.rng.integers(0, 1 << self.fmt.width, (rows, cols))
        return self.rng.choice(pool, (rows, cols))

    async def job(self, a: np.ndarray, b: np.ndarray, *, stall: float | None = None,
                  abort_after: int | None = None, op: Op = Op.FULL) -> np.ndarray | None:
        """Run one job; returns C bits (m×n), or None if aborted after ``abort_after`` data beats.
        ``op`` ``RUN``: only A is sent (``b`` must be the loaded weights); ``WEIGHTS``: only B is sent
        and None returned once it is taken."""
        self.data.stall = self.res.stall = self.stall if stall is None else stall
        m, k = a.shape
        n = b.shape[1]
        await self.cmd.send([self.command(m, k, n, op)])
        parts = {Op.FULL: [a, b], Op.RUN: [a], Op.WEIGHTS: [b]}[op]
        elems = [int(v) for v in np.concatenate([x.ravel() for x in parts])]
        if op == Op.WEIGHTS:
            await self.data.send(elems)
            return None
        if abort_after is not None:
            await self.data.send(elems[:abort_after])
            return None
        sent = self.data.sent
        self.data.send_nowait(elems)
        got = np.full((m, n), -1, dtype=np.int64)
        seen = np.zeros((m, n), dtype=bool)
        while True:
            beat = await self.res.recv(timeout_ns=TIMEOUT_NS)
            i, j0 = beat.i, beat.j0
            assert i < m and j0 < n, f"result beat outside the job: i={i} j0={j0}"
            for c in range(self.C):
                if j0 + c < n:
                    assert not seen[i, j0 + c], f"duplicate result C[{i},{j0 + c}]"
                    seen[i, j0 + c] = True
                    got[i, j0 + c] = beat.c[c].as_bits()
            if beat.last:
                break
        assert self.data.sent - sent == len(elems), "the job ended before all its data was taken"
        assert seen.all(), f"missing results: {np.argwhere(~seen)[:5].tolist()}"
        return got

    def check(self, a: np.ndarray, b: np.ndarray, got: np.ndarray, what: str) -> None:
        gold = matmul(self.fmt, a, b, self.out, self.kind, self.acc).astype(np.int64)
        bad = np.argwhere(gold != got)
        assert not len(bad), (f"{what}: {len(bad)} mismatches, first C{tuple(bad[0])}: "
                              f"rtl {got[tuple(bad[0])]:#x} gold {gold[tuple(bad[0])]:#x}")
        self.dut._log.info(f"{what}: {a.shape[0]}x{a.shape[1]} @ {b.shape[0]}x{b.shape[1]} bit-exact")


def shapes(env: Env) -> list[tuple[int, int, int]]:
    R, C, M, K, N = env.R, env.C, env.m_max, env.k_max, env.n_max
    return [(M, min(K, 2 * R + 1), N),             # square-ish, K not a multiple of rows
            (M, 3, 1),                              # tall
            (1, 5, N),                              # wide
            (min(M, R + 1), 1, min(N, C + 1)),      # K = 1 (shorter than the drain)
            (min(M, 2 * R), K, min(N, 2 * C)),      # long K
            (1, 1, 1)]


@cocotb.test()
async def random_shapes(dut) -> None:
    env = Env(dut)
    await env.start()
    for m, k, n in shapes(env):
        a, b = env.random_matrix(m, k), env.random_matrix(k, n)
        env.check(a, b, await env.job(a, b), f"random {m}x{k}x{n}")


@cocotb.test()
async def special_values_in_inputs(dut) -> None:
    env = Env(dut)
    await env.start()
    pool = special_values(env.fmt)
    for m, k, n in shapes(env)[:3]:
        a, b = env.random_matrix(m, k, pool), env.random_matrix(k, n, pool)
        env.check(a, b, await env.job(a, b), f"specials {m}x{k}x{n}")
        # mostly finite with a few specials sprinkled in
        a2, b2 = env.random_matrix(m, k), env.random_matrix(k, n)
        a2[env.rng.random(a2.shape) < 0.05] = env.rng.choice(pool)
        env.check(a2, b2, await env.job(a2, b2), f"sprinkled {m}x{k}x{n}")


@cocotb.test()
async def zeros_and_max_magnitude(dut) -> None:
    env = Env(dut)
    await env.start()
    m, k, n = env.m_max, env.k_max, env.n_max
    z_a, z_b = np.zeros((m, 3), np.int64), np.zeros((3, n), np.int64)
    got = await env.job(z_a, z_b)
    env.check(z_a, z_b, got, "all-zero")
    assert (got == 0).all(), "all-zero inputs must give +0"
    mx, neg = env.fmt.max_finite_field, env.fmt.sign_mask
    a = np.full((m, k), mx, np.int64)
    b = np.full((k, n), mx, np.int64)
    b[:, ::2] |= neg                                  # alternate signs per column
    env.check(a, b, await env.job(a, b), f"max-magnitude K={k}")


@cocotb.test()
async def back_to_back_jobs(dut) -> None:
    env = Env(dut)
    await env.start()
    for stall in (0.0, env.stall):
        for m, k, n in shapes(env)[:4]:
            a, b = env.random_matrix(m, k), env.random_matrix(k, n)
            env.check(a, b, await env.job(a, b, stall=stall), f"back-to-back stall={stall} {m}x{k}x{n}")


@cocotb.test()
async def reset_in_the_middle(dut) -> None:
    env = Env(dut)
    await env.start()
    m, k, n = env.m_max, min(env.k_max, 7), env.n_max
    a, b = env.random_matrix(m, k), env.random_matrix(k, n)
    for cut in (m * k // 2, m * k + k * n // 2, m * k + k * n):   # during A load, B load, compute
        assert await env.job(a, b, abort_after=cut) is None
        for _ in range(cut % 5):
            await RisingEdge(dut.clk)
        await env.reset()
        a2, b2 = env.random_matrix(m, k), env.random_matrix(k, n)
        env.check(a2, b2, await env.job(a2, b2), f"after reset at beat {cut}")


@cocotb.test()
async def refused_commands(dut) -> None:
    env = Env(dut)
    await env.start()
    d = dut
    for m, k, n in ((0, 1, 1), (1, 0, 1), (1, 1, 0), (env.m_max + 1, 1, 1), (1, env.k_max + 1, 1),
                    (1, 1, env.n_max + 1)):
        if any(v >> env.cmd_lay[f].width for f, v in zip("mkn", (m, k, n), strict=True)):
            continue                                   # not representable in the command
        await env.cmd.send([env.command(m, k, n)])
        await RisingEdge(d.clk)
        await ReadOnly()
        assert d.error.value == 1, f"command m={m} k={k} n={n} must be refused"
        assert d.busy.value == 0, "a refused command must not start a job"
        await RisingEdge(d.clk)
    a, b = env.random_matrix(2, 3, None), env.random_matrix(3, 2, None)
    got = await env.job(a, b)
    assert dut.error.value == 0, "a good command clears error"
    env.check(a, b, got, "job after refused commands")


async def first_result_delay(dut: Any, n_data: int) -> int:
    """Cycles from the transfer of the ``n_data``-th ``data`` beat (counted from the call) to the
    first cycle with ``res.valid`` high (sampled before each rising edge, like the stream helpers)."""
    cycle, seen, t_data = 0, 0, None
    while True:
        await FallingEdge(dut.clk)
        await ReadOnly()
        if dut.data__valid.value and dut.data__ready.value:
            seen += 1
            if seen == n_data:
                t_data = cycle
        if dut.res__valid.value:
            assert t_data is not None, f"a result came before data beat {n_data} (first row block)"
            return cycle - t_data
        cycle += 1


@cocotb.test()
async def weights_then_runs(dut) -> None:
    env = Env(dut)
    await env.start()
    R, M, K, N = env.R, env.m_max, env.k_max, env.n_max
    k = min(K, 2 * R + 1)

    async def refused_run() -> None:
        assert dut.weights_ok.value == 0
        await env.cmd.send([env.command(1, k, N, Op.RUN)])
        await RisingEdge(dut.clk)
        await ReadOnly()
        assert dut.error.value == 1 and dut.busy.value == 0, "RUN without weights must be refused"
        await RisingEdge(dut.clk)

    await refused_run()
    b = env.random_matrix(k, N)
    await env.job(np.zeros((1, k), np.int64), b, op=Op.WEIGHTS)
    # tiles of a row block are issued while the next rows load: first result k + latency after its last element
    a = env.random_matrix(M, k)
    delay = cocotb.start_soon(first_result_delay(dut, min(M, R) * k))
    env.check(a, b, await env.job(a, b, stall=0.0, op=Op.RUN), "RUN no stall")
    assert delay.result() == k + env.cfg["latency"], f"first RUN result after {delay.result()} cycles"
    for stall in (0.0, env.stall):
        for m in (M, 1, min(M, R + 1), min(M, R)):
            a = env.random_matrix(m, k)
            env.check(a, b, await env.job(a, b, stall=stall, op=Op.RUN), f"RUN stall={stall}")
    # a FULL job replaces the weights; RUN then uses its B
    a, b2 = env.random_matrix(2, 3), env.random_matrix(3, min(N, 2))
    env.check(a, b2, await env.job(a, b2), "FULL between RUNs")
    a = env.random_matrix(M, 3)
    env.check(a, b2, await env.job(a, b2, op=Op.RUN), "RUN after FULL")
    # reset while a RUN computes and loads at once: weights are forgotten, the next jobs are clean
    a = env.random_matrix(M, k)
    await env.job(np.zeros((1, k), np.int64), b, op=Op.WEIGHTS)
    assert await env.job(a, b, op=Op.RUN, abort_after=min(M * k, (R + 1) * k + 1)) is None
    for _ in range(k + env.cfg["latency"]):
        await RisingEdge(dut.clk)
    await env.reset()
    await refused_run()
    await env.job(np.zeros((1, k), np.int64), b, op=Op.WEIGHTS)
    env.check(a, b, await env.job(a, b, op=Op.RUN), "RUN after reset")
