"""lmul.sim.lmul_pe against an independent re-implementation of the L-Mul specification
(docstring of sim/lmul_pe.py, docs/lmul-spec.md) in plain Python integers (tests/refmodel.py),
plus one targeted test per case of the spec."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
from conftest import all_pairs
from refmodel import (
    fields,
    is_inf,
    is_nan,
    lmul_sum,
    lmul_zero_operand,
    max_field,
    ref_fp_multiply,
    ref_lmul,
    ref_lmul_unbounded,
    to_float,
)

from lmul.formats import (
    BF16,
    E2M1,
    E2M3,
    E3M4,
    E4M3,
    E4M3FNUZ,
    E5M2,
    FP16,
    FP32,
    FloatFormat,
    FormatError,
    Overflow,
    Specials,
    decode,
    get_format,
)
from lmul.sim.fp_multiplier import fp_multiply
from lmul.sim.lmul_pe import lmul, lmul_constant, lmul_l, lmul_literal, lmul_product, lmul_value

ids = str
EXHAUSTIVE = [E4M3, E5M2, E3M4, E2M3, E2M1, E4M3FNUZ, get_format("e4m3:sat"), get_format("e5m2:ftz"),
              get_format("e5m2fnuz"), get_format("e3m2"), get_format("e4m3_ieee:sat")]


def pairs(fmt: FloatFormat) -> tuple[np.ndarray, np.ndarray]:
    """All pairs up to 8 bits; else the pairs of a special list plus random pairs whose
    exponents make the sum land anywhere from underflow to overflow."""
    if fmt.width <= 8:
        return all_pairs(fmt)
    rng = np.random.default_rng(fmt.width)
    m, e = fmt.man_bits, fmt.exp_bits
    top = (1 << e) - 1
    n = 3000
    sign = rng.integers(0, 2, (2, n)) << (e + m)
    ex = rng.integers(0, top + 1, n)
    ey = np.clip(2 * fmt.bias - ex + rng.integers(-4, 5, n), 0, top)
    ey = np.where(rng.random(n) < 0.2, rng.integers(0, top + 1, n), ey)
    x = sign[0] | (ex << m) | rng.integers(0, 1 << m, n)
    y = sign[1] | (ey << m) | rng.integers(0, 1 << m, n)
    mags = [0, 1, (1 << m) - 1, 1 << m, (1 << m) | ((1 << m) - 1), fmt.bias << m, (fmt.bias << m) | ((1 << m) - 1),
            max_field(fmt), (top << m), (top << m) | 1, (top << m) | (1 << (m - 1))]
    sp = np.array(mags + [v | (1 << (e + m)) for v in mags])
    sx, sy = np.meshgrid(sp, sp, indexing="ij")
    return np.concatenate([x, sx.ravel()]), np.concatenate([y, sy.ravel()])


# --- the whole spec, all pairs -----------------------------------------------------------------------

@pytest.mark.parametrize("fmt", [*EXHAUSTIVE, BF16, FP16], ids=ids)
def test_lmul_matches_spec_reference(fmt: FloatFormat) -> None:
    x, y = pairs(fmt)
    got = lmul(fmt, x, y)
    assert got.dtype == fmt.dtype and got.shape == x.shape
    want = [ref_lmul(fmt, a, b) for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    assert got.astype(np.int64).tolist() == want


@pytest.mark.parametrize("fmt", [*EXHAUSTIVE, BF16], ids=ids)
def test_lmul_product_and_value_match_unbounded_spec(fmt: FloatFormat) -> None:
    """lmul_product/lmul_value: the adder value without FTZ/overflow, exactly."""
    x, y = pairs(fmt)
    p = lmul_product(fmt, x, y)
    v = lmul_value(fmt, x, y)
    want = [ref_lmul_unbounded(fmt, a, b) for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    lsb = Fraction(2) ** p.lsb_exp
    for i, w in enumerate(want):
        if w == "nan":
            assert p.nan[i] and np.isnan(v[i]) and p.value[i] == 0 and p.inf[i] == 0
        elif isinstance(w, str):
            s = -1 if w == "-inf" else 1
            assert p.inf[i] == s and v[i] == s * np.inf and not p.nan[i] and p.value[i] == 0
        else:
            sign, mag = w
            assert not p.nan[i] and p.inf[i] == 0
            assert int(p.value[i]) * lsb == (-mag if sign else mag), i
            assert v[i] == to_float(w)
    assert max(abs(int(t)) for t in p.value.tolist()).bit_length() <= p.bits


@pytest.mark.parametrize("fmt", [*EXHAUSTIVE, BF16], ids=ids)
def test_lmul_value_agrees_with_lmul_in_range(fmt: FloatFormat) -> None:
    """Where lmul's result is finite, nonzero and not an overflow, lmul_value == decode(lmul)."""
    x, y = pairs(fmt)
    r = decode(fmt, lmul(fmt, x, y))
    v = lmul_value(fmt, x, y)
    in_range = np.array([not (is_nan(fmt, a) or is_nan(fmt, b) or is_inf(fmt, a) or is_inf(fmt, b)
                              or lmul_zero_operand(fmt, a) or lmul_zero_operand(fmt, b))
                         and (1 << fmt.man_bits) <= lmul_sum(fmt, a, b) <= max_field(fmt)
                         for a, b in zip(x.tolist(), y.tolist(), strict=True)])
    assert in_range.sum() > len(x) // 10
    assert np.all(np.isfinite(r[in_range]) & (r[in_range] != 0))
    assert np.array_equal(r[in_range], v[in_range])
    # NaN / Inf operands give the same specials (lmul can also overflow to NaN/Inf; lmul_value cannot)
    assert np.all(np.isnan(r[np.isnan(v)]))
    inf = np.isinf(v)
    assert np.array_equal(r[inf], v[inf])


