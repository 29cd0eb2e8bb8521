"""Stimulus for multiplier verification: exhaustive pairs, special classes, random pairs."""

from __future__ import annotations

import numpy as np

from lmul.formats import FloatFormat

__all__ = ["EXHAUSTIVE_MAX_WIDTH", "multiplier_vectors", "special_values"]

EXHAUSTIVE_MAX_WIDTH = 8   # formats up to 8 bits: all 2**16 pairs


def special_values(fmt: FloatFormat) -> np.ndarray:
    """Bit patterns of every special class, both signs: zeros, smallest/largest subnormals,
    smallest normals, one, largest finite and its neighbours, mantissa-carry operands (all-ones
    and half mantissas), exponents near the bias (products land near under/overflow), Inf and
    several NaN payloads (signalling and quiet)."""
    m, e = fmt.man_bits, fmt.exp_bits
    mm = fmt.man_mask
    top_e = (1 << e) - 1
    mags = {0, 1, 2, mm, (1 << m), (1 << m) | 1, (1 << m) | mm, (1 << m) | (1 << (m - 1)) if m else 0,
            fmt.max_finite_field, fmt.max_finite_field - 1, fmt.bias << m, (fmt.bias << m) | mm,
            ((fmt.bias // 2) << m) | mm, ((fmt.bias // 2) << m), ((fmt.bias + fmt.bias // 2) << m) | mm,
            ((fmt.bias + 1) << m) | (mm >> 1), (2 << m) | mm}
    if fmt.has_inf:
        mags |= {top_e << m, (top_e << m) | 1, (top_e << m) | mm, (top_e << m) | (1 << (m - 1))}
    if fmt.has_nan and not fmt.has_inf:
        mags.add(fmt.nan_bits(0) & fmt.field_mask)
    mags = {v for v in mags if 0 <= v <= fmt.field_mask}
    vals = sorted(mags) + [v | fmt.sign_mask for v in sorted(mags)]
    return np.array(sorted(set(vals)), dtype=np.int64)


def multiplier_vectors(fmt: FloatFormat, n_random: int = 100_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) int64 bit patterns: every pair for formats up to 8 bits, else all pairs of
    ``special_values`` plus ``n_random`` uniformly random pairs."""
    if fmt.width <= EXHAUSTIVE_MAX_WIDTH:
        codes = np.arange(1 << fmt.width, dtype=np.int64)
        x, y = np.meshgrid(codes, codes, indexing="ij")
        return x.ravel(), y.ravel()
    sp = special_values(fmt)
    sx, sy = (g.ravel() for g in np.meshgrid(sp, sp, indexing="ij"))
    rng = np.random.default_rng(seed)
    rx = rng.integers(0, 1 << fmt.width, n_random, dtype=np.int64)
    ry = rng.integers(0, 1 << fmt.width, n_random, dtype=np.int64)
    return np.concatenate([sx, rx]), np.concatenate([sy, ry])
