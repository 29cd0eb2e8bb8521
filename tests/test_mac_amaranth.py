"""Amaranth-simulator tests of the MAC PE and the systolic array vs the golden dot/matmul,
with random valid/ready stalls (the big cocotb runs are in test_matmul_cocotb.py and
test_dot_cocotb.py), their ``latency`` attributes against measured cycles, and their parameter
checks; the array with dot-unit PEs (n K-steps per beat, exact or block alignment, promotion)
on random and corner tiles, K not a multiple of n, short beats in the middle of a tile."""

from __future__ import annotations

import gc
import warnings
import zlib

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Shape, UnusedElaboratable
from amaranth.lib.fifo import SyncFIFOBuffered
from streams import expect_idle, get, put, results_and_latencies, run
from test_fp_accumulator import corner_vectors

from lmul.errors import ParameterError
from lmul.formats import BF16, E2M1, E2M3, E4M3, E4M3FNUZ, E5M2, FP32, FloatFormat, FormatError, Specials
from lmul.rtl.dot_cell import DotCell
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.mac_cell import MacCell
from lmul.rtl.mac_pe import MacPE
from lmul.rtl.mac_pe import in_layout as mac_in_layout
from lmul.rtl.systolic_array import SystolicArray
from lmul.rtl.systolic_array import in_layout as array_in_layout
from lmul.sim.mac_pe import dot
from lmul.sim.systolic_array import matmul
from lmul.vectors import special_values


def mac_beats(fmt: FloatFormat, vecs: list[tuple[np.ndarray, np.ndarray]]) -> list:
    """``{a, b, last}`` constants for the dot products ``vecs``, one beat per pair."""
    lay, fl = mac_in_layout(fmt), FloatLayout(fmt)
    return [lay.const({"a": fl.from_bits(int(x[j])), "b": fl.from_bits(int(y[j])), "last": int(j == len(x) - 1)})
            for x, y in vecs for j in range(len(x))]


def tile_beats(fmt: FloatFormat, tiles: list[tuple[np.ndarray, np.ndarray]]) -> list:
    """``{a[rows], b[cols], last}`` constants: column k of each A tile, row k of its B tile."""
    fl = FloatLayout(fmt)
    beats = []
    for a, b in tiles:
        lay = array_in_layout(fmt, a.shape[0], b.shape[1])
        k = a.shape[1]
        beats += [lay.const({"a": [fl.from_bits(int(v)) for v in a[:, kk]],
                             "b": [fl.from_bits(int(v)) for v in b[kk, :]], "last": int(kk == k - 1)})
                  for kk in range(k)]
    return beats


MAC_CASES = [(E4M3, "exact", FP32), (E4M3, "lmul", FP32), (E5M2, "exact", BF16), (E5M2, "lmul", E4M3),
             (BF16, "exact", FP32), (BF16, "lmul", BF16), (E2M1, "lmul", E2M3), (E4M3FNUZ, "exact", E4M3)]


@pytest.mark.parametrize("acc", ["kulisch"])
@pytest.mark.parametrize(("fmt", "kind", "out"), MAC_CASES, ids=lambda v: str(v))
def test_mac_pe_dot_products(fmt: FloatFormat, kind: str, out: FloatFormat, acc: str) -> None:
    rng = np.random.default_rng(7)
    dut = MacPE(fmt, kind, out, k_max=64, acc=acc)
    pool = special_values(fmt)
    vecs = []
    for i, k in enumerate(rng.integers(1, 20, 30)):
        src = (lambda n: rng.choice(pool, n)) if i % 3 == 0 else (lambda n: rng.integers(0, 1 << fmt.width, n))
        vecs.append((src(int(k)), src(int(k))))
    vecs.append((np.full(64, fmt.max_finite_field), np.full(64, fmt.max_finite_field)))   # k_max, max magnitude
    gold = [int(dot(fmt, x, y, out, kind, acc)) for x, y in vecs]
    got: list[int] = []

    async def source(ctx) -> None:
        await put(ctx, dut.i, mac_beats(fmt, vecs), rng=rng, stall=0.3)

    async def sink(ctx) -> None:
        got.extend(c.as_bits() for c in await get(ctx, dut.o, len(vecs), rng=np.random.default_rng(8), stall=0.3))
        await expect_idle(ctx, dut.o, 60)

    run(dut, source, sink)
    assert got == gold


