"""cocotb (Verilator by default, LMUL_SIM=icarus) runs of the fused dot unit, of the MAC PE (the
deepest pipeline, Kulisch and float accumulators) and of a systolic array with dot-unit PEs vs the
golden models, bit-exact (benches: ``cocotb_benches/tb_dot_unit.py``,
``cocotb_benches/tb_array.py``). The vectors and tiles are the corner streams of the Amaranth
tests (``test_dot_unit.unit_vectors``, ``test_mac_amaranth.corner_tiles``: NaN/Inf, overflow to
Inf, catastrophic cancellation, sums into the subnormal range, long K, K = 1 back to back) plus
random ones with K not a multiple of n; each bench runs them with random stalls and short beats,
back to back, with the output stalled, and across a reset.

Five builds (Verilator compile time dominates, ~25-40 s CPU each; the runs take about a second),
together covering n = 1 (MacPE, Kulisch at pipeline 7 and fp16), 2, 4, 8; exact and block
alignment; promotion; an fp32 and two narrow (bf16, fp16) accumulators; both product kinds; E4M3
and E5M2. The Amaranth-simulator tests
cover the other combinations (Kulisch, RTZ, FTZ, n = 16, 32, ...).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from test_dot_unit import unit_vectors
from test_fp_accumulator import operand_rows
from test_mac_amaranth import corner_tiles

from lmul import build_root
from lmul.formats import get_format
from lmul.rtl.dot_unit import DotUnit
from lmul.rtl.mac_pe import MacPE
from lmul.rtl.systolic_array import SystolicArray
from lmul.scripts.cocotb_runner import CocotbBench

TESTS = Path(__file__).resolve().parent          # holds the bench package cocotb_benches

UNIT_CONFIGS = {
    "e4m3-lmul-n4-fp32-exact": dict(fmt="e4m3", kind="lmul", n=4, acc="fp32", out="fp32", align="exact"),
    "e5m2-exact-n8-bf16-block-w8-p32": dict(fmt="e5m2", kind="exact", n=8, acc="bf16", out="fp32", align="block",
                                            w=8, promote=32),
    # MacPE (one pair per beat) at its deepest pipeline, and with a float accumulator at depth 0
    "mac-e4m3-lmul-kulisch-pipe7": dict(design="mac_pe", fmt="e4m3", kind="lmul", n=1, acc="kulisch", out="fp32",
                                        pipeline=7),
    "mac-e5m2-exact-fp16-bf16out": dict(design="mac_pe", fmt="e5m2", kind="exact", n=1, acc="fp16", out="bf16"),
}
ARRAY_CONFIGS = {
    "e4m3-lmul-2x2-n2-fp16-exact": dict(fmt="e4m3", kind="lmul", rows=2, cols=2, n=2, acc="fp16", out="bf16"),
}
K_MAX = 48

_benches: dict[str, CocotbBench] = {}


def _data_dir(name: str) -> Path:
    d = build_root() / "cocotb" / "dot-data"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{name}.npz"


def unit_bench(name: str) -> tuple[CocotbBench, dict]:
    c = UNIT_CONFIGS[name]
    if name not in _benches:
        if c.get("design") == "mac_pe":
            dut = MacPE(c["fmt"], c["kind"], c["out"], k_max=K_MAX, acc=c["acc"], pipeline=c.get("pipeline", 0))
        else:
            dut = DotUnit(c["fmt"], c["kind"], c["n"], c["out"], k_max=K_MAX, acc=c["acc"], align=c["align"],
                          w=c.get("w"), promote=c.get("promote"))
        _benches[name] = CocotbBench(dut, c.get("design", "dot_unit"))
        _benches[name].build()
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    fmt = get_format(c["fmt"])
    vecs = unit_vectors(fmt, rng, K_MAX)
    for k in (1, 7, 31, K_MAX):                   # more random dot products: the runs take about a second
        vecs += list(zip(*operand_rows(fmt, rng, 30, k), strict=True))
    path = _data_dir(name)
    np.savez(path, **{f"{v}{i}": arr for i, (x, y) in enumerate(vecs) for v, arr in (("x", x), ("y", y))})
    return _benches[name], dict(c, vectors=str(path))


def array_bench(name: str) -> tuple[CocotbBench, dict]:
    c = ARRAY_CONFIGS[name]
    if name not in _benches:
        dut = SystolicArray(c["fmt"], c["kind"], c["rows"], c["cols"], c["out"], k_max=K_MAX, acc=c["acc"],
                            n=c["n"], align=c.get("align", "exact"), w=c.get("w"), promote=c.get("promote"))
        _benches[name] = CocotbBench(dut, "systolic_array")
        _benches[name].build()
    fmt, n, rows, cols = get_format(c["fmt"]), c["n"], c["rows"], c["cols"]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    tiles = [(rng.integers(0, 1 << fmt.width, (rows, k)), rng.integers(0, 1 << fmt.width, (k, cols)))
             for k in (n + 1, 1, 3 * n, 2, 4 * n + 1, n - 1 or 1, K_MAX)]
    tiles += corner_tiles(fmt, rng, rows, cols, K_MAX)
    path = _data_dir(name)
    np.savez(path, **{f"{v}{i}": arr for i, (a, b) in enumerate(tiles) for v, arr in (("a", a), ("b", b))})
    return _benches[name], dict(c, tiles=str(path))


@pytest.mark.parametrize("config", list(UNIT_CONFIGS))
def test_dot_unit_cocotb(config: str) -> None:
    bench, cfg = unit_bench(config)
    bench.run("cocotb_benches.tb_dot_unit", results_name=config, python_path=[TESTS],
              env={"LMUL_TB_CONFIG": json.dumps(dict(cfg, stall=0.3, seed=1))})


@pytest.mark.parametrize("config", list(ARRAY_CONFIGS))
def test_dot_array_cocotb(config: str) -> None:
    bench, cfg = array_bench(config)
    bench.run("cocotb_benches.tb_array", results_name=config, python_path=[TESTS],
              env={"LMUL_TB_CONFIG": json.dumps(dict(cfg, stall=0.3, seed=2))})

