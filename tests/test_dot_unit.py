"""The fused n-term dot-product unit (``lmul.sim.dot_unit`` golden, ``lmul.rtl.dot_unit.DotUnit``).

* Golden against independent references: a ``fractions.Fraction`` implementation of the whole
  specification (exact and block alignment, promotion, every accumulator family option used);
  ``dot`` for n = 1 (exact mode) and for ``acc="kulisch"`` (every n); numpy float32 / float16
  with the group sums computed exactly in float64 and added with one rounding; a hand-computed
  block example; block with a window wider than every value equals exact mode.
* RTL in the Amaranth simulator, bit-exact (raw bit patterns) against the golden model, with
  random input and output stalls: E4M3 and E5M2, both product kinds, n in {1, 2, 4, 8} (16 and
  32 once each), exact and block (w = 14, 8), float32 / float16 / bfloat16 / e8m13:rtz and
  Kulisch accumulators, promotion (P = 4n and none), corner streams; the ``latency`` attribute
  measured; parameter errors.
"""

from __future__ import annotations

import gc
import math
import warnings
import zlib
from fractions import Fraction

import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable
from streams import expect_idle, get, put, results_and_latencies, run
from test_fp_accumulator import assert_bits_equal, corner_vectors, frac_round, operand_rows, product_floats, ref_bits

from lmul.arith import accumulator
from lmul.errors import ParameterError
from lmul.formats import BF16, E2M1, E4M3, E5M2, FP16, FP32, FloatFormat, FormatError, decode, encode, get_format
from lmul.rtl.dot_unit import DotUnit, in_layout
from lmul.rtl.float_layout import FloatLayout
from lmul.sim.dot_unit import dot_unit
from lmul.sim.mac_pe import dot, products

# --- an independent reference: the specification on Fractions -----------------------------------


def _floor_log2(v: Fraction) -> int:
    v = abs(v)
    e = v.numerator.bit_length() - v.denominator.bit_length()
    while Fraction(2) ** e > v:
        e -= 1
    while Fraction(2) ** (e + 1) <= v:
        e += 1
    return e


def _addend(fmt: FloatFormat, bits: int) -> object:
    """A value of ``fmt`` as a Fraction, or "nan", or +1 / -1 for ±Inf."""
    v = float(decode(fmt, np.array([bits]))[0])
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return 1 if v > 0 else -1
    return Fraction(v)


