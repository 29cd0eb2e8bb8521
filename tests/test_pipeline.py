"""Pipelined datapaths (``pipeline=``: extra register stages, default 0): every depth bit-exact
like depth 0 and its ``latency`` attribute equal to the measured cycles.

* ``MacPE`` with the Kulisch and float accumulators at every depth, against the golden ``dot``
  on the random and corner streams of ``test_mac_amaranth.py`` / ``test_fp_accumulator.py``, with
  random valid/ready stalls (a stalled output freezes every pipeline register);
* the finishers on their own (``KulischRounder``, ``FloatConverter``) at every depth, with a
  random ``en``, against the golden rounding (``lmul.sim.kulisch.accumulate``,
  ``encode(out, decode(A, bits))``), exhaustively where the input space allows;
* ``SystolicArray(pipeline=...)`` (MAC or dot-unit cells and column finishers) and
  ``DotUnit(pipeline=...)`` (cell and finisher) at their deepest and intermediate settings, on
  the streams of ``test_mac_amaranth.py`` /
  ``test_dot_unit.py``, with their ``latency`` measured;
* how a PE's depth is split (``split_pipeline``) and the parameter checks.
"""

from __future__ import annotations

import gc
import warnings
import zlib

import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator
from streams import expect_idle, get, put, results_and_latencies, run
from test_dot_unit import check_unit, unit_beats, unit_vectors
from test_fp_accumulator import corner_vectors
from test_mac_amaranth import (
    DOT_ARRAY_CASES,
    MAC_CASES,
    check_array,
    check_array_tiles,
    check_dot_array,
    mac_beats,
    tile_beats,
)

from lmul.arith import accumulator, check_dot_unit, kulisch_bits
from lmul.errors import ParameterError
from lmul.formats import BF16, E2M1, E2M3, E4M3, E5M2, FP16, FP32, FloatFormat, decode, encode, get_format
from lmul.rtl.dot_cell import DotCell
from lmul.rtl.dot_unit import DotUnit
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.fp_accumulator import CONVERTER_CUTS, FloatAccumulator, FloatConverter
from lmul.rtl.kulisch import KulischAccumulator, KulischRounder, KulischState
from lmul.rtl.mac_cell import MacCell
from lmul.rtl.mac_pe import PIPELINE_ORDER, MacPE, split_pipeline
from lmul.rtl.systolic_array import SystolicArray
from lmul.sim.fp_multiplier import FixedProducts
from lmul.sim.kulisch import accumulate
from lmul.sim.mac_pe import dot
from lmul.sim.systolic_array import matmul
from lmul.vectors import special_values

# --- MAC PEs at every depth ------------------------------------------------------------------------


