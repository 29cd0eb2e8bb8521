"""cocotb testbench: ``DotUnit`` vs the golden ``dot_unit`` (or, with ``"design": "mac_pe"``,
``MacPE`` vs the golden ``dot``: one pair per beat, ``{a, b, last}``), bit-exact on raw bit patterns.

Configuration (env ``LMUL_TB_CONFIG``, JSON): design (``dot_unit``, default, or ``mac_pe``), fmt,
kind, n, acc, out, align, w, promote, seed, stall, and ``vectors``:
an ``.npz`` file of dot products (``x0``, ``y0``, ``x1``, ...: operand
bit patterns, one pair per dot product; written by ``tests/test_dot_cocotb.py`` from the
corner streams of ``test_dot_unit.unit_vectors``: random, NaN/Inf, overflow to Inf,
catastrophic cancellation, sums into the subnormal range, a long K, K = 1 back to back, zeros).
Each dot product is sent as ``ceil(K / n)`` beats of n lanes (dead lanes hold random codes,
specials included; the last beat has ``count = K - n * (beats - 1)``).

Scenarios: every vector with random input and output stalls and some short beats in the middle
of dot products (``count < n``: zero products in the missing lanes); back to back without
stalls; the output stalled most of the time (the unit must hold its results and stall its
input); a reset in the middle of a stream, then the whole stream again.
"""

from __future__ import annotations

import json
import os

import numpy as np
from cocotb.triggers import RisingEdge

from lmul.formats import get_format
from lmul.rtl.dot_unit import in_layout
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.mac_pe import in_layout as mac_in_layout
from lmul.sim.dot_unit import dot_unit
from lmul.sim.mac_pe import dot

from .scenarios import BenchEnv, scenario_tests

TIMEOUT_NS = 200_000          # a result must come within 20,000 cycles (10 ns clock)


class Env(BenchEnv):
    def __init__(self, dut) -> None:
        cfg = json.loads(os.environ["LMUL_TB_CONFIG"])
        self.cfg = cfg
        self.mac = cfg.get("design", "dot_unit") == "mac_pe"
        super().__init__(dut, cfg.get("seed", 0), cfg.get("stall", 0.3), 1 if self.mac else cfg["n"])
        self.fmt, self.out = get_format(cfg["fmt"]), get_format(cfg["out"])
        self.opts = dict(kind=cfg["kind"], n=self.n, acc=cfg["acc"], align=cfg.get("align", "exact"),
                         w=cfg.get("w"), promote=cfg.get("promote"))
        with np.load(cfg["vectors"]) as f:
            self.vecs = [(f[f"x{i}"], f[f"y{i}"]) for i in range(len(f.files) // 2)]
        self.rng = np.random.default_rng(self.seed)
        self.lay = mac_in_layout(self.fmt) if self.mac else in_layout(self.fmt, self.n)
        self.fl = FloatLayout(self.fmt)

    def beats(self, split: bool) -> tuple[list, list[int]]:
        """Beats of every vector and the golden result of each (short middle beats if ``split``)."""
        n, fmt = self.n, self.fmt
        if self.mac:                                # one operand pair per beat, no lanes
            beats = [self.lay.const({"a": self.fl.from_bits(int(a)), "b": self.fl.from_bits(int(b)),
                                     "last": int(j == len(x) - 1)})
                     for x, y in self.vecs for j, (a, b) in enumerate(zip(x, y, strict=True))]
            gold = [int(dot(fmt, x, y, self.out, self.opts["kind"], self.opts["acc"])) for x, y in self.vecs]
            return beats, gold
        junk = np.concatenate([np.arange(1 << min(fmt.width, 8)), np.full(8, fmt.max_finite_field)])
        beats, gold = [], []
        for x, y in self.vecs:
            gx, gy, j, k = [], [], 0, len(x)
            while j < k:
                cnt = min(n, k - j)
                if split and cnt == n and j + n < k and self.rng.random() < 0.3:
                    cnt = int(self.rng.integers(0, n))
                a = [int(v) for v in x[j:j + cnt]] + [int(v) for v in self.rng.choice(junk, n - cnt)]
                b = [int(v) for v in y[j:j + cnt]] + [int(v) for v in self.rng.choice(junk, n - cnt)]
                j += cnt
                keep = n if j < k else cnt          # a short middle beat: zero operands in its dead lanes
                gx += a[:cnt] + [0] * (keep - cnt)
                gy += b[:cnt] + [0] * (keep - cnt)
                beats.append(self.lay.const({"a": [self.fl.from_bits(v) for v in a],
                                             "b": [self.fl.from_bits(v) for v in b],
                                             "count": cnt, "last": int(j >= k)}))
            gold.append(int(dot_unit(fmt, np.array(gx), np.array(gy), self.out, **self.opts)))
        return beats, gold

    async def stream(self, beats: list, gold: list[int], what: str, *, stall_in: float,
                     stall_out: float) -> None:
        self.src.stall, self.sink.stall = stall_in, stall_out
        self.src.send_nowait(beats)
        got = [int(await self.sink.recv(timeout_ns=TIMEOUT_NS)) for _ in gold]
        await self.src.wait()
        bad = [(i, hex(g), hex(e)) for i, (g, e) in enumerate(zip(got, gold, strict=True)) if g != e]
        assert not bad, f"{what}: {len(bad)} of {len(gold)} results differ (index, rtl, golden): {bad[:5]}"
        for _ in range(3 * len(beats) // 4 + 20):     # nothing more comes out
            await RisingEdge(self.dut.clk)
        assert self.sink.queue.empty(), f"{what}: more results than dot products"
        self.dut._log.info(f"{what}: {len(gold)} dot products, {len(beats)} beats, bit-exact")


stalls_and_short_beats, back_to_back, output_stalled, reset_in_the_middle = scenario_tests(Env, __name__)
