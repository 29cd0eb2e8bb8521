"""Systolic-array and matmul-engine throughput benchmark (prints measured figures; not a test).

``python -m lmul.scripts.bench_array [--what engine array] [--size 4 8] [--k 8 64] [--tiles 16]
[--kind exact lmul] [--shape MxKxN@RxC ...] [--mode run full]``

**Engine** (``MatmulEngine``, default shapes: 64x64x64 on 4x4 and 8x8, K < rows, sizes that are no
multiple of the array): one job per shape in the Amaranth simulator with the operands on chip
(the ``data`` source valid every cycle, ``res.ready`` always high). ``run``: B loaded first by a
``WEIGHTS`` job (not timed), then a ``RUN`` job streams A; ``full``: one ``FULL`` job streams A
then B. Counted, per job:

* *busy beats*: cycles in which the array takes an input beat (``array.i`` valid and ready): one
  k step of one output tile, padded rows/columns included;
* *compute utilization* = busy beats / cycles from the first busy beat to the last ``res`` beat
  (both included) — how well the engine feeds the array once operands are there;
* *job utilization* = busy beats / cycles from the ``cmd`` transfer to the last ``res`` beat —
  includes loading at the data port's one element per cycle;
* *MAC utilization* = m·k·n / (rows·cols · job cycles) — useful work only.

Results are checked bit-exactly against the golden ``matmul``.

**Array** (``SystolicArray`` alone): back-to-back tiles (input always valid, output always ready):
cycles per tile in steady state, utilization = MACs / (rows · cols · cycles) over the whole stream
and in steady state (first to last input beat), and the latency from a tile's last input beat to
its first result row.
"""

from __future__ import annotations

import argparse
import re

import numpy as np
from amaranth.sim import Simulator

from lmul.formats import FP32, get_format
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.matmul_engine import MatmulEngine, Op, cmd_layout
from lmul.rtl.systolic_array import SystolicArray, in_layout
from lmul.sim.systolic_array import matmul

#: (m, k, n, rows, cols): 64x64x64 on 4x4 and 8x8, K < rows, non-multiple sizes
ENGINE_SHAPES = [(64, 64, 64, 4, 4), (64, 64, 64, 8, 8), (32, 2, 32, 4, 4), (32, 5, 32, 8, 8),
                 (61, 37, 59, 8, 8), (30, 7, 30, 4, 4)]