# --- targeted: one test per case of the spec -----------------------------------------------------

def test_l_of_m_table() -> None:
    assert [lmul_l(m) for m in range(1, 8)] == [1, 2, 3, 3, 4, 4, 4]
    assert lmul_l(10) == 4 and lmul_l(23) == 4


@pytest.mark.parametrize("m", range(1, 24))
def test_one_times_one(m: int) -> None:
    """L-Mul(1, 1) = (1 + 0 + 0 + 2**-l(m)) * 2**0 for every mantissa width."""
    fmt = FloatFormat(f"e8m{m}", 8, m, 127, Specials.IEEE)
    one = np.array([127 << m])
    want = 1.0 + 2.0 ** -{1: 1, 2: 2, 3: 3, 4: 3}.get(m, 4)
    assert float(decode(fmt, lmul(fmt, one, one))[0]) == want
    assert float(lmul_value(fmt, one, one)[0]) == want
    assert float(lmul_literal(fmt, one, one)[0]) == want
    one = 127 << m
    assert lmul_constant(fmt) + 2 * one == one + (1 << (m - {1: 1, 2: 2, 3: 3, 4: 3}.get(m, 4)))


@pytest.mark.parametrize("fmt", [E4M3, E5M2, E3M4, E2M3, E2M1, BF16, FP16, FP32], ids=ids)
def test_one_times_one_named(fmt: FloatFormat) -> None:
    one = fmt.bias << fmt.man_bits
    l = {1: 1, 2: 2, 3: 3, 4: 3}.get(fmt.man_bits, 4)
    assert float(decode(fmt, lmul(fmt, one, one))) == 1.0 + 2.0 ** -l
    # and with signs: sign = sx xor sy
    neg = one | (1 << (fmt.exp_bits + fmt.man_bits))
    assert float(decode(fmt, lmul(fmt, neg, one))) == -(1.0 + 2.0 ** -l)
    assert float(decode(fmt, lmul(fmt, neg, neg))) == 1.0 + 2.0 ** -l