def mac_vectors(fmt: FloatFormat, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """``test_mac_pe_dot_products``'s stream (same generator, same seed there): random codes,
    special values, one k_max (64) run of the largest magnitude."""
    pool = special_values(fmt)
    vecs = []
    for i, k in enumerate(rng.integers(1, 20, 30)):
        src = (lambda n: rng.choice(pool, n)) if i % 3 == 0 else (lambda n: rng.integers(0, 1 << fmt.width, n))
        vecs.append((src(int(k)), src(int(k))))
    vecs.append((np.full(64, fmt.max_finite_field), np.full(64, fmt.max_finite_field)))
    return vecs


def check_stream(dut: MacPE, fmt: FloatFormat, vecs: list, gold: list[int], seed: int) -> None:
    """``vecs`` through ``dut`` with 30 % bubbles on both sides; results bit-exact, nothing extra."""
    got: list[int] = []
    rng = np.random.default_rng(seed)

    async def source(ctx) -> None:
        await put(ctx, dut.i, mac_beats(fmt, vecs), rng=rng, stall=0.3)

    async def sink(ctx) -> None:
        got.extend(c.as_bits() for c in await get(ctx, dut.o, len(vecs), rng=np.random.default_rng(seed + 1),
                                                   stall=0.3))
        await expect_idle(ctx, dut.o, 30)

    run(dut, source, sink)
    bad = [(i, hex(g), hex(h)) for i, (g, h) in enumerate(zip(got, gold, strict=True)) if g != h]
    assert not bad, bad[:10]


# every depth of a Kulisch PE (depth 0 is test_mac_amaranth's)
KULISCH_DEPTHS = range(1, MacCell.pipeline_room("kulisch") + KulischRounder.max_pipeline + 1)


@pytest.fixture
def quiet():
    """Components built only to check their parameters are never elaborated: no warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        yield
        gc.collect()


@pytest.mark.parametrize("depth", KULISCH_DEPTHS)
@pytest.mark.parametrize(("fmt", "kind", "out"), MAC_CASES, ids=lambda v: str(v))
def test_mac_pe_kulisch_depths(fmt: FloatFormat, kind: str, out: FloatFormat, depth: int) -> None:
    dut = MacPE(fmt, kind, out, k_max=64, acc="kulisch", pipeline=depth)
    assert dut.pipeline == depth and dut.cell_pipeline + dut.fin_pipeline == depth
    assert dut.max_pipeline == KULISCH_DEPTHS[-1]
    vecs = mac_vectors(fmt, np.random.default_rng(7))            # test_mac_pe_dot_products' stream
    check_stream(dut, fmt, vecs, [int(dot(fmt, x, y, out, kind, "kulisch")) for x, y in vecs], depth)


FLOAT_CASES = [(E4M3, "lmul", "fp32", FP32), (E4M3, "exact", "fp16", FP32), (E5M2, "lmul", "bf16", E4M3),
               (E5M2, "exact", "e8m13:rtz", BF16), (E2M1, "exact", "e3m2:rtz", E2M1)]


@pytest.mark.parametrize(("fmt", "kind", "acc", "out"), FLOAT_CASES, ids=lambda v: str(v))
def test_mac_pe_float_depths(fmt: FloatFormat, kind: str, acc: str, out: FloatFormat) -> None:
    """Every depth of a float-accumulator PE (the corner streams of ``test_fp_accumulator``:
    cancellation, overflow, subnormal sums, long same-sign runs, K = 1 back to back)."""
    rng = np.random.default_rng(zlib.crc32(f"{fmt.name} {kind} {acc}".encode()))
    vecs = corner_vectors(fmt, rng, 48)
    gold = [int(dot(fmt, x, y, out, kind, acc)) for x, y in vecs]
    top = MacCell.pipeline_room(acc) + FloatAccumulator.finisher_max_pipeline(accumulator(acc), out)
    for depth in range(1, top + 1):
        dut = MacPE(fmt, kind, out, k_max=48, acc=acc, pipeline=depth)
        assert dut.max_pipeline == top
        check_stream(dut, fmt, vecs, gold, 40 + depth)


@pytest.mark.parametrize("acc", ["kulisch", "fp32", "bf16"])
@pytest.mark.parametrize("kind", ["exact", "lmul"])
def test_mac_pe_latency_every_depth(kind: str, acc: str) -> None:
    """Cycles from each ``last`` beat to ``o.valid`` (``o`` always ready) equal ``latency`` =
    3 + depth, for back-to-back and spaced dot products (K = 1 included)."""
    rng = np.random.default_rng(5)
    vecs = [(rng.integers(0, 256, k), rng.integers(0, 256, k)) for k in (1, 1, 4, 1, 7, 2, 16)]
    gold = [int(dot(E4M3, x, y, FP32, kind, acc)) for x, y in vecs]
    top = MacCell.pipeline_room(acc) + (KulischRounder.max_pipeline if acc == "kulisch" else
                                        FloatAccumulator.finisher_max_pipeline(accumulator(acc), FP32))
    assert top == {"kulisch": 7, "fp32": 3, "bf16": 7}[acc]     # fp32 -> fp32: nothing to convert
    for depth in range(top + 1):
        dut = MacPE(E4M3, kind, FP32, k_max=16, acc=acc, pipeline=depth)
        assert dut.latency == 3 + depth
        assert dut.latency == dut.cell.latency + dut.finisher.latency + 1
        got, latencies = results_and_latencies(dut, mac_beats(E4M3, vecs), len(vecs), rng)
        assert got == gold, depth
        assert latencies == [dut.latency] * len(vecs), depth


# --- the finishers on their own -------------------------------------------------------------------


def run_finisher(dut: KulischRounder | FloatConverter, inputs: list, seed: int) -> list[int]:
    """Drive ``dut.i`` with ``inputs`` under a random ``en`` (40 % low); returns ``o``'s bits for
    each input, read once ``latency`` en-cycles have taken it to the output."""
    rng = np.random.default_rng(seed)
    lat = dut.latency
    outs: list[int] = []

    async def comb(ctx) -> None:      # depth 0: no clock domain at all
        for v in inputs:
            ctx.set(dut.i, v)
            outs.append(ctx.get(dut.o).as_bits())

    async def bench(ctx) -> None:
        taken = 0                       # inputs that entered the pipeline (en high at an edge)
        feed = list(inputs) + [inputs[-1]] * lat
        i = 0
        while len(outs) < len(inputs):
            ctx.set(dut.i, feed[i])
            en = int(rng.random() >= 0.4)
            ctx.set(dut.en, en)
            await ctx.tick()
            if en:
                taken += 1
                i += 1
                if taken >= lat:        # the input taken ``lat`` en-edges ago is now on ``o``
                    outs.append(ctx.get(dut.o).as_bits())
            elif taken >= lat:          # held while en is low
                assert ctx.get(dut.o).as_bits() == outs[-1]

    if lat == 0:
        sim = Simulator(dut)
        sim.add_testbench(comb)
        sim.run()
    else:
        run(dut, bench)
    return outs


def kulisch_golden(fmt: FloatFormat, out: FloatFormat, sums: list[int], flags: list[tuple[int, int, int]],
                   bits: int) -> list[int]:
    """``lmul.sim.kulisch.accumulate`` of two "products" per case: the sum itself and a special
    carrying the flags (NaN; +Inf and/or -Inf, a second column when both)."""
    res = []
    for v, (nan, pinf, ninf) in zip(sums, flags, strict=True):
        value = np.array([[v, 0, 0]], dtype=object)
        fp = FixedProducts(value=value, lsb_exp=2 * fmt.quantum_exp, nan=np.array([[False, bool(nan), False]]),
                           inf=np.array([[0, int(pinf), -int(ninf)]]), bits=bits)
        res.append(int(accumulate(out, fp, axis=-1)[0]))
    return res


def sum_cases(w: int, rng: np.random.Generator, n: int) -> list[int]:
    """Signed ``w``-bit sums a Kulisch accumulator can hold: all of them up to 12 bits; else zero,
    ±1, the extremes, ±powers of two and their neighbours (every leading-zero count), round-half
    patterns below FP32's 24 bits, then random ones with a random number of leading sign bits."""
    lo, hi = -(1 << (w - 1)) + 1, (1 << (w - 1)) - 1       # |sum| < 2**(w-1): the accumulator's contract
    if w <= 12:
        return list(range(lo, hi + 1))                      # all of them
    cases = {0, 1, -1, lo, hi}
    for k in range(w - 1):
        cases |= {1 << k, -(1 << k), (1 << k) + 1, -(1 << k) - 1, (1 << (k + 1)) - 1, -((1 << (k + 1)) - 1)}
        if k > 26:
            cases |= {(1 << k) | (1 << (k - 25)), (1 << k) | (3 << (k - 26)), -((1 << k) | (1 << (k - 25)))}
    out = sorted(c for c in cases if lo <= c <= hi)
    for _ in range(n):
        top = int(rng.integers(1, w))
        v = int(rng.integers(0, 1 << 62)) << max(0, top - 62) if top > 62 else int(rng.integers(0, 1 << top))
        out.append(-v if rng.random() < 0.5 else v)
    return out


@pytest.mark.parametrize(("fmt", "out", "k_max"), [(E4M3, FP32, 256), (E2M1, E2M3, 4), (E5M2, E4M3, 16),
                                                   (E4M3, BF16, 4)], ids=lambda v: str(v))
def test_kulisch_rounder_depths(fmt: FloatFormat, out: FloatFormat, k_max: int) -> None:
    """Every depth of the rounder alone, bit-exact against the golden rounding: every
    leading-zero count, overflow (E5M2 -> E4M3: NaN), subnormal results (E2M1 -> E2M3: every
    11-bit sum), the special flags, a random ``en``."""
    w = kulisch_bits(fmt, "exact", k_max)
    rng = np.random.default_rng(w)
    sums = sum_cases(w, rng, 300)
    flags = [(0, 0, 0)] * len(sums)
    specials = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (1, 1, 1)] if fmt.has_nan or fmt.has_inf else [(0, 0, 0)]
    extra = [int(v) for v in rng.choice(sums, 20)]
    sums += extra
    flags += [specials[i % len(specials)] for i in range(len(extra))]
    gold = kulisch_golden(fmt, out, sums, flags, w)
    lay = KulischState(w)
    inputs = [lay.const({"sum": v, "nan": n, "pinf": p, "ninf": q}) for v, (n, p, q) in zip(sums, flags, strict=True)]
    for depth in range(KulischRounder.max_pipeline + 1):
        dut = KulischRounder(fmt, out, w, pipeline=depth)
        assert dut.latency == depth
        got = run_finisher(dut, inputs, depth)
        bad = [(hex(s), hex(g), hex(h)) for s, g, h in zip(sums, got, gold, strict=True) if g != h]
        assert not bad, (depth, bad[:8])


