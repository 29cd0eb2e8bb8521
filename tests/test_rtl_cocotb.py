"""cocotb (Verilator by default, LMUL_SIM=icarus) runs of the multipliers vs the golden models.

Every pair of every named format up to 8 bits (and policy variants); BF16/FP16: all pairs of
the special classes plus 100k random pairs. One build holds every format (8 lanes each); each
format is its own pytest test. Waves: ``WAVES=1 pytest tests/test_rtl_cocotb.py -k e4m3``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lmul.formats import NAMED_FORMATS
from lmul.rtl.multiplier_bench import MultiplierBench
from lmul.scripts.cocotb_runner import CocotbBench

FORMATS = [n for n in NAMED_FORMATS if n != "fp32"] + ["e4m3:sat", "e5m2:ftz", "e5m2:sat", "e3m4:ftz"]
LANES = 8
TESTS = Path(__file__).resolve().parent          # holds the bench package cocotb_benches
BENCH = "cocotb_benches.tb_multipliers"


@pytest.fixture(scope="module")
def bench() -> CocotbBench:
    b = CocotbBench(MultiplierBench(FORMATS, LANES), "multiplier_bench")
    b.build()
    return b


@pytest.mark.parametrize("fmt", FORMATS)
def test_multipliers_bit_exact(bench: CocotbBench, fmt: str) -> None:
    bench.run(BENCH, results_name=fmt.replace(":", "_"), python_path=[TESTS],
              env={"LMUL_TB_FORMATS": fmt, "LMUL_TB_LANES": str(LANES),
                   "LMUL_TB_RANDOM": os.environ.get("LMUL_TB_RANDOM", "100000")})


ICARUS_FORMATS = ["e4m3", "e5m2", "bf16"]


@pytest.fixture(scope="module")
def icarus_bench() -> CocotbBench:
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog not installed (optional second simulator)")
    b = CocotbBench(MultiplierBench(ICARUS_FORMATS, LANES), "multiplier_bench", simulator="icarus")
    b.build()
    return b


@pytest.mark.parametrize("fmt", ICARUS_FORMATS)
def test_multipliers_bit_exact_icarus(icarus_bench: CocotbBench, fmt: str) -> None:
    icarus_bench.run(BENCH, results_name=fmt, python_path=[TESTS],
                     env={"LMUL_TB_FORMATS": fmt, "LMUL_TB_LANES": str(LANES), "LMUL_TB_RANDOM": "20000"})
