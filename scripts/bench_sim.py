"""Simulation throughput of the exhaustive multiplier bench (a benchmark, not a test).

``python -m lmul.scripts.bench_sim [--lanes 8 64] [--format e4m3]`` builds the cocotb bench and
prints vectors/s per design and the wall time of one exhaustive 65,536-pair run.

The bench module (``tests/cocotb_benches/tb_multipliers.py``) lives with the tests, so this runs
from a source checkout (an editable install); a non-editable install stops with one error line.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from lmul.formats import get_format
from lmul.rtl.multiplier_bench import MultiplierBench
from lmul.scripts.cocotb_runner import PROJECT_ROOT, CocotbBench

TESTS = PROJECT_ROOT / "tests"
BENCH = "cocotb_benches.tb_multipliers"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_sim", description=__doc__)
    ap.add_argument("--lanes", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--format", default="e4m3")
    ap.add_argument("--simulator", default=None)
    args = ap.parse_args(argv)
    fmt = get_format(args.format)
    bench_file = TESTS.joinpath(*BENCH.split(".")).with_suffix(".py")
    if not bench_file.is_file():
        raise SystemExit(f"bench_sim: cocotb bench {bench_file} not found; the benches are part of the tests, "
                         f"not of the installed package: run from a source checkout (pip install -e .)")
    for lanes in args.lanes:
        bench = CocotbBench(MultiplierBench([fmt], lanes), f"bench_{lanes}", simulator=args.simulator)
        with tempfile.TemporaryDirectory() as tmp:
            stats_file = Path(tmp) / "stats.json"
            bench.run(BENCH, python_path=[TESTS], env={
                "LMUL_TB_FORMATS": fmt.name, "LMUL_TB_LANES": str(lanes), "LMUL_TB_STATS": str(stats_file),
                "LMUL_TB_RANDOM": os.environ.get("LMUL_TB_RANDOM", "100000")}, results_name=f"bench_{lanes}")
            st = json.loads(stats_file.read_text())[fmt.name]
        print(f"{bench.sim} {fmt.name} lanes={lanes}: {st['pairs']} pairs in {st['seconds']:.3f} s "
              f"-> {st['vectors_per_s']:,.0f} vectors/s per design (3 designs per step)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
