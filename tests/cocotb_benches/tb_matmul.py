"""cocotb testbench: ``MatmulEngine`` vs the golden ``matmul``, bit-exact, with stream stalls.

Configuration (env ``LMUL_TB_CONFIG``, JSON): fmt, kind, out, rows, cols, m_max, k_max, n_max,
stall (probability that a driver holds valid / ready low in a cycle), seed. Scenarios: random
shapes (square, tall, wide, K not a multiple of the array, K = 1), special values, all-zero,
max-magnitude at K = k_max, back-to-back jobs, reset in the middle of a job, refused commands.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from lmul.formats import get_format
from lmul.rtl.matmul_engine import cmd_layout, res_layout
from lmul.sim.systolic_array import matmul
from lmul.vectors import special_values


class Env:
    def __init__(self, dut) -> None:
        cfg = json.loads(os.environ["LMUL_TB_CONFIG"])
        self.dut, self.cfg = dut, cfg
        self.fmt, self.out = get_format(cfg["fmt"]), get_format(cfg["out"])
        self.kind, self.R, self.C = cfg["kind"], cfg["rows"], cfg["cols"]
        self.m_max, self.k_max, self.n_max = cfg["m_max"], cfg["k_max"], cfg["n_max"]
        self.stall = cfg.get("stall", 0.3)
        self.rng = np.random.default_rng(cfg.get("seed", 0))
        self.prng = random.Random(cfg.get("seed", 0))
        self.cmd_lay = cmd_layout(self.m_max, self.k_max, self.n_max)
        self.res_lay = res_layout(self.out, self.C, self.m_max, self.n_max)
        self.cycles = 0

    async def start(self) -> None:
        cocotb.start_soon(Clock(self.dut.clk, 10, unit="ns").start())
        await self.reset()

    async def reset(self) -> None:
        d = self.dut
        d.rst.value = 1
        d.cmd__valid.value = 0
        d.data__valid.value = 0
        d.res__ready.value = 0
        for _ in range(3):
            await RisingEdge(d.clk)
        await FallingEdge(d.clk)
        d.rst.value = 0

    def pack_cmd(self, m: int, k: int, n: int) -> int:
        v = 0
        for name, val in (("m", m), ("k", k), ("n", n)):
            f = self.cmd_lay[name]
            v |= (val & ((1 << f.width) - 1)) << f.offset
        return v

    def unpack_res(self, raw: int) -> tuple[int, int, list[int], bool]:
        def field(name: str) -> int:
            f = self.res_lay[name]
            return (raw >> f.offset) & ((1 << f.width) - 1)
        c = field("c")
        w = self.out.width
        return field("i"), field("j0"), [(c >> (j * w)) & ((1 << w) - 1) for j in range(self.C)], bool(field("last"))

    def random_matrix(self, rows: int, cols: int, pool: np.ndarray | None = None) -> np.ndarray:
        if pool is None:
            return self.rng.integers(0, 1 << self.fmt.width, (rows, cols))
        return self.rng.choice(pool, (rows, cols))

    async def job(self, a: np.ndarray, b: np.ndarray, *, stall: float | None = None,
                  abort_after: int | None = None) -> np.ndarray | None:
        """Run one job; returns C bits (m×n), or None if aborted after ``abort_after`` data beats."""
        d = self.dut
        p = self.stall if stall is None else stall
        m, k = a.shape
        n = b.shape[1]
        await FallingEdge(d.clk)
        d.cmd__payload.value = self.pack_cmd(m, k, n)
        d.cmd__valid.value = 1
        while True:
            await ReadOnly()
            ok = bool(d.cmd__ready.value)
            await RisingEdge(d.clk)
            await FallingEdge(d.clk)
            if ok:
                break
        d.cmd__valid.value = 0
        elems = [int(v) for v in np.concatenate([a.ravel(), b.ravel()])]
        got = np.full((m, n), -1, dtype=np.int64)
        seen = np.zeros((m, n), dtype=bool)
        idx, done, sent = 0, False, 0
        while not done:
            send = idx < len(elems) and self.prng.random() >= p
            d.data__valid.value = int(send)
            if send:
                d.data__payload.value = elems[idx]
            ready = int(self.prng.random() >= p)
            d.res__ready.value = ready
            await ReadOnly()
            if send and d.data__ready.value:
                idx += 1
                sent += 1
            if ready and d.res__valid.value:
                i, j0, vals, last = self.unpack_res(int(d.res__payload.value))
                assert i < m and j0 < n, f"result beat outside the job: i={i} j0={j0}"
                for c, v in enumerate(vals):
                    if j0 + c < n:
                        assert not seen[i, j0 + c], f"duplicate result C[{i},{j0 + c}]"
                        seen[i, j0 + c] = True
                        got[i, j0 + c] = v
                done = last
            await RisingEdge(d.clk)
            self.cycles += 1
            await FallingEdge(d.clk)
            if abort_after is not None and sent >= abort_after:
                d.data__valid.value = 0
                return None
        d.data__valid.value = 0
        d.res__ready.value = 0
        assert seen.all(), f"missing results: {np.argwhere(~seen)[:5].tolist()}"
        return got

    def check(self, a: np.ndarray, b: np.ndarray, got: np.ndarray, what: str) -> None:
        gold = matmul(self.fmt, a, b, self.out, self.kind).astype(np.int64)
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
        await FallingEdge(d.clk)
        d.cmd__payload.value = env.pack_cmd(m, k, n)
        d.cmd__valid.value = 1
        await RisingEdge(d.clk)
        await FallingEdge(d.clk)
        d.cmd__valid.value = 0
        await RisingEdge(d.clk)
        await ReadOnly()
        assert d.error.value == 1, f"command m={m} k={k} n={n} must be refused"
        assert d.busy.value == 0, "a refused command must not start a job"
        await RisingEdge(d.clk)
    a, b = env.random_matrix(2, 3, None), env.random_matrix(3, 2, None)
    got = await env.job(a, b)
    assert dut.error.value == 0, "a good command clears error"
    env.check(a, b, got, "job after refused commands")
