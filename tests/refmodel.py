"""Independent pure-Python reference models used by the tests.

Everything here is written from the *specifications* (the docstrings of ``lmul.formats``,
``lmul.sim.lmul_pe`` and ``lmul.sim.mac_pe``, and ``docs/lmul-spec.md``) with plain Python
integers and :class:`fractions.Fraction`. Nothing here calls the code under test except for
reading the plain parameters of a :class:`~lmul.formats.FloatFormat` (``exp_bits``,
``man_bits``, ``bias``, ``specials``, ``subnormals``, ``overflow``).

Codes are Python ints. Results that are NaN or infinite are represented by the strings
``"nan"``, ``"+inf"`` and ``"-inf"``; finite values by ``(sign, Fraction magnitude)``.
"""

from __future__ import annotations

from fractions import Fraction

from lmul.formats import FloatFormat, Overflow, Specials

NAN = "nan"
Value = tuple[int, Fraction] | str


# --- format parameters, derived from the module docstring of lmul.formats -------------------

def fields(fmt: FloatFormat, code: int) -> tuple[int, int, int]:
    """(sign, exponent field, mantissa field) of one code."""
    m, e = fmt.man_bits, fmt.exp_bits
    return (code >> (e + m)) & 1, (code >> m) & ((1 << e) - 1), code & ((1 << m) - 1)


def sign_bit(fmt: FloatFormat) -> int:
    return 1 << (fmt.exp_bits + fmt.man_bits)


def all_ones_field(fmt: FloatFormat) -> int:
    return (1 << (fmt.exp_bits + fmt.man_bits)) - 1


def max_field(fmt: FloatFormat) -> int:
    """Exponent+mantissa field of the largest finite value."""
    if fmt.specials is Specials.IEEE:
        return (((1 << fmt.exp_bits) - 1) << fmt.man_bits) - 1     # top exponent reserved
    if fmt.specials is Specials.FN:
        return all_ones_field(fmt) - 1                              # S.1..1.1..1 is NaN
    return all_ones_field(fmt)                                      # FNUZ / FINITE


def saturating(fmt: FloatFormat) -> bool:
    return fmt.specials is Specials.FINITE or fmt.overflow is Overflow.SATURATE


def is_nan(fmt: FloatFormat, code: int) -> bool:
    _, e, m = fields(fmt, code)
    if fmt.specials is Specials.IEEE:
        return e == (1 << fmt.exp_bits) - 1 and m != 0
    if fmt.specials is Specials.FN:
        return code & all_ones_field(fmt) == all_ones_field(fmt)
    if fmt.specials is Specials.FNUZ:
        return code == sign_bit(fmt)
    return False


def is_inf(fmt: FloatFormat, code: int) -> bool:
    _, e, m = fields(fmt, code)
    return fmt.specials is Specials.IEEE and e == (1 << fmt.exp_bits) - 1 and m == 0


def is_subnormal(fmt: FloatFormat, code: int) -> bool:
    _, e, m = fields(fmt, code)
    return e == 0 and m != 0


def is_zero(fmt: FloatFormat, code: int) -> bool:
    """Zero encoding (not the FNUZ NaN)."""
    return code & all_ones_field(fmt) == 0 and not is_nan(fmt, code)


def nan_code(fmt: FloatFormat, sign: int) -> int:
    """Canonical quiet NaN."""
    if fmt.specials is Specials.IEEE:
        top = ((1 << fmt.exp_bits) - 1) << fmt.man_bits
        return (sign * sign_bit(fmt)) | top | (1 << (fmt.man_bits - 1))
    if fmt.specials is Specials.FN:
        return (sign * sign_bit(fmt)) | all_ones_field(fmt)
    if fmt.specials is Specials.FNUZ:
        return sign_bit(fmt)
    raise AssertionError(f"{fmt} has no NaN")


def inf_code(fmt: FloatFormat, sign: int) -> int:
    assert fmt.specials is Specials.IEEE
    return (sign * sign_bit(fmt)) | (((1 << fmt.exp_bits) - 1) << fmt.man_bits)


def zero_code(fmt: FloatFormat, sign: int) -> int:
    return 0 if fmt.specials is Specials.FNUZ else sign * sign_bit(fmt)


