"""Golden model of the floating-point accumulator (twin of ``rtl/fp_accumulator.py``),
``acc="<format>[:rne|:rtz]"`` (registry entry ``float``: ``acc="fp32"``, ``"bf16:rtz"``, ``"e8m13"``).

Specification. ``A`` is the accumulator format (any ``get_format`` spec: ``fp32``, ``fp16``,
``bf16``, ``e8m13``, ``e5m4:ftz``, ...), ``mode`` its rounding mode, ``rne`` (round to nearest,
ties to even; the default) or ``rtz`` (round toward zero = truncation of the magnitude). Each
dot product ``p_0, p_1, ..., p_{K-1}`` of exact products (``FixedProducts``: ``p_k = value_k *
2**lsb_exp`` exactly, or NaN, or ±Inf; any product kind) is summed left to right::

    acc_0 = -0            (+0 in a format without -0, FNUZ: the same, see 4.)
    acc_{k+1} = round_A(acc_k + p_k)        k = 0 .. K-1      (fused: one rounding per step)
    result = acc_K                          if out has A's parameters (no conversion)
           = encode(out, decode(A, acc_K))  otherwise (one more RNE rounding, ``encode``)

``acc_k`` is always a value of A (a bit pattern of A; this is the whole state a PE keeps, A.width
bits). One step, with ``x = acc_k`` and ``p = p_k``:

1. NaN: if ``x`` or ``p`` is NaN, or they are infinities of opposite signs (+Inf + -Inf),
   the result is A's canonical NaN with a positive sign (``A.nan_bits(0)``).
2. Inf: otherwise, if ``x`` is ±Inf the result is ``x``; if ``p`` is ±Inf the result is
   ``encode(A, ±inf)``: ±Inf for IEEE formats (saturating ones included), A's NaN for FN/FNUZ
   (signed as ``encode`` gives it), ±max finite for FINITE formats.
3. Finite: ``s = x + p`` exactly (Python integers on a common grid), then rounded to A's
   precision ``A.man_bits + 1`` bits with A's exponent range: below ``2**A.emin`` on the
   subnormal grid ``2**A.quantum_exp`` (gradual underflow). ``rne``: nearest, ties to the even
   significand; ``rtz``: truncation. The rounding is done with an unbounded exponent; then
   - overflow (rounded magnitude above A's largest finite value): ``rne`` follows
     ``apply_overflow_and_sign``: ±Inf for IEEE formats, the format's NaN for FN/FNUZ, ±max for
     saturating (``:sat``) and FINITE formats. ``rtz`` gives ±max finite for every format, as
     IEEE 754 roundTowardZero does (truncation never reaches infinity; no NaN either);
   - A with ``:ftz``: a result that rounds to a subnormal magnitude is flushed to zero with the
     sign of ``s`` (rounded first, then flushed: ``apply_overflow_and_sign``); such an A never
     holds a subnormal, so reading ``x`` needs no DAZ;
   - a nonzero ``s`` that rounds to zero keeps its sign (-0 for a negative ``s``);
   - an exact zero ``s`` is +0 (IEEE 754 for RNE and RTZ: a zero sum of operands of opposite
     signs is +0; ``x + (+0)`` with ``x = -0`` is +0 too, see 4.).
4. Zeros: a zero product is +0 (products carry no sign for zero: ``FixedProducts.value`` is an
   integer, ``ProductLayout`` ignores ``sign`` when ``mag`` is 0). Hence ``-0 + p = p`` exactly
   for every product and ``acc_1 = round_A(p_0)``: the result is the left-to-right sequential
   sum ``round(...round(round(p_0) + p_1)... + p_{K-1})``. A dot product of zero products is
   +0 (as with ``kulisch``), and starting at +0 would give the same results. (IEEE fma would
   give -0 for ``(-1 × 0) + -0``; here the product is +0.) K = 0 gives -0.

Requirements (``lmul.arith.check_float_acc``, ``FormatError``): A must have a NaN when the
operand format has NaN or Inf, and ``out`` must have a NaN when a NaN can arise (NaN/Inf
operands, or an FN/FNUZ A that overflows to NaN).

Equal bit for bit (NaNs aside: numpy keeps the NaN's sign and payload) to numpy's
``acc = np.float32(acc + np.float32(p))`` loop from ``np.float32(-0.0)`` for ``acc="fp32"``
(``tests/test_fp_accumulator.py``), to ``np.float16`` for ``fp16`` and ``ml_dtypes.bfloat16``
for ``bf16`` where the products are representable in A; to a ``fractions.Fraction`` reference
everywhere else.
"""

from __future__ import annotations

import numpy as np

from lmul.arith import Accumulator, check_float_acc, float_acc_format
from lmul.formats import FloatFormat, apply_overflow_and_sign, decode, encode
from lmul.sim.fp_multiplier import FixedProducts, to_fixed

__all__ = ["float_accumulate", "fp_accumulate", "round_exact", "step"]

_bit_length = np.frompyfunc(int.bit_length, 1, 1)


def _start(a_fmt: FloatFormat) -> int:
    """-0 (+0 for FNUZ, which has no -0)."""
    return a_fmt.sign_mask if a_fmt.has_neg_zero else 0


