"""lmul.formats: validation, get_format parsing, decode/encode against ml_dtypes and exact references."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from conftest import ML_DTYPES, TWINS, all_codes, ml_decode, ml_encode, storage
from refmodel import encode_exact, magnitude, nan_code

from lmul.formats import (
    BF16,
    E4M3,
    E5M2,
    FP16,
    FP32,
    NAMED_FORMATS,
    FloatFormat,
    FormatError,
    Overflow,
    Specials,
    decode,
    encode,
    get_format,
)

ALL_ML = list(ML_DTYPES)
ids = str


# --- construction / validation ------------------------------------------------------------------

INVALID: list[tuple[str, dict[str, Any]]] = [
    ("exp_bits=0", {"exp_bits": 0}),
    ("exp_bits=9", {"exp_bits": 9}),
    ("exp_bits<0", {"exp_bits": -1}),
    ("man_bits=24", {"man_bits": 24}),
    ("man_bits<0", {"man_bits": -1}),
    ("ieee exp_bits=1", {"exp_bits": 1, "specials": Specials.IEEE}),
    ("ieee man_bits=0", {"man_bits": 0, "specials": Specials.IEEE}),
    ("float exp_bits", {"exp_bits": 4.0}),
    ("str man_bits", {"man_bits": "3"}),
    ("bool man_bits", {"man_bits": True}),
    ("float bias", {"bias": 7.5}),
    ("None bias", {"bias": None}),
    ("bias too big", {"bias": 257}),
    ("bias too small", {"bias": -257}),
    ("specials as str", {"specials": "fn"}),
    ("specials None", {"specials": None}),
    ("overflow as str", {"overflow": "saturate"}),
    ("overflow wrong enum", {"overflow": Specials.FN}),
    ("fn with 1 field bit", {"exp_bits": 1, "man_bits": 0, "specials": Specials.FN}),
]


@pytest.mark.parametrize(("changes"), [c for _, c in INVALID], ids=[n for n, _ in INVALID])
def test_invalid_parameters_rejected(changes: dict[str, Any]) -> None:
    params: dict[str, Any] = {"name": "t", "exp_bits": 4, "man_bits": 3, "bias": 7,
                              "specials": Specials.FN, "subnormals": True, "overflow": Overflow.DEFAULT}
    params.update(changes)
    with pytest.raises(FormatError):
        FloatFormat(**params)


def test_invalid_with_rejected() -> None:
    with pytest.raises(FormatError):
        E5M2.with_(exp_bits=1)
    with pytest.raises(FormatError):
        E4M3.with_(specials=Specials.IEEE, man_bits=0)


def test_format_error_is_value_error() -> None:
    assert issubclass(FormatError, ValueError)


@pytest.mark.parametrize(("e", "m", "sp"), [(1, 0, Specials.FINITE), (1, 2, Specials.FINITE), (2, 0, Specials.FNUZ),
                                            (8, 23, Specials.IEEE), (2, 1, Specials.IEEE), (8, 0, Specials.FN)])
def test_valid_edge_parameters_accepted(e: int, m: int, sp: Specials) -> None:
    f = FloatFormat("t", e, m, 1, sp)
    assert (f.exp_bits, f.man_bits, f.width) == (e, m, 1 + e + m)


def test_named_formats_parameters() -> None:
    # (exp_bits, man_bits, bias, specials) from the OCP / ml_dtypes definitions.
    want = {
        "e4m3": (4, 3, 7, Specials.FN), "e5m2": (5, 2, 15, Specials.IEEE), "e4m3_ieee": (4, 3, 7, Specials.IEEE),
        "e3m4": (3, 4, 3, Specials.IEEE), "e4m3fnuz": (4, 3, 8, Specials.FNUZ), "e5m2fnuz": (5, 2, 16, Specials.FNUZ),
        "e4m3b11fnuz": (4, 3, 11, Specials.FNUZ), "e2m3": (2, 3, 1, Specials.FINITE),
        "e3m2": (3, 2, 3, Specials.FINITE), "e2m1": (2, 1, 1, Specials.FINITE), "bf16": (8, 7, 127, Specials.IEEE),
        "fp16": (5, 10, 15, Specials.IEEE), "fp32": (8, 23, 127, Specials.IEEE),
    }
    assert set(NAMED_FORMATS) == set(want)
    for name, (e, m, b, sp) in want.items():
        f = NAMED_FORMATS[name]
        assert (f.exp_bits, f.man_bits, f.bias, f.specials) == (e, m, b, sp), name
        assert f.subnormals and f.overflow is Overflow.DEFAULT
        assert get_format(name) is f
        assert get_format(name.upper()) is f


@pytest.mark.parametrize("fmt", ALL_ML, ids=ids)
def test_max_value_matches_ml_dtypes(fmt: FloatFormat) -> None:
    fi = ml_dtypes.finfo(ML_DTYPES[fmt])
    assert fmt.max_value == float(fi.max)
    assert fmt.min_normal == float(fi.smallest_normal)
    assert fmt.min_subnormal == float(fi.smallest_subnormal)


# --- get_format ---------------------------------------------------------------------------------

def test_get_format_named_and_passthrough() -> None:
    assert get_format("e4m3") is E4M3
    assert get_format(E5M2) is E5M2
    custom = FloatFormat("x", 3, 3, 2, Specials.FINITE)
    assert get_format(custom) is custom


def test_get_format_exmy_fn_sat() -> None:
    f = get_format("e6m1:fn:sat")
    assert (f.exp_bits, f.man_bits, f.bias) == (6, 1, 31)
    assert f.specials is Specials.FN and f.overflow is Overflow.SATURATE and f.subnormals
    assert f.saturates and not f.has_inf and f.has_nan


def test_get_format_ftz() -> None:
    f = get_format("e5m2:ftz")
    assert (f.exp_bits, f.man_bits, f.bias, f.specials, f.overflow) == (5, 2, 15, Specials.IEEE, Overflow.DEFAULT)
    assert f.subnormals is False


def test_get_format_bias() -> None:
    f = get_format("e3m3:bias=2")
    assert (f.exp_bits, f.man_bits, f.bias, f.specials) == (3, 3, 2, Specials.IEEE)
    assert f.subnormals and f.overflow is Overflow.DEFAULT
    g = get_format("e5m2:bias=-3")
    assert g.bias == -3


def test_get_format_plain_exmy_is_ieee_with_standard_bias() -> None:
    for e, m in [(2, 2), (3, 3), (5, 10), (8, 6), (6, 5), (4, 4), (8, 23)]:
        f = get_format(f"e{e}m{m}")
        assert (f.exp_bits, f.man_bits, f.bias, f.specials) == (e, m, 2 ** (e - 1) - 1, Specials.IEEE)


def test_get_format_options_on_named_format() -> None:
    f = get_format("e4m3:fnuz")
    assert (f.exp_bits, f.man_bits, f.bias, f.specials) == (4, 3, 7, Specials.FNUZ)
    g = get_format("E5M2:SAT:FTZ")
    assert g.overflow is Overflow.SATURATE and g.subnormals is False and g.specials is Specials.IEEE


@pytest.mark.parametrize(("spec", "e", "m", "sp"), [("e3m0:finite", 3, 0, Specials.FINITE),
                                                     ("e1m2:finite", 1, 2, Specials.FINITE),
                                                     ("e4m0:fn", 4, 0, Specials.FN)])
def test_get_format_exmy_non_ieee_option_applies_before_validation(spec: str, e: int, m: int, sp: Specials) -> None:
    """``ExMy:finite`` / ``:fn`` describe valid formats (FloatFormat accepts them directly);
    the parser must not reject them because the IEEE default would be invalid."""
    direct = FloatFormat(spec, e, m, 2 ** (e - 1) - 1, sp)     # valid: constructing it does not raise
    f = get_format(spec)
    assert (f.exp_bits, f.man_bits, f.bias, f.specials) == (direct.exp_bits, direct.man_bits, direct.bias, sp)


@pytest.mark.parametrize("spec", ["", "foo", "e4m3x", "e9m1", "e0m3", "e4m24", "e2m0", "e1m3", "e4m3:bogus",
                                  "e4m3:bias=", "e4m3:bias=x", "e4m3:sat:nosuch", "e4m3:", "e5m2:bias=1000",
                                  "fp8", "e4 m3", ":sat"])
def test_get_format_rejects(spec: str) -> None:
    with pytest.raises(FormatError):
        get_format(spec)


@pytest.mark.parametrize("spec", [None, 42, 4.3, b"e4m3"])
def test_get_format_rejects_non_strings(spec: object) -> None:
    with pytest.raises(FormatError):
        get_format(spec)  # type: ignore[arg-type]


@pytest.mark.parametrize(("spec", "first", "second"), [
    ("e4m3:fn:ieee", "fn", "ieee"), ("e5m2:fnuz:finite", "fnuz", "finite"), ("e3m2:finite:fn", "finite", "fn"),
    ("bf16:ieee:fnuz", "ieee", "fnuz"), ("e6m1:fn:sat:ieee", "fn", "ieee"), ("e3m3:bias=2:bias=3", "bias=2", "bias=3"),
    ("E4M3:FN:IEEE", "fn", "ieee")])
def test_get_format_rejects_conflicting_options_naming_both(spec: str, first: str, second: str) -> None:
    """Two options that set the same parameter are a contradiction, not "the last one wins"."""
    with pytest.raises(FormatError, match="conflicting") as e:
        get_format(spec)
    assert repr(first) in str(e.value) and repr(second) in str(e.value)


@pytest.mark.parametrize(("spec", "opt"), [("e5m2:sat:sat", "sat"), ("e5m2:ftz:sat:ftz", "ftz"),
                                           ("e4m3:fn:fn", "fn"), ("e3m3:bias=2:bias=2", "bias=2")])
def test_get_format_rejects_repeated_options(spec: str, opt: str) -> None:
    with pytest.raises(FormatError, match=f"{opt!r} given twice"):
        get_format(spec)


def test_get_format_one_option_per_parameter_overrides_the_base() -> None:
    """An option overrides the named base's value (``e4m3:ieee``); only a second option for the same
    parameter is refused, also when it would restore the base's value."""
    assert get_format("e4m3:ieee").specials is Specials.IEEE
    f = get_format("e6m1:fn:sat:ftz:bias=30")
    assert (f.specials, f.overflow, f.subnormals, f.bias) == (Specials.FN, Overflow.SATURATE, False, 30)
    for fmt in NAMED_FORMATS.values():                                      # every canonical spec parses
        assert get_format(fmt.spec).same_as(fmt)
    with pytest.raises(FormatError, match="conflicting format options 'ieee' and 'fn'"):
        get_format("e4m3:ieee:fn")