def test_mantissa_carry_into_exponent() -> None:
    # E4M3 1.875 = (E=7, M=7): x_m = y_m = 0.875, l = 3: 0.875 + 0.875 + 0.125 = 1.875 >= 1 carries:
    # adder reading (x_m + y_m + 2**-l) * 2**(x_e + y_e + 1) = 1.875 * 2 = 3.75
    x = (7 << 3) | 7
    assert float(decode(E4M3, x)) == 1.875
    assert float(decode(E4M3, lmul(E4M3, x, x))) == 3.75
    assert float(lmul_value(E4M3, x, x)) == 3.75
    assert float(lmul_literal(E4M3, x, x)) == 1 + 0.875 + 0.875 + 0.125     # 2.875, no carry
    # the boundary: mantissa sum exactly 2**m -> 2**(x_e + y_e + 1) in both readings
    a, b = (7 << 3) | 3, (7 << 3) | 4        # 3 + 4 + 1 = 8
    assert float(decode(E4M3, lmul(E4M3, a, b))) == 2.0 == float(lmul_literal(E4M3, a, b))
    # just below: no carry, both readings 1 + (3 + 3 + 1)/8
    c = (7 << 3) | 3
    assert float(decode(E4M3, lmul(E4M3, c, c))) == 1.875 == float(lmul_literal(E4M3, c, c))


def test_double_carry_m4() -> None:
    # E3M4 (m=4, l=3, offset 2/16): 1.9375 has M=15; 15 + 15 + 2 = 32 = 2 * 2**4 carries twice:
    # result field (3 + 3 - 3 + 2) << 4 = 5 << 4, value 2**(5-3) = 4
    x = (3 << 4) | 15
    assert float(decode(E3M4, x)) == 1.9375
    assert int(lmul(E3M4, x, x)) == 5 << 4
    assert float(decode(E3M4, lmul(E3M4, x, x))) == 4.0
    assert float(lmul_value(E3M4, x, x)) == 4.0
    assert float(lmul_literal(E3M4, x, x)) == 1 + 15 / 16 + 15 / 16 + 1 / 8    # 3.0
    # 15 + 14 + 2 = 31: one carry, mantissa 15 -> (1 + 15/16) * 2 = 3.875
    y = (3 << 4) | 14
    assert float(decode(E3M4, lmul(E3M4, x, y))) == 3.875


@pytest.mark.parametrize("fmt", EXHAUSTIVE, ids=ids)
def test_zero_operands(fmt: FloatFormat) -> None:
    fb = fmt.exp_bits + fmt.man_bits
    finite = [c for c in range(1 << fmt.width) if not (is_nan(fmt, c) or is_inf(fmt, c))]
    zeros = [0] if fmt.specials is Specials.FNUZ else [0, 1 << fb]
    for z in zeros:
        x = np.full(len(finite), z)
        y = np.array(finite)
        for a, b in ((x, y), (y, x)):
            got = lmul(fmt, a, b).astype(np.int64)
            if fmt.specials is Specials.FNUZ:
                assert np.all(got == 0)
            else:
                assert np.array_equal(got, ((a ^ b) >> fb & 1) << fb)        # ±0, sign xor


@pytest.mark.parametrize("fmt", [E5M2, E4M3, E3M4, E2M3, E4M3FNUZ, BF16], ids=ids)
def test_subnormal_operands_are_daz(fmt: FloatFormat) -> None:
    m, fb = fmt.man_bits, fmt.exp_bits + fmt.man_bits
    subs = np.array([1, (1 << m) - 1, 1 | (1 << fb), ((1 << m) - 1) | (1 << fb)])
    one = fmt.bias << m
    big = max_field(fmt)
    for other in (one, big, one | (1 << fb)):
        got = lmul(fmt, subs, other).astype(np.int64)
        if fmt.specials is Specials.FNUZ:
            assert np.all(got == 0)
        else:
            assert np.array_equal(got, ((subs ^ other) >> fb & 1) << fb)
        # while the exact multiplier does not flush them
        assert np.all(decode(fmt, fp_multiply(fmt, subs, big)) != 0)
    assert np.all(lmul_value(fmt, subs, one) == 0)
    assert np.all(lmul_literal(fmt, subs, one) == 0)


