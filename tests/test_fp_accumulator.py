"""The floating-point accumulator plug-in, ``acc="<format>[:rne|:rtz]"``.

* Golden model (``lmul.sim.fp_accumulator``) against numpy's own sequential float32 / float16
  and ml_dtypes' bfloat16 summation (``acc = dtype(acc + dtype(p))`` from -0), bit for bit, on
  data spanning the whole product range, cancellation, big + tiny mixtures, long K, overflow and
  specials; against an independent ``fractions.Fraction`` reference for RTZ, FTZ, saturating,
  FN/FNUZ/FINITE and narrow accumulators and for products A cannot hold exactly.
* The registry entry: parsing, canonical names, state bits, errors.
* RTL (``lmul.rtl.fp_accumulator``) through ``MacPE`` and ``SystolicArray`` in the Amaranth
  simulator, bit-exact against ``dot`` / ``matmul`` on random and corner streams with stalls.
"""

from __future__ import annotations

import gc
import math
import warnings
import zlib
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from amaranth.hdl import Fragment, UnusedElaboratable
from streams import expect_idle, get, put, results_and_latencies, run

from lmul.arith import ACCUMULATORS, accumulator, float_format_spec
from lmul.designs import identifier
from lmul.errors import ParameterError
from lmul.formats import (
    BF16,
    E2M1,
    E3M4,
    E4M3,
    E4M3FNUZ,
    E5M2,
    FP16,
    FP32,
    FloatFormat,
    FormatError,
    decode,
    encode,
    get_format,
    twin_dtype,
)
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.fp_accumulator import FloatAccumulator, product_sig_bits
from lmul.rtl.mac_pe import MacPE
from lmul.rtl.mac_pe import in_layout as mac_in_layout
from lmul.rtl.systolic_array import SystolicArray
from lmul.rtl.systolic_array import in_layout as array_in_layout
from lmul.sim.fp_accumulator import float_accumulate, fp_accumulate, step
from lmul.sim.fp_multiplier import FixedProducts
from lmul.sim.mac_pe import dot, products
from lmul.sim.systolic_array import matmul
from lmul.vectors import special_values

# --- operand streams ---------------------------------------------------------------------------


def finite_codes(fmt: FloatFormat, max_field: int | None = None) -> np.ndarray:
    codes = np.arange(1 << fmt.width, dtype=np.int64)
    cls = fmt.classify(codes)
    keep = ~cls["nan"] & ~cls["inf"]
    if max_field is not None:
        keep &= (codes & fmt.field_mask) <= max_field
    return codes[keep]