@pytest.mark.parametrize(("a_fmt", "out"), [(E5M2, E4M3), (E4M3, E5M2), (BF16, E5M2), (FP32, FP16), (FP32, BF16),
                                            (FP16, E4M3), (get_format("e5m4:ftz"), FP16)], ids=lambda v: str(v))
def test_float_converter_depths(a_fmt: FloatFormat, out: FloatFormat) -> None:
    """Every depth of the converter alone: ``encode(out, decode(A, bits))`` for every code of A
    up to 10 bits (an FTZ A too: no leading-zero count, one cut fewer), every 7th code of
    BF16/FP16 plus their specials, FP32 on random and corner codes (subnormal FP16 results: the
    right-shift path), a random ``en``."""
    if a_fmt.width <= 10:
        codes = np.arange(1 << a_fmt.width, dtype=np.int64)
    elif a_fmt.width <= 16:
        codes = np.concatenate([np.arange(0, 1 << a_fmt.width, 7), special_values(a_fmt)]).astype(np.int64)
    else:
        rng = np.random.default_rng(11)
        near = (np.arange(100, 120)[:, None] << 23 | rng.integers(0, 1 << 23, (20, 40))).ravel()  # FP16 subnormals
        codes = np.concatenate([rng.integers(0, 1 << 32, 1500), near, near | (1 << 31), special_values(a_fmt)])
    gold = encode(out, decode(a_fmt, codes)).astype(np.int64)
    fl = FloatLayout(a_fmt)
    inputs = [fl.from_bits(int(c)) for c in codes]
    room = FloatConverter.pipeline_room(a_fmt, out)
    assert room == len(CONVERTER_CUTS) - (0 if a_fmt.subnormals else 1)      # no LZC to cut without subnormals
    for depth in range(room + 1):
        dut = FloatConverter(a_fmt, out, pipeline=depth)
        got = run_finisher(dut, inputs, depth)
        bad = [(hex(int(c)), hex(g), hex(int(h))) for c, g, h in zip(codes, got, gold, strict=True) if g != h]
        assert not bad, (depth, bad[:8])