def measure_engine(fmt_name: str, kind: str, m: int, k: int, n: int, rows: int, cols: int, mode: str = "run",
                   seed: int = 0) -> dict[str, float]:
    """One ``mode`` (``run`` or ``full``) job of ``m x k x n`` on a ``rows x cols`` engine (module docstring)."""
    fmt = get_format(fmt_name)
    dut = MatmulEngine(fmt, kind, rows, cols, FP32, m_max=m, k_max=k, n_max=n)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << fmt.width, (m, k))
    b = rng.integers(0, 1 << fmt.width, (k, n))
    cl, fl = cmd_layout(m, k, n), FloatLayout(fmt)
    jobs = ([(Op.WEIGHTS, b.ravel()), (Op.RUN, a.ravel())] if mode == "run"
            else [(Op.FULL, np.concatenate([a.ravel(), b.ravel()]))])
    got = np.full((m, n), -1, dtype=np.int64)
    log: dict[str, list[int]] = {"cmd": [], "busy": [], "res": []}
    limit = 20 * (m * k + k * n + -(-m // rows) * -(-n // cols) * max(k, rows)) + 1000

    async def tb(ctx) -> None:
        cycle = 0
        ctx.set(dut.res.ready, 1)
        for op, elems in jobs:
            ctx.set(dut.cmd.valid, 1)
            ctx.set(dut.cmd.payload, cl.const({"m": m, "k": k, "n": n, "op": op}))
            while not ctx.get(dut.cmd.ready):
                await ctx.tick()
                cycle += 1
            await ctx.tick()
            log["cmd"].append(cycle)
            cycle += 1
            ctx.set(dut.cmd.valid, 0)
            i, done = 0, False
            while not done:
                if i < len(elems):
                    ctx.set(dut.data.valid, 1)
                    ctx.set(dut.data.payload, fl.from_bits(int(elems[i])))
                else:
                    ctx.set(dut.data.valid, 0)
                took = i < len(elems) and ctx.get(dut.data.ready)
                if ctx.get(dut.array.i.valid) and ctx.get(dut.array.i.ready):
                    log["busy"].append(cycle)
                if ctx.get(dut.res.valid):
                    p = ctx.get(dut.res.payload)
                    for c in range(cols):
                        if p.j0 + c < n:
                            got[p.i, p.j0 + c] = p.c[c].as_bits()
                    log["res"].append(cycle)
                    done = bool(p.last)
                elif op == Op.WEIGHTS and i == len(elems) and not ctx.get(dut.busy):
                    done = True
                await ctx.tick()
                i += took
                cycle += 1
                if cycle > limit:
                    raise RuntimeError("engine stalled")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    if not np.array_equal(got, matmul(fmt, a, b, FP32, kind).astype(np.int64)):
        raise AssertionError(f"engine results differ from the golden matmul ({m}x{k}x{n} on {rows}x{cols})")
    busy = len(log["busy"])
    end = log["res"][-1] + 1
    return {"busy": busy, "compute_cycles": end - log["busy"][0], "job_cycles": end - log["cmd"][-1],
            "util_compute": busy / (end - log["busy"][0]), "util_job": busy / (end - log["cmd"][-1]),
            "util_mac": m * k * n / (rows * cols * (end - log["cmd"][-1]))}


def measure(fmt_name: str, kind: str, size: int, k: int, tiles: int, seed: int = 0) -> dict[str, float]:
    fmt = get_format(fmt_name)
    dut = SystolicArray(fmt, kind, size, size, FP32, k_max=max(k, 1))
    rng = np.random.default_rng(seed)
    mats = [(rng.integers(0, 1 << fmt.width, (size, k)), rng.integers(0, 1 << fmt.width, (k, size)))
            for _ in range(tiles)]
    log: dict[str, list[int]] = {"in": [], "last_in": [], "out": []}
    rows_out: list[list[int]] = []

    lay, fl = in_layout(fmt, size, size), FloatLayout(fmt)
    beats = [lay.const({"a": [fl.from_bits(int(v)) for v in a[:, kk]], "b": [fl.from_bits(int(v)) for v in b[kk, :]],
                        "last": int(kk == k - 1)})
             for a, b in mats for kk in range(k)]

    async def tb(ctx) -> None:
        cycle = 0
        ctx.set(dut.o.ready, 1)
        i = 0
        while len(rows_out) < tiles * size:
            if i < len(beats):
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, beats[i])
            else:
                ctx.set(dut.i.valid, 0)
            fire = i < len(beats) and ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                rows_out.append([c.as_bits() for c in ctx.get(dut.o.payload).c])
                log["out"].append(cycle)
            await ctx.tick()
            if fire:
                log["in"].append(cycle)
                if beats[i].last:
                    log["last_in"].append(cycle)
                i += 1
            cycle += 1
            if cycle > 100 * (tiles * max(k, size) + 10 * size):
                raise RuntimeError("array stalled")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    # check against the golden model
    gold = [list(map(int, row)) for a, b in mats for row in matmul(fmt, a, b, FP32, kind)]
    if rows_out != gold:
        raise AssertionError("array results differ from the golden matmul")
    macs = tiles * size * size * k
    total = log["out"][-1] + 1
    steady = log["in"][-1] - log["in"][0] + 1
    lasts = log["last_in"]
    per_tile = (lasts[-1] - lasts[0]) / (len(lasts) - 1) if len(lasts) > 1 else float("nan")
    return {"cycles_total": total, "utilization_total": macs / (size * size * total),
            "utilization_steady": macs / (size * size * steady), "cycles_per_tile": per_tile,
            "latency_last_to_row0": log["out"][0] - lasts[0]}


def _shape(text: str) -> tuple[int, int, int, int, int]:
    mt = re.fullmatch(r"(\d+)x(\d+)x(\d+)@(\d+)x(\d+)", text)
    if not mt or not all(int(g) >= 1 for g in mt.groups()):
        raise argparse.ArgumentTypeError(f"shape must be MxKxN@RxC with positive sizes, got {text!r}")
    m, k, n, r, c = (int(g) for g in mt.groups())
    return m, k, n, r, c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_array", description=__doc__.split("\n")[0])
    ap.add_argument("--what", nargs="+", choices=["engine", "array"], default=["engine", "array"])
    ap.add_argument("--shape", type=_shape, nargs="+", default=ENGINE_SHAPES, help="engine jobs, MxKxN@RxC")
    ap.add_argument("--mode", nargs="+", choices=["run", "full"], default=["run", "full"], help="engine job types")
    ap.add_argument("--size", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--k", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--kind", nargs="+", default=["exact", "lmul"], help="array: each; engine: the last")
    ap.add_argument("--format", default="e4m3")
    args = ap.parse_args(argv)
    if "engine" in args.what:
        print(f"MatmulEngine ({args.format} {args.kind[-1]}, kulisch), operands on chip (data valid every cycle, "
              "res always ready); busy beat = array input transfer;\ncompute = busy / (first busy beat .. last res "
              "beat); job = busy / (cmd .. last res beat); MAC = m*k*n / (R*C*job cycles)\n")
        print("| job m x k x n | array | mode | busy beats | compute cycles | compute util. | job cycles | job util. "
              "| MAC util. |\n|---|---|---|---|---|---|---|---|---|")
        for m, k, n, r, c in args.shape:
            for mode in args.mode:
                e = measure_engine(args.format, args.kind[-1], m, k, n, r, c, mode)
                print(f"| {m}x{k}x{n} | {r}x{c} | {mode} | {e['busy']} | {e['compute_cycles']} "
                      f"| {100 * e['util_compute']:.1f}% | {e['job_cycles']} | {100 * e['util_job']:.1f}% "
                      f"| {100 * e['util_mac']:.1f}% |", flush=True)
        print()
    if "array" in args.what:
        print("| array | kind | K | tiles | cycles/tile | utilization (steady) | utilization (incl. fill/drain) "
              "| latency last beat -> row 0 |\n|---|---|---|---|---|---|---|---|")
        for size in args.size:
            for kind in args.kind:
                for k in args.k:
                    r = measure(args.format, kind, size, k, args.tiles)
                    print(f"| {size}x{size} | {kind} | {k} | {args.tiles} | {r['cycles_per_tile']:.1f} "
                          f"| {100 * r['utilization_steady']:.1f}% | {100 * r['utilization_total']:.1f}% "
                          f"| {r['latency_last_to_row0']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