def overflow_code(fmt: FloatFormat, sign: int) -> int:
    """What a finite result beyond the largest finite value becomes."""
    if saturating(fmt):
        return (sign * sign_bit(fmt)) | max_field(fmt)
    if fmt.specials is Specials.IEEE:
        return inf_code(fmt, sign)
    return nan_code(fmt, sign)        # FN: NaN with the result's sign; FNUZ: the single NaN


def infinity_code(fmt: FloatFormat, sign: int) -> int:
    """What an infinite value becomes in ``fmt`` (IEEE keeps Inf even when saturating)."""
    if fmt.specials is Specials.IEEE:
        return inf_code(fmt, sign)
    return overflow_code(fmt, sign)


def pow2(k: int) -> Fraction:
    return Fraction(2) ** k


def magnitude(fmt: FloatFormat, code: int, daz: bool | None = None) -> Fraction:
    """|value| of a finite code (subnormals read as 0 when ``daz``, default: not fmt.subnormals)."""
    if daz is None:
        daz = not fmt.subnormals
    _, e, m = fields(fmt, code)
    if e == 0:
        return Fraction(0) if daz else m * pow2(1 - fmt.bias - fmt.man_bits)
    return ((1 << fmt.man_bits) + m) * pow2(e - fmt.bias - fmt.man_bits)


def value(fmt: FloatFormat, code: int, daz: bool | None = None) -> Value:
    if is_nan(fmt, code):
        return NAN
    s = fields(fmt, code)[0]
    if is_inf(fmt, code):
        return "-inf" if s else "+inf"
    return s, magnitude(fmt, code, daz)


def to_float(v: Value) -> float:
    if v == NAN:
        return float("nan")
    if isinstance(v, str):
        return float(v)
    s, mag = v
    f = float(mag)
    return -f if s else f


# --- correctly rounded encoding of an exact value ---------------------------------------------

def floor_log2(q: Fraction) -> int:
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if pow2(e) > q:
        e -= 1
    assert pow2(e) <= q < pow2(e + 1)
    return e


def round_magnitude(fmt: FloatFormat, q: Fraction) -> int:
    """|q| rounded to nearest, ties to even, as an (unbounded) exponent+mantissa field."""
    assert q >= 0
    if q == 0:
        return 0
    m = fmt.man_bits
    emin = 1 - fmt.bias
    e = max(floor_log2(q), emin)
    scaled = q / pow2(e - m)                 # in [2**m, 2**(m+1)) for normals, < 2**m subnormal
    n = scaled.numerator // scaled.denominator
    rem = scaled - n
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2 == 1):
        n += 1
    return ((e - emin) << m) + n


def encode_exact(fmt: FloatFormat, sign: int, q: Fraction) -> int:
    """The code of ``(-1)**sign * q`` rounded once (RNE), with FTZ and the overflow policy."""
    field = round_magnitude(fmt, q)
    if field > max_field(fmt):
        return overflow_code(fmt, sign)
    if field < (1 << fmt.man_bits) and not fmt.subnormals:
        field = 0
    if field == 0:
        return zero_code(fmt, sign)
    return (sign * sign_bit(fmt)) | field


def encode_value(fmt: FloatFormat, v: Value, nan_sign: int = 0) -> int:
    if v == NAN:
        return nan_code(fmt, nan_sign)
    if v == "+inf":
        return infinity_code(fmt, 0)
    if v == "-inf":
        return infinity_code(fmt, 1)
    assert isinstance(v, tuple)
    return encode_exact(fmt, v[0], v[1])


# --- exact multiplication (IEEE semantics with the project's NaN-sign rule) -------------------

def multiply_nan_sign(fmt: FloatFormat, x: int, y: int) -> int:
    """Sign of the NaN result: y's if y is NaN, else x's if x is NaN, else 1 (0 × Inf)."""
    if is_nan(fmt, y):
        return fields(fmt, y)[0]
    if is_nan(fmt, x):
        return fields(fmt, x)[0]
    return 1


def exact_product(fmt: FloatFormat, x: int, y: int) -> Value:
    """The exact (unrounded) product of two codes; subnormals DAZ when ``fmt.subnormals`` is off."""
    vx, vy = value(fmt, x), value(fmt, y)
    if NAN in (vx, vy):
        return NAN
    sign = fields(fmt, x)[0] ^ fields(fmt, y)[0]
    if isinstance(vx, str) or isinstance(vy, str):
        other = vy if isinstance(vx, str) else vx
        if isinstance(other, tuple) and other[1] == 0:
            return NAN
        return "-inf" if sign else "+inf"
    return sign, vx[1] * vy[1]