def test_inf_times_subnormal_is_nan() -> None:
    inf, sub, nsub = 0x7C, 0x01, 0x83
    for a, b in ((inf, sub), (sub, inf), (0xFC, nsub), (nsub, 0xFC)):
        assert int(lmul(E5M2, a, b)) == 0xFE                  # canonical NaN, sign 1 (no NaN operand)
        assert np.isnan(lmul_value(E5M2, a, b)) and np.isnan(lmul_literal(E5M2, a, b))
        assert bool(lmul_product(E5M2, a, b).nan)
    assert int(fp_multiply(E5M2, inf, sub)) == 0x7C            # exact multiplier: Inf


def test_underflow_flushes_to_zero() -> None:
    # E5M2: m=2, l=2, C = 2**0 - 15 * 4 = -59. S = F_x + F_y - 59; underflow when S < 4.
    x = 8 << 2                                   # 2**-7
    y_min = 31                                   # (E=7, M=3) = 1.75 * 2**-8: S = 32 + 31 - 59 = 4
    assert int(lmul(E5M2, x, y_min)) == 0x04     # exactly the smallest normal
    assert float(decode(E5M2, lmul(E5M2, x, y_min))) == 2.0 ** -14
    assert int(lmul(E5M2, x, y_min - 1)) == 0x00             # S = 3: flushed (the exact product is subnormal)
    assert int(lmul(E5M2, x | 0x80, y_min - 1)) == 0x80      # -0
    assert float(decode(E5M2, fp_multiply(E5M2, x, y_min - 1))) != 0
    assert float(lmul_value(E5M2, x, y_min - 1)) == 1.75 * 2.0 ** -15   # unbounded: S=3 -> (4+3)*2**(0-15-2)
    # FNUZ: +0 only
    f = E4M3FNUZ
    tiny = 1 << 3                                # smallest normal
    assert int(lmul(f, tiny, tiny | 0x80)) == 0x00


def test_overflow_policies() -> None:
    # E5M2 max × max -> Inf
    assert int(lmul(E5M2, 0x7B, 0x7B)) == 0x7C and int(lmul(E5M2, 0xFB, 0x7B)) == 0xFC
    # E4M3 (FN): max_finite_field 0x7E; S = F_x + F_y + 1 - 56
    assert int(lmul(E4M3, 0x7E, 0x37)) == 0x7E             # 126 + 55 - 55 = 126: 448 exactly
    assert float(decode(E4M3, lmul(E4M3, 0x7E, 0x37))) == 448.0
    assert int(lmul(E4M3, 0x7E, 0x38)) == 0x7F             # 448 × 1.0 -> S = 127 = the NaN pattern: overflow
    assert int(lmul(E4M3, 0xFE, 0x38)) == 0xFF
    assert int(lmul(E4M3, 0x7E, 0x7E)) == 0x7F
    sat = E4M3.with_(overflow=Overflow.SATURATE)
    assert int(lmul(sat, 0x7E, 0x38)) == 0x7E and int(lmul(sat, 0x7E, 0xB8)) == 0xFE
    sat5 = E5M2.with_(overflow=Overflow.SATURATE)
    assert int(lmul(sat5, 0x7B, 0xFB)) == 0xFB
    assert int(lmul(sat5, 0x7C, 0x3C)) == 0x7C             # Inf operand stays Inf
    # E2M1 (FINITE) saturates: 6 × 6 -> 6, 6 × -6 -> -6
    assert int(lmul(E2M1, 0x7, 0x7)) == 0x7 and int(lmul(E2M1, 0x7, 0xF)) == 0xF
    # FNUZ: the single NaN
    assert int(lmul(E4M3FNUZ, 0x7F, 0xFF)) == 0x80
    # the unbounded product does not overflow
    assert float(lmul_value(E4M3, 0x7E, 0x38)) == 480.0


