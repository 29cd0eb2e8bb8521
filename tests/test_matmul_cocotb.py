"""cocotb runs of the matmul engine (systolic array + controller) vs the golden ``matmul``
(bench: ``cocotb_benches/tb_matmul.py``). Each config names its accumulator (``acc``), passed to
both ``MatmulEngine`` and the golden model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmul.rtl.matmul_engine import MatmulEngine
from lmul.scripts.cocotb_runner import CocotbBench

TESTS = Path(__file__).resolve().parent          # holds the bench package cocotb_benches

CONFIGS = {
    "e4m3-exact-4x4": dict(fmt="e4m3", kind="exact", acc="kulisch", out="fp32",
                           rows=4, cols=4, m_max=9, k_max=24, n_max=10),
    "e4m3-lmul-3x4": dict(fmt="e4m3", kind="lmul", acc="kulisch", out="bf16",
                          rows=3, cols=4, m_max=8, k_max=16, n_max=9),
    "e5m2-lmul-2x2": dict(fmt="e5m2", kind="lmul", acc="kulisch", out="fp32",
                          rows=2, cols=2, m_max=5, k_max=12, n_max=5),
    "bf16-exact-2x3": dict(fmt="bf16", kind="exact", acc="kulisch", out="bf16",
                           rows=2, cols=3, m_max=5, k_max=8, n_max=7),
    # floating-point accumulators: one rounding per step in each PE, drained through the converter
    "e4m3-lmul-bf16acc-3x2": dict(fmt="e4m3", kind="lmul", acc="bf16", out="fp32",
                                  rows=3, cols=2, m_max=7, k_max=20, n_max=5),
    "e5m2-exact-e8m13rtz-2x3": dict(fmt="e5m2", kind="exact", acc="e8m13:rtz", out="fp32",
                                    rows=2, cols=3, m_max=5, k_max=12, n_max=7),
}
SCENARIOS = ["random_shapes", "special_values_in_inputs", "zeros_and_max_magnitude", "back_to_back_jobs",
             "reset_in_the_middle", "refused_commands", "weights_then_runs"]

_benches: dict[str, CocotbBench] = {}
_latency: dict[str, int] = {}          # the engine's ``latency`` attribute, checked by the bench


def bench(name: str) -> CocotbBench:
    if name not in _benches:
        c = CONFIGS[name]
        eng = MatmulEngine(c["fmt"], c["kind"], c["rows"], c["cols"], c["out"], c["m_max"], c["k_max"], c["n_max"],
                           acc=c["acc"])
        _latency[name] = eng.latency
        b = CocotbBench(eng, "matmul_engine")
        b.build()
        _benches[name] = b
    return _benches[name]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_matmul_engine(config: str, scenario: str) -> None:
    b = bench(config)
    cfg = dict(CONFIGS[config], stall=0.3, seed=SCENARIOS.index(scenario), latency=_latency[config])
    b.run("cocotb_benches.tb_matmul", testcase=scenario, results_name=scenario, python_path=[TESTS],
                      env={"LMUL_TB_CONFIG": json.dumps(cfg)})