# --- depth split and parameter checks ---------------------------------------------------------------


def test_split_pipeline(quiet) -> None:
    """Every depth is split completely, each part within its room, following ``PIPELINE_ORDER``
    while both parts have room; one more stage never takes one away."""
    for cell_max in range(4):
        for fin_max in range(4):
            prev = (0, 0)
            for depth in range(cell_max + fin_max + 1):
                cell, fin = split_pipeline(depth, cell_max, fin_max)
                assert cell + fin == depth and cell <= cell_max and fin <= fin_max
                assert cell >= prev[0] and fin >= prev[1]
                prev = (cell, fin)
    assert [split_pipeline(d, 9, 9) for d in range(1, len(PIPELINE_ORDER) + 1)] == [
        (PIPELINE_ORDER[:d].count("cell"), PIPELINE_ORDER[:d].count("fin")) for d in range(1, len(PIPELINE_ORDER) + 1)]
    # fp32 -> fp32: the converter is wires, every stage goes to the cell
    assert MacPE(E4M3, "lmul", FP32, k_max=4, acc="fp32", pipeline=3).fin_pipeline == 0


@pytest.mark.parametrize("make", [
    lambda d: MacPE(E4M3, "lmul", FP32, k_max=4, pipeline=d),
    lambda d: MacCell(E4M3, "lmul", 4, "kulisch", pipeline=d),
    lambda d: KulischAccumulator(E4M3, "lmul", 4, pipeline=d),
    lambda d: KulischRounder(E4M3, FP32, 20, pipeline=d),
    lambda d: FloatAccumulator(E4M3, "lmul", 4, "fp32", pipeline=d),
    lambda d: FloatConverter(FP32, BF16, pipeline=d),
], ids=["MacPE", "MacCell", "KulischAccumulator", "KulischRounder", "FloatAccumulator", "FloatConverter"])
def test_bad_pipeline(make, quiet) -> None:
    with pytest.raises(ParameterError, match=r"pipeline must be in 0\.\."):
        make(-1)
    with pytest.raises(ParameterError, match=r"pipeline must be in 0\.\."):
        make(99)
    with pytest.raises(TypeError, match="pipeline"):
        make(1.0)
    with pytest.raises(TypeError, match="pipeline"):
        make(True)


