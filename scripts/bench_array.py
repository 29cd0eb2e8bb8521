"""Systolic-array throughput benchmark (prints measured figures; not a test).

``python -m lmul.scripts.bench_array [--size 4 8] [--k 8 64] [--tiles 16] [--kind exact lmul]``

Drives ``SystolicArray`` with back-to-back tiles (input always valid, output always ready) in the
Amaranth simulator and measures: cycles per tile in steady state, array utilization =
MACs done / (rows · cols · cycles) over the whole stream and in steady state (first to last
input beat), and the latency from a tile's last input beat to its first result row. Results are
checked against the golden ``matmul`` too.
"""

from __future__ import annotations

import argparse

import numpy as np
from amaranth.sim import Simulator

from lmul.formats import FP32, get_format
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.systolic_array import SystolicArray, in_layout
from lmul.sim.systolic_array import matmul


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_array", description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--k", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--kind", nargs="+", default=["exact", "lmul"])
    ap.add_argument("--format", default="e4m3")
    args = ap.parse_args(argv)
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
