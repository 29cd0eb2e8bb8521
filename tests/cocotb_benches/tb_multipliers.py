"""cocotb testbench: multipliers (L-Mul PE, exact FP multiplier rounded/exact) vs golden models.

Runs on ``lmul.rtl.multiplier_bench.MultiplierBench``. Environment: ``LMUL_TB_FORMATS`` (comma
separated), ``LMUL_TB_LANES``, ``LMUL_TB_RANDOM`` (random pairs for formats over 8 bits),
``LMUL_TB_SEED``. Every output is compared with the golden model on raw bits; the first
mismatches are logged and the test fails. Throughput (vectors/s of simulation) is logged.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.triggers import Timer

from lmul.formats import get_format
from lmul.rtl.fp_multiplier import ExactProductLayout
from lmul.rtl.multiplier_bench import port_name
from lmul.sim.fp_multiplier import fp_multiply, fp_product
from lmul.sim.lmul_pe import lmul
from lmul.vectors import multiplier_vectors

from .bitpack import pack_lanes, unpack_lanes


def exact_values(fmt, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode ExactProductLayout words into (signed fixed-point value, nan, inf).

    Vectorised over all lanes and steps, so the fields are cut out with the layout's own field
    offsets and widths (``lay[name].offset``/``.width``) rather than ``from_bits`` per word."""
    lay = ExactProductLayout(fmt)
    fields = {}
    for name in ("sig", "shift", "sign", "nan", "inf"):
        f = lay[name]
        fields[name] = (raw >> np.uint64(f.offset)) & np.uint64((1 << f.width) - 1)
    big = 2 * fmt.man_bits + 2 + int(fields["shift"].max()) > 62
    dt = object if big else np.int64
    mag = fields["sig"].astype(np.int64).astype(dt) << fields["shift"].astype(np.int64).astype(dt)
    val = np.where(fields["sign"] == 1, -mag, mag)
    nan, inf = fields["nan"] == 1, fields["inf"] == 1
    return np.where(nan | inf, 0, val), nan, inf


@cocotb.test()
async def multipliers_bit_exact(dut) -> None:
    lanes = int(os.environ.get("LMUL_TB_LANES", "64"))
    n_random = int(os.environ.get("LMUL_TB_RANDOM", "100000"))
    seed = int(os.environ.get("LMUL_TB_SEED", "0"))
    failures = []
    stats: dict[str, dict[str, float]] = {}
    for name in os.environ["LMUL_TB_FORMATS"].split(","):
        fmt = get_format(name)
        x, y = multiplier_vectors(fmt, n_random, seed)
        n = len(x)
        pad = (-n) % lanes
        xs = np.concatenate([x, np.zeros(pad, np.int64)]).reshape(-1, lanes)
        ys = np.concatenate([y, np.zeros(pad, np.int64)]).reshape(-1, lanes)
        a_words, b_words = pack_lanes(xs, fmt.width), pack_lanes(ys, fmt.width)
        p = port_name(fmt)
        pa, pb = getattr(dut, f"{p}_a"), getattr(dut, f"{p}_b")
        po = {k: getattr(dut, f"{p}_{k}") for k in ("lmul", "mul", "exact")}
        outs: dict[str, list[int]] = {k: [] for k in po}
        t0 = time.perf_counter()
        for aw, bw in zip(a_words, b_words, strict=True):
            pa.value = aw
            pb.value = bw
            await Timer(1, "ns")
            for k, port in po.items():
                outs[k].append(port.value.to_unsigned())
        dt = time.perf_counter() - t0
        stats[fmt.name] = {"pairs": n, "seconds": dt, "vectors_per_s": n / dt, "lanes": lanes}
        dut._log.info(f"{fmt.name}: {n} pairs x 3 designs in {dt:.2f} s of simulation "
                      f"({n / dt:,.0f} vectors/s per design, {lanes} lanes)")
        got_l = unpack_lanes(outs["lmul"], fmt.width, lanes).ravel()[:n].astype(np.int64)
        got_m = unpack_lanes(outs["mul"], fmt.width, lanes).ravel()[:n].astype(np.int64)
        ew = ExactProductLayout(fmt).size
        got_x = unpack_lanes(outs["exact"], ew, lanes).ravel()[:n]
        checks = [("lmul", got_l, lmul(fmt, x, y).astype(np.int64)),
                  ("mul", got_m, fp_multiply(fmt, x, y).astype(np.int64))]
        gold_p = fp_product(fmt, x, y)
        val, nan, inf = exact_values(fmt, got_x)
        bad_x = np.nonzero((val != gold_p.value) | (nan != gold_p.nan) | (inf != (gold_p.inf != 0)))[0]
        for what, got, gold in checks:
            bad = np.nonzero(got != gold)[0]
            if len(bad):
                ex = ", ".join(f"{x[i]:#x}*{y[i]:#x}: rtl {got[i]:#x} gold {gold[i]:#x}" for i in bad[:5])
                failures.append(f"{fmt.name} {what}: {len(bad)} mismatches, e.g. {ex}")
        if len(bad_x):
            i = bad_x[0]
            failures.append(f"{fmt.name} exact: {len(bad_x)} mismatches, e.g. {x[i]:#x}*{y[i]:#x}: "
                            f"rtl {val[i]} nan={nan[i]} inf={inf[i]} gold {gold_p.value[i]}")
        dut._log.info(f"{fmt.name}: compared {n} pairs per design bit-exactly")
    if os.environ.get("LMUL_TB_STATS"):
        with open(os.environ["LMUL_TB_STATS"], "w") as fh:
            json.dump(stats, fh, indent=2)
    assert not failures, "\n".join(failures)