@pytest.mark.parametrize("fmt", EXHAUSTIVE, ids=ids)
def test_nan_inf_operands_follow_fp_multiply(fmt: FloatFormat) -> None:
    """Where an operand is NaN/Inf and no operand is subnormal, lmul == fp_multiply."""
    x, y = all_pairs(fmt)
    m = fmt.man_bits
    special = np.array([is_nan(fmt, a) or is_nan(fmt, b) or is_inf(fmt, a) or is_inf(fmt, b)
                        for a, b in zip(x.tolist(), y.tolist(), strict=True)])
    exp_mask = ((1 << fmt.exp_bits) - 1) << m
    man_mask = (1 << m) - 1
    sub = ((x & exp_mask) == 0) & ((x & man_mask) != 0) | ((y & exp_mask) == 0) & ((y & man_mask) != 0)
    sel = special & ~sub
    if fmt.has_nan:
        assert sel.any()
    assert np.array_equal(lmul(fmt, x[sel], y[sel]), fp_multiply(fmt, x[sel], y[sel]))
    # and both match the reference NaN rule
    want = [ref_fp_multiply(fmt, a, b) for a, b in zip(x[sel].tolist(), y[sel].tolist(), strict=True)]
    assert lmul(fmt, x[sel], y[sel]).astype(np.int64).tolist() == want


def test_nan_sign_rule_targeted() -> None:
    one = 0x3C
    assert int(lmul(E5M2, one, 0x7D)) == 0x7E               # y NaN (+, signalling) -> +qNaN
    assert int(lmul(E5M2, 0xFF, one)) == 0xFE               # x NaN (-) -> -qNaN
    assert int(lmul(E5M2, 0xFF, 0x7D)) == 0x7E              # both: y's sign
    assert int(lmul(E5M2, 0x7D, 0xFF)) == 0xFE
    assert int(lmul(E5M2, 0x00, 0x7C)) == 0xFE              # 0 × Inf -> sign 1
    assert int(lmul(E5M2, 0x7C, 0xBC)) == 0xFC              # Inf × -1 -> -Inf
    assert int(lmul(E4M3, 0x7F, 0xB8)) == 0x7F and int(lmul(E4M3, 0x38, 0xFF)) == 0xFF
    assert int(lmul(E4M3FNUZ, 0x80, 0x38)) == 0x80


@pytest.mark.parametrize("fmt", [FloatFormat("e3m0", 3, 0, 3, Specials.FINITE),
                                 FloatFormat("e4m0fn", 4, 0, 7, Specials.FN),
                                 FloatFormat("e2m0", 2, 0, 1, Specials.FNUZ)], ids=ids)
def test_lmul_needs_a_mantissa_bit(fmt: FloatFormat) -> None:
    for fn in (lmul, lmul_product, lmul_value, lmul_literal):
        with pytest.raises(FormatError):
            fn(fmt, 1, 1)
    with pytest.raises(FormatError):
        lmul_constant(fmt)


def test_lmul_validates_operands() -> None:
    with pytest.raises(FormatError):
        lmul(E4M3, 256, 1)
    with pytest.raises(FormatError):
        lmul(E2M1, 0x10, 1)
    with pytest.raises(FormatError):
        lmul(E4M3, np.array([1.0]), 1)
    r = lmul(E4M3, np.array([[0x38], [0x40]]), np.array([0x38, 0x40, 0xC0]))
    assert r.shape == (2, 3)