def frac_step(a: FloatFormat, mode: str, acc_bits: int, group: list, w: int | None) -> int:
    """One step: ``group`` holds Fractions, "nan" and ±1 (±Inf); ``w`` None for exact mode."""
    x = _addend(a, acc_bits)
    infs = {g for g in group if isinstance(g, int)}          # (a Fraction is not an int)
    if x == "nan" or "nan" in group or infs == {1, -1} or (isinstance(x, int) and infs and x not in infs):
        return a.nan_bits(0)
    if isinstance(x, int):
        return acc_bits
    if infs:
        return int(encode(a, math.inf * infs.pop()))
    vals = [g for g in group if isinstance(g, Fraction)] + [x]
    if w is not None and any(vals):
        e = max(_floor_log2(v) for v in vals if v)
        unit = Fraction(2) ** (e - w + 1)
        vals = [(abs(v) // unit) * unit * (1 if v > 0 else -1) for v in vals]
    s = sum(vals, Fraction(0))
    return int(encode(a, 0.0)) if s == 0 else frac_round(a, mode, s)


def frac_dot_unit(fmt: FloatFormat, x: np.ndarray, y: np.ndarray, out: FloatFormat, kind: str, n: int, acc: str,
                  align: str = "exact", w: int | None = None, promote: int | None = None) -> int:
    a = accumulator(acc)
    a_fmt, mode = get_format(a.params[0]), a.params[1]
    p = products(fmt, x, y, kind)
    prods: list[object] = []
    for v, is_nan, inf in zip(np.asarray(p.value).ravel(), p.nan.ravel(), p.inf.ravel(), strict=True):
        prods.append("nan" if is_nan else (int(inf) if inf else int(v) * Fraction(2) ** p.lsb_exp))
    groups = [prods[j:j + n] for j in range(0, len(prods), n)]
    start_a = a_fmt.sign_mask if a_fmt.has_neg_zero else 0
    acc_bits, f_bits = start_a, FP32.sign_mask
    for j, g in enumerate(groups):
        acc_bits = frac_step(a_fmt, mode, acc_bits, g, w if align == "block" else None)
        if promote is not None and ((j + 1) % (promote // n) == 0 or j == len(groups) - 1):
            f_bits = frac_step(FP32, "rne", f_bits, [_addend(a_fmt, acc_bits)], None)
            acc_bits = start_a
    src, bits = (FP32, f_bits) if promote is not None else (a_fmt, acc_bits)
    return bits if out.same_as(src) else int(encode(out, decode(src, np.array([bits])))[0])


# --- golden model ------------------------------------------------------------------------------

FRACTION_CASES = [
    # fmt, kind, n, acc, out, align, w, promote
    (E4M3, "exact", 4, "fp32", FP32, "exact", None, None),
    (E5M2, "lmul", 2, "fp16", FP16, "exact", None, None),
    (E5M2, "exact", 8, "e8m13:rtz", BF16, "exact", None, None),
    (E4M3, "lmul", 4, "bf16", BF16, "exact", None, 8),
    (E4M3, "exact", 4, "fp32", FP32, "block", 14, None),
    (E5M2, "exact", 4, "fp32", FP32, "block", 8, None),
    (E4M3, "exact", 2, "fp16", FP16, "block", 8, None),
    (E4M3, "lmul", 8, "fp16:rtz", FP32, "block", 3, None),
    (E5M2, "lmul", 2, "bf16", BF16, "block", 14, 8),
    (E4M3, "exact", 4, "e8m13:rtz", FP32, "block", 1, 16),
    (E5M2, "exact", 1, "e5m2", E5M2, "block", 2, None),
    (E4M3, "exact", 8, "fp16", FP32, "exact", None, 8),
    (E5M2, "exact", 4, "e5m4:ftz", FP16, "block", 6, None),
    (E4M3, "lmul", 2, "e4m3", E4M3, "exact", None, 4),
]


@pytest.mark.parametrize(("fmt", "kind", "n", "acc", "out", "align", "w", "promote"), FRACTION_CASES,
                         ids=lambda v: str(v))
def test_golden_equals_fraction_reference(fmt: FloatFormat, kind: str, n: int, acc: str, out: FloatFormat,
                                          align: str, w: int | None, promote: int | None) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{fmt} {kind} {n} {acc} {align} {w} {promote}".encode()))
    x, y = operand_rows(fmt, rng, 60, 19)
    gold = dot_unit(fmt, x, y, out, kind, n, acc, align, w, promote)
    ref = [frac_dot_unit(fmt, x[i], y[i], out, kind, n, acc, align, w, promote) for i in range(len(x))]
    assert np.array_equal(gold.astype(np.int64), np.array(ref, dtype=np.int64))


@pytest.mark.parametrize("kind", ["exact", "lmul"])
@pytest.mark.parametrize("fmt", [E4M3, E5M2], ids=str)
def test_golden_n1_and_kulisch_equal_dot(fmt: FloatFormat, kind: str) -> None:
    """n = 1 in exact mode is the float accumulator itself; with Kulisch every n is the Kulisch dot."""
    rng = np.random.default_rng(31)
    x, y = operand_rows(fmt, rng, 200, 23)
    for acc, out in (("fp32", FP32), ("fp16", FP32), ("bf16:rtz", BF16), ("e8m13:rtz", FP32), ("e5m2", E5M2)):
        assert np.array_equal(dot_unit(fmt, x, y, out, kind, 1, acc), dot(fmt, x, y, out, kind, acc)), acc
    ref = dot(fmt, x, y, FP32, kind, "kulisch")
    for n in (1, 2, 4, 8, 16, 32):
        assert np.array_equal(dot_unit(fmt, x, y, FP32, kind, n, "kulisch"), ref), n


def numpy_grouped(dtype: type, p, n: int) -> np.ndarray:
    """Exact mode with numpy: group sums in float64 (asserted exact against the integer sums),
    ``acc = dtype(float64(acc) + S)`` (the float64 addition asserted exact: one rounding)."""
    pf = product_floats(p)
    r, k = pf.shape
    g = -(-k // n)
    pad = ((0, 0), (0, g * n - k))
    sums = np.pad(pf, pad).reshape(r, g, n).sum(axis=2)
    exact = np.pad(np.asarray(p.value).astype(object), pad).reshape(r, g, n).sum(axis=2)
    fin = np.isfinite(sums)
    assert all(int(v) == e for v, e in zip(np.ldexp(sums[fin], -p.lsb_exp), exact[fin], strict=True))
    acc = np.full(r, -0.0, dtype=dtype)
    with np.errstate(all="ignore"):
        for j in range(g):
            a, b = acc.astype(np.float64), sums[:, j]
            s = a + b
            bb = s - a
            err = (a - (s - bb)) + (b - bb)
            assert not np.any(np.isfinite(s) & (err != 0)), "the float64 addition must be exact"
            acc = s.astype(dtype)
    return acc


@pytest.mark.parametrize("kind", ["exact", "lmul"])
@pytest.mark.parametrize("n", [2, 4, 8])
@pytest.mark.parametrize(("acc", "dtype"), [("fp32", np.float32), ("fp16", np.float16)], ids=["fp32", "fp16"])
def test_golden_exact_equals_numpy(acc: str, dtype: type, n: int, kind: str) -> None:
    rng = np.random.default_rng(32)
    x, y = operand_rows(E4M3, rng, 400, 37)
    a_fmt = get_format(acc)
    gold = dot_unit(E4M3, x, y, a_fmt, kind, n, acc)
    ref = numpy_grouped(dtype, products(E4M3, x, y, kind), n)
    assert_bits_equal(gold, ref_bits(dtype, ref), a_fmt)
    # E5M2 with exponents in a window whose products sum exactly in float64
    codes = np.array([c for c in range(256) if 9 <= (c >> 2) & 31 <= 22])
    x, y = rng.choice(codes, (300, 29)), rng.choice(codes, (300, 29))
    gold = dot_unit(E5M2, x, y, FP32, kind, n, "fp32")
    assert_bits_equal(gold, ref_bits(np.float32, numpy_grouped(np.float32, products(E5M2, x, y, kind), n)), FP32)


def test_golden_promotion_equals_numpy() -> None:
    """fp16 partials (numpy float16, exact mode) promoted every P products into float32."""
    rng = np.random.default_rng(33)
    x, y = operand_rows(E4M3, rng, 300, 61, max_field=0x6F)
    for n, promote in ((4, 16), (2, 2), (8, 24)):
        p = products(E4M3, x, y)
        f = np.full(len(x), -0.0, np.float32)
        for c in range(0, x.shape[1], promote):
            cols = slice(c, c + promote)
            sub = type(p)(p.value[:, cols], p.lsb_exp, p.nan[:, cols], p.inf[:, cols], p.bits)
            part = numpy_grouped(np.float16, sub, n)
            with np.errstate(all="ignore"):
                f = (f + part.astype(np.float32)).astype(np.float32)
        gold = dot_unit(E4M3, x, y, FP32, "exact", n, "fp16", promote=promote)
        assert_bits_equal(gold, ref_bits(np.float32, f), FP32)


def test_golden_block_by_hand() -> None:
    """n = 2, w = 4, E4M3 exact products, fp32. Group 1: 1.875 + 0.3125; E = 0, the grid is
    2**-3: 1.875 + 0.25 = 2.125. Group 2: acc 2.125 = 10.001b leads (E = 1, grid 2**-2): acc
    -> 2.0, 0.9375 -> 0.75, -0.0625 -> 0: 2.75 (exact mode: 3.0625)."""
    enc = lambda v: int(encode(E4M3, v))  # noqa: E731
    x = np.array([enc(1.875), enc(0.3125), enc(0.9375), enc(-0.0625)])
    y = np.array([enc(1.0)] * 4)
    assert float(decode(FP32, dot_unit(E4M3, x, y, FP32, "exact", 2, "fp32", "block", 4))) == 2.75
    assert float(decode(FP32, dot_unit(E4M3, x, y, FP32, "exact", 2, "fp32"))) == 3.0625
    # the accumulator is truncated even by a group of zero products: 1.875 -> 1.5 with w = 2
    x2 = np.array([enc(1.875), 0, 0, 0])
    assert float(decode(FP32, dot_unit(E4M3, x2, y, FP32, "exact", 2, "fp32", "block", 2))) == 1.5
    assert float(decode(FP32, dot_unit(E4M3, x2, y, FP32, "exact", 1, "fp32", "block", 2))) == 1.5
    # truncation is toward zero: -1.875 -> -1.5; a sum truncated to zero is +0
    x3 = np.array([enc(-1.875), 0, 0, 0])
    assert float(decode(FP32, dot_unit(E4M3, x3, y, FP32, "exact", 2, "fp32", "block", 2))) == -1.5
    z = dot_unit(E4M3, np.array([enc(1.0), enc(-1.0)]), np.array([enc(1.0)] * 2), FP32, "exact", 2, "fp32", "block", 2)
    assert int(z) == 0


def test_golden_block_subnormal_accumulator() -> None:
    """E counts a subnormal accumulator by its leading bit, not its exponent field: fp16 A, n = 2,
    w = 3. Group 1: 2**-8 * 2**-8 -> acc = 2**-16 (subnormal). Group 2: 2**-18 + 3 * 2**-18:
    E = -16 (the accumulator), grid 2**-18, nothing is dropped: 2**-15 (with E = -14, the field
    exponent, both products would drop: 2**-16)."""
    x, y = np.array([0x02, 0, 0x01, 0x03]), np.array([0x02, 0, 0x01, 0x01])
    assert float(decode(FP16, dot_unit(E4M3, x, y, FP16, "exact", 2, "fp16", "block", 3))) == 2.0 ** -15


@pytest.mark.parametrize("kind", ["exact", "lmul"])
def test_golden_block_wide_window_is_exact(kind: str) -> None:
    """E4M3 products and fp32 sums below 2**40 span less than 64 bits: w = 64 truncates nothing."""
    rng = np.random.default_rng(34)
    x, y = operand_rows(E4M3, rng, 300, 40)
    for n in (1, 4, 8):
        assert np.array_equal(dot_unit(E4M3, x, y, FP32, kind, n, "fp32", "block", 64),
                              dot_unit(E4M3, x, y, FP32, kind, n, "fp32"))


def test_golden_shapes() -> None:
    rng = np.random.default_rng(35)
    x, y = operand_rows(E4M3, rng, 24, 7)
    rows = dot_unit(E4M3, x, y, FP32, "exact", 4, "fp32", "block", 8, 4)
    assert np.array_equal(dot_unit(E4M3, x.reshape(4, 6, 7), y.reshape(4, 6, 7), FP32, "exact", 4, "fp32",
                                   "block", 8, 4), rows.reshape(4, 6))
    assert int(dot_unit(E4M3, x[0], y[0], FP32, "exact", 4, "fp32", "block", 8, 4)) == int(rows[0])
    assert list(dot_unit(E4M3, np.zeros((2, 0), int), np.zeros((2, 0), int))) == [0x80000000] * 2   # K = 0: -0


# --- parameters --------------------------------------------------------------------------------

BAD_PARAMS = [
    ({"n": 3}, ParameterError, r"n must be one of 1, 2, 4, 8, 16, 32, got 3"),
    ({"n": 64}, ParameterError, r"n must be one of"),
    ({"n": "4"}, TypeError, "n must be an int"),
    ({"n": 4.0}, TypeError, "n must be an int"),
    ({"align": "fast"}, ParameterError, r"align must be one of 'exact', 'block', got 'fast'"),
    ({"align": 1}, TypeError, "align must be a str"),
    ({"align": "block"}, ParameterError, r"align='block' needs w"),
    ({"align": "block", "w": 0}, ParameterError, r"w must be in 1\.\.64, got 0"),
    ({"align": "block", "w": 65}, ParameterError, r"w must be in 1\.\.64"),
    ({"align": "block", "w": 8.0}, TypeError, "w must be an int"),
    ({"w": 8}, ParameterError, "only for align='block'"),
    ({"promote": 6}, ParameterError, "promote must be a positive multiple of n = 4, got 6"),
    ({"promote": 0}, ParameterError, "promote must be >= 1"),
    ({"promote": "8"}, TypeError, "promote must be an int"),
    ({"acc": "kulisch", "promote": 8}, ParameterError, "promote needs a float accumulator"),
    ({"acc": "kulisch", "align": "block", "w": 8}, ParameterError, "align='block' needs a float accumulator"),
    ({"acc": "fp99"}, ParameterError, "acc must be one of"),
    ({"acc": 32}, TypeError, "acc must be a str"),
    ({"kind": "approx"}, ParameterError, "kind must be one of exact, lmul"),
]


@pytest.mark.parametrize(("kw", "exc", "msg"), BAD_PARAMS, ids=lambda v: str(v))
def test_bad_parameters(kw: dict, exc: type, msg: str) -> None:
    params = {"n": 4, "acc": "fp32", "align": "exact", "w": None, "promote": None, "kind": "exact", **kw}
    with pytest.raises(exc, match=msg):
        dot_unit(E4M3, [0x38], [0x38], FP32, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(exc, match=msg):
            DotUnit(E4M3, params.pop("kind"), params.pop("n"), FP32, **params)
        gc.collect()


def test_bad_formats_and_k_max() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(FormatError, match="accumulator format e2m1 cannot hold the NaN"):
            DotUnit(E4M3, "exact", 4, FP32, acc="e2m1")
        with pytest.raises(FormatError, match="output format e2m1 cannot hold the NaN"):
            DotUnit(E4M3, "exact", 4, E2M1, acc="fp32", promote=8)
        with pytest.raises(ParameterError, match="k_max must be >= 1"):
            DotUnit(E4M3, "exact", 4, FP32, k_max=0)
        with pytest.raises(TypeError, match="k_max must be an int"):
            DotUnit(E4M3, "exact", 4, FP32, k_max=None)  # type: ignore[arg-type]
        gc.collect()
    with pytest.raises(FormatError, match="accumulator format e2m1 cannot hold the NaN"):
        dot_unit(E4M3, [0x38], [0x38], FP32, "exact", 4, "e2m1")


# --- RTL ---------------------------------------------------------------------------------------


def unit_beats(fmt: FloatFormat, n: int, vecs: list, rng: np.random.Generator, *,
               split: bool = False) -> tuple[list, list]:
    """Input beats of the dot products ``vecs`` (n pairs per beat; dead lanes hold random codes,
    specials included) and the vectors the golden model sees. ``split``: some beats in the middle
    are short (``count < n``): the golden vectors get zero operands in those lanes."""
    lay, fl = in_layout(fmt, n), FloatLayout(fmt)
    junk = np.concatenate([np.arange(1 << min(fmt.width, 8)), np.full(8, fmt.max_finite_field)])
    beats, golden = [], []
    for x, y in vecs:
        gx, gy, j, k = [], [], 0, len(x)
        while j < k:
            cnt = min(n, k - j)
            if split and cnt == n and j + n < k and rng.random() < 0.3:
                cnt = int(rng.integers(0, n))
            a = [int(v) for v in x[j:j + cnt]] + [int(rng.choice(junk)) for _ in range(n - cnt)]
            b = [int(v) for v in y[j:j + cnt]] + [int(rng.choice(junk)) for _ in range(n - cnt)]
            j += cnt
            if j < k:                                   # a short beat in the middle: zero lanes
                gx += a[:cnt] + [0] * (n - cnt)
                gy += b[:cnt] + [0] * (n - cnt)
            else:
                gx += a[:cnt]
                gy += b[:cnt]
            beats.append(lay.const({"a": [fl.from_bits(v) for v in a], "b": [fl.from_bits(v) for v in b],
                                    "count": cnt, "last": int(j >= k)}))
        golden.append((np.array(gx), np.array(gy)))
    return beats, golden


def check_unit(fmt: FloatFormat, kind: str, n: int, acc: str, out: FloatFormat, align: str, w: int | None,
               promote: int | None, vecs: list, k_max: int, *, stall: float = 0.3, split: bool = False,
               pipeline: int = 0) -> None:
    dut = DotUnit(fmt, kind, n, out, k_max=k_max, acc=acc, align=align, w=w, promote=promote, pipeline=pipeline)
    rng = np.random.default_rng(zlib.crc32(f"{fmt} {kind} {n} {acc} {align} {w} {promote}".encode()))
    beats, golden = unit_beats(fmt, n, vecs, rng, split=split)
    gold = [int(dot_unit(fmt, x, y, out, kind, n, acc, align, w, promote)) for x, y in golden]
    got: list[int] = []

    async def source(ctx) -> None:
        await put(ctx, dut.i, beats, rng=rng, stall=stall)

    async def sink(ctx) -> None:
        got.extend(c.as_bits() for c in await get(ctx, dut.o, len(vecs), rng=np.random.default_rng(2), stall=stall))
        await expect_idle(ctx, dut.o, 10)

    run(dut, source, sink)
    bad = [(i, hex(g), hex(h)) for i, (g, h) in enumerate(zip(got, gold, strict=True)) if g != h]
    assert not bad, bad[:10]


def unit_vectors(fmt: FloatFormat, rng: np.random.Generator, k_max: int) -> list:
    """``corner_vectors`` (random styles, specials, overflow, cancellation, subnormal sums, a long
    same-sign run of k_max, K = 1 back to back, zeros) plus what a dot unit adds: Inf and -Inf in
    one group and in different groups, a large accumulator followed by small products, K < n."""
    vecs = corner_vectors(fmt, rng, k_max)
    mx, s, one = fmt.max_finite_field, fmt.sign_mask, fmt.bias << fmt.man_bits
    if fmt.has_inf:
        inf = fmt.inf_bits(0)
        vecs.append((np.array([inf, inf | s, one]), np.array([one, one, one])))
        vecs.append((np.array([inf] + [one] * 8 + [inf | s]), np.array([one] * 10)))
    vecs.append((np.array([mx] + [one + 3] * 12 + [1] * 5), np.array([mx] + [one + 1] * 12 + [3 | s] * 5)))
    vecs.append((np.array([one, one | s, 7]), np.array([one + 5, one + 5, 1])))
    return vecs


RTL_CONFIGS = [
    # n, acc, out, align, w, promote
    (1, "fp32", FP32, "exact", None, None),
    (2, "fp16", FP32, "exact", None, None),
    (4, "fp32", FP32, "exact", None, None),
    (8, "bf16", E4M3, "exact", None, None),
    (4, "e8m13:rtz", BF16, "exact", None, None),
    (4, "kulisch", FP32, "exact", None, None),
    (8, "kulisch", BF16, "exact", None, None),
    (4, "fp32", FP32, "block", 14, None),
    (2, "fp16", FP32, "block", 8, None),
    (8, "bf16", BF16, "block", 14, None),
    (1, "e8m13:rtz", FP32, "block", 8, None),
    (4, "fp32", FP32, "exact", None, 16),
    (4, "fp32", BF16, "block", 14, 16),
    (2, "fp16", FP32, "block", 8, 8),
    (8, "e8m13:rtz", FP32, "exact", None, 32),
]


@pytest.mark.parametrize(("n", "acc", "out", "align", "w", "promote"), RTL_CONFIGS, ids=lambda v: str(v))
@pytest.mark.parametrize("kind", ["exact", "lmul"])
@pytest.mark.parametrize("fmt", [E4M3, E5M2], ids=str)
def test_dot_unit_rtl(fmt: FloatFormat, kind: str, n: int, acc: str, out: FloatFormat, align: str,
                      w: int | None, promote: int | None) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{fmt} {kind} {n} {acc} {align} {w} {promote} vec".encode()))
    check_unit(fmt, kind, n, acc, out, align, w, promote, unit_vectors(fmt, rng, 64), 64, split=n > 1)


@pytest.mark.parametrize(("fmt", "kind", "n", "acc", "align", "w", "promote"), [
    (E4M3, "exact", 32, "fp32", "exact", None, None), (E5M2, "lmul", 16, "fp16", "block", 8, 64),
], ids=lambda v: str(v))
def test_dot_unit_rtl_wide(fmt: FloatFormat, kind: str, n: int, acc: str, align: str, w: int | None,
                           promote: int | None) -> None:
    rng = np.random.default_rng(41)
    vecs = [(x, y) for x, y in zip(*operand_rows(fmt, rng, 10, 45), strict=True)]
    vecs += [(x, y) for x, y in zip(*operand_rows(fmt, rng, 5, 160), strict=True)]
    vecs += [(np.array([fmt.max_finite_field] * 3), np.array([fmt.max_finite_field] * 3))]
    check_unit(fmt, kind, n, acc, FP32, align, w, promote, vecs, 160, split=True)


@pytest.mark.parametrize(("fmt", "kind", "n", "acc", "out", "align", "w", "promote"), [
    (E5M2, "exact", 4, "e5m4:ftz", FP16, "block", 6, None), (E5M2, "lmul", 2, "e5m4:ftz:rtz", FP16, "exact", None, 4),
    (E4M3, "lmul", 2, "e4m3", E4M3, "exact", None, None), (E4M3, "exact", 4, "fp16:rtz", FP16, "block", 5, 8),
], ids=lambda v: str(v))
def test_dot_unit_rtl_variants(fmt: FloatFormat, kind: str, n: int, acc: str, out: FloatFormat, align: str,
                               w: int | None, promote: int | None) -> None:
    """FTZ accumulators (never subnormal: no leading-zero count for E), an FN accumulator (NaN on
    overflow, promoted as a NaN addend), RTZ with promotion."""
    rng = np.random.default_rng(45)
    check_unit(fmt, kind, n, acc, out, align, w, promote, unit_vectors(fmt, rng, 24), 24)


@pytest.mark.parametrize("kind", ["exact", "lmul"])
def test_dot_unit_rtl_tiny_block(kind: str) -> None:
    """Block mode into fp16 with products near and below fp16's normal range: a subnormal
    accumulator (its leading bit sets E), sums below the smallest normal (rounded from below the
    normal binade), cancellation to zero and to -0 candidates."""
    rng = np.random.default_rng(44)
    codes = np.arange(0x00, 0x20)
    vecs = [(np.array([0x02, 0, 0x01, 0x03]), np.array([0x02, 0, 0x01, 0x01]))]
    for k in (2, 5, 8, 13):
        for _ in range(6):
            x = rng.choice(codes, k) | rng.integers(0, 2, k) * 0x80
            vecs.append((x, rng.choice(codes + (0x20 if kind == "lmul" else 0), k)))
    for n, w in ((2, 3), (4, 2), (1, 8), (8, 14)):
        check_unit(E4M3, kind, n, "fp16", FP32, "block", w, None, vecs, 16)


def test_dot_unit_back_to_back_no_stalls() -> None:
    """Beats every cycle, output always ready: K = 1 .. 3n dot products back to back."""
    rng = np.random.default_rng(42)
    vecs = [(x[:k], y[:k]) for k in (1, 2, 3, 4, 5, 1, 8, 12, 1, 1, 7)
            for x, y in [operand_rows(E4M3, rng, 1, 12)] for x, y in [(x[0], y[0])]]
    for acc, align, w, promote in (("fp32", "exact", None, None), ("fp16", "block", 8, 4),
                                   ("kulisch", "exact", None, None)):
        check_unit(E4M3, "lmul", 4, acc, FP32, align, w, promote, vecs, 16, stall=0.0)


LATENCY_CASES = [
    (1, "fp32", "exact", None, None, 4), (4, "fp32", "exact", None, None, 4), (8, "fp16", "exact", None, None, 5),
    (32, "fp32", "exact", None, None, 6), (4, "kulisch", "exact", None, None, 3),
    (8, "kulisch", "exact", None, None, 4),
    (4, "fp32", "block", 14, None, 3), (4, "fp32", "block", 14, 16, 5), (2, "bf16", "exact", None, 4, 6),
]


@pytest.mark.parametrize(("n", "acc", "align", "w", "promote", "latency"), LATENCY_CASES, ids=lambda v: str(v))
def test_dot_unit_latency(n: int, acc: str, align: str, w: int | None, promote: int | None, latency: int) -> None:
    dut = DotUnit(E4M3, "exact", n, FP32, k_max=64, acc=acc, align=align, w=w, promote=promote)
    assert dut.latency == latency
    rng = np.random.default_rng(43)
    vecs = [(rng.integers(0, 1 << 8, k), rng.integers(0, 1 << 8, k)) for k in (1, 1, 4 * n, 1, 3 * n + 1, 2, n)]
    beats, golden = unit_beats(E4M3, n, vecs, rng)
    got, latencies = results_and_latencies(dut, beats, len(vecs), rng)
    assert got == [int(dot_unit(E4M3, x, y, FP32, "exact", n, acc, align, w, promote)) for x, y in golden]
    assert latencies == [dut.latency] * len(vecs)
