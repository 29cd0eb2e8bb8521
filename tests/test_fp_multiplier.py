"""lmul.sim.fp_multiplier: fp_multiply bit-exact vs ml_dtypes / numpy / exact Fraction arithmetic,
fp_product exact vs integer arithmetic."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from conftest import SMALL_FORMATS, all_pairs, ml_decode, ml_encode, ml_multiply
from refmodel import fields, magnitude, ref_fp_multiply, zero_code

from lmul.formats import BF16, E4M3, E5M2, FP16, FloatFormat, FormatError, Overflow, Specials, decode, get_format
from lmul.sim.fp_multiplier import fp_multiply, fp_product

ids = str


def sign_field(fmt: FloatFormat) -> int:
    return 1 << (fmt.exp_bits + fmt.man_bits)


# --- exhaustive vs ml_dtypes ---------------------------------------------------------------------

@pytest.mark.parametrize("fmt", SMALL_FORMATS, ids=ids)
def test_fp_multiply_all_pairs_vs_ml_dtypes(fmt: FloatFormat) -> None:
    x, y = all_pairs(fmt)
    got = fp_multiply(fmt, x, y)
    assert got.dtype == np.uint8 and got.shape == x.shape
    assert np.array_equal(got.astype(np.int64), ml_multiply(fmt, x, y))


@pytest.mark.parametrize("fmt", SMALL_FORMATS, ids=ids)
def test_fp_multiply_all_pairs_saturating(fmt: FloatFormat) -> None:
    """Overflow.SATURATE: as ml_dtypes, except finite products that overflow give ±max."""
    sat = fmt.with_(overflow=Overflow.SATURATE)
    x, y = all_pairs(fmt)
    base = ml_multiply(fmt, x, y)
    with np.errstate(invalid="ignore"):
        exact = ml_decode(fmt, x) * ml_decode(fmt, y)         # float64: exact
    overflowed = np.isfinite(exact) & ~np.isfinite(ml_decode(fmt, base))
    maxcode = np.where(np.signbit(exact), sign_field(fmt), 0) | fmt.max_finite_field
    want = np.where(overflowed, maxcode, base)
    assert overflowed.any() or fmt.specials is Specials.FINITE
    assert np.array_equal(fp_multiply(sat, x, y).astype(np.int64), want)


@pytest.mark.parametrize("fmt", SMALL_FORMATS, ids=ids)
def test_fp_multiply_all_pairs_ftz(fmt: FloatFormat) -> None:
    """subnormals=False: operands DAZ, results that round to a subnormal flushed to ±0."""
    ftz = fmt.with_(subnormals=False)
    x, y = all_pairs(fmt)
    m, fb = fmt.man_bits, fmt.exp_bits + fmt.man_bits

    def daz(c: np.ndarray) -> np.ndarray:
        sub = ((c >> m) & ((1 << fmt.exp_bits) - 1) == 0) & (c & ((1 << m) - 1) != 0)
        zero = 0 if fmt.specials is Specials.FNUZ else c & (1 << fb)
        return np.where(sub, zero, c)

    base = ml_multiply(fmt, daz(x), daz(y))
    field = base & ((1 << fb) - 1)
    sub = (field > 0) & (field < (1 << m))
    zero = 0 if fmt.specials is Specials.FNUZ else base & (1 << fb)
    want = np.where(sub, zero, base)
    got = fp_multiply(ftz, x, y).astype(np.int64)
    assert np.array_equal(got, want)
    assert not np.array_equal(got, fp_multiply(fmt, x, y).astype(np.int64))


# --- BF16 / FP16 ---------------------------------------------------------------------------------

def special_codes(fmt: FloatFormat) -> np.ndarray:
    """Special classes of a 16-bit IEEE format, both signs: zeros, sub/normal boundaries, max,
    one, Inf, quiet and signalling NaN payloads, plus values whose products overflow, land in
    the subnormal range, underflow, or round at an exact tie."""
    m, e = fmt.man_bits, fmt.exp_bits
    top = ((1 << e) - 1) << m
    sb = sign_field(fmt)
    raw = [0, 1, 2, 3, (1 << m) - 1, 1 << (m - 1), 1 << m, (1 << m) | 1, top - 1, top - 2, fmt.bias << m,
           top, top | (1 << (m - 1)), top | (1 << (m - 1)) | 1, top | ((1 << m) - 1), top | 1, top | (1 << (m - 2))]
    emax = (top >> m) - 1 - fmt.bias
    emin = 1 - fmt.bias
    h = emax // 2 + 1                          # h + h > emax: overflow
    t = (emin - m) // 2                        # t + t inside the subnormal range
    mants = [1.0, 1.0 + 2.0 ** -m, 1.0 + 3 * 2.0 ** -m, 1.5, 2.0 - 2.0 ** -m, 1.0 + 2.0 ** (1 - m), 1.25, 1.75]
    vals = [3.0, 5.0, 7.0, 0.75, 9.0, 11.0]
    for k in (h, h - 1, emax, t, t + 1, t - 1, emin, emin // 2, emin // 2 - 1, (emin - m - 1) // 2, -h):
        vals += [mm * 2.0 ** k for mm in mants]
    vals += [v * 2.0 ** -m for v in (3.0, 5.0)]
    codes = np.concatenate([np.array(raw), ml_encode(fmt, np.array(vals))])
    codes = np.unique(np.concatenate([codes, codes | sb]))
    return codes


def special_pairs(fmt: FloatFormat) -> tuple[np.ndarray, np.ndarray]:
    sp = special_codes(fmt)
    x, y = np.meshgrid(sp, sp, indexing="ij")
    return x.ravel(), y.ravel()


def random_pairs(fmt: FloatFormat, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform pairs plus ``n // 4`` pairs with exponents spread so that products cover
    underflow, the subnormal range, normal range and overflow about evenly."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1 << fmt.width, n, dtype=np.int64)
    y = rng.integers(0, 1 << fmt.width, n, dtype=np.int64)
    k = n // 4
    half = (1 << fmt.exp_bits) // 2
    lo, hi = max(1, fmt.bias - half // 2 - fmt.man_bits), min((1 << fmt.exp_bits) - 1, fmt.bias + half // 2 + 1)

    def spread() -> np.ndarray:
        return ((rng.integers(0, 2, k) << (fmt.exp_bits + fmt.man_bits)) | (rng.integers(lo, hi, k) << fmt.man_bits)
                | rng.integers(0, 1 << fmt.man_bits, k))

    return np.concatenate([x, spread()]), np.concatenate([y, spread()])


def test_bf16_special_classes_cover_all_cases() -> None:
    """The special list really contains overflowing, subnormal and tie products."""
    x, y = special_pairs(BF16)
    vx, vy = ml_decode(BF16, x), ml_decode(BF16, y)
    with np.errstate(invalid="ignore"):
        p = vx * vy
    finite = np.isfinite(p)
    assert np.any(finite & (np.abs(p) > BF16.max_value))
    assert np.any(finite & (p != 0) & (np.abs(p) < BF16.min_normal) & (np.abs(p) >= BF16.min_subnormal))
    assert np.any(finite & (p != 0) & (np.abs(p) < BF16.min_subnormal / 2))
    # ties: BF16 is the top half of FP32, so an exact float32 product is halfway between two
    # BF16 neighbours exactly when its low 16 bits are 0x8000
    with np.errstate(over="ignore"):
        low = p.astype(np.float32).view(np.uint32) & 0xFFFF
    tie = finite & (low == 0x8000) & (np.abs(p) <= BF16.max_value)
    assert tie.sum() >= 20
    assert np.any(tie & (np.abs(p) < BF16.min_normal))
    assert len(special_codes(BF16)) >= 100


def test_fp_multiply_bf16_special_pairs_vs_ml_dtypes() -> None:
    x, y = special_pairs(BF16)
    got = fp_multiply(BF16, x, y)
    assert got.dtype == np.uint16
    assert np.array_equal(got.astype(np.int64), ml_multiply(BF16, x, y))


def test_fp_multiply_bf16_random_vs_ml_dtypes() -> None:
    x, y = random_pairs(BF16, 1_000_000, seed=5)
    assert np.array_equal(fp_multiply(BF16, x, y).astype(np.int64), ml_multiply(BF16, x, y))


def _np16_multiply(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return (x.astype(np.uint16).view(np.float16) * y.astype(np.uint16).view(np.float16)).view(np.uint16)


@pytest.mark.parametrize("pairs", ["special", "random"])
def test_fp_multiply_fp16_vs_numpy(pairs: str) -> None:
    """numpy's float16 multiply rounds the (exact, float32) product once. numpy propagates NaN
    payloads while fp_multiply returns the canonical NaN, so NaN results are compared by
    NaN-ness only; every non-NaN result must match bit for bit."""
    x, y = special_pairs(FP16) if pairs == "special" else random_pairs(FP16, 1_000_000, seed=6)
    got = fp_multiply(FP16, x, y).astype(np.int64)
    want = _np16_multiply(x, y).astype(np.int64)
    got_nan, want_nan = np.isnan(decode(FP16, got)), np.isnan(ml_decode(FP16, want))
    assert np.array_equal(got_nan, want_nan)
    assert np.array_equal(got[~want_nan], want[~want_nan])
    # the canonical NaN: quiet, sign of y if y is NaN, else of x if x is NaN, else negative
    fb = 15
    xn, yn = np.isnan(decode(FP16, x)), np.isnan(decode(FP16, y))
    nsign = np.where(yn, y >> fb, np.where(xn, x >> fb, 1))
    assert np.array_equal(got[got_nan], (nsign[got_nan] << fb) | 0x7E00)


# --- exact rounding, independent of ml_dtypes ----------------------------------------------------

REF_FORMATS = [E4M3, BF16, FP16, get_format("e6m1:fn:sat"), get_format("e3m3:bias=2"), get_format("e5m2:ftz"),
               get_format("e4m3:sat"), get_format("e2m5:finite"), get_format("e5m3"), get_format("e4m3fnuz:ftz"),
               get_format("e5m2fnuz:sat"), get_format("e8m3:bias=-100")]


@pytest.mark.parametrize("fmt", REF_FORMATS, ids=ids)
def test_fp_multiply_vs_exact_fraction_rounding(fmt: FloatFormat) -> None:
    """fp_multiply == the exact product rounded once (RNE, ties to even) by Python Fractions,
    with the format's FTZ and overflow policies and the documented NaN rule."""
    rng = np.random.default_rng(fmt.width * 7 + abs(fmt.bias))
    n = 6000
    x = rng.integers(0, 1 << fmt.width, n)
    y = rng.integers(0, 1 << fmt.width, n)
    # bias the sample toward products in range: y's exponent near the bias - x's
    m, e = fmt.man_bits, fmt.exp_bits
    xe = (x >> m) & ((1 << e) - 1)
    ye = np.clip(2 * fmt.bias - xe + rng.integers(-3, 4, n), 0, (1 << e) - 1)
    y2 = (y & ~(((1 << e) - 1) << m)) | (ye << m)
    x, y = np.concatenate([x, x]), np.concatenate([y, y2])
    got = fp_multiply(fmt, x, y).astype(np.int64).tolist()
    want = [ref_fp_multiply(fmt, a, b) for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    assert got == want


def encode_e5m2(v: float) -> int:
    return int(ml_encode(E5M2, np.array([v]))[0])


def test_fp_multiply_ties_to_even_targeted() -> None:
    # E4M3 codes: 0x38 = 1.0, 0x39 = 1.125, 0x3C = 1.5, 0x3E = 1.75
    # 1.125 * 1.5 = 1.6875: tie between 1.625 (M=5) and 1.75 (M=6, even) -> up to 1.75
    assert float(decode(E4M3, fp_multiply(E4M3, 0x39, 0x3C))) == 1.75
    # 1.5 * 1.75 = 2.625: tie between 2.5 (M=2, even) and 2.75 -> down to 2.5
    assert float(decode(E4M3, fp_multiply(E4M3, 0x3C, 0x3E))) == 2.5
    # 1.125 * 1.125 = 1.265625: no tie, nearest 1.25
    assert float(decode(E4M3, fp_multiply(E4M3, 0x39, 0x39))) == 1.25
    # E5M2 subnormal results, quantum 2**-16; b = 2**-8
    q, b = 2.0 ** -16, encode_e5m2(2.0 ** -8)
    cases = [(1.5 * 2.0 ** -8, 2 * q),      # 1.5 quanta: tie 1|2 -> 2 (even)
             (1.25 * 2.0 ** -7, 2 * q),     # 2.5 quanta: tie 2|3 -> 2 (even)
             (1.75 * 2.0 ** -7, 4 * q),     # 3.5 quanta: tie 3|4 -> 4 (even)
             (1.25 * 2.0 ** -8, q),         # 1.25 quanta -> 1
             (2.0 ** -9, 0.0),              # 0.5 quanta: tie 0|1 -> 0 (even)
             (1.25 * 2.0 ** -9, q)]         # 0.625 quanta -> 1
    for a, want in cases:
        assert float(decode(E5M2, fp_multiply(E5M2, encode_e5m2(a), b))) == want, a


def test_fp_multiply_nan_rule_targeted() -> None:
    qn, qn_neg, inf, ninf = 0x7E, 0xFE, 0x7C, 0xFC
    one, neg_two, zero, nzero = 0x3C, 0xC0, 0x00, 0x80
    snan_neg = 0xFD            # signalling NaN payload, negative
    cases = [
        (one, 0x7D, qn), (0xFF, one, qn_neg), (0x7F, snan_neg, qn_neg), (snan_neg, 0x7F, qn),
        (zero, inf, qn_neg), (inf, nzero, qn_neg), (ninf, zero, qn_neg),
        (inf, neg_two, ninf), (ninf, neg_two, inf), (inf, inf, inf), (ninf, inf, ninf),
        (zero, neg_two, nzero), (nzero, nzero, zero), (0x01, inf, inf),   # Inf × subnormal is Inf
    ]
    for x, y, want in cases:
        assert int(fp_multiply(E5M2, x, y)) == want, (hex(x), hex(y))
    fnuz = get_format("e5m2fnuz")
    assert int(fp_multiply(fnuz, 0x80, 0x3C)) == 0x80
    assert int(fp_multiply(fnuz, 0xBC, 0x00)) == 0x00           # -1 × 0 = +0 (no negative zero)
    assert int(fp_multiply(E4M3, 0x7F, 0xB8)) == 0x7F and int(fp_multiply(E4M3, 0xB8, 0xFF)) == 0xFF


def test_fp_multiply_overflow_policies_targeted() -> None:
    assert int(fp_multiply(E5M2, 0x7B, 0xFB)) == 0xFC                                    # -Inf
    assert int(fp_multiply(E4M3, 0x7E, 0xFE)) == 0xFF                                    # NaN, sign -
    assert int(fp_multiply(E4M3, 0x7E, 0x7E)) == 0x7F                                    # NaN, sign +
    assert int(fp_multiply(E4M3, 0x7E, 0xBE)) == 0xFF
    assert int(fp_multiply(E4M3.with_(overflow=Overflow.SATURATE), 0x7E, 0xFE)) == 0xFE    # -max
    assert int(fp_multiply(E4M3.with_(overflow=Overflow.SATURATE), 0x7E, 0x3E)) == 0x7E    # 448*1.75 -> max
    sat5 = E5M2.with_(overflow=Overflow.SATURATE)
    assert int(fp_multiply(sat5, 0x7B, 0xFB)) == 0xFB
    assert int(fp_multiply(sat5, 0x7C, 0x3C)) == 0x7C                                    # Inf stays Inf
    assert int(fp_multiply(get_format("e2m1"), 0x7, 0xF)) == 0xF                         # 6 × -6 -> -6


def test_fp_multiply_broadcast_and_validation() -> None:
    x = np.array([[0x38], [0x40]])
    y = np.array([0x38, 0x40, 0xC0])
    r = fp_multiply(E4M3, x, y)
    assert r.shape == (2, 3)
    assert np.array_equal(decode(E4M3, r), np.array([[1.0, 2.0, -2.0], [2.0, 4.0, -4.0]]))
    assert int(fp_multiply(E4M3, 0x38, 0x40)) == 0x40
    for bad in (256, -1):
        with pytest.raises(FormatError):
            fp_multiply(E4M3, bad, 0x38)
    with pytest.raises(FormatError):
        fp_multiply(E4M3, 0x38, np.array([1.5]))
    with pytest.raises(FormatError):
        fp_multiply(get_format("e2m1"), 0x10, 0)


# --- fp_product ----------------------------------------------------------------------------------

def quantum_ints(fmt: FloatFormat) -> tuple[np.ndarray, int]:
    """Per code: |value| / 2**q as a Python int (0 for NaN/Inf), q = 1 - bias - man_bits."""
    q = 1 - fmt.bias - fmt.man_bits
    out = np.empty(1 << fmt.width, dtype=object)
    top = (1 << fmt.exp_bits) - 1
    for c in range(1 << fmt.width):
        _, e, _ = fields(fmt, c)
        special = (fmt.specials is Specials.IEEE and e == top) or (
            fmt.specials is Specials.FN and c & ((1 << (fmt.width - 1)) - 1) == (1 << (fmt.width - 1)) - 1) or (
            fmt.specials is Specials.FNUZ and c == 1 << (fmt.width - 1))
        mag = 0 if special else magnitude(fmt, c, daz=False) / 2 ** q
        assert mag == int(mag)
        out[c] = int(mag)
    return out, q


def product_pairs(fmt: FloatFormat) -> tuple[np.ndarray, np.ndarray]:
    if fmt.width <= 8:
        return all_pairs(fmt)
    sx, sy = special_pairs(fmt)
    rx, ry = random_pairs(fmt, 20_000, seed=11)
    return np.concatenate([sx, rx]), np.concatenate([sy, ry])


@pytest.mark.parametrize("fmt", [E4M3, E5M2, BF16, get_format("e4m3fnuz")], ids=ids)
def test_fp_product_exact(fmt: FloatFormat) -> None:
    x, y = product_pairs(fmt)
    p = fp_product(fmt, x, y)
    table, q = quantum_ints(fmt)
    sign = ((x ^ y) >> (fmt.width - 1)) & 1
    mag = table[x] * table[y]                               # object: exact Python ints
    want = np.where(sign == 1, -mag, mag)
    special = p.nan | (p.inf != 0)
    value = p.value.astype(object)
    d = p.lsb_exp - 2 * q                                  # value * 2**lsb == want * 2**(2q)
    lhs, rhs = (value * 2 ** d, want) if d >= 0 else (value, want * 2 ** (-d))
    assert np.array_equal(lhs[~special], rhs[~special])
    assert np.all(value[special] == 0)
    assert max(abs(int(v)) for v in p.value.tolist()).bit_length() <= p.bits
    if fmt.width > 8:
        assert p.value.dtype == object


@pytest.mark.parametrize("fmt", [E4M3, E5M2, BF16, get_format("e4m3fnuz"), get_format("e2m1")], ids=ids)
def test_fp_product_flags(fmt: FloatFormat) -> None:
    x, y = product_pairs(fmt)
    p = fp_product(fmt, x, y)
    with np.errstate(invalid="ignore"):
        exact = ml_decode(fmt, x) * ml_decode(fmt, y)        # float64: NaN iff NaN operand or 0 × Inf
    want_nan = np.isnan(exact)
    want_inf = np.where(np.isinf(exact), np.where(exact > 0, 1, -1), 0)
    assert np.array_equal(p.nan, want_nan)
    assert np.array_equal(p.inf.astype(np.int64), want_inf)
    # consistent with fp_multiply's specials
    r = decode(fmt, fp_multiply(fmt, x, y))
    assert np.all(np.isnan(r[p.nan]))
    assert np.array_equal(r[p.inf != 0], p.inf[p.inf != 0] * np.inf)


@pytest.mark.parametrize("fmt", [E4M3, E5M2, BF16, FP16, get_format("e2m1"), get_format("e3m4")], ids=ids)
def test_fp_product_bits_bound_max_product(fmt: FloatFormat) -> None:
    mx = fmt.max_finite_field
    p = fp_product(fmt, np.array([mx, mx]), np.array([mx, mx | sign_field(fmt)]))
    q = 1 - fmt.bias - fmt.man_bits
    xmax = int(magnitude(fmt, mx) / 2 ** q)
    got = [int(v) * Fraction(2) ** p.lsb_exp for v in p.value.tolist()]
    assert got == [xmax * xmax * Fraction(2) ** (2 * q), -xmax * xmax * Fraction(2) ** (2 * q)]
    assert abs(int(p.value[0])).bit_length() <= p.bits


def test_fp_product_zero_sign_and_subnormals() -> None:
    # subnormal operands are exact (not DAZ) in fp_product for a format with subnormals
    p = fp_product(E5M2, np.array([0x01, 0x81, 0x00]), np.array([0x01, 0x3C, 0x3C]))
    vals = [int(v) * 2.0 ** p.lsb_exp for v in p.value.tolist()]
    assert vals == [2.0 ** -32, -(2.0 ** -16), 0.0]
    ftz = E5M2.with_(subnormals=False)
    p2 = fp_product(ftz, np.array([0x01, 0x7C]), np.array([0x3C, 0x01]))
    assert int(p2.value[0]) == 0
    assert bool(p2.nan[1])            # Inf × (DAZ) 0 is NaN


def test_reference_zero_code_helper() -> None:
    """Sanity of the reference helper used above (FNUZ has only +0)."""
    assert zero_code(get_format("e4m3fnuz"), 1) == 0 and zero_code(E4M3, 1) == 0x80


@pytest.mark.parametrize("fmt", [BF16, FP16, get_format("fp32"), E5M2, E4M3], ids=ids)
def test_fp_product_scalar_operands(fmt: FloatFormat) -> None:
    """The API takes ``np.ndarray | int``: Python-int (0-d) operands must give the same exact
    product as 1-element arrays, also when products need Python ints (object dtype)."""
    one = fmt.bias << fmt.man_bits
    mx = fmt.max_finite_field
    for a, b in ((one, one), (mx, mx), (mx | (1 << (fmt.width - 1)), mx), (1, 1)):
        arr = fp_product(fmt, np.array([a]), np.array([b]))
        sc = fp_product(fmt, a, b)
        assert sc.value.shape == ()
        assert int(sc.value) == int(arr.value[0])
    p = fp_product(fmt, one, one)
    assert int(p.value) * Fraction(2) ** p.lsb_exp == 1