def operand_rows(fmt: FloatFormat, rng: np.random.Generator, n: int, k: int, *, max_field: int | None = None,
                 specials: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of ``k`` operand pairs, five styles by row: uniform finite codes (products span
    the whole range), exact cancellation (a second half that negates the first, reversed),
    one narrow exponent window per operand (many similar adds), the largest product followed by
    small ones whose low bits fall below the sum's ulp (rounding on almost every step), and the
    special-values pool (NaN, Inf, zeros, subnormals)."""
    fin = finite_codes(fmt, max_field)
    exps = (fin >> fmt.man_bits) & ((1 << fmt.exp_bits) - 1)
    pool = special_values(fmt)
    if max_field is not None:
        pool = pool[(pool & fmt.field_mask) <= max_field]
    mags = np.unique(fin & fmt.field_mask)
    x = np.empty((n, k), np.int64)
    y = np.empty((n, k), np.int64)
    for i in range(n):
        style = i % (5 if specials else 4)
        if style == 0:
            x[i], y[i] = rng.choice(fin, k), rng.choice(fin, k)
        elif style == 1:
            h = k // 2
            a, b = rng.choice(fin, k), rng.choice(fin, k)
            a[h:2 * h], b[h:2 * h] = (a[:h] ^ fmt.sign_mask)[::-1], b[:h][::-1]
            x[i], y[i] = a, b
        elif style == 2:
            e0, e1 = rng.choice(exps), rng.choice(exps)
            x[i] = rng.choice(fin[(exps >= e0) & (exps <= e0 + 1)], k)
            y[i] = rng.choice(fin[(exps >= e1) & (exps <= e1 + 1)], k)
            if rng.random() < 0.5:
                x[i] &= fmt.field_mask                                  # all positive: long rounding runs
        elif style == 3:                                                # rounding on (almost) every step
            low = mags[: len(mags) // 2]
            x[i] = rng.choice(low, k) | rng.integers(0, 2, k) * fmt.sign_mask
            y[i] = rng.choice(low, k)
            x[i, 0] = y[i, 0] = mags[-1]                                # the largest product, then small ones
        else:
            x[i], y[i] = rng.choice(pool, k), rng.choice(pool, k)
    return x, y


# --- references --------------------------------------------------------------------------------


def product_floats(p: FixedProducts) -> np.ndarray:
    """float64 values of products (exact for the formats used here), NaN/±Inf from the flags."""
    v = np.ldexp(np.asarray(p.value).astype(np.float64), p.lsb_exp)
    v = np.where(p.inf > 0, np.inf, np.where(p.inf < 0, -np.inf, v))
    return np.where(p.nan, np.nan, v)


def numpy_sequential(dtype: type, pf: np.ndarray) -> np.ndarray:
    """``acc = dtype(acc + dtype(p))`` along the last axis, starting at -0: numpy's own adder."""
    q = pf.astype(dtype)
    fin = np.isfinite(pf)
    assert np.array_equal(q.astype(np.float64)[fin], pf[fin]), "products must be exact in the reference dtype"
    acc = np.full(pf.shape[:-1], -0.0, dtype=dtype)
    with np.errstate(all="ignore"):
        for j in range(pf.shape[-1]):
            acc = (acc + q[..., j]).astype(dtype)
    return acc


def assert_bits_equal(gold: np.ndarray, ref: np.ndarray, fmt: FloatFormat) -> None:
    """Bit-exact, except that any NaN matches any NaN (numpy keeps NaN signs and payloads)."""
    gold = np.asarray(gold).astype(np.int64)
    ref = np.asarray(ref).astype(np.int64)
    g_nan, r_nan = fmt.classify(gold)["nan"], fmt.classify(ref)["nan"]
    assert np.array_equal(g_nan, r_nan), f"NaN mismatch in {np.flatnonzero(g_nan != r_nan)[:10]}"
    bad = np.flatnonzero(~g_nan & (gold != ref))
    assert bad.size == 0, [(int(i), hex(int(gold.flat[i])), hex(int(ref.flat[i]))) for i in bad[:10]]


def ref_bits(dtype: type, values: np.ndarray) -> np.ndarray:
    width = np.dtype(dtype).itemsize * 8
    return values.view({8: np.uint8, 16: np.uint16, 32: np.uint32}[width]).astype(np.int64)


def _pow2(e: int) -> Fraction:
    return Fraction(2) ** e


def frac_round(a: FloatFormat, mode: str, v: Fraction) -> int:
    """Round a nonzero exact value to A: find the binade, round on its ulp (subnormal grid
    below emin), then overflow, FTZ and packing (``encode`` of the now exact value)."""
    sign = v < 0
    mag = abs(v)
    e = mag.numerator.bit_length() - mag.denominator.bit_length()
    if _pow2(e) > mag:
        e -= 1
    if _pow2(e + 1) <= mag:
        e += 1
    assert _pow2(e) <= mag < _pow2(e + 1)
    ulp = _pow2(max(e, a.emin) - a.man_bits)
    n, r = divmod(mag, ulp)
    if mode == "rne" and (2 * r > ulp or (2 * r == ulp and n % 2 == 1)):
        n += 1
    val = n * ulp
    if val > Fraction(a.max_value):
        if mode == "rtz" or a.saturates:
            return (int(sign) << a.field_bits) | a.max_finite_field
        return int(encode(a, -np.inf if sign else np.inf))
    if val < Fraction(a.min_normal) and not a.subnormals:
        val = Fraction(0)
    return int(encode(a, math.copysign(float(val), -1.0 if sign else 1.0)))


def frac_dot(a: FloatFormat, mode: str, out: FloatFormat, p: FixedProducts) -> np.ndarray:
    """The specification step by step on Fractions, rows along the last axis."""
    value, nan, inf = (np.asarray(v).reshape(-1, np.shape(p.value)[-1]) for v in (p.value, p.nan, p.inf))
    res = []
    for row in range(value.shape[0]):
        bits = a.sign_mask if a.has_neg_zero else 0
        for j in range(value.shape[1]):
            x = float(decode(a, np.array([bits]))[0])
            pv = math.nan if nan[row, j] else (math.inf * int(inf[row, j]) if inf[row, j] else None)
            if math.isnan(x) or (pv is not None and math.isnan(pv)):
                bits = a.nan_bits(0)
            elif math.isinf(x) and pv is not None and x != pv:
                bits = a.nan_bits(0)
            elif math.isinf(x):
                pass
            elif pv is not None:
                bits = int(encode(a, pv))
            else:
                s = Fraction(x) + int(value[row, j]) * _pow2(p.lsb_exp)
                bits = int(encode(a, 0.0)) if s == 0 else frac_round(a, mode, s)
        res.append(bits)
    bits_a = np.array(res, dtype=np.int64)
    return bits_a if out.same_as(a) else encode(out, decode(a, bits_a)).astype(np.int64)


# --- golden model vs numpy ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["exact", "lmul"])
@pytest.mark.parametrize("fmt", [E4M3, E5M2], ids=str)
@pytest.mark.parametrize(("acc", "dtype"), [("fp32", np.float32), ("bf16", ml_dtypes.bfloat16)], ids=["fp32", "bf16"])
def test_golden_equals_numpy_fp32_bf16(fmt: FloatFormat, kind: str, acc: str, dtype: type) -> None:
    rng = np.random.default_rng(11)
    x, y = operand_rows(fmt, rng, 1000, 40)
    p = products(fmt, x, y, kind)
    gold = dot(fmt, x, y, get_format(acc), kind, acc)
    ref = numpy_sequential(dtype, product_floats(p))
    assert_bits_equal(gold, ref_bits(dtype, ref), get_format(acc))


def inexact_steps(a_fmt: FloatFormat, p: FixedProducts) -> np.ndarray:
    """Per row, the fraction of finite steps whose exact sum was not representable (rounded)."""
    n, k = np.shape(p.value)
    acc = np.full(n, a_fmt.sign_mask, np.int64)
    count, total = np.zeros(n), np.zeros(n)
    for j in range(k):
        new = step(a_fmt, "rne", acc, p.value[:, j], p.lsb_exp, p.nan[:, j], p.inf[:, j])
        before, after = decode(a_fmt, acc), decode(a_fmt, new)
        for i in np.flatnonzero(np.isfinite(before) & np.isfinite(after)):
            total[i] += 1
            count[i] += Fraction(before[i]) + int(p.value[i, j]) * _pow2(p.lsb_exp) != Fraction(after[i])
        acc = new
    return count / np.maximum(total, 1)


@pytest.mark.parametrize("acc", [FP32, BF16], ids=str)
@pytest.mark.parametrize("fmt", [E4M3, E5M2], ids=str)
def test_data_rounds_often(fmt: FloatFormat, acc: FloatFormat) -> None:
    """The streams above really exercise rounding: the share of steps that round, per style
    (uniform, cancellation, narrow, largest-then-small)."""
    x, y = operand_rows(fmt, np.random.default_rng(11), 100, 40, specials=False)
    rate = inexact_steps(acc, products(fmt, x, y))
    by_style = [float(rate[s::4].mean()) for s in range(4)]
    assert by_style[3] > 0.8, by_style
    assert rate.mean() > (0.25 if acc is FP32 else 0.5), by_style


@pytest.mark.parametrize("kind", ["exact", "lmul"])
def test_golden_equals_numpy_fp16(kind: str) -> None:
    """E4M3 operands up to ±240 (products up to 57,600 < 65,504: exact in float16): overflow to
    ±Inf, subnormal sums (products down to 2**-18), cancellation."""
    rng = np.random.default_rng(12)
    x, y = operand_rows(E4M3, rng, 1000, 32, max_field=0x77)
    over = np.full((40, 32), 0x77)                                    # 240 * 240 summed: overflows
    over[20:] |= np.where(rng.random((20, 32)) < 0.3, E4M3.sign_mask, 0)
    tiny = rng.integers(0, 8, (60, 32)) | rng.integers(0, 2, (60, 32)) * E4M3.sign_mask   # products < 2**-13
    x = np.concatenate([x, over, tiny])
    y = np.concatenate([y, np.full((40, 32), 0x77), rng.integers(0, 4, (60, 32))])
    p = products(E4M3, x, y, kind)
    gold = dot(E4M3, x, y, FP16, kind, "fp16")
    ref = numpy_sequential(np.float16, product_floats(p))
    assert_bits_equal(gold, ref_bits(np.float16, ref), FP16)
    assert np.isinf(ref).sum() >= 20
    if kind == "exact":                                                # (L-Mul reads subnormals as 0)
        assert np.sum((np.abs(ref) < 2.0 ** -14) & (ref != 0)) >= 10    # subnormal results


@pytest.mark.parametrize("fmt", [E4M3, E5M2], ids=str)
def test_golden_long_k_fp32(fmt: FloatFormat) -> None:
    """K = 2048: same-sign runs where the sum outgrows the products (rounding on every step,
    stagnation), and random ones."""
    rng = np.random.default_rng(13)
    x, y = operand_rows(fmt, rng, 32, 2048, specials=False)
    x[::3] &= fmt.field_mask
    y[::3] &= fmt.field_mask
    gold = dot(fmt, x, y, FP32, "exact", "fp32")
    ref = numpy_sequential(np.float32, product_floats(products(fmt, x, y)))
    assert_bits_equal(gold, ref_bits(np.float32, ref), FP32)


@pytest.mark.parametrize("out", [BF16, FP16, E4M3, E5M2, FP32], ids=str)
def test_golden_output_conversion(out: FloatFormat) -> None:
    """An fp32 accumulator converted once (RNE) to ``out``: numpy / ml_dtypes casts of the float32 sum."""
    rng = np.random.default_rng(14)
    x, y = operand_rows(E5M2, rng, 500, 24)
    gold = dot(E5M2, x, y, out, "exact", "fp32")
    ref32 = numpy_sequential(np.float32, product_floats(products(E5M2, x, y)))
    with np.errstate(all="ignore"):
        ref = ref32.astype(twin_dtype(out))
    assert_bits_equal(gold, ref_bits(twin_dtype(out), ref), out)


def test_golden_axes_and_empty() -> None:
    rng = np.random.default_rng(15)
    x, y = operand_rows(E4M3, rng, 24, 6)
    lanes = dot(E4M3, x, y, FP32, "exact", "fp32")
    p = products(E4M3, x.reshape(4, 6, 6), y.reshape(4, 6, 6))
    moved = FixedProducts(np.moveaxis(p.value, 2, 0), p.lsb_exp, np.moveaxis(p.nan, 2, 0),
                          np.moveaxis(p.inf, 2, 0), p.bits)
    assert np.array_equal(fp_accumulate(accumulator("fp32"), FP32, moved, axis=0), lanes.reshape(4, 6))
    empty = products(E4M3, np.zeros((3, 0), np.int64), np.zeros((3, 0), np.int64))
    assert list(float_accumulate(FP32, "rne", FP32, empty, axis=-1)) == [0x80000000] * 3   # K = 0: -0


def test_golden_zero_rules() -> None:
    """Zero products are +0: -0 + p = p; an exact zero sum is +0 in both modes; a negative sum
    that rounds to zero is -0; zero-product dot products are +0."""
    one, neg_one, zero, neg_zero = 0x38, 0xB8, 0x00, 0x80                  # E4M3
    for acc in ("fp32", "fp32:rtz", "e5m2", "e5m2:rtz"):
        a = get_format(acc.split(":")[0])
        assert int(dot(E4M3, [neg_zero], [one], a, "exact", acc)) == 0      # (-0) * 1 = +0 product
        assert int(dot(E4M3, [one, neg_one], [one, one], a, "exact", acc)) == 0
        assert int(dot(E4M3, [neg_one, one], [one, one], a, "exact", acc)) == 0
        assert int(dot(E4M3, [zero, neg_zero], [neg_one, neg_zero], a, "exact", acc)) == 0
    tiny = 0x01                                                             # 2**-9: product 2**-18 < e5m2's 2**-16
    assert int(dot(E4M3, [tiny], [tiny | 0x80], E5M2, "exact", "e5m2")) == 0x80   # -2**-18 -> -0
    assert int(dot(E4M3, [tiny], [tiny | 0x80], E5M2, "exact", "e5m2:rtz")) == 0x80


def test_golden_specials_and_overflow() -> None:
    inf, ninf, nan, mx = 0x7C, 0xFC, 0x7E, 0x7B                           # E5M2
    one = 0x3C
    f = lambda xs, acc, out=FP16: int(dot(E5M2, xs, [one] * len(xs), out, "exact", acc))  # noqa: E731
    assert f([inf, mx, ninf], "fp16") == FP16.nan_bits(0)                   # +Inf + -Inf
    assert f([nan, one], "fp16") == FP16.nan_bits(0)
    assert f([ninf, mx, mx], "fp16") == FP16.inf_bits(1)
    big = [mx] * 3                                                          # 3 * 57344 > 65504
    assert int(dot(E5M2, big, big, FP16, "exact", "fp16")) == FP16.inf_bits(0)
    assert int(dot(E5M2, big, big, FP16, "exact", "fp16:rtz")) == FP16.max_finite_field   # RTZ: max
    assert int(dot(E5M2, big, big, FP16, "exact", "fp16:sat")) == FP16.max_finite_field
    neg = [mx | 0x80] * 3
    assert int(dot(E5M2, neg, big, FP16, "exact", "fp16:rtz")) == FP16.sign_mask | FP16.max_finite_field
    # an FN accumulator overflows to its (signed) NaN under RNE, saturates under RTZ
    e4 = get_format("e4m3")
    assert int(dot(E5M2, neg[:1], big[:1], e4, "exact", "e4m3")) == 0xFF
    assert int(dot(E5M2, neg, big, e4, "exact", "e4m3")) == 0x7F           # a NaN sum: canonical +NaN
    assert int(dot(E5M2, neg, big, e4, "exact", "e4m3:rtz")) == 0xFE
    # +Inf after a finite overflow stays +Inf; -Inf then gives NaN
    assert int(dot(E5M2, [*big, ninf], [*big, one], FP16, "exact", "fp16")) == FP16.nan_bits(0)


# --- golden model vs a Fraction reference ----------------------------------------------------

FRACTION_CASES = [
    (E4M3, "exact", "e8m13:rtz"), (E5M2, "lmul", "e8m13:rtz"), (E5M2, "exact", "e8m13"),
    (E5M2, "exact", "fp16"), (E5M2, "exact", "fp16:rtz"), (E4M3, "lmul", "fp16:rtz"),
    (E4M3, "exact", "bf16:rtz"), (E5M2, "lmul", "bf16:rtz"),
    (E4M3, "exact", "e5m2"), (E5M2, "exact", "e4m3"), (E4M3, "exact", "e4m3:sat:rtz"),
    (E5M2, "exact", "e5m4:ftz"), (E5M2, "exact", "e5m4:ftz:rtz"), (E4M3, "exact", "e5m2fnuz"),
    (E4M3, "exact", "e4m6:bias=3"), (E2M1, "exact", "e3m2"), (E2M1, "lmul", "e3m2:rtz"),
    (BF16, "exact", "fp32"), (BF16, "exact", "fp32:rtz"), (BF16, "lmul", "fp32:sat"),
]


@pytest.mark.parametrize(("fmt", "kind", "acc"), FRACTION_CASES, ids=lambda v: str(v))
def test_golden_equals_fraction_reference(fmt: FloatFormat, kind: str, acc: str) -> None:
    a = accumulator(acc)
    a_fmt, mode = get_format(a.params[0]), a.params[1]
    rng = np.random.default_rng(16)
    x, y = operand_rows(fmt, rng, 150, 20, specials=fmt.has_nan)
    p = products(fmt, x, y, kind)
    out = BF16 if fmt is BF16 else a_fmt
    gold = dot(fmt, x, y, out, kind, acc)
    assert np.array_equal(gold.astype(np.int64), frac_dot(a_fmt, mode, out, p))


# --- registry entry -----------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "name", "bits"), [
    ("fp32", "float:fp32:rne", 32), ("FP32:RTZ", "float:fp32:rtz", 32), ("e8m13:rtz", "float:e8m13:rtz", 22),
    ("bf16:rne", "float:bf16:rne", 16), ("e8m7", "float:bf16:rne", 16), ("e5m10:rtz", "float:fp16:rtz", 16),
    ("float:fp16", "float:fp16:rne", 16), ("e5m4:rtz:ftz", "float:e5m4:ftz:rtz", 10),
    ("e4m3:ieee", "float:e4m3_ieee:rne", 8), ("e3m4:bias=2", "float:e3m4:bias=2:rne", 8),
    ("e8m23:sat", "float:fp32:sat:rne", 32),
])
def test_parse_and_names(spec: str, name: str, bits: int) -> None:
    a = accumulator(spec)
    assert a.name == name and accumulator(a.name) == a               # the canonical name is a valid spec
    assert a.state_bits(E4M3, "exact", 16) == a.state_bits(E5M2, "lmul", 4096) == bits
    assert identifier(a.name).replace("_", "").isalnum()
    assert get_format(a.params[0]).same_as(get_format(spec.lower().replace("float:", "")
                                                      .replace(":rtz", "").replace(":rne", "")))


