"""Golden model of the fused N-term dot-product unit (twin of ``rtl/dot_unit.py``):
``dot_unit(fmt, x, y, out, kind, n, acc, align, w, promote)``.

Specification
=============

Inputs: operand vectors ``x[0..K-1]``, ``y[0..K-1]`` (bit patterns of ``fmt``; every leading
axis is an independent row, the dot product runs along the last axis), a product kind (``kind``:
``lmul.arith.PRODUCT_KINDS``), a group size ``n`` in {1, 2, 4, 8, 16, 32}, an accumulator
(``acc``: a float accumulator ``"<format>[:rne|:rtz]"`` with format A and rounding mode, or
``"kulisch"``), an alignment mode (``align``: ``"exact"`` or ``"block"``, the latter with a
window of ``w`` bits, 1 <= w <= 64) and an optional promotion interval ``promote`` (P).

Products. ``p_k = kind(x_k, y_k)``, exact and unrounded (``FixedProducts``: an integer times
``2**lsb`` with ``lsb = 2 * fmt.quantum_exp``, or NaN, or ±Inf; a zero product is +0, unsigned).

Groups. K is consumed in groups of n consecutive products, ``G = ceil(K / n)`` groups; the last
group of a dot product may be shorter, its missing lanes are zero products (so padding x and y
with zero operands gives the same result; in the RTL a short beat in the middle of a dot
product is the same as zero operands in its missing lanes). ``g_j = (p_{jn}, ..., p_{jn+n-1})``.

Group specials. A group is NaN if one of its products is NaN or it holds both a +Inf and a -Inf
product; otherwise it is ±Inf if it holds a ±Inf product; otherwise it is finite.

One step per group, accumulator format A (``acc_0 = -0``; +0 in FNUZ formats, which have no -0)::

    acc_{j+1} = round_A(s_j),   s_j = exact sum of acc_j and g_j per the alignment mode
                                                      j = 0 .. G-1   (one rounding per group)

Specials of a step (both alignment modes; the float accumulator's rules with the group as its
addend, ``lmul.sim.fp_accumulator``): the result is A's canonical NaN (``A.nan_bits(0)``) if
``acc_j`` is NaN, the group is NaN, or ``acc_j`` and the group are infinities of opposite signs;
otherwise ``acc_j`` if it is ±Inf; otherwise ``encode(A, ±inf)`` if the group is ±Inf (±Inf for
IEEE A, A's NaN for FN/FNUZ, ±max for FINITE A). Otherwise the step is finite:

* ``align="exact"`` (FDOT style, Arm FEAT_FP8DOT4): ``S = p_{jn} + ... + p_{jn+n-1}`` exactly,
  ``s = acc_j + S`` exactly;
* ``align="block"`` (Hopper style; float accumulators only): among the group's nonzero finite
  products *and* the nonzero finite ``acc_j``, ``E`` is the largest exponent
  ``floor(log2 |v|)``; every one of those n + 1 values is truncated toward zero (magnitude
  truncation, sign kept) to a multiple of ``2**(E - w + 1)``, i.e. only its bits of weight
  ``2**E .. 2**(E - w + 1)`` are kept (bits below are dropped, never rounded; the accumulator is
  truncated as well, even in a group of zero products); ``s`` is the exact sum of the n + 1
  truncated values. With no nonzero finite value, ``s = 0``. (Every accumulator value is a
  multiple of ``2**lsb``, sums of products rounded onto A's grid, so ``E >= lsb`` always.)

``s`` is then rounded once into A exactly as one float-accumulator step rounds
(``lmul.sim.fp_accumulator``, step 3): A's precision ``A.man_bits + 1``, gradual underflow onto
``2**A.quantum_exp`` (or FTZ: a result that rounds to a subnormal magnitude is ±0), ``rne`` (nearest,
ties to even) or ``rtz`` (truncation); overflow under ``rne`` per ``apply_overflow_and_sign``
(±Inf for IEEE A, NaN for FN/FNUZ, ±max when saturating or FINITE), under ``rtz`` ±max
finite; an exact zero ``s`` is +0 (also ``-0 + 0``), a nonzero ``s`` that rounds to zero keeps
its sign. Hence ``n = 1``, ``align="exact"`` is the float accumulator itself: ``dot_unit(...,
n=1, acc=A) == dot(..., acc=A)`` bit for bit.

Promotion (``promote = P``, a multiple of n, float accumulators only). The groups of a dot
product are split into intervals of ``P / n`` groups (P products; the last interval may be
shorter). An FP32 accumulator ``F`` (``F = -0`` at the start of a dot product) takes the value of A
at the end of each interval, ``F <- round_FP32_RNE(F + acc)`` (one float-accumulator step with the
value of A as its addend: a zero A is +0, a NaN or ±Inf A is a NaN or ±Inf addend), and A
restarts at -0. The result is F after the last interval (so the last partial is added into F by
one more FP32 RNE step), converted to ``out``. Without promotion the result is ``acc_G``.

Output. The result (a value of A, or of FP32 with promotion) is converted with one RNE rounding
to ``out``, ``encode(out, decode(., bits))``, or passed through when ``out`` has the same
parameters. ``acc="kulisch"`` (``align="exact"`` only, no promotion): the group sums and their
sum are exact, so the result is the Kulisch dot product, one RNE rounding of the exact sum to
``out`` (specials as ``lmul.sim.kulisch``): ``dot_unit(..., acc="kulisch") == dot(...,
acc="kulisch")`` for every n.

K = 0 (no groups) gives ``acc_0 = -0`` converted to ``out`` (the RTL has no empty dot products:
every dot product is at least one beat). In the RTL (``DotUnit``) a beat is a group: ``count``
lanes live, ``last`` on the final one; the promotion interval counts beats (``P / n`` of them).

Order of operations, once more: products exact -> (exact) group sum exact, or (block) max
exponent over group and accumulator, truncation of each, exact sum -> one rounding into A ->
(every P products) one FP32 RNE addition -> one RNE conversion to ``out``.

Requirements (``FormatError``): A must have a NaN when ``fmt`` has NaN or Inf, and ``out`` must
have a NaN when a NaN can arise (``lmul.arith.check_float_acc``; with promotion for FP32 as well).
Parameter errors raise ``ParameterError`` naming the parameter and its allowed values; values of
the wrong type raise ``TypeError`` (``check_dot_unit``).

Implementation: exact integer arithmetic (Python ints in numpy object arrays), vectorised over
rows, one loop iteration per group; the rounding and the step specials are
``lmul.sim.fp_accumulator``'s (``round_exact``, ``step``).
"""