def test_same_format_converter_has_no_depth(quiet) -> None:
    with pytest.raises(ParameterError, match=r"FloatConverter pipeline must be in 0\.\.0"):
        FloatConverter(FP32, FP32, pipeline=1)


# --- arrays and dot units ---------------------------------------------------------------------------

@pytest.mark.parametrize("stall", [0.0, 0.35])
@pytest.mark.parametrize(("fmt", "kind", "acc", "out", "rows", "cols", "depth"), [
    (E4M3, "lmul", "kulisch", FP32, 3, 2, 7), (E4M3, "exact", "kulisch", FP32, 2, 2, 3),
    (E5M2, "lmul", "fp32", BF16, 2, 3, 3), (E4M3, "exact", "bf16", FP32, 2, 2, 7)], ids=lambda v: str(v))
def test_systolic_array_depths(fmt: FloatFormat, kind: str, acc: str, out: FloatFormat, rows: int, cols: int,
                               depth: int, stall: float) -> None:
    """Pipelined PEs and column finishers: bit-exact tiles (K = 1..12, specials) with and without
    stalls, and ``latency`` (rows + cols + cell + finisher stages + 2) measured without."""
    dut = SystolicArray(fmt, kind, rows, cols, out, k_max=32, acc=acc, pipeline=depth)
    assert dut.latency == rows + cols + dut.cells[0][0].latency + dut.fin_pipeline + 2
    assert dut.cell_pipeline + dut.fin_pipeline == depth
    check_array_tiles(dut, stall)


@pytest.mark.parametrize(("kind", "acc", "rows", "cols", "depth"), [
    ("lmul", "kulisch", 3, 2, 7), ("exact", "fp32", 4, 2, 2)], ids=lambda v: str(v))
def test_pipelined_array_credits(kind: str, acc: str, rows: int, cols: int, depth: int) -> None:
    """Credit flow control of a pipelined array (no global enable): with the default FIFO
    (``latency + 2 rows``) back-to-back tiles of ``rows`` beats go in one beat per cycle while
    ``o`` is ready; with the smallest FIFO (``rows``) and a slow reader tiles are held back at
    their ``last`` beat and nothing is lost; a FIFO smaller than a tile is refused."""
    rng = np.random.default_rng(11)
    tiles = [(rng.integers(0, 256, (rows, rows)), rng.integers(0, 256, (rows, cols))) for _ in range(10)]
    dut = SystolicArray(E4M3, kind, rows, cols, FP32, k_max=32, acc=acc, pipeline=depth)
    assert dut.credit and dut.fifo_depth == dut.latency + 2 * rows
    beats = tile_beats(E4M3, tiles)
    expected = [list(map(int, row)) for a, b in tiles for row in matmul(E4M3, a, b, FP32, kind, acc)]
    t_in: list[int] = []

    async def source(ctx) -> None:
        await put(ctx, dut.i, beats, cycles=t_in)

    async def sink(ctx) -> None:
        got = await get(ctx, dut.o, len(expected))
        assert [[c.as_bits() for c in p.c] for p in got] == expected

    run(dut, source, sink)
    assert np.diff(t_in).tolist() == [1] * (len(beats) - 1)
    small = SystolicArray(E4M3, kind, rows, cols, FP32, k_max=32, acc=acc, pipeline=depth, fifo_depth=rows)
    check_array(small, tiles, rng, 0.6)
    with pytest.raises(ParameterError, match="fifo_depth"):
        SystolicArray(E4M3, kind, rows, cols, FP32, k_max=32, acc=acc, pipeline=depth, fifo_depth=rows - 1)
    with warnings.catch_warnings():              # only its parameters are checked
        warnings.simplefilter("ignore", UnusedElaboratable)
        flat = SystolicArray(E4M3, kind, rows, cols, FP32, k_max=32, acc=acc)
        assert not flat.credit and flat.fifo_depth == 4
        del flat
        gc.collect()