def test_format_spec_round_trips() -> None:
    for spec in ("fp32", "e8m23", "e5m2:ftz", "e4m3:sat", "e6m1:fn:sat", "e3m3:bias=2", "e4m3fnuz", "e5m2:fnuz",
                 "bf16:ftz:sat", "e2m1", "e2m1:ieee", "e2m0:fn", "e1m2:fn", "e3m0:finite:ftz"):
        fmt = get_format(spec)
        assert get_format(float_format_spec(fmt)).same_as(fmt), spec
    assert float_format_spec(get_format("e5m2:fnuz:bias=16")) == "e5m2fnuz"


def test_parse_errors() -> None:
    with pytest.raises(ParameterError, match=r"acc must be one of kulisch; got 'fp99' \(or a float format"):
        accumulator("fp99")
    with pytest.raises(ParameterError, match="acc 'fp32:rnd': unknown format option 'rnd'"):
        accumulator("fp32:rnd")
    with pytest.raises(ParameterError, match="at most one rounding mode"):
        accumulator("fp32:rne:rtz")
    with pytest.raises(ParameterError, match="acc 'float' needs a format"):
        accumulator("float")
    with pytest.raises(ParameterError, match=r"exp_bits must be in 1\.\.8"):
        accumulator("e9m3")
    assert accumulator("kulisch").name == "kulisch" and "float" in ACCUMULATORS