def test_golden_functions_encode_decode_take_format_names() -> None:
    """Every public golden entry point takes a format name (or spec) as well as a FloatFormat, and
    ``lmul`` / ``lmul.sim`` export the quickstart's API."""
    import lmul
    import lmul.sim
    from lmul.sim.lmul_pe import lmul_literal, lmul_value

    for name in ("fp_multiply", "fp_product", "lmul", "lmul_product", "dot", "matmul"):
        assert callable(getattr(lmul.sim, name)) and name in lmul.sim.__all__
    for name in ("get_format", "FloatFormat", "encode", "decode", "E4M3", "BF16", "NAMED_FORMATS"):
        assert name in lmul.__all__ and getattr(lmul, name) is not None
    assert lmul.E4M3 is E4M3 and lmul.get_format is get_format
    x = np.arange(256)
    y = x[::-1].copy()
    np.testing.assert_array_equal(encode("e4m3", [1.5, -448.0]), encode(E4M3, [1.5, -448.0]))
    np.testing.assert_array_equal(decode("e4m3", x), decode(E4M3, x), strict=True)
    for fn in (lmul.sim.fp_multiply, lmul.sim.lmul):
        np.testing.assert_array_equal(fn("e4m3", x, y), fn(E4M3, x, y))
        np.testing.assert_array_equal(fn("e5m2:ftz", x, y), fn(get_format("e5m2:ftz"), x, y))
    for fn in (lmul.sim.fp_product, lmul.sim.lmul_product):
        a, b = fn("e4m3", x, y), fn(E4M3, x, y)
        np.testing.assert_array_equal(a.value, b.value)
        assert a.lsb_exp == b.lsb_exp
    for fn in (lmul_value, lmul_literal):
        np.testing.assert_array_equal(fn("e4m3", x, y), fn(E4M3, x, y))
    xv, yv = x.reshape(16, 16), y.reshape(16, 16)
    np.testing.assert_array_equal(lmul.sim.dot("e4m3", xv, yv, "bf16", "lmul"),
                                  lmul.sim.dot(E4M3, xv, yv, BF16, "lmul"))
    np.testing.assert_array_equal(lmul.sim.matmul("e4m3", xv, yv, "fp16"), lmul.sim.matmul(E4M3, xv, yv, FP16))
    with pytest.raises(FormatError, match="unknown format"):
        lmul.sim.lmul("e9m9x", x, y)