@pytest.mark.parametrize(("fmt", "kind"), [(E4M3, "exact"), (E4M3, "lmul"), (BF16, "lmul")], ids=str)
def test_mac_pe_latency(fmt: FloatFormat, kind: str) -> None:
    """Cycles from each ``last`` beat's transfer to ``o.valid`` (``o`` always ready) equal
    ``MacPE.latency``, for back-to-back and spaced dot products (K = 1 included)."""
    dut = MacPE(fmt, kind, FP32, k_max=16, acc="kulisch")
    assert dut.latency == 3                      # documented for kulisch: accumulator 2 + output register
    rng = np.random.default_rng(5)
    vecs = [(rng.integers(0, 1 << fmt.width, k), rng.integers(0, 1 << fmt.width, k)) for k in (1, 1, 4, 1, 7, 2, 16)]
    got, latencies = results_and_latencies(dut, mac_beats(fmt, vecs), len(vecs), rng)
    assert got == [int(dot(fmt, x, y, FP32, kind, "kulisch")) for x, y in vecs]
    assert latencies == [dut.latency] * len(vecs)


ARRAY_CASES = [(E4M3, "exact", FP32, 3, 4), (E4M3, "lmul", FP32, 2, 2), (E5M2, "lmul", BF16, 4, 2),
               (BF16, "exact", FP32, 2, 3)]


@pytest.mark.parametrize("stall", [0.0, 0.35])
@pytest.mark.parametrize(("fmt", "kind", "out", "rows", "cols"), ARRAY_CASES, ids=lambda v: str(v))
def test_systolic_array_tiles(fmt: FloatFormat, kind: str, out: FloatFormat, rows: int, cols: int,
                              stall: float) -> None:
    """Tiles of K = 1..12 (K < rows included) back to back, bit-exact; without stalls (output
    always ready, so the output FIFO never backs up) every tile's row 0 comes ``latency`` cycles
    after its ``last`` beat."""
    check_array_tiles(SystolicArray(fmt, kind, rows, cols, out, k_max=32), stall)


def check_array_tiles(dut: SystolicArray, stall: float) -> None:
    """``test_systolic_array_tiles``'s stream through ``dut`` (any accumulator and pipeline depth),
    against the golden ``matmul`` with the same accumulator (``check_array``)."""
    fmt, rows, cols = dut.fmt, dut.rows, dut.cols
    rng = np.random.default_rng(3)
    pool = special_values(fmt)
    tiles = []
    for i, k in enumerate([5, 1, 2, 7, 3, 12, 1, 1]):
        src = (lambda s: rng.choice(pool, s)) if i == 4 else (lambda s: rng.integers(0, 1 << fmt.width, s))
        tiles.append((src((rows, k)), src((k, cols))))
    check_array(dut, tiles, rng, stall, idle=120)


# SyncFIFOBuffered (the array's output FIFO): a row written on one clock edge is on the read side
# (r_rdy) two cycles later. SystolicArray.latency counts to o.valid, i.e. it includes these two
# cycles: rows + cols + 2 (kulisch) cycles to the FIFO write + FIFO_DELAY.
FIFO_DELAY = 2


@pytest.mark.parametrize(("rows", "cols"), [(2, 2), (3, 4), (4, 2)])
def test_systolic_array_latency_parts(rows: int, cols: int) -> None:
    """The output FIFO's own delay, measured on the same FIFO, and the array's latency split into
    the path to the FIFO (skew, hops, accumulator, drain and rounder registers) plus that delay."""
    dut = SystolicArray(E4M3, "exact", rows, cols, FP32, k_max=8, acc="kulisch")
    fifo = SyncFIFOBuffered(width=Shape.cast(dut.o.payload.shape()).width, depth=dut.fifo_depth)
    t_in: list[int] = []
    t_out: list[int] = []

    async def source(ctx) -> None:
        await put(ctx, fifo.w_stream, [1, 2, 3], rng=np.random.default_rng(0), stall=0.5, cycles=t_in)

    async def sink(ctx) -> None:
        assert await get(ctx, fifo.r_stream, 3, cycles=t_out) == [1, 2, 3]

    run(fifo, source, sink)
    assert [o - i for i, o in zip(t_in, t_out, strict=True)] == [FIFO_DELAY] * 3
    acc_latency = dut.cells[0][0].latency
    assert dut.latency == (rows - 1) + (cols - 1) + acc_latency + 2 + FIFO_DELAY
    with warnings.catch_warnings():              # dut is only measured, never simulated
        warnings.simplefilter("ignore", UnusedElaboratable)
        del dut
        gc.collect()