def test_format_checks() -> None:
    with warnings.catch_warnings():                   # the components built before a check fails
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(FormatError, match="accumulator format e2m1 cannot hold the NaN"):
            MacPE(E4M3, "exact", FP32, acc="e2m1")
        with pytest.raises(FormatError, match="output format e2m1 cannot hold the NaN"):
            MacPE(E4M3, "exact", E2M1, acc="fp32")
        with pytest.raises(FormatError, match="output format e2m1 cannot hold the NaN"):
            MacPE(E2M1, "exact", E2M1, acc="e4m3")                       # FN: NaN on overflow
        with pytest.raises(ParameterError, match="needs a float accumulator"):
            FloatAccumulator(E4M3, "exact", 16, "kulisch")
        with pytest.raises(ParameterError, match="k_max"):
            FloatAccumulator(E4M3, "exact", 0, "fp32")
        gc.collect()
    Fragment.get(MacPE(E2M1, "exact", E2M1, acc="e4m3:sat"), None)      # saturating: no NaN to hold


# --- RTL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["exact", "lmul"])
@pytest.mark.parametrize("fmt", [E4M3, E5M2, E2M1, E3M4, E4M3FNUZ, BF16], ids=str)
def test_product_sig_bits_bound(fmt: FloatFormat, kind: str) -> None:
    """The RTL keeps ``product_sig_bits`` bits of each normalised product: no golden product
    spans more (leading to lowest set bit)."""
    if fmt.width <= 8:
        codes = np.arange(1 << fmt.width)
        x, y = (g.ravel() for g in np.meshgrid(codes, codes))
    else:
        rng = np.random.default_rng(17)
        x, y = rng.integers(0, 1 << fmt.width, (2, 200_000))
    v = [abs(int(t)) for t in np.asarray(products(fmt, x, y, kind).value).ravel()]
    span = max(t.bit_length() - ((t & -t).bit_length() - 1) for t in v if t)
    assert span == product_sig_bits(fmt, kind)