def round_exact(a_fmt: FloatFormat, mode: str, s: np.ndarray, lsb_exp: int) -> np.ndarray:
    """Round exact signed integers ``s * 2**lsb_exp`` (object array of Python ints) to A bit
    patterns (int64): step 3 of the module docstring. Requires ``lsb_exp <= A.quantum_exp``."""
    m = a_fmt.man_bits
    neg = (s < 0).astype(bool)
    mag = np.abs(s)
    top = _bit_length(mag).astype(np.int64) - 1 + lsb_exp        # exponent of the leading bit
    e = np.maximum(top, a_fmt.emin)                               # result binade (subnormals: emin)
    sh = e - m - lsb_exp                                          # bits below the result's ulp, >= 0
    sh_o = sh.astype(object)
    q = mag >> sh_o
    if mode == "rne":
        twice_rem, unit = (mag - (q << sh_o)) << 1, np.left_shift(1, sh_o)
        q = q + ((twice_rem > unit) | ((twice_rem == unit) & ((q & 1) == 1))).astype(np.int64)
    field = ((e + a_fmt.bias - 1) << m) + q.astype(np.int64)     # a carry ripples into the exponent
    if mode == "rtz":
        field = np.minimum(field, a_fmt.max_finite_field)         # truncation never overflows
    return apply_overflow_and_sign(a_fmt, field, neg)


def step(a_fmt: FloatFormat, mode: str, acc_bits: np.ndarray, value: np.ndarray, lsb_exp: int,
         nan: np.ndarray, inf: np.ndarray) -> np.ndarray:
    """One accumulation step on 1-d lanes: ``round_A(acc + p)`` with ``p = value * 2**lsb_exp``
    (or NaN / ±Inf per the flags), as int64 A bit patterns."""
    cls = a_fmt.classify(acc_bits)
    grid = min(lsb_exp, a_fmt.quantum_exp)
    x = to_fixed(a_fmt, acc_bits, object) << (a_fmt.quantum_exp - grid)
    x = np.where(cls["sign"], -x, x)
    s = x + (np.asarray(value).astype(object) << (lsb_exp - grid))
    return step_specials(a_fmt, acc_bits, round_exact(a_fmt, mode, s, grid), nan, inf)


def step_specials(a_fmt: FloatFormat, acc_bits: np.ndarray, res: np.ndarray, nan: np.ndarray,
                  inf: np.ndarray) -> np.ndarray:
    """Rules 1 and 2 of the module docstring applied to a finite step result ``res``: NaN
    (either operand NaN, or opposite infinities) -> A's positive NaN; else Inf propagates."""
    cls = a_fmt.classify(acc_bits)
    inf = np.asarray(inf)
    p_inf, p_neg = inf != 0, inf < 0
    is_nan = cls["nan"] | np.asarray(nan, bool) | (cls["inf"] & p_inf & (cls["sign"] != p_neg))
    is_inf = (cls["inf"] | p_inf) & ~is_nan
    if is_inf.any():
        p_inf_bits = np.where(p_neg, int(encode(a_fmt, -np.inf)), int(encode(a_fmt, np.inf)))
        res = np.where(is_inf, np.where(cls["inf"], acc_bits, p_inf_bits), res)
    if is_nan.any():
        res = np.where(is_nan, a_fmt.nan_bits(0), res)
    return res


def float_accumulate(a_fmt: FloatFormat, mode: str, out: FloatFormat, p: FixedProducts, axis: int,
                     *, operand_fmt: FloatFormat | None = None) -> np.ndarray:
    """Sum ``p`` along ``axis`` in format ``a_fmt`` with rounding ``mode`` (module docstring); the
    result in ``out`` (``out.dtype`` bit patterns). ``operand_fmt`` (optional) is checked with
    ``check_float_acc``."""
    if mode not in ("rne", "rtz"):
        raise ValueError(f"rounding mode must be rne or rtz, got {mode!r}")
    if operand_fmt is not None:
        check_float_acc(operand_fmt, a_fmt, out)
    value = np.moveaxis(np.asarray(p.value), axis, -1)
    nan = np.moveaxis(np.asarray(p.nan), axis, -1)
    inf = np.moveaxis(np.asarray(p.inf), axis, -1)
    value, nan, inf = np.broadcast_arrays(value, nan, inf)
    shape, k = value.shape[:-1], value.shape[-1]
    value, nan, inf = (v.reshape(int(np.prod(shape)), k) for v in (value, nan, inf))
    acc = np.full(value.shape[0], _start(a_fmt), dtype=np.int64)
    for j in range(k):
        acc = step(a_fmt, mode, acc, value[:, j], p.lsb_exp, nan[:, j], inf[:, j])
    if not out.same_as(a_fmt):
        acc = encode(out, decode(a_fmt, acc)).astype(np.int64)
    return acc.reshape(shape).astype(out.dtype)


def fp_accumulate(acc: Accumulator, out: FloatFormat, p: FixedProducts, axis: int) -> np.ndarray:
    """The ``float`` registry entry's golden function (``lmul.arith`` accumulator interface):
    ``acc.params = (format spec, rounding mode)``."""
    a_fmt, mode = float_acc_format(acc)
    return float_accumulate(a_fmt, mode, out, p, axis)