def test_bad_mac_parameters() -> None:
    with pytest.raises(FormatError, match="kind"):
        MacPE(E4M3, "approx")
    with pytest.raises(FormatError, match="k_max"):
        MacPE(E4M3, "exact", k_max=0)
    with pytest.raises(FormatError, match="cannot hold the NaN"):
        MacPE(E4M3, "exact", E2M1)
    with pytest.raises(FormatError, match="rows"):
        SystolicArray(E4M3, "exact", 0, 2)
    with pytest.raises(FormatError, match="mantissa"):
        SystolicArray(FloatFormat("e5m0", 5, 0, 16, Specials.FNUZ), "lmul", 2, 2)


@pytest.mark.parametrize("cls", [MacPE, SystolicArray])
def test_bad_acc(cls: type) -> None:
    with pytest.raises(ValueError, match="acc") as err:
        cls(E4M3, "lmul", acc="fp99")
    assert isinstance(err.value, ParameterError)
    with pytest.raises(TypeError, match="acc"):
        cls(E4M3, "lmul", acc=3)


# --- the array with dot-unit PEs (n K-steps per beat) ---------------------------------------------


def dot_tile_beats(fmt: FloatFormat, n: int, tiles: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator,
                   *, split: bool = False) -> tuple[list, list]:
    """Beats ``{a[rows][n], b[cols][n], count, last}`` of the tiles (n consecutive k per beat; dead
    lanes hold random codes, specials included) and the tiles the golden model sees. ``split``:
    some full beats in the middle become short (``count < n``); the golden tiles get zero
    operands in their missing lanes."""
    fl = FloatLayout(fmt)
    junk = np.concatenate([np.arange(1 << min(fmt.width, 8)), np.full(8, fmt.max_finite_field)])
    beats, golden = [], []
    for a, b in tiles:
        rows, k = a.shape
        cols = b.shape[1]
        lay = array_in_layout(fmt, rows, cols, n)
        ga, gb, j = [], [], 0
        while j < k:
            cnt = min(n, k - j)
            if split and cnt == n and j + n < k and rng.random() < 0.3:
                cnt = int(rng.integers(0, n))
            la = np.concatenate([a[:, j:j + cnt], rng.choice(junk, (rows, n - cnt))], axis=1)
            lb = np.concatenate([b[j:j + cnt, :], rng.choice(junk, (n - cnt, cols))], axis=0)
            j += cnt
            keep = n if j < k else cnt                  # a short beat in the middle: zero lanes
            ga.append(np.where(np.arange(keep) < cnt, la[:, :keep], 0))
            gb.append(np.where(np.arange(keep)[:, None] < cnt, lb[:keep, :], 0))
            beats.append(lay.const({"a": [[fl.from_bits(int(v)) for v in row] for row in la],
                                    "b": [[fl.from_bits(int(v)) for v in lb[:, c]] for c in range(cols)],
                                    "count": cnt, "last": int(j >= k)}))
        golden.append((np.concatenate(ga, axis=1), np.concatenate(gb, axis=0)))
    return beats, golden