# --- decode -------------------------------------------------------------------------------------

def assert_same_floats(got: np.ndarray, want: np.ndarray) -> None:
    """Equal values, NaN at the same positions, equal sign bits (also of zeros and NaNs)."""
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.array_equal(got[ok], want[ok])
    assert np.array_equal(np.signbit(got[ok]), np.signbit(want[ok]))


@pytest.mark.parametrize("fmt", ALL_ML, ids=ids)
def test_decode_all_codes_vs_ml_dtypes(fmt: FloatFormat) -> None:
    codes = all_codes(fmt)
    got = decode(fmt, codes)
    assert got.dtype == np.float64
    assert_same_floats(got, ml_decode(fmt, codes))


def test_decode_fp16_all_codes_vs_numpy() -> None:
    codes = np.arange(1 << 16, dtype=np.int64)
    assert_same_floats(decode(FP16, codes), codes.astype(np.uint16).view(np.float16).astype(np.float64))


def test_decode_fp32_sample_vs_numpy() -> None:
    rng = np.random.default_rng(10)
    codes = np.concatenate([rng.integers(0, 1 << 32, 200_000, dtype=np.int64),
                            np.array([0, 1, 0x7FFFFF, 0x800000, 0x7F7FFFFF, 0x7F800000, 0x7FC00000, 0x80000000,
                                      0xFF800000, 0xFFFFFFFF, 0x7F800001])])
    with np.errstate(invalid="ignore"):
        want = codes.astype(np.uint32).view(np.float32).astype(np.float64)
    assert_same_floats(decode(FP32, codes), want)