def corner_vectors(fmt: FloatFormat, rng: np.random.Generator, k_max: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Dot products for the RTL: random, specials, cancellation, overflow, tiny (subnormal sums,
    underflow to ±0), big + tiny, a long one at k_max, K = 1 back to back, zeros."""
    vecs: list[tuple[np.ndarray, np.ndarray]] = []
    for k in (5, 16, 9, 24):
        x, y = operand_rows(fmt, rng, 10 if fmt.has_nan else 8, k, specials=fmt.has_nan)
        vecs += list(zip(x, y, strict=True))
    mx, s = fmt.max_finite_field, fmt.sign_mask
    vecs.append((np.array([mx] * 6), np.array([mx] * 6)))                          # overflow
    vecs.append((np.array([mx, mx, mx | s, mx | s, mx | s, mx]), np.array([mx] * 6)))
    vecs.append((np.array([mx, 1, mx | s]), np.array([mx, 1, mx])))                # catastrophic cancellation
    vecs.append((np.array([1, 2, 3 | s, 1 | s]), np.array([1, 1, 1, 3])))          # smallest subnormals
    vecs.append((np.array([1 | s]), np.array([1])))                                # tiny negative: -0 if it underflows
    fin = finite_codes(fmt)
    long_x = rng.choice(fin[(fin & fmt.field_mask) > (fmt.bias << fmt.man_bits)], k_max) & fmt.field_mask
    vecs.append((long_x, rng.choice(fin, k_max) & fmt.field_mask))                 # long same-sign run
    for a, b in ((0, 0), (s, 1 << fmt.man_bits), (mx, mx), (1, 1 | s), (s, s), (mx | s, 1)):
        vecs.append((np.array([a]), np.array([b])))                                # K = 1, back to back
    vecs.append((np.zeros(3, np.int64), rng.choice(fin, 3)))
    return vecs


def mac_beats(fmt: FloatFormat, vecs: list[tuple[np.ndarray, np.ndarray]]) -> list:
    lay, fl = mac_in_layout(fmt), FloatLayout(fmt)
    return [lay.const({"a": fl.from_bits(int(x[j])), "b": fl.from_bits(int(y[j])), "last": int(j == len(x) - 1)})
            for x, y in vecs for j in range(len(x))]


def check_mac(fmt: FloatFormat, kind: str, acc: str, out: FloatFormat, vecs: list, k_max: int,
              stall: float = 0.3) -> None:
    dut = MacPE(fmt, kind, out, k_max=k_max, acc=acc)
    gold = [int(dot(fmt, x, y, out, kind, acc)) for x, y in vecs]
    got: list[int] = []
    rng = np.random.default_rng(21)

    async def source(ctx) -> None:
        await put(ctx, dut.i, mac_beats(fmt, vecs), rng=rng, stall=stall)

    async def sink(ctx) -> None:
        got.extend(c.as_bits() for c in await get(ctx, dut.o, len(vecs), rng=np.random.default_rng(22), stall=stall))
        await expect_idle(ctx, dut.o, 10)

    run(dut, source, sink)
    bad = [(i, hex(g), hex(h)) for i, (g, h) in enumerate(zip(got, gold, strict=True)) if g != h]
    assert not bad, bad[:10]


MAC_ACCS = [("fp32", FP32), ("fp16", FP32), ("bf16", E4M3), ("e8m13:rtz", BF16)]


@pytest.mark.parametrize(("acc", "out"), MAC_ACCS, ids=[a for a, _ in MAC_ACCS])
@pytest.mark.parametrize("kind", ["exact", "lmul"])
@pytest.mark.parametrize("fmt", [E4M3, E5M2], ids=str)
def test_mac_pe_float_acc(fmt: FloatFormat, kind: str, acc: str, out: FloatFormat) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{fmt.name} {kind} {acc}".encode()))
    check_mac(fmt, kind, acc, out, corner_vectors(fmt, rng, 96), 96)


@pytest.mark.parametrize(("fmt", "kind", "acc", "out"), [
    (BF16, "exact", "fp32", FP32), (E4M3, "exact", "e5m4:ftz", FP16), (E5M2, "lmul", "e4m3", E4M3),
    (E2M1, "exact", "e3m2:rtz", E2M1), (E4M3, "lmul", "fp16:rtz", FP16),
], ids=lambda v: str(v))
def test_mac_pe_float_acc_variants(fmt: FloatFormat, kind: str, acc: str, out: FloatFormat) -> None:
    """BF16 operands (522-bit products normalised to 16 bits), FTZ, an FN accumulator (NaN on
    overflow), a FINITE one, fp16 RTZ."""
    rng = np.random.default_rng(23)
    check_mac(fmt, kind, acc, out, corner_vectors(fmt, rng, 32), 32)


def test_mac_pe_float_acc_latency() -> None:
    dut = MacPE(E4M3, "lmul", FP32, k_max=16, acc="fp32")
    assert dut.latency == 3 and dut.cell.accumulator.latency == FloatAccumulator.latency == 2
    rng = np.random.default_rng(5)
    vecs = [(rng.integers(0, 1 << 8, k), rng.integers(0, 1 << 8, k)) for k in (1, 1, 4, 1, 7, 2, 16)]
    beats = mac_beats(E4M3, vecs)
    got, latencies = results_and_latencies(dut, beats, len(vecs), rng)
    assert got == [int(dot(E4M3, x, y, FP32, "lmul", "fp32")) for x, y in vecs]
    assert latencies == [dut.latency] * len(vecs)


@pytest.mark.parametrize(("fmt", "kind", "out", "acc", "rows", "cols"), [
    (E4M3, "exact", FP32, "fp32", 2, 3), (E5M2, "lmul", BF16, "bf16:rtz", 2, 2),
], ids=lambda v: str(v))
def test_systolic_array_float_acc(fmt: FloatFormat, kind: str, out: FloatFormat, acc: str, rows: int,
                                  cols: int) -> None:
    rng = np.random.default_rng(24)
    dut = SystolicArray(fmt, kind, rows, cols, out, k_max=32, acc=acc)
    assert dut.state_layout.size == get_format(accumulator(acc).params[0]).width
    tiles = []
    for i, k in enumerate([5, 1, 2, 9, 3, 12, 1, 32]):
        xs, ys = operand_rows(fmt, rng, 5 * max(rows, cols), k)      # style i % 5 for the whole tile
        tiles.append((xs[i % 5::5][:rows], ys[i % 5::5][:cols].T.copy()))
    expected = [(list(map(int, g[r])), r) for a, b in tiles for g in [matmul(fmt, a, b, out, kind, acc)]
                for r in range(rows)]
    fl = FloatLayout(fmt)
    beats = []
    for a, b in tiles:
        lay = array_in_layout(fmt, rows, cols)
        beats += [lay.const({"a": [fl.from_bits(int(v)) for v in a[:, kk]],
                             "b": [fl.from_bits(int(v)) for v in b[kk, :]], "last": int(kk == a.shape[1] - 1)})
                  for kk in range(a.shape[1])]
    got: list[tuple[list[int], int]] = []

    async def source(ctx) -> None:
        await put(ctx, dut.i, beats, rng=rng, stall=0.3)

    async def sink(ctx) -> None:
        rows_out = await get(ctx, dut.o, len(expected), rng=np.random.default_rng(25), stall=0.3)
        got.extend(([c.as_bits() for c in p.c], p.row) for p in rows_out)
        await expect_idle(ctx, dut.o, 40)

    run(dut, source, sink)
    assert got == expected