def corner_tiles(fmt: FloatFormat, rng: np.random.Generator, rows: int, cols: int,
                 k_max: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``corner_vectors`` (specials, overflow to Inf, catastrophic cancellation, sums into the
    subnormal range, a long run at k_max, K = 1 back to back, zeros) as tiles: vectors of one
    length side by side, A's row r and B's column c from vector i + r and i + c, so the diagonal
    holds the corner dot products themselves."""
    by_k: dict[int, list] = {}
    for x, y in corner_vectors(fmt, rng, k_max):
        by_k.setdefault(len(x), []).append((np.asarray(x), np.asarray(y)))
    tiles = []
    for vecs in by_k.values():
        for i in range(0, len(vecs), max(rows, cols)):
            tiles.append((np.stack([vecs[(i + r) % len(vecs)][0] for r in range(rows)]),
                          np.stack([vecs[(i + c) % len(vecs)][1] for c in range(cols)], axis=1)))
    return tiles


def check_array(dut: SystolicArray, tiles: list, rng: np.random.Generator, stall: float, *,
                split: bool = False, idle: int = 60) -> None:
    """The tiles through ``dut`` with ``stall`` on both streams, bit-exact against ``matmul`` with
    the array's options; without stalls every tile's row 0 comes ``latency`` cycles after its
    ``last`` beat."""
    fmt, out, n = dut.fmt, dut.out_fmt, dut.n
    if n == 1:
        beats, golden = tile_beats(fmt, tiles), tiles
    else:
        beats, golden = dot_tile_beats(fmt, n, tiles, rng, split=split)
    expected = [(list(map(int, g[r])), r) for a, b in golden
                for g in [matmul(fmt, a, b, out, dut.kind, dut.acc, n, dut.align, dut.w, dut.promote)]
                for r in range(dut.rows)]
    got: list[tuple[list[int], int]] = []
    t_in: list[int] = []
    t_out: list[int] = []

    async def source(ctx) -> None:
        await put(ctx, dut.i, beats, rng=rng, stall=stall, cycles=t_in)

    async def sink(ctx) -> None:
        rows_out = await get(ctx, dut.o, len(expected), rng=np.random.default_rng(4), stall=stall, cycles=t_out)
        got.extend(([c.as_bits() for c in p.c], p.row) for p in rows_out)
        await expect_idle(ctx, dut.o, idle)

    run(dut, source, sink)
    bad = [(i // dut.rows, e, g) for i, (e, g) in enumerate(zip(expected, got, strict=True)) if e != g]
    assert not bad, bad[:5]
    if stall == 0.0:
        last_in = [t for t, beat in zip(t_in, beats, strict=True) if beat.last]
        assert [o - i for i, o in zip(last_in, t_out[::dut.rows], strict=True)] == [dut.latency] * len(tiles)


DOT_ARRAY_CASES = [
    # fmt, kind, out, rows, cols, acc, n, align, w, promote
    (E4M3, "lmul", FP32, 3, 2, "fp32", 4, "exact", None, None),
    (E5M2, "exact", BF16, 2, 3, "kulisch", 2, "exact", None, None),
    (E4M3, "exact", FP32, 2, 2, "bf16", 8, "block", 8, 16),
    (E4M3, "lmul", BF16, 2, 2, "fp16", 4, "block", 14, None),
    (E5M2, "lmul", FP32, 2, 2, "e8m13:rtz", 1, "block", 8, None),     # n = 1 through the dot cell
]


@pytest.mark.parametrize("stall", [0.0, 0.35])
@pytest.mark.parametrize(("fmt", "kind", "out", "rows", "cols", "acc", "n", "align", "w", "promote"),
                         DOT_ARRAY_CASES, ids=lambda v: str(v))
def test_dot_array_tiles(fmt: FloatFormat, kind: str, out: FloatFormat, rows: int, cols: int, acc: str, n: int,
                         align: str, w: int | None, promote: int | None, stall: float) -> None:
    """Random tiles of K = 1 .. 4n + 1 (K < n, K not a multiple of n, K < rows beats) back to
    back, then the corner tiles; with stalls, short beats in the middle of tiles too."""
    check_dot_array(SystolicArray(fmt, kind, rows, cols, out, k_max=48, acc=acc, n=n, align=align, w=w,
                                  promote=promote), stall)


def check_dot_array(dut: SystolicArray, stall: float) -> None:
    """``test_dot_array_tiles``'s tiles through a dot-PE array ``dut`` (k_max >= 48), bit-exact."""
    fmt, rows, cols, n = dut.fmt, dut.rows, dut.cols, dut.n
    rng = np.random.default_rng(zlib.crc32(f"{fmt} {dut.kind.name} {dut.acc.name} {n} {dut.align} {dut.w} "
                                           f"{dut.promote} {stall}".encode()))
    assert isinstance(dut.cells[0][0], DotCell)
    pool = special_values(fmt)
    tiles = []
    for i, k in enumerate([n + 1, 1, 3 * n, 2, 4 * n + 1, n, 1, 2 * n - 1]):
        src = (lambda s: rng.choice(pool, s)) if i == 4 else (lambda s: rng.integers(0, 1 << fmt.width, s))
        tiles.append((src((rows, k)), src((k, cols))))
    tiles += corner_tiles(fmt, rng, rows, cols, 48)
    check_array(dut, tiles, rng, stall, split=stall > 0)


def test_dot_array_options_and_netlist() -> None:
    """n = 1 with exact alignment and no promotion is the MAC array, netlist for netlist; any
    dot-unit option makes dot-cell PEs; their latency is the cell's plus the array's path."""
    plain = SystolicArray(E4M3, "lmul", 2, 3, FP32, k_max=32, acc="bf16")
    same = SystolicArray(E4M3, "lmul", 2, 3, FP32, k_max=32, acc="bf16", n=1, align="exact", w=None, promote=None)
    assert isinstance(plain.cells[0][0], MacCell)
    assert verilog.convert(plain, name="t", emit_src=False) == verilog.convert(same, name="t", emit_src=False)
    assert array_in_layout(E4M3, 2, 3, 1) == array_in_layout(E4M3, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        for kw in ({"n": 2}, {"align": "block", "w": 8}, {"promote": 4}):
            dut = SystolicArray(E4M3, "lmul", 2, 3, FP32, k_max=32, acc="bf16", **kw)
            assert isinstance(dut.cells[1][2], DotCell)
            assert dut.latency == 2 + 3 + dut.cells[0][0].latency + 2
        del dut
        gc.collect()


@pytest.mark.parametrize(("kw", "exc", "msg"), [
    ({"n": 3}, ParameterError, "n must be one of 1, 2, 4, 8, 16, 32, got 3"),
    ({"n": 2.0}, TypeError, "n must be an int"),
    ({"align": "block", "w": 8}, ParameterError, "align='block' needs a float accumulator"),
    ({"acc": "fp32", "align": "block"}, ParameterError, "align='block' needs w"),
    ({"acc": "fp32", "w": 8}, ParameterError, "only for align='block'"),
    ({"acc": "fp32", "n": 4, "promote": 6}, ParameterError, "promote must be a positive multiple of n = 4"),
    ({"promote": 4}, ParameterError, "promote needs a float accumulator"),
], ids=str)
def test_bad_dot_array_parameters(kw: dict, exc: type, msg: str) -> None:
    with pytest.raises(exc, match=msg):
        SystolicArray(E4M3, "lmul", 2, 2, **kw)
    a = np.full((2, 3), 0x38)
    with pytest.raises(exc, match=msg):
        matmul(E4M3, a, a.T, FP32, "lmul", **{"acc": "kulisch", **kw})


def test_array_registry_design() -> None:
    """``systolic_array`` in the registry: n/align/w/promote reach the array, the name has them
    only with dot-unit PEs (the MAC array keeps its name), bad values are refused by
    ``check_params``."""
    from lmul.designs import DesignParams, build_design, check_params, module_name
    base = "systolic_array_lmul_e4m3_float_fp32_rne_k256_fp32_4x4"
    fp32 = DesignParams(acc="fp32")
    assert module_name("systolic_array", E4M3, fp32) == base
    assert module_name("systolic_array", E4M3, DesignParams(acc="fp32", n=1)) == base
    assert module_name("systolic_array", E4M3, DesignParams(acc="fp32", w=20)) == base     # w: block only
    assert module_name("systolic_array", E4M3, DesignParams(acc="fp32", n=4)) == base + "_n4_exact"
    assert module_name("systolic_array", E4M3, DesignParams(acc="fp32", align="block", w=10)) == base + "_n1_block_w10"
    assert module_name("systolic_array", E4M3, DesignParams(acc="fp32", n=2, promote=8)) == base + "_n2_exact_p8"
    assert module_name("dot_unit", E4M3, fp32).endswith("_n4_exact")                       # the unit's default n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        plain = build_design("systolic_array", E4M3, DesignParams(acc="fp32", rows=2, cols=2))
        dot = build_design("systolic_array", E4M3, DesignParams(acc="fp32", rows=2, cols=2, n=4, align="block",
                                                                w=10, promote=16))
        assert isinstance(plain.cells[0][0], MacCell) and plain.n == 1
        assert isinstance(dot.cells[1][1], DotCell)
        assert (dot.n, dot.align, dot.w, dot.promote) == (4, "block", 10, 16)
        del plain, dot
        gc.collect()
    for bad, msg in ((DesignParams(n=3), "n must be one of"), (DesignParams(align="block"), "needs a float"),
                     (DesignParams(acc="fp32", n=4, promote=6), "multiple of n = 4")):
        with pytest.raises(ParameterError, match=msg):
            check_params("systolic_array", bad)