@pytest.mark.parametrize("fmt", [E4M3, E5M2, BF16], ids=ids)
def test_decode_rejects_bad_codes(fmt: FloatFormat) -> None:
    with pytest.raises(FormatError):
        decode(fmt, np.array([1 << fmt.width]))
    with pytest.raises(FormatError):
        decode(fmt, np.array([-1]))
    with pytest.raises(FormatError):
        decode(fmt, np.array([1.0]))


def test_decode_scalar_and_shape() -> None:
    assert float(decode(E4M3, 0x38)) == 1.0
    codes = np.array([[0x38, 0x40], [0xB8, 0x7E]])
    assert np.array_equal(decode(E4M3, codes), np.array([[1.0, 2.0], [-1.0, 448.0]]))


# --- encode vs ml_dtypes ------------------------------------------------------------------------

def neighbour_values(fmt: FloatFormat) -> np.ndarray:
    """All finite values of ``fmt``, every midpoint between neighbours (ties), the midpoint
    above the largest value, and the float32 neighbours of every midpoint; both signs."""
    codes = all_codes(fmt)
    vals = ml_decode(fmt, codes)
    pos = np.unique(np.abs(vals[np.isfinite(vals)]))          # includes 0
    top = fmt.max_finite_field
    e = top >> fmt.man_bits
    ulp_top = 2.0 ** (e - fmt.bias - fmt.man_bits)           # spacing in the top binade
    ext = np.append(pos, pos[-1] + ulp_top)
    mids = (ext[:-1] + ext[1:]) / 2
    m32 = mids.astype(np.float32)
    assert np.array_equal(m32.astype(np.float64), mids)      # every tie is a float32
    near = np.concatenate([np.nextafter(m32, np.float32(np.inf)), np.nextafter(m32, np.float32(0))])
    allv = np.concatenate([pos, mids, near.astype(np.float64), [pos[-1] + ulp_top, 2 * pos[-1], 1e30]])
    with np.errstate(over="ignore"):                         # BF16: beyond float32 -> inf
        return np.concatenate([allv, -allv]).astype(np.float32)