@pytest.mark.parametrize("stall", [0.0, 0.35])
@pytest.mark.parametrize("case", [DOT_ARRAY_CASES[0], DOT_ARRAY_CASES[1], DOT_ARRAY_CASES[3]], ids=lambda v: str(v))
def test_systolic_array_dot_pe_depths(case: tuple, stall: float, quiet) -> None:
    """Dot-unit PEs at their deepest (lane products registered, builders split, finishers at
    theirs): ``test_dot_array_tiles``'s tiles bit-exact; latency grows by exactly the depth."""
    fmt, kind, out, rows, cols, acc, n, align, w, promote = case
    room = DotCell.max_pipeline + DotCell.finisher_room(check_dot_unit(n, acc, align, w, promote), promote, out)
    kw = {"k_max": 48, "acc": acc, "n": n, "align": align, "w": w, "promote": promote}
    dut = SystolicArray(fmt, kind, rows, cols, out, pipeline=room, **kw)
    assert dut.cell_pipeline == DotCell.max_pipeline and dut.cell_pipeline + dut.fin_pipeline == room
    assert dut.latency == SystolicArray(fmt, kind, rows, cols, out, **kw).latency + room
    with pytest.raises(ParameterError, match="SystolicArray pipeline must be in 0"):
        SystolicArray(fmt, kind, rows, cols, out, pipeline=room + 1, **kw)
    check_dot_array(dut, stall)


@pytest.mark.parametrize(("fmt", "kind", "n", "acc", "out", "align", "w", "promote", "depth"), [
    (E4M3, "lmul", 4, "kulisch", FP32, "exact", None, None, 2 + KulischRounder.max_pipeline),
    (E4M3, "exact", 8, "kulisch", FP32, "exact", None, None, 5),       # 4 finisher stages + 1 cell
    (E5M2, "exact", 2, "bf16", FP32, "block", 8, None, 2 + FloatConverter.pipeline_room(BF16, FP32)),
    (E4M3, "exact", 4, "fp32", BF16, "exact", None, 8, 2 + FloatConverter.pipeline_room(FP32, BF16)),
    (E4M3, "lmul", 8, "fp32", FP32, "exact", None, None, 2),            # fp32 -> FP32: cell stages only
    (E5M2, "lmul", 1, "fp16", FP32, "block", 14, None, 1),
], ids=lambda v: str(v))
def test_dot_unit_depths(fmt: FloatFormat, kind: str, n: int, acc: str, out: FloatFormat, align: str,
                         w: int | None, promote: int | None, depth: int, quiet) -> None:
    """The dot unit's cell and finisher stages (``split_pipeline``): bit-exact on
    ``test_dot_unit_rtl``'s corner stream with stalls, and ``latency`` = depth-0 latency + depth
    measured on back-to-back dot products."""
    assert depth > 0
    unit = DotUnit(fmt, kind, n, out, k_max=64, acc=acc, align=align, w=w, promote=promote, pipeline=depth)
    assert (unit.cell_pipeline, unit.fin_pipeline) == split_pipeline(depth, DotCell.max_pipeline,
                                                                     unit.max_pipeline - DotCell.max_pipeline)
    with pytest.raises(ParameterError, match=r"DotUnit pipeline must be in 0\.\."):
        DotUnit(fmt, kind, n, out, k_max=64, acc=acc, align=align, w=w, promote=promote,
                pipeline=unit.max_pipeline + 1)
    rng = np.random.default_rng(zlib.crc32(f"{fmt} {kind} {n} {acc} depth".encode()))
    check_unit(fmt, kind, n, acc, out, align, w, promote, unit_vectors(fmt, rng, 64), 64, split=n > 1,
               pipeline=depth)
    dut = DotUnit(fmt, kind, n, out, k_max=64, acc=acc, align=align, w=w, promote=promote, pipeline=depth)
    assert dut.latency == DotUnit(fmt, kind, n, out, k_max=64, acc=acc, align=align, w=w,
                                  promote=promote).latency + depth
    vecs = unit_vectors(fmt, rng, 64)[:12]
    beats, _ = unit_beats(fmt, n, vecs, rng)
    _, latencies = results_and_latencies(dut, beats, len(vecs), rng)
    assert latencies == [dut.latency] * len(vecs)