from __future__ import annotations

import numpy as np

from lmul.arith import (
    FLOAT_ACC,
    Accumulator,
    ProductKind,
    check_dot_unit,
    check_float_acc,
    float_acc_format,
    product_kind,
)
from lmul.formats import FP32, FloatFormat, decode, encode, get_format
from lmul.sim.fp_accumulator import round_exact, step, step_specials
from lmul.sim.fp_multiplier import to_fixed
from lmul.sim.kulisch import accumulate
from lmul.sim.mac_pe import products

__all__ = ["block_step", "dot_unit", "group_flags", "promote_step"]

_bit_length = np.frompyfunc(int.bit_length, 1, 1)


def group_flags(nan: np.ndarray, inf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Specials of groups along the last axis: (NaN mask, +1/-1/0 for ±Inf / none)."""
    pinf, ninf = (inf > 0).any(axis=-1), (inf < 0).any(axis=-1)
    gnan = nan.any(axis=-1) | (pinf & ninf)
    return gnan, np.where(gnan, 0, np.where(pinf, 1, np.where(ninf, -1, 0))).astype(np.int8)


def block_step(a_fmt: FloatFormat, mode: str, acc_bits: np.ndarray, value: np.ndarray, lsb_exp: int, w: int,
               nan: np.ndarray, inf: np.ndarray) -> np.ndarray:
    """One block-truncating step on rows: ``acc_bits`` (R,) A bit patterns, ``value`` (R, n) the
    group's products (integers at ``2**lsb_exp``; 0 for specials), ``nan``/``inf`` the group flags
    (``group_flags``). Returns the new A bit patterns (int64)."""
    cls = a_fmt.classify(acc_bits)
    g = min(lsb_exp, a_fmt.quantum_exp)                           # a grid holding every value exactly
    xa = to_fixed(a_fmt, acc_bits, object) << (a_fmt.quantum_exp - g)   # 0 for zeros and specials
    xa = np.where(cls["sign"], -xa, xa)
    terms = np.concatenate([np.asarray(value).astype(object) << (lsb_exp - g), xa[:, None]], axis=1)
    mag = np.abs(terms)
    nonzero = (mag != 0).astype(bool)
    top = np.where(nonzero, _bit_length(mag).astype(np.int64) - 1 + g, np.iinfo(np.int64).min // 2)
    e = top.max(axis=1)                                           # E (meaningless when all are zero)
    drop = np.maximum(e - w + 1 - g, 0).astype(object)[:, None]   # grid bits below 2**(E - w + 1)
    kept = (mag >> drop) << drop                                  # truncation toward zero
    s = np.where((terms < 0).astype(bool), -kept, kept).sum(axis=1)
    return step_specials(a_fmt, acc_bits, round_exact(a_fmt, mode, s, g), nan, inf)


def promote_step(a_fmt: FloatFormat, f_bits: np.ndarray, acc_bits: np.ndarray) -> np.ndarray:
    """``F <- round_FP32_RNE(F + value of A)``: one float-accumulator step with A's value as addend."""
    cls = a_fmt.classify(acc_bits)
    v = to_fixed(a_fmt, acc_bits, object)
    v = np.where(cls["sign"], -v, v)
    inf = np.where(cls["inf"], np.where(cls["sign"], -1, 1), 0).astype(np.int8)
    return step(FP32, "rne", f_bits, v, a_fmt.quantum_exp, cls["nan"], inf)


def _start(fmt: FloatFormat) -> int:
    return fmt.sign_mask if fmt.has_neg_zero else 0


def _convert(src: FloatFormat, out: FloatFormat, bits: np.ndarray) -> np.ndarray:
    return bits if out.same_as(src) else encode(out, decode(src, bits)).astype(np.int64)


def dot_unit(fmt: FloatFormat | str, x: np.ndarray | int, y: np.ndarray | int, out: FloatFormat | str = FP32,
             kind: str | ProductKind = "exact", n: int = 4, acc: str | Accumulator = "fp32", align: str = "exact",
             w: int | None = None, promote: int | None = None) -> np.ndarray:
    """Dot products along the last axis of ``x`` and ``y`` (``fmt`` bit patterns, broadcast) by the
    fused n-term dot unit of the module docstring; ``out.dtype`` bit patterns, one per row."""
    fmt, out = get_format(fmt), get_format(out)
    a = check_dot_unit(n, acc, align, w, promote)
    pk = product_kind(kind)
    pk.check(fmt)
    p = products(fmt, x, y, pk)
    if a.kind.name != FLOAT_ACC:                                  # kulisch: exact throughout
        return accumulate(out, p, axis=-1)
    a_fmt, mode = float_acc_format(a)
    check_float_acc(fmt, a_fmt, out)
    if promote is not None:
        check_float_acc(fmt, FP32, out)
    value, nan, inf = np.broadcast_arrays(np.asarray(p.value), np.asarray(p.nan), np.asarray(p.inf))
    shape, k = value.shape[:-1], value.shape[-1]
    rows = int(np.prod(shape))
    groups = -(-k // n)
    pad = groups * n - k

    def grouped(v: np.ndarray, fill: object, dtype: object) -> np.ndarray:
        v = np.asarray(v).reshape(rows, k).astype(dtype)
        v = np.concatenate([v, np.full((rows, pad), fill, dtype=dtype)], axis=1)
        return v.reshape(rows, groups, n)

    gv, gnan, ginf = grouped(value, 0, object), grouped(nan, False, bool), grouped(inf, 0, np.int8)
    acc_bits = np.full(rows, _start(a_fmt), dtype=np.int64)
    f_bits = np.full(rows, _start(FP32), dtype=np.int64)
    for j in range(groups):
        fnan, finf = group_flags(gnan[:, j], ginf[:, j])
        if align == "exact":
            acc_bits = step(a_fmt, mode, acc_bits, gv[:, j].sum(axis=1), p.lsb_exp, fnan, finf)
        else:
            acc_bits = block_step(a_fmt, mode, acc_bits, gv[:, j], p.lsb_exp, w, fnan, finf)  # type: ignore[arg-type]
        if promote is not None and ((j + 1) % (promote // n) == 0 or j == groups - 1):
            f_bits = promote_step(a_fmt, f_bits, acc_bits)
            acc_bits = np.full(rows, _start(a_fmt), dtype=np.int64)
    res = _convert(FP32, out, f_bits) if promote is not None else _convert(a_fmt, out, acc_bits)
    return np.asarray(res).reshape(shape).astype(out.dtype)