def random_float32(fmt: FloatFormat, n: int, seed: int) -> np.ndarray:
    """Uniform random float32 bit patterns (finite) plus values spread log-uniformly over the
    format's range (subnormals through overflow)."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    raw = raw[np.isfinite(raw)]
    lo, hi = 1 - fmt.bias - fmt.man_bits - 3, fmt.emax + 3
    mant = rng.integers(0, 1 << 23, n).astype(np.float64) / (1 << 23) + 1.0
    spread = np.ldexp(mant, rng.integers(lo, hi, n)) * rng.choice([-1.0, 1.0], n)
    with np.errstate(over="ignore"):
        return np.concatenate([raw, spread.astype(np.float32)])


def encode_cases(fmt: FloatFormat, n_random: int) -> np.ndarray:
    extra = [np.inf, -np.inf, 0.0, -0.0]
    if fmt.has_nan:
        extra += [np.nan, -np.nan]
    return np.concatenate([neighbour_values(fmt), random_float32(fmt, n_random, fmt.width),
                           np.array(extra, np.float32)])


@pytest.mark.parametrize("fmt", ALL_ML, ids=ids)
def test_encode_vs_ml_dtypes(fmt: FloatFormat) -> None:
    v = encode_cases(fmt, 20_000 if fmt.width <= 8 else 300_000)
    got = encode(fmt, v.astype(np.float64))
    assert got.dtype == fmt.dtype
    assert np.array_equal(got.astype(np.int64), ml_encode(fmt, v))


@pytest.mark.parametrize("fmt", ALL_ML, ids=ids)
def test_encode_matches_exact_rounding_on_ties(fmt: FloatFormat) -> None:
    """The neighbour/tie set also against the Fraction reference (independent of ml_dtypes)."""
    v = neighbour_values(fmt).astype(np.float64)
    v = v[np.isfinite(v)]
    if fmt.width > 8:
        v = v[:: max(1, len(v) // 20_000)]
    got = encode(fmt, v).astype(np.int64)
    want = [encode_exact(fmt, int(np.signbit(x)), abs(Fraction(float(x)))) for x in v]
    assert got.tolist() == want


def test_encode_fp16_vs_numpy() -> None:
    v = encode_cases(FP16, 300_000)
    got = encode(FP16, v.astype(np.float64)).astype(np.int64)
    with np.errstate(over="ignore"):
        want = v.astype(np.float16).view(np.uint16).astype(np.int64)
    ok = ~np.isnan(v)
    assert np.array_equal(got[ok], want[ok])
    assert np.array_equal(got[~ok], np.where(np.signbit(v[~ok]), 0xFE00, 0x7E00))


def test_encode_fp32_round_trips_float32() -> None:
    rng = np.random.default_rng(3)
    v = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    v = v[~np.isnan(v)]
    assert np.array_equal(encode(FP32, v.astype(np.float64)), v.view(np.uint32))


def test_encode_rounds_float64_once() -> None:
    """float64 inputs just above a tie must round up (a float32 intermediate would make it a tie)."""
    one_plus_tie = 1.0 + 2.0 ** -24 + 2.0 ** -40
    assert int(encode(FP32, one_plus_tie)) == 0x3F800001
    assert int(encode(FP32, 1.0 + 2.0 ** -24)) == 0x3F800000          # exact tie: to even
    assert int(encode(E4M3, 1.0625 + 2.0 ** -30)) == 0x39              # 1.0625 is the E4M3 tie 1 | 1.125
    assert int(encode(E4M3, 1.0625)) == 0x38


@pytest.mark.parametrize("fmt", [f for f in ALL_ML if f.specials is Specials.FINITE], ids=ids)
def test_encode_nan_into_finite_format_raises(fmt: FloatFormat) -> None:
    with pytest.raises(FormatError):
        encode(fmt, np.nan)
    with pytest.raises(FormatError):
        encode(fmt, np.array([1.0, -np.nan, 2.0]))


@pytest.mark.parametrize("fmt", [f for f in ALL_ML if f.has_nan] + [FP16, FP32], ids=ids)
def test_encode_nan_payloads_give_canonical_nan(fmt: FloatFormat) -> None:
    pats = np.array([0x7FF8000000000000, 0x7FF0000000000001, 0x7FF4000000000000, 0x7FFFFFFFFFFFFFFF,
                     0xFFF8000000000000, 0xFFF0000000000001, 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
    v = pats.view(np.float64)
    got = encode(fmt, v).astype(np.int64)
    m, fb = fmt.man_bits, fmt.exp_bits + fmt.man_bits
    if fmt.specials is Specials.IEEE:
        pos = (((1 << fmt.exp_bits) - 1) << m) | (1 << (m - 1))
        want = [pos | ((1 << fb) if s else 0) for s in np.signbit(v)]
    elif fmt.specials is Specials.FN:
        want = [((1 << fb) - 1) | ((1 << fb) if s else 0) for s in np.signbit(v)]
    else:
        want = [1 << fb] * len(v)
    assert got.tolist() == want


# --- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", [*ALL_ML, FP16], ids=ids)
def test_round_trip_all_non_nan_codes(fmt: FloatFormat) -> None:
    codes = all_codes(fmt)
    vals = decode(fmt, codes)
    ok = ~np.isnan(vals)
    assert np.array_equal(encode(fmt, vals[ok]).astype(np.int64), codes[ok])


@pytest.mark.parametrize("fmt", [f for f in ALL_ML if f.has_nan], ids=ids)
def test_round_trip_nan_codes_are_canonical(fmt: FloatFormat) -> None:
    codes = all_codes(fmt)
    vals = decode(fmt, codes)
    nan = np.isnan(vals)
    got = encode(fmt, vals[nan]).astype(np.int64)
    fb = fmt.exp_bits + fmt.man_bits
    sign = codes[nan] >> fb
    want = np.array([nan_code(fmt, int(s)) for s in sign])   # sign kept (FNUZ: the single NaN)
    assert np.array_equal(got, want)
    # the canonical NaN is quiet for IEEE formats
    if fmt.specials is Specials.IEEE:
        assert np.all(got >> (fmt.man_bits - 1) & 1)


# --- overflow: saturate -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ALL_ML, ids=ids)
def test_encode_saturate_sweep(fmt: FloatFormat) -> None:
    """Saturating variant == default conversion except that a finite value (or, for formats
    without Inf, an infinite one) that overflows gives ±max; IEEE Inf stays Inf."""
    sat = fmt.with_(overflow=Overflow.SATURATE)
    assert sat.saturates
    v = encode_cases(fmt, 5_000)
    base = ml_encode(fmt, v)
    basev = ml_decode(fmt, base)
    overflowed = ~np.isnan(v) & ~np.isfinite(basev) if fmt.specials is Specials.IEEE else \
        ~np.isnan(v) & np.isnan(basev)
    if fmt.specials is Specials.IEEE:
        overflowed &= np.isfinite(v)
    fb = fmt.exp_bits + fmt.man_bits
    maxcode = np.where(np.signbit(v), (1 << fb) | fmt.max_finite_field, fmt.max_finite_field)
    want = np.where(overflowed, maxcode, base)
    assert overflowed.any() or fmt.specials is Specials.FINITE    # FINITE already saturates
    assert np.array_equal(encode(sat, v.astype(np.float64)).astype(np.int64), want)


@pytest.mark.parametrize("fmt", [*ALL_ML, FP16], ids=ids)
def test_encode_saturate_targeted(fmt: FloatFormat) -> None:
    sat = fmt.with_(overflow=Overflow.SATURATE)
    fb = fmt.exp_bits + fmt.man_bits
    big = np.array([fmt.max_value * 4, 1e300, fmt.max_value * 1.5])
    assert np.all(encode(sat, big) == fmt.max_finite_field)
    assert np.all(encode(sat, -big) == (1 << fb) | fmt.max_finite_field)
    if fmt.has_inf:
        assert int(encode(sat, np.inf)) == ((1 << fmt.exp_bits) - 1) << fmt.man_bits
        assert int(encode(sat, -np.inf)) == (1 << fb) | (((1 << fmt.exp_bits) - 1) << fmt.man_bits)
        assert np.isposinf(decode(sat, encode(sat, np.inf)))
    else:
        assert int(encode(sat, np.inf)) == fmt.max_finite_field
        assert int(encode(sat, -np.inf)) == (1 << fb) | fmt.max_finite_field
    # below the overflow threshold nothing changes
    assert int(encode(sat, fmt.max_value)) == int(encode(fmt, fmt.max_value)) == fmt.max_finite_field


def test_encode_default_overflow_targeted() -> None:
    assert int(encode(E5M2, 1e6)) == 0x7C and int(encode(E5M2, -1e6)) == 0xFC           # ±Inf
    assert int(encode(E4M3, 1e6)) == 0x7F and int(encode(E4M3, -1e6)) == 0xFF           # NaN
    assert int(encode(get_format("e4m3fnuz"), -1e6)) == 0x80                            # the NaN
    assert int(encode(get_format("e2m1"), -1e6)) == 0xF                                 # -6
    assert int(encode(E4M3, 464.0)) == 0x7E          # tie 448|480 -> even 448 (480 would be NaN)
    assert int(encode(E4M3, 464.0 + 2 ** -10)) == 0x7F
    assert int(encode(E5M2, 61440.0)) == 0x7C        # tie 57344|65536 -> even (Inf)
    assert int(encode(E5M2, 61440.0 - 2 ** -10)) == 0x7B


# --- subnormals=False (DAZ / FTZ) ----------------------------------------------------------------

@pytest.mark.parametrize("fmt", [*ALL_ML, FP16], ids=ids)
def test_ftz_decode_subnormals_as_zero(fmt: FloatFormat) -> None:
    ftz = fmt.with_(subnormals=False)
    codes = all_codes(fmt)
    m = fmt.man_bits
    fb = fmt.exp_bits + m
    sub = ((codes >> m) & ((1 << fmt.exp_bits) - 1) == 0) & (codes & ((1 << m) - 1) != 0)
    got = decode(ftz, codes)
    assert np.all(got[sub] == 0)
    if fmt.has_neg_zero:
        assert np.array_equal(np.signbit(got[sub]), codes[sub] >> fb == 1)
    assert_same_floats(got[~sub], decode(fmt, codes[~sub]))


@pytest.mark.parametrize("fmt", ALL_ML, ids=ids)
def test_ftz_encode_flushes_subnormal_results(fmt: FloatFormat) -> None:
    ftz = fmt.with_(subnormals=False)
    v = encode_cases(fmt, 5_000)
    base = ml_encode(fmt, v)
    m = fmt.man_bits
    fb = fmt.exp_bits + m
    field = base & ((1 << fb) - 1)
    sub = (field > 0) & (field < (1 << m)) & ~np.isnan(v)
    if fmt.specials is Specials.FNUZ:
        flushed = np.zeros_like(base)
    else:
        flushed = base & (1 << fb)
    want = np.where(sub, flushed, base)
    assert sub.any()
    assert np.array_equal(encode(ftz, v.astype(np.float64)).astype(np.int64), want)


def test_ftz_encode_targeted() -> None:
    ftz = E5M2.with_(subnormals=False)
    tiny = 2.0 ** -16                      # E5M2 min subnormal
    assert int(encode(ftz, tiny)) == 0x00
    assert int(encode(ftz, -tiny)) == 0x80
    assert int(encode(ftz, 2.0 ** -14)) == 0x04                  # min normal stays
    assert int(encode(ftz, 2.0 ** -14 * (1 - 2 ** -4))) == 0x04    # rounds up to min normal: kept
    assert int(encode(ftz, 2.0 ** -14 * (1 - 2 ** -2))) == 0x00    # rounds to max subnormal: flushed
    fnuz = get_format("e4m3fnuz").with_(subnormals=False)
    assert int(encode(fnuz, -fnuz.min_subnormal)) == 0x00         # FNUZ: +0 only


def test_with_copy_does_not_modify_original() -> None:
    sat = E4M3.with_(overflow=Overflow.SATURATE)
    assert E4M3.overflow is Overflow.DEFAULT and sat.overflow is Overflow.SATURATE
    assert sat != E4M3 and (sat.exp_bits, sat.man_bits, sat.bias) == (4, 3, 7)


def test_magnitude_reference_agrees_with_decode_on_bf16() -> None:
    """Sanity check of the test's own reference decoder against ml_dtypes."""
    codes = np.arange(0, 1 << 16, 97)
    vals = ml_decode(BF16, codes)
    ok = np.isfinite(vals)
    ref = [float(magnitude(BF16, int(c), daz=False)) for c in codes[ok]]
    assert np.array_equal(np.abs(vals[ok]), np.array(ref))
    assert storage(BF16) is np.uint16


def test_twin_dtype_matches_the_test_oracle_table() -> None:
    from lmul.formats import NAMED_FORMATS, twin_dtype

    for f in NAMED_FORMATS.values():
        want = TWINS.get(f, np.float32 if f.name == "fp32" else None)
        assert twin_dtype(f) == (np.dtype(want) if want is not None else None), f.name
    assert twin_dtype(get_format("e4m3")) == np.dtype(ml_dtypes.float8_e4m3fn)
    assert twin_dtype(get_format("e3m3")) is None and twin_dtype(get_format("e4m3_ieee")) != twin_dtype(E4M3)
