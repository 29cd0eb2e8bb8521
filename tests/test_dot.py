"""lmul.sim.mac_pe (dot, accumulator_bits, round_fixed) and lmul.sim.systolic_array (matmul)
against an exact Fraction reference: exact products, exact sum, one RNE rounding."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from conftest import ml_encode
from refmodel import encode_exact, exact_product, ref_dot, ref_lmul_unbounded

from lmul.formats import BF16, E4M3, E5M2, FP32, FloatFormat, FormatError, Overflow, decode, get_format
from lmul.sim.mac_pe import accumulator_bits, dot, round_fixed
from lmul.sim.systolic_array import matmul

ids = str
IN_FORMATS = [E4M3, E5M2, BF16]
OUT_FORMATS = [FP32, BF16, E4M3]
KINDS = ["exact", "lmul"]


def finite_codes(fmt: FloatFormat, shape: tuple[int, ...], rng: np.random.Generator, narrow: bool) -> np.ndarray:
    """Random finite (non-NaN, non-Inf) codes; ``narrow``: exponents within a few binades of 1
    so that sums stay in range of small output formats and cancel often."""
    m, e = fmt.man_bits, fmt.exp_bits
    n = int(np.prod(shape))
    if narrow:
        ex = rng.integers(max(1, fmt.bias - 4), min((1 << e) - 1, fmt.bias + 3), n)
    else:                                                  # IEEE: the all-ones exponent is Inf/NaN
        ex = rng.integers(0, (1 << e) - (1 if fmt.has_inf else 0), n)
    c = (rng.integers(0, 2, n) << (e + m)) | (ex << m) | rng.integers(0, 1 << m, n)
    if fmt == E4M3:
        c = np.where((c & 0x7F) == 0x7F, c ^ 1, c)          # S.1111.111 is NaN: use S.1111.110 (max)
    return c.reshape(shape)


def random_matrix(fmt: FloatFormat, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = shape[0]
    half = rows // 2
    return np.concatenate([finite_codes(fmt, (half, *shape[1:]), rng, narrow=True),
                           finite_codes(fmt, (rows - half, *shape[1:]), rng, narrow=False)])


def ref_rows(fmt: FloatFormat, x: np.ndarray, y: np.ndarray, out: FloatFormat, kind: str) -> list[int]:
    return [ref_dot(fmt, a, b, out, kind) for a, b in zip(x.tolist(), y.tolist(), strict=True)]


@pytest.mark.parametrize("out", OUT_FORMATS, ids=ids)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", IN_FORMATS, ids=ids)
@pytest.mark.parametrize("k", [1, 7, 37, 600])
def test_dot_vs_exact_reference(fmt: FloatFormat, kind: str, out: FloatFormat, k: int) -> None:
    rows = 24 if k < 100 else 4
    x = random_matrix(fmt, (rows, k), seed=k * 31 + fmt.width)
    y = random_matrix(fmt, (rows, k), seed=k * 17 + fmt.width + 1)
    got = dot(fmt, x, y, out=out, kind=kind)  # type: ignore[arg-type]
    assert got.dtype == out.dtype and got.shape == (rows,)
    assert got.astype(np.int64).tolist() == ref_rows(fmt, x, y, out, kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", IN_FORMATS, ids=ids)
@pytest.mark.parametrize(("m", "k", "n"), [(5, 1, 3), (4, 13, 6), (40, 3, 2), (1, 64, 1), (3, 129, 2)])
def test_matmul_vs_exact_reference(fmt: FloatFormat, kind: str, m: int, k: int, n: int) -> None:
    a = random_matrix(fmt, (m, k), seed=m * 100 + k)
    b = random_matrix(fmt, (n, k), seed=n * 100 + k + 7).T.copy()
    for out in (FP32, BF16):
        got = matmul(fmt, a, b, out=out, kind=kind)  # type: ignore[arg-type]
        assert got.shape == (m, n) and got.dtype == out.dtype
        want = [[ref_dot(fmt, a[i].tolist(), b[:, j].tolist(), out, kind) for j in range(n)] for i in range(m)]
        assert got.astype(np.int64).tolist() == want
        # the same as the dot products of rows and columns
        d = dot(fmt, np.repeat(a, n, axis=0), np.tile(b.T, (m, 1)), out=out, kind=kind)  # type: ignore[arg-type]
        assert np.array_equal(d.reshape(m, n), got)


def test_matmul_e4m3_output() -> None:
    a = random_matrix(E4M3, (6, 9), seed=1)
    b = random_matrix(E4M3, (4, 9), seed=2).T.copy()
    got = matmul(E4M3, a, b, out=E4M3, kind="lmul")
    want = [[ref_dot(E4M3, a[i].tolist(), b[:, j].tolist(), E4M3, "lmul") for j in range(4)] for i in range(6)]
    assert got.astype(np.int64).tolist() == want


# --- rounding: once, RNE, no double rounding ----------------------------------------------------------

def bf16(*vals: float) -> np.ndarray:
    c = ml_encode(BF16, np.array(vals))
    assert np.array_equal(np.asarray(decode(BF16, c)), np.array(vals))       # exactly representable
    return c


def test_dot_rounds_once_to_fp32() -> None:
    ones3 = bf16(1.0, 1.0, 1.0)
    cases = [
        (bf16(1.0, 2.0 ** -24), 0x3F800000),                    # tie -> even
        (bf16(1.0, 1.5 * 2.0 ** -23), 0x3F800002),              # 1 + 1.5 ulp: tie -> even (up)
        (bf16(1.0, 2.0 ** -24, 2.0 ** -80), 0x3F800001),        # just above the tie (needs > 53 bits)
        (bf16(1.0, -(2.0 ** -25), -(2.0 ** -90)), 0x3F7FFFFF),  # just below 1 - 2**-25 tie -> down
        (bf16(2.0 ** 30, -(2.0 ** 30), 2.0 ** -100), 0x0D800000),   # exact cancellation leaves 2**-100
        (bf16(2.0 ** 100, 2.0 ** -100, -(2.0 ** 100)), 0x0D800000),
    ]
    for x, want in cases:
        y = ones3[: len(x)]
        assert int(dot(BF16, x, y)) == want, x
        assert int(dot(BF16, x[::-1], y)) == want
    # FP32 subnormal results: 2**-150 is the tie 0 | 2**-149 -> +0; a tiny excess rounds up
    assert int(dot(BF16, bf16(2.0 ** -75), bf16(2.0 ** -75))) == 0x00000000
    assert int(dot(BF16, bf16(2.0 ** -75, 2.0 ** -100), bf16(2.0 ** -75, 2.0 ** -100))) == 0x00000001
    assert int(dot(BF16, bf16(-(2.0 ** -75), -(2.0 ** -100)), bf16(2.0 ** -75, 2.0 ** -100))) == 0x80000001
    assert int(dot(BF16, bf16(-(2.0 ** -75)), bf16(2.0 ** -75))) == 0x80000000      # rounds to -0


@pytest.mark.parametrize("out", [FP32, BF16, E4M3, get_format("e4m3:sat"), get_format("e5m2:ftz")], ids=ids)
def test_round_fixed_vs_exact(out: FloatFormat) -> None:
    rng = np.random.default_rng(3)
    vals: list[int] = []
    for bits in (1, 5, 23, 24, 25, 26, 53, 54, 55, 62, 63, 64, 90, 200):
        top = 1 << bits
        vals += [top, top + 1, top - 1, top + (top >> 24), top + (top >> 25), top + (top >> 25) + 1,
                 top + (top >> 8), top + (top >> 9), top + (top >> 9) + 1, top - (top >> 10) - 1]
        vals += [int(v) for v in rng.integers(1, 1 << min(bits, 62), 20)] + \
            [int(rng.integers(1, 1 << 62)) << max(0, bits - 62) | int(rng.integers(0, 1 << 30)) for _ in range(20)]
    vals = sorted(set(vals))
    vals = vals + [-v for v in vals] + [0]
    for lsb in (-300, -150, -60, -30, 0, 20):
        for arr in (np.array(vals, dtype=object), np.array([v for v in vals if abs(v) < 1 << 62], dtype=np.int64)):
            got = round_fixed(out, arr, lsb).astype(np.int64).tolist()
            want = [encode_exact(out, int(v < 0), abs(Fraction(int(v))) * Fraction(2) ** lsb) if v else 0
                    for v in arr.tolist()]
            assert got == want, (out, lsb, arr.dtype)


# --- specials ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_dot_specials(kind: str) -> None:
    one, inf, ninf, nan = 0x3C, 0x7C, 0xFC, 0x7E
    qnan32, inf32, ninf32 = 0x7FC00000, 0x7F800000, 0xFF800000

    def d(x: list[int], y: list[int], out: FloatFormat = FP32) -> int:
        return int(dot(E5M2, np.array(x), np.array(y), out=out, kind=kind))  # type: ignore[arg-type]

    assert d([nan, one], [one, one]) == qnan32
    assert d([0xFE, one], [one, one]) == qnan32                  # negative NaN operand: canonical +NaN
    assert d([inf, ninf], [one, one]) == qnan32                  # +Inf + -Inf
    assert d([inf, one], [one, 0xBC]) == inf32
    assert d([ninf, one, 0x7B], [one, one, 0x7B]) == ninf32
    assert d([inf, inf], [one, 0xBC]) == qnan32                  # +Inf and -Inf products
    assert d([inf, one], [0x00, one]) == qnan32                  # Inf × 0
    assert d([0x80, 0x80], [0x00, 0x00]) == 0x00000000            # (-0) + (-0) -> +0
    assert d([0xBC, one], [one, one]) == 0x00000000               # exact cancellation -> +0
    assert d([inf], [one], out=BF16) == 0x7F80
    assert d([inf], [one], out=E4M3) == 0x7F                     # E4M3 has no Inf: NaN
    assert d([ninf], [one], out=E4M3) == 0xFF
    assert d([ninf], [one], out=get_format("e4m3:sat")) == 0xFE  # saturating: -max
    assert d([nan], [one], out=E4M3) == 0x7F
    assert d([nan], [one], out=get_format("e4m3fnuz")) == 0x80
    assert d([0x01, inf], [inf, one]) == (inf32 if kind == "exact" else qnan32)   # Inf × subnormal: DAZ in L-Mul


@pytest.mark.parametrize("kind", KINDS)
def test_dot_all_zero_is_positive_zero(kind: str) -> None:
    z = np.array([[0x00, 0x80, 0x80], [0x80, 0x80, 0x80]])
    for fmt, out in ((E4M3, FP32), (E4M3, BF16), (E4M3, E4M3)):
        got = dot(fmt, z, z[::-1], out=out, kind=kind)  # type: ignore[arg-type]
        assert np.all(got == 0)
    if kind == "lmul":      # subnormal products are zero in L-Mul (DAZ): still +0
        assert int(dot(E4M3, np.array([0x81, 0x01]), np.array([0x38, 0xB8]), kind="lmul")) == 0


# --- accumulator width, no overflow -------------------------------------------------------------------

def max_product_int(fmt: FloatFormat, kind: str) -> int:
    """|largest product| as an integer at 2**(2 * quantum_exp), from the reference models."""
    mx = fmt.max_finite_field
    p = exact_product(fmt, mx, mx) if kind == "exact" else ref_lmul_unbounded(fmt, mx, mx)
    assert isinstance(p, tuple)
    q = 1 - fmt.bias - fmt.man_bits
    v = p[1] / Fraction(2) ** (2 * q)
    assert v.denominator == 1
    return int(v)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", [*IN_FORMATS, get_format("e5m1"), get_format("e4m3fnuz"), get_format("e2m1")],
                         ids=ids)
def test_accumulator_bits_bound(fmt: FloatFormat, kind: str) -> None:
    pmax = max_product_int(fmt, kind)
    for k in (1, 2, 3, 4, 5, 1000, 1024, 1025, 1 << 20):
        acc = accumulator_bits(fmt, k, kind)  # type: ignore[arg-type]
        assert (k * pmax).bit_length() + 1 <= acc       # two's complement: sign bit + magnitude
        assert -(k * pmax) >= -(1 << (acc - 1))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", [E4M3, E5M2, get_format("e5m1"), get_format("e4m3fnuz")], ids=ids)
def test_dot_max_magnitude_k1024_does_not_overflow(fmt: FloatFormat, kind: str) -> None:
    k = 1024
    mx = fmt.max_finite_field
    neg = mx | (1 << (fmt.width - 1))
    x = np.full((3, k), mx)
    y = np.full((3, k), mx)
    x[1] = neg                                   # all negative
    x[2, ::2] = neg                              # alternating: exact zero
    got = dot(fmt, x, y, kind=kind).astype(np.int64).tolist()  # type: ignore[arg-type]
    assert got == ref_rows(fmt, x, y, FP32, kind)
    q = 1 - fmt.bias - fmt.man_bits
    total = Fraction(k * max_product_int(fmt, kind)) * Fraction(2) ** (2 * q)
    assert float(decode(FP32, got[0])) == float(total)           # exactly representable here
    assert float(decode(FP32, got[1])) == -float(total)
    assert got[2] == 0


def test_dot_bf16_huge_products() -> None:
    mx, one = 0x7F7F, 0x3F80
    k = 1024
    x = np.full((4, k), mx)
    y = np.full((4, k), mx)
    x[0, ::2] = mx | 0x8000                      # exact cancellation of 2**256-sized terms -> +0
    x[1, :2], y[1, :2] = [mx, mx | 0x8000], [mx, mx]
    x[1, 2:], y[1, 2:] = one, 0                  # max² - max² + 0 ... -> +0
    x[2, :3], y[2, :3] = [mx, mx | 0x8000, one], [mx, mx, one]
    x[2, 3:] = 0                                 # max² - max² + 1 -> 1.0
    # row 3: 1024 × max² > FP32 max -> +Inf (the correctly rounded exact sum)
    got = dot(BF16, x, y).astype(np.int64).tolist()
    assert got == [0, 0, 0x3F800000, 0x7F800000]
    assert got == ref_rows(BF16, x, y, FP32, "exact")
    assert dot(BF16, x, y, kind="lmul").astype(np.int64).tolist() == ref_rows(BF16, x, y, FP32, "lmul")


# --- order independence -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", IN_FORMATS, ids=ids)
def test_dot_order_independent(fmt: FloatFormat, kind: str) -> None:
    x = random_matrix(fmt, (16, 257), seed=4)
    y = random_matrix(fmt, (16, 257), seed=5)
    rng = np.random.default_rng(6)
    for out in (FP32, BF16, E4M3.with_(overflow=Overflow.SATURATE)):
        base = dot(fmt, x, y, out=out, kind=kind)  # type: ignore[arg-type]
        for _ in range(3):
            perm = rng.permutation(x.shape[1])
            assert np.array_equal(dot(fmt, x[:, perm], y[:, perm], out=out, kind=kind), base)  # type: ignore[arg-type]
        assert np.array_equal(dot(fmt, x[:, ::-1], y[:, ::-1], out=out, kind=kind), base)  # type: ignore[arg-type]
    # and for matmul: permuting K of A and B together
    a, b = x[:6], y[:5].T.copy()
    perm = rng.permutation(a.shape[1])
    assert np.array_equal(matmul(fmt, a[:, perm], b[perm], kind=kind), matmul(fmt, a, b, kind=kind))  # type: ignore[arg-type]


# --- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("a_shape", "b_shape"), [((4,), (4, 2)), ((2, 4), (4,)), ((2, 3), (4, 2)), ((2, 0), (0, 3)),
                                                  ((2, 3, 1), (3, 2)), ((2, 3), (3, 2, 1)), ((), (1, 1))])
def test_matmul_shape_errors(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    with pytest.raises(FormatError):
        matmul(E4M3, np.zeros(a_shape, dtype=np.int64), np.zeros(b_shape, dtype=np.int64))


def test_bad_kind_and_k() -> None:
    with pytest.raises(FormatError):
        dot(E4M3, np.array([1]), np.array([1]), kind="approx")  # type: ignore[arg-type]
    with pytest.raises(FormatError):
        matmul(E4M3, np.ones((1, 1), dtype=np.int64), np.ones((1, 1), dtype=np.int64), kind="fast")  # type: ignore[arg-type]
    for k in (0, -1):
        with pytest.raises(FormatError, match="k_max"):
            accumulator_bits(E4M3, k)
    for k in (1.5, "4"):                      # wrong types are TypeErrors (issue 13)
        with pytest.raises(TypeError, match="k_max"):
            accumulator_bits(E4M3, k)  # type: ignore[arg-type]
    with pytest.raises(FormatError):
        dot(E4M3, np.array([256]), np.array([1]))


def test_dot_broadcast_shapes() -> None:
    x = random_matrix(E4M3, (2, 3, 5), seed=9)
    y = random_matrix(E4M3, (3, 5), seed=10)
    got = dot(E4M3, x, y)
    assert got.shape == (2, 3)
    for i in range(2):
        assert got[i].astype(np.int64).tolist() == ref_rows(E4M3, x[i], y, FP32, "exact")