# --- the literal reading ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", [E4M3, E5M2, E3M4, E2M3, E2M1, E4M3FNUZ, BF16], ids=ids)
def test_lmul_literal(fmt: FloatFormat) -> None:
    """On normal operands: (1 + x_m + y_m + 2**-l) * 2**(x_e + y_e) with sign xor; equal to the
    adder reading iff the mantissa sum t = M_x + M_y + 2**(m-l) is <= 2**m (no carry, or a carry
    to exactly the next power of two), different when t > 2**m."""
    x, y = pairs(fmt)
    m = fmt.man_bits
    l = {1: 1, 2: 2, 3: 3, 4: 3}.get(m, 4)
    lit = lmul_literal(fmt, x, y)
    val = lmul_value(fmt, x, y)
    xl, yl = x.tolist(), y.tolist()
    normal = np.array([not (is_nan(fmt, a) or is_nan(fmt, b) or is_inf(fmt, a) or is_inf(fmt, b)
                            or lmul_zero_operand(fmt, a) or lmul_zero_operand(fmt, b))
                       for a, b in zip(xl, yl, strict=True)])
    assert normal.sum() > 0
    n_carry = n_equal_carry = 0
    for i in np.flatnonzero(normal):
        (sx, ex, mx), (sy, ey, my) = fields(fmt, xl[i]), fields(fmt, yl[i])
        frac = 1 + Fraction(mx + my, 1 << m) + Fraction(1, 1 << l)
        want = frac * Fraction(2) ** (ex + ey - 2 * fmt.bias)
        assert lit[i] == float(-want if sx ^ sy else want)
        t = mx + my + (1 << (m - l))
        if t <= (1 << m):
            assert lit[i] == val[i]
            n_equal_carry += t == (1 << m)
        else:
            assert lit[i] != val[i]
            n_carry += 1
    assert n_carry > 0 and n_equal_carry > 0
    # specials as lmul (DAZ): NaN where lmul's value is NaN, ±Inf where it is ±Inf, zero operands 0
    assert np.array_equal(np.isnan(lit), np.isnan(val))
    assert np.array_equal(lit[np.isinf(val)], val[np.isinf(val)])
    zero = ~normal & ~np.isnan(val) & ~np.isinf(val)
    assert np.all(lit[zero] == 0)


@pytest.mark.parametrize("fmt", [BF16, FP32, FP16, E5M2], ids=ids)
def test_lmul_product_scalar_operands(fmt: FloatFormat) -> None:
    """The API takes ``np.ndarray | int``: Python-int (0-d) operands must work like 1-element
    arrays, also for formats whose products need Python ints (object dtype)."""
    one = fmt.bias << fmt.man_bits
    mx = fmt.max_finite_field
    for a, b in ((one, one), (mx, mx), (mx, mx | (1 << (fmt.width - 1)))):
        arr = lmul_product(fmt, np.array([a]), np.array([b]))
        sc = lmul_product(fmt, a, b)
        assert sc.value.shape == ()
        assert int(sc.value) == int(arr.value[0])
        assert float(lmul_value(fmt, a, b)) == float(lmul_value(fmt, np.array([a]), np.array([b]))[0])
    l = {1: 1, 2: 2, 3: 3, 4: 3}.get(fmt.man_bits, 4)
    assert float(lmul_value(fmt, one, one)) == 1.0 + 2.0 ** -l


@pytest.mark.parametrize("fn", [lmul, lmul_product, lmul_value, lmul_literal, fp_multiply], ids=lambda f: f.__name__)
@pytest.mark.parametrize("fmt", [E5M2, E4M3], ids=ids)
def test_no_floating_point_warnings(fn: object, fmt: FloatFormat) -> None:
    """Golden models must not emit numpy RuntimeWarnings on valid input (all pairs, specials
    included): callers running with warnings as errors (or np.errstate(all="raise")) would break."""
    x, y = all_pairs(fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fn(fmt, x, y)  # type: ignore[operator]
