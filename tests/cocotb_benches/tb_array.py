"""cocotb testbench: ``SystolicArray`` (dot-unit PEs, n K-steps per beat) vs the golden
``matmul(..., n, align, w, promote)``, bit-exact on raw bit patterns.

Configuration (env ``LMUL_TB_CONFIG``, JSON): fmt, kind, rows, cols, n, acc, out, align, w,
promote, seed, stall, and ``tiles``: an ``.npz`` file (``a0``, ``b0``, ``a1``, ...: an A tile
rows×K and a B tile K×cols of bit patterns each; written by ``tests/test_dot_cocotb.py``:
random tiles with K not a multiple of n, K < n, K of fewer beats than rows, and the corner
tiles of ``test_mac_amaranth.corner_tiles``). Each tile is sent as ``ceil(K / n)`` beats
``{a[rows][n], b[cols][n], count, last}`` (dead lanes hold random codes, specials included).

Scenarios: all tiles with random input and output stalls and short beats in the middle of
tiles (``count < n``); back to back without stalls; the output stalled most of the time (the
FIFO fills and freezes the array); a reset in the middle, then all tiles again.
"""

from __future__ import annotations

import json
import os

import numpy as np
from cocotb.triggers import RisingEdge

from lmul.formats import get_format
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.systolic_array import in_layout, out_layout
from lmul.sim.systolic_array import matmul

from .scenarios import BenchEnv, scenario_tests

TIMEOUT_NS = 200_000          # a result row must come within 20,000 cycles (10 ns clock)


class Env(BenchEnv):
    def __init__(self, dut) -> None:
        cfg = json.loads(os.environ["LMUL_TB_CONFIG"])
        self.fmt, self.out = get_format(cfg["fmt"]), get_format(cfg["out"])
        self.R, self.C = cfg["rows"], cfg["cols"]
        self.out_lay = out_layout(self.out, self.R, self.C)
        super().__init__(dut, cfg.get("seed", 0), cfg.get("stall", 0.3), cfg["n"], decode=self.out_lay.from_bits)
        self.opts = dict(kind=cfg["kind"], acc=cfg["acc"], n=self.n, align=cfg.get("align", "exact"),
                         w=cfg.get("w"), promote=cfg.get("promote"))
        with np.load(cfg["tiles"]) as f:
            self.tiles = [(f[f"a{i}"], f[f"b{i}"]) for i in range(len(f.files) // 2)]
        self.rng = np.random.default_rng(self.seed)
        self.lay, self.fl = in_layout(self.fmt, self.R, self.C, self.n), FloatLayout(self.fmt)

    def beats(self, split: bool) -> tuple[list, list[tuple[list[int], int]]]:
        """Beats of every tile and the expected output rows ``(c bits, row)`` (short middle beats if
        ``split``: the golden tiles get zero operands in their dead lanes)."""
        n, fmt, R, C = self.n, self.fmt, self.R, self.C
        junk = np.concatenate([np.arange(1 << min(fmt.width, 8)), np.full(8, fmt.max_finite_field)])
        beats, rows = [], []
        for a, b in self.tiles:
            k = a.shape[1]
            ga, gb, j = [], [], 0
            while j < k:
                cnt = min(n, k - j)
                if split and cnt == n and j + n < k and self.rng.random() < 0.3:
                    cnt = int(self.rng.integers(0, n))
                la = np.concatenate([a[:, j:j + cnt], self.rng.choice(junk, (R, n - cnt))], axis=1)
                lb = np.concatenate([b[j:j + cnt, :], self.rng.choice(junk, (n - cnt, C))], axis=0)
                j += cnt
                keep = n if j < k else cnt
                ga.append(np.where(np.arange(keep) < cnt, la[:, :keep], 0))
                gb.append(np.where(np.arange(keep)[:, None] < cnt, lb[:keep, :], 0))
                beats.append(self.lay.const({"a": [[self.fl.from_bits(int(v)) for v in r] for r in la],
                                             "b": [[self.fl.from_bits(int(v)) for v in lb[:, c]] for c in range(C)],
                                             "count": cnt, "last": int(j >= k)}))
            g = matmul(fmt, np.concatenate(ga, axis=1), np.concatenate(gb, axis=0), self.out, **self.opts)
            rows += [([int(v) for v in g[r]], r) for r in range(R)]
        return beats, rows

    async def stream(self, beats: list, rows: list, what: str, *, stall_in: float, stall_out: float) -> None:
        self.src.stall, self.sink.stall = stall_in, stall_out
        self.src.send_nowait(beats)
        got = []
        for _ in rows:
            p = await self.sink.recv(timeout_ns=TIMEOUT_NS)
            got.append(([p.c[c].as_bits() for c in range(self.C)], p.row))
            assert p.last == (p.row == self.R - 1), f"{what}: last must mark row {self.R - 1}"
        await self.src.wait()
        bad = [(i // self.R, e, g) for i, (e, g) in enumerate(zip(rows, got, strict=True)) if e != g]
        assert not bad, f"{what}: {len(bad)} of {len(rows)} rows differ (tile, golden, rtl): {bad[:3]}"
        for _ in range(self.R + self.C + 30):           # nothing more comes out
            await RisingEdge(self.dut.clk)
        assert self.sink.queue.empty(), f"{what}: more result rows than tiles x rows"
        self.dut._log.info(f"{what}: {len(self.tiles)} tiles, {len(beats)} beats, bit-exact")


stalls_and_short_beats, back_to_back, output_stalled, reset_in_the_middle = scenario_tests(Env, __name__)