def ref_fp_multiply(fmt: FloatFormat, x: int, y: int) -> int:
    p = exact_product(fmt, x, y)
    return encode_value(fmt, p, multiply_nan_sign(fmt, x, y))


# --- L-Mul, from the specification in sim/lmul_pe.py and docs/lmul-spec.md --------------------

L_OF_M = {1: 1, 2: 2, 3: 3, 4: 3}          # l(m) = m (m <= 3), 3 (m = 4), 4 (m > 4)


def l_of_m(m: int) -> int:
    return L_OF_M.get(m, 4)


def lmul_sum(fmt: FloatFormat, x: int, y: int) -> int:
    """S = F_x + F_y + 2**(m - l(m)) - bias * 2**m."""
    m = fmt.man_bits
    fx, fy = x & all_ones_field(fmt), y & all_ones_field(fmt)
    return fx + fy + (1 << (m - l_of_m(m))) - fmt.bias * (1 << m)


def lmul_zero_operand(fmt: FloatFormat, code: int) -> bool:
    """Zero or subnormal (DAZ), NaN excluded."""
    return fields(fmt, code)[1] == 0 and not is_nan(fmt, code)


def ref_lmul(fmt: FloatFormat, x: int, y: int) -> int:
    """The L-Mul result code, case by case in the spec's priority order."""
    sx, sy = fields(fmt, x)[0], fields(fmt, y)[0]
    sign = sx ^ sy
    zx, zy = lmul_zero_operand(fmt, x), lmul_zero_operand(fmt, y)
    ix, iy = is_inf(fmt, x), is_inf(fmt, y)
    if is_nan(fmt, x) or is_nan(fmt, y) or (ix and zy) or (iy and zx):
        return nan_code(fmt, multiply_nan_sign(fmt, x, y))
    if ix or iy:
        return inf_code(fmt, sign)
    if zx or zy:
        return zero_code(fmt, sign)
    s = lmul_sum(fmt, x, y)
    if s < (1 << fmt.man_bits):
        return zero_code(fmt, sign)
    if s > max_field(fmt):
        return overflow_code(fmt, sign)
    return (sign * sign_bit(fmt)) | s


def ref_lmul_unbounded(fmt: FloatFormat, x: int, y: int) -> Value:
    """The adder result without FTZ/overflow: (2**m + (S mod 2**m)) * 2**((S >> m) - bias - m)."""
    sx, sy = fields(fmt, x)[0], fields(fmt, y)[0]
    sign = sx ^ sy
    zx, zy = lmul_zero_operand(fmt, x), lmul_zero_operand(fmt, y)
    ix, iy = is_inf(fmt, x), is_inf(fmt, y)
    if is_nan(fmt, x) or is_nan(fmt, y) or (ix and zy) or (iy and zx):
        return NAN
    if ix or iy:
        return "-inf" if sign else "+inf"
    if zx or zy:
        return sign, Fraction(0)
    m = fmt.man_bits
    s = lmul_sum(fmt, x, y)
    return sign, ((1 << m) + s % (1 << m)) * pow2(s // (1 << m) - fmt.bias - m)


# --- dot products (sim/mac_pe.py semantics) ----------------------------------------------------

def ref_dot(fmt: FloatFormat, xs: list[int], ys: list[int], out: FloatFormat, kind: str) -> int:
    """Exact products, exact sum, one RNE rounding; NaN / ±Inf rules of the MAC docstring."""
    prod = exact_product if kind == "exact" else ref_lmul_unbounded
    total = Fraction(0)
    nan = pos = neg = False
    for x, y in zip(xs, ys, strict=True):
        p = prod(fmt, x, y)
        if p == NAN:
            nan = True
        elif p == "+inf":
            pos = True
        elif p == "-inf":
            neg = True
        else:
            assert isinstance(p, tuple)
            total += -p[1] if p[0] else p[1]
    if nan or (pos and neg):
        return nan_code(out, 0)
    if pos:
        return infinity_code(out, 0)
    if neg:
        return infinity_code(out, 1)
    if total == 0:
        return zero_code(out, 0)
    return encode_exact(out, int(total < 0), abs(total))
