"""The L-Mul paper's checkable claims, reproduced with our golden models and gates (``lmul paper``).

Issue 7. Five items, every number computed here; the only paper-side inputs are the claims
quoted in ``docs/paper-sources.md`` (the paper's body — error formula, Table 1, operation counts,
precision setup — was not available; the output says so wherever it matters):

1. precision of L-Mul vs FP8 multiplication: random operands from stated distributions (our
   substitute for the paper's setup) and all pairs of each 8-bit format;
2. expected error of L-Mul: our derivation (exact over the uniform mantissa grid, and the
   continuous uniform / log-uniform limits) vs the measured mean;
3. cost: third-party reports of the paper's bit-level operation counts vs our gate and
   transistor counts (Yosys generic synthesis, ``lmul.scripts.synth``);
4. energy: the claimed 95 % / 80 % recomputed from the 45 nm table the paper cites (several
   candidate derivations) and from our transistor counts (multipliers, MAC PEs, arrays);
5. matmul accuracy through the array's bit-exact golden model (``lmul.sim.systolic_array``).

``run`` computes everything into a JSON-able dict; ``markdown`` and ``plots`` render it, so every
table and figure is regenerated from the same data (``paper.json``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from lmul.formats import E3M4, E4M3, E5M2, FP32, FloatFormat, decode, encode, get_format
from lmul.numerics import DISTRIBUTIONS, Stats, e8m, operator_error, relative_error
from lmul.report import PAPER_CLAIMS, PAPER_ENERGY_PJ, Sweep, default_sweep, summarize
from lmul.sim.fp_multiplier import fp_multiply
from lmul.sim.lmul_pe import lmul, lmul_l
from lmul.sim.systolic_array import matmul

__all__ = ["PaperError", "Pipeline", "all_pairs_precision", "benford_weights", "continuous_expectation",
           "error_summary", "grid_errors", "grid_expectation", "grid_expectation_log", "horowitz_reconstructions",
           "main", "markdown", "matmul_accuracy", "plots", "quantise", "run", "write"]

Progress = Callable[[str], None]


class PaperError(RuntimeError):
    """A problem with the inputs of ``lmul paper`` (e.g. an unreadable report JSON)."""


# --- what the paper says, as far as it is verifiable (docs/paper-sources.md) -----------------------

SOURCES = "docs/paper-sources.md"
THIRD_PARTY_COUNTS = [
    {"source": "press paraphrase of the paper", "what": "bit-level operations, FP8 multiply vs L-Mul",
     "fp8_multiply": 325, "lmul": 157},
    {"source": "ICLR 2025 reviewer, on the paper's Eq. 6", "what": "gates, FP8 E5M2 multiply (paper / reviewer)",
     "fp8_multiply": 296, "lmul": None, "reviewer_count": 185},
]

# --- products: one description for element-wise products and for matmuls ---------------------------


@dataclass(frozen=True)
class Pipeline:
    """How products are formed: operands quantised (RNE) to ``fmt``, then multiplied by
    ``kind``: ``rounded`` (exact product rounded once to ``fmt``: ``fp_multiply``), ``exact``
    (unrounded product, what a MAC accumulates) or ``lmul`` (the L-Mul PE, result in ``fmt``)."""

    label: str
    fmt: FloatFormat
    kind: str

    def multiply_bits(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """float64 products of ``fmt`` bit patterns."""
        if self.kind == "exact":
            return decode(self.fmt, x) * decode(self.fmt, y)
        op = fp_multiply if self.kind == "rounded" else lmul
        return decode(self.fmt, op(self.fmt, x, y))

    def products(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Element-wise products of float64 operands (quantised directly, no scaling)."""
        return self.multiply_bits(encode(self.fmt, a), encode(self.fmt, b))

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``A @ B`` through the array's golden model (exact or L-Mul products, exact sum, FP32
        result), operands quantised with per-tensor power-of-two scaling (undone afterwards)."""
        (x, sx), (y, sy) = quantise(self.fmt, a), quantise(self.fmt, b)
        return decode(FP32, matmul(self.fmt, x, y, FP32, self.kind)) / (sx * sy)


def quantise(fmt: FloatFormat, x: np.ndarray) -> tuple[np.ndarray, float]:
    """(bits, scale): ``encode(fmt, x * scale)`` with ``scale = 2**floor(log2(max / amax))`` for
    formats with an exponent field narrower than 8 bits (FP8 practice); 1 for wider formats."""
    amax = float(np.max(np.abs(x))) if np.size(x) else 0.0
    scale = 1.0
    if fmt.exp_bits < 8 and amax > 0:
        scale = float(2.0 ** math.floor(math.log2(fmt.max_value / amax)))
    return encode(fmt, x * scale), scale


FP8_ROUNDED = {"e4m3": Pipeline("e4m3 multiply", E4M3, "rounded"), "e5m2": Pipeline("e5m2 multiply", E5M2, "rounded")}
# the paper's pairing (as in lmul numerics): L-Mul with m mantissa bits and an 8-bit exponent
LMUL_WIDE = {m: Pipeline(f"L-Mul m={m} (e8m{m})", e8m(m), "lmul") for m in range(1, 8)}
PRODUCT_PIPELINES = [
    FP8_ROUNDED["e4m3"], FP8_ROUNDED["e5m2"],
    Pipeline("e4m3 inputs, exact product", E4M3, "exact"), Pipeline("e5m2 inputs, exact product", E5M2, "exact"),
    LMUL_WIDE[4], LMUL_WIDE[3],
    Pipeline("L-Mul on e3m4 (m=4, 8 bits)", E3M4, "lmul"), Pipeline("L-Mul on e4m3 (m=3)", E4M3, "lmul"),
    Pipeline("L-Mul on e5m2 (m=2)", E5M2, "lmul"),
]
# (claim, L-Mul pipeline, FP8 pipeline, "as precise" (<=) or "more precise" (<))
CLAIMS = [("L-Mul m=4 as precise as e4m3 multiplication", LMUL_WIDE[4].label, "e4m3 multiply", "<="),
          ("L-Mul m=3 more precise than e5m2 multiplication", LMUL_WIDE[3].label, "e5m2 multiply", "<")]
ALL_PAIRS_FORMATS = (E4M3, E5M2, E3M4)
# all-pairs pairing inside 8 bits: L-Mul with 4 (3) mantissa bits is e3m4 (e4m3)
ALL_PAIRS_CLAIMS = [(CLAIMS[0][0], "e3m4", "e4m3"), (CLAIMS[1][0], "e4m3", "e5m2")]
CDF_POINTS = np.linspace(0.0, 1.0, 201)


def error_summary(approx: np.ndarray, exact: np.ndarray) -> dict:
    """Relative-error statistics over elements with a finite nonzero exact value: ``Stats``
    over finite results, plus the fraction of non-finite results (overflow), of results
    flushed to zero, the normalised MSE and the error quantiles at ``CDF_POINTS``."""
    ok = (exact != 0) & np.isfinite(exact)
    rel = relative_error(approx, exact)
    fin = np.isfinite(rel)
    good = rel[fin]
    a, e = approx[ok][fin], exact[ok][fin]
    out = asdict(Stats.of_errors(good)) if good.size else {"mean": None, "median": None, "p99": None, "max": None,
                                                            "n": 0}
    out.update({"nonfinite": float(1 - fin.mean()) if rel.size else 0.0,
                "flushed": float((approx[ok] == 0).mean()) if rel.size else 0.0,
                "nmse": float(np.mean((a - e) ** 2) / np.mean(e ** 2)) if good.size else None,
                "quantiles": np.quantile(good, CDF_POINTS).tolist() if good.size else []})
    return out


# --- item 1: precision --------------------------------------------------------------------------------

def distribution_precision(samples: int, seed: int, progress: Progress) -> dict[str, dict[str, dict]]:
    """Per distribution (``numerics.DISTRIBUTIONS``): every product pipeline's error against the
    float64 product of the unquantised operands."""
    out: dict[str, dict[str, dict]] = {}
    for dist, draw in DISTRIBUTIONS.items():
        rng = np.random.default_rng(seed)
        a, b = draw(rng, samples), draw(rng, samples)
        exact = a * b
        progress(f"precision: {samples:,} {dist} pairs, {len(PRODUCT_PIPELINES)} pipelines")
        out[dist] = {p.label: error_summary(p.products(a, b), exact) for p in PRODUCT_PIPELINES}
    return out


def all_pairs_precision(fmt: FloatFormat) -> dict[str, dict[str, dict]]:
    """Every operand pair of an 8-bit format: correctly rounded multiply and L-Mul against the
    exact product. ``all``: every finite nonzero exact product; ``in_range``: normal operands and
    an exact product within the normal range (pure precision, no underflow/overflow)."""
    bits = np.arange(1 << fmt.width, dtype=np.int64)
    x, y = (g.ravel() for g in np.meshgrid(bits, bits, indexing="ij"))
    vx, vy = decode(fmt, x), decode(fmt, y)
    with np.errstate(invalid="ignore", over="ignore"):
        exact = vx * vy
        mag = np.abs(exact)
        normal = (np.abs(vx) >= fmt.min_normal) & (np.abs(vy) >= fmt.min_normal)
        in_range = normal & np.isfinite(vx) & np.isfinite(vy) & (mag >= fmt.min_normal) & (mag <= fmt.max_value)
    res: dict[str, dict[str, dict]] = {}
    for kind in ("rounded", "lmul"):
        approx = Pipeline(kind, fmt, kind).multiply_bits(x, y)
        with np.errstate(invalid="ignore", over="ignore"):
            res[kind] = {"all": error_summary(approx, exact), "in_range": error_summary(approx[in_range],
                                                                                         exact[in_range])}
    res["pairs"] = {"total": int(x.size), "in_range": int(in_range.sum())}  # type: ignore[dict-item]
    return res


def claim_rows(dist: dict, pairs: dict, operator: dict[str, Stats]) -> list[dict]:
    """The two precision claims, checked in every setup: L-Mul mean error vs FP8 mean error."""
    rows = []

    def row(claim: str, setup: str, lm: str, lv: float, fp: str, fv: float, op: str) -> dict:
        holds = lv <= fv if op == "<=" else lv < fv
        return {"claim": claim, "setup": setup, "lmul": lm, "lmul_mean": lv, "fp8": fp, "fp8_mean": fv,
                "ratio": lv / fv, "holds": bool(holds)}

    for (claim, lm, fp, op), m, fmt_m in zip(CLAIMS, (4, 3), (3, 2), strict=True):
        rows.append(row(claim, "operator: all mantissa pairs in [1, 2)", f"lmul m={m}",
                        operator[f"lmul m={m}"].mean, f"rne m={fmt_m}", operator[f"rne m={fmt_m}"].mean, op))
        for name, res in dist.items():
            rows.append(row(claim, f"{name} operands", lm, res[lm]["mean"], fp, res[fp]["mean"], op))
    for (claim, lfmt, ffmt), (_, _, _, op) in zip(ALL_PAIRS_CLAIMS, CLAIMS, strict=True):
        for scope in ("in_range", "all"):
            rows.append(row(claim, f"all 8-bit pairs ({scope.replace('_', ' ')})", f"L-Mul on {lfmt}",
                            pairs[lfmt]["lmul"][scope]["mean"], f"{ffmt} multiply",
                            pairs[ffmt]["rounded"][scope]["mean"], op))
    return rows


# --- item 2: expected error -------------------------------------------------------------------------

def grid_errors(m: int) -> list[list[Fraction]]:
    """Relative error ``r[i][j]`` of L-Mul (adder reading) for operands ``1 + i/2^m`` and
    ``1 + j/2^m``, as exact rationals. Independent of the golden model: with
    ``t = (i + j)/2^m + 2^-l(m)`` the result is ``2^floor(t) * (1 + t - floor(t))`` (a mantissa
    carry moves into the exponent)."""
    n = 1 << m
    off = Fraction(1, 1 << lmul_l(m))
    rows = []
    for i in range(n):
        row = []
        for j in range(n):
            t = Fraction(i + j, n) + off
            k = math.floor(t)
            row.append((2 ** k * (1 + t - k)) / Fraction((n + i) * (n + j), n * n) - 1)
        rows.append(row)
    return rows


def grid_expectation(m: int) -> tuple[Fraction, Fraction]:
    """(E|r|, E[r]) over the 2^m x 2^m mantissa grid, every pair equally likely: exact rationals."""
    r = [v for row in grid_errors(m) for v in row]
    return sum((abs(v) for v in r), Fraction(0)) / len(r), sum(r, Fraction(0)) / len(r)


def benford_weights(m: int) -> np.ndarray:
    """Probabilities of the m-bit mantissa fields of log-uniform data rounded to nearest: the
    mantissa ``u`` of such data has density ``1 / ((1 + u) ln 2)`` on [0, 1); ``u`` within half a
    step below 1 rounds up into the next binade (field 0)."""
    n = 1 << m
    k = np.arange(n)
    w = np.log2((n + k + 0.5) / (n + k - 0.5))
    w[0] = np.log2((n + 0.5) / n) + np.log2(2 * n / (2 * n - 0.5))
    return w


def grid_expectation_log(m: int) -> float:
    """E|r| over the mantissa grid with ``benford_weights`` for both operands."""
    w = benford_weights(m)
    r = np.array([[float(v) for v in row] for row in grid_errors(m)])
    return float(w @ np.abs(r) @ w)


def continuous_expectation(offset: float, density: str = "uniform", panels: int = 1000,
                           nodes: int = 8) -> tuple[float, float]:
    """(E|r|, E[r]) of the adder reading with mantissas ``a, b`` continuous on [0, 1) and the given
    offset: ``uniform`` density, or ``log`` (Benford: p(a) = 1 / ((1 + a) ln 2), the mantissa law
    of log-uniform data). Composite Gauss–Legendre in ``a``; in ``b`` piecewise between the carry
    boundaries and the sign changes of ``r``, where the integrand is smooth."""
    if density not in ("uniform", "log"):
        raise ValueError(f"density must be 'uniform' or 'log', got {density!r}")
    c = offset
    xg, wg = np.polynomial.legendre.leggauss(nodes)
    edges = np.unique(np.clip(np.r_[np.linspace(0, 1, panels + 1), c, 1 - c, 1 - 2 * c], 0, 1))
    lo, hi = edges[:-1, None], edges[1:, None]
    a = (lo + (hi - lo) * (xg + 1) / 2).ravel()
    wa = ((hi - lo) / 2 * wg).ravel()
    cuts = np.stack([np.zeros_like(a), np.ones_like(a), 1 - c - a, 2 - c - a, c / a, 1 - 2 * c / (1 - a),
                     (5 - 3 * a - 4 * c) / (3 - a)], axis=1)
    cuts = np.sort(np.clip(cuts, 0, 1), axis=1)
    blo, bhi = cuts[:, :-1, None], cuts[:, 1:, None]
    b = blo + (bhi - blo) * (xg + 1) / 2                     # (a, piece, node)
    wb = (bhi - blo) / 2 * wg
    aa = a[:, None, None]
    t = aa + b + c
    k = np.floor(t)
    r = np.exp2(k) * (1 + t - k) / ((1 + aa) * (1 + b)) - 1
    w = wa[:, None, None] * wb
    if density == "log":
        w = w / ((1 + aa) * (1 + b) * math.log(2) ** 2)
    return float(np.sum(w * np.abs(r))), float(np.sum(w * r))


def expected_error(samples: int, seed: int, op: dict[str, Stats], progress: Progress) -> list[dict]:
    """Theory vs measurement of L-Mul's mean relative error for m = 1..7 (see ``markdown``);
    ``op`` is ``numerics.operator_error()`` (the golden model on all mantissa pairs). Measured
    operator error: against the exact product of the quantised operands; end to end: against
    the float64 product of the unquantised ones."""
    progress("expected error: exact grid sums, continuous limits, golden measurements")
    data = {}
    for dist in ("normal", "loguniform"):
        rng = np.random.default_rng(seed)
        data[dist] = (DISTRIBUTIONS[dist](rng, samples), DISTRIBUTIONS[dist](rng, samples))
    rows = []
    for m in range(1, 8):
        g_abs, g_sgn = grid_expectation(m)
        u_abs, u_sgn = continuous_expectation(2.0 ** -lmul_l(m))
        p = LMUL_WIDE[m]
        row = {"m": m, "l": lmul_l(m), "grid_abs": float(g_abs), "grid_signed": float(g_sgn),
               "grid_abs_exact": f"{g_abs.numerator}/{g_abs.denominator}" if m <= 3 else None,
               "grid_log_abs": grid_expectation_log(m), "cont_uniform_abs": u_abs, "cont_uniform_signed": u_sgn,
               "cont_log_abs": continuous_expectation(2.0 ** -lmul_l(m), "log")[0],
               "measured_all_pairs": op[f"lmul m={m}"].mean, "rne_all_pairs": op[f"rne m={m}"].mean}
        for dist, (a, b) in data.items():
            approx = p.products(a, b)
            row[f"measured_{dist}_operator"] = float(relative_error(approx, Pipeline("", p.fmt, "exact")
                                                                    .products(a, b)).mean())
            row[f"measured_{dist}_end_to_end"] = float(relative_error(approx, a * b).mean())
        rows.append(row)
    mitchell = continuous_expectation(0.0)
    rows.append({"m": "inf", "l": 4, "cont_uniform_abs": continuous_expectation(2.0 ** -4)[0],
                 "cont_log_abs": continuous_expectation(2.0 ** -4, "log")[0], "mitchell_abs": mitchell[0],
                 "mitchell_signed": mitchell[1]})
    return rows


# --- items 3 and 4: gates, transistors, energy ---------------------------------------------------------

EXTRA_FORMATS = ("fp32",)    # multipliers only: the paper's 45 nm energies are FP32 figures
UNIT_DESIGNS = ("lmul_pe", "fp_multiplier", "fp_multiplier_exact", "int_adder", "int_multiplier")


def gate_jobs(sweep: Sweep, extra_formats: tuple[str, ...] = ()) -> list:
    """Generic-synthesis jobs the cost/energy items use: the sweep's multipliers, MAC PEs and
    arrays, plus the multipliers (no MAC PEs) of ``extra_formats``."""
    jobs = [(p, t) for p, t in replace(sweep, targets=("generic",)).points()]
    extra = [f for f in extra_formats if f not in sweep.formats]
    jobs += [(p, t) for p, t in Sweep(formats=extra, array_sizes={}, targets=("generic",)).points()
             if p.design in UNIT_DESIGNS]
    return jobs


def load_report_results(path: Path) -> tuple[Sweep, dict]:
    """(sweep, results keyed by (design name, target)) from a ``lmul report`` JSON."""
    try:
        data = json.loads(path.read_text())
        sw = data["sweep"]
        sweep = Sweep(formats=list(sw["formats"]), array_sizes={k: list(v) for k, v in sw["array_sizes"].items()},
                      k_max=int(sw["k_max"]))
        res = {(r["name"], r["target"]): r for r in data["results"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PaperError(f"cannot read synthesis results from {path}: {exc}") from None
    return sweep, res


def _generic(res: dict, name: str, key: str = "transistors") -> float | None:
    v = res.get((name, "generic"), {}).get(key)
    return v if isinstance(v, (int, float)) else None


def unit_names(fmt_name: str) -> dict[str, str]:
    """Synthesis result names of the unit designs of a format (as ``DesignPoint.name``)."""
    fmt = get_format(fmt_name)
    return {"lmul_pe": f"lmul_pe_{fmt_name}_l0", "fp_multiplier": f"fp_multiplier_{fmt_name}_l0",
            "fp_multiplier_exact": f"fp_multiplier_exact_{fmt_name}_l0",
            "int_adder": f"int_adder_{fmt.field_bits}b_l0", "int_multiplier": f"int_multiplier_{fmt.man_bits + 1}b_l0"}


def cost_table(res: dict, formats: list[str]) -> dict[str, dict[str, dict]]:
    """Per format and unit design: gates (cmos3 cells), transistors, logic depth."""
    return {f: {d: {k: _generic(res, n, k) for k in ("cells", "transistors", "depth")}
                for d, n in unit_names(f).items()} for f in formats}


def _saving(new: float | None, old: float | None) -> float | None:
    return 1 - new / old if new and old else None


def horowitz_reconstructions() -> list[dict]:
    """Candidate derivations of the paper's -95 % / -80 % from the 45 nm table it cites
    (``report.PAPER_ENERGY_PJ``): which operation replaces which is our guess, not the paper's."""
    e = PAPER_ENERGY_PJ
    cands = [
        ("element-wise", "fp32 mul -> one int32 add", e["fp32 mul"], e["int32 add"]),
        ("element-wise", "fp32 mul -> two int32 adds (sum, then bias/offset constant)", e["fp32 mul"],
         2 * e["int32 add"]),
        ("element-wise", "fp16 mul -> one int32 add (bound: the table has no int16 add)", e["fp16 mul"],
         e["int32 add"]),
        ("dot product", "per term fp32 mul + fp32 add -> int32 add + fp32 add", e["fp32 mul"] + e["fp32 add"],
         e["int32 add"] + e["fp32 add"]),
        ("dot product", "per term fp32 mul + fp32 add -> two int32 adds + fp32 add", e["fp32 mul"] + e["fp32 add"],
         2 * e["int32 add"] + e["fp32 add"]),
        ("dot product", "per term fp16 mul + fp16 add -> int32 add + fp16 add (bound)", e["fp16 mul"] + e["fp16 add"],
         e["int32 add"] + e["fp16 add"]),
    ]
    return [{"claim": c, "derivation": d, "before_pj": round(b, 4), "after_pj": round(a, 4), "saving": 1 - a / b,
             "paper": PAPER_CLAIMS[c]} for c, d, b, a in cands]


def energy_table(sweep: Sweep, res: dict, formats: list[str]) -> dict[str, dict]:
    """Transistor-proxy savings per format (same model as ``lmul report``): element-wise against
    the rounded multiplier (L-Mul PE, or the bare E+m-bit adder the paper's argument assumes),
    against the exact-product multiplier a MAC uses, and per MAC for MAC PEs and arrays."""
    head = summarize(replace(sweep, formats=formats), res)
    out: dict[str, dict] = {}
    for f in formats:
        h, n = head[f], unit_names(f)
        row = {"elementwise_lmul_pe": h["elementwise_saving"],
               "elementwise_bare_adder": _saving(h["int_adder_transistors"], h["fp_multiplier_transistors"]),
               "elementwise_vs_exact_product": _saving(h["lmul_pe_transistors"],
                                                       _generic(res, n["fp_multiplier_exact"])),
               "mac_pe": h["mac_pe_saving"]}
        row.update({k: v for k, v in h.items() if k.startswith("array_") and k.endswith("_saving")})
        out[f] = row
    return out


# --- item 5: matmul accuracy -----------------------------------------------------------------------------

def _outlier_channels(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    x = rng.standard_normal(shape)
    ch = rng.choice(shape[1], max(1, shape[1] // 50), replace=False)
    x[:, ch] *= 20.0
    return x


MATRICES: dict[str, Callable[[np.random.Generator, tuple[int, int]], np.ndarray]] = {
    "normal": lambda rng, s: rng.standard_normal(s),
    "uniform [0, 1)": lambda rng, s: rng.random(s),
    "student-t (df=3)": lambda rng, s: rng.standard_t(3, s),
    "outlier channels": _outlier_channels,   # N(0,1), 2 % of the columns x 20 (LLM-activation-like)
}
MATMUL_PIPELINES = [
    Pipeline("e4m3, exact products", E4M3, "exact"), Pipeline("e4m3, L-Mul (m=3)", E4M3, "lmul"),
    Pipeline("e5m2, exact products", E5M2, "exact"), Pipeline("e5m2, L-Mul (m=2)", E5M2, "lmul"),
    Pipeline("L-Mul m=4 (e8m4 operands)", e8m(4), "lmul"), Pipeline("L-Mul m=3 (e8m3 operands)", e8m(3), "lmul"),
    Pipeline("L-Mul m=4 (e3m4, 8 bits)", E3M4, "lmul"),
]


def rel_fro(c: np.ndarray, ref: np.ndarray) -> float:
    """Relative Frobenius error ``||c - ref|| / ||ref||``."""
    return float(np.linalg.norm(c - ref) / np.linalg.norm(ref))


def matmul_accuracy(shape: tuple[int, int, int], trials: int, seed: int, progress: Progress) -> dict:
    """Relative Frobenius error of every ``MATMUL_PIPELINES`` entry against float64 ``A @ B``
    (mean over ``trials`` random matrix pairs per distribution), and of each L-Mul matmul
    against the exact-product matmul of the same operand format."""
    m, k, n = shape
    out: dict[str, dict] = {"shape": list(shape), "trials": trials, "vs_float64": {}, "lmul_vs_exact": {}}
    for di, (dist, draw) in enumerate(MATRICES.items()):
        progress(f"matmul: {dist}, {trials} x ({m}x{k}) @ ({k}x{n}), {len(MATMUL_PIPELINES)} pipelines")
        errs: dict[str, list[float]] = {p.label: [] for p in MATMUL_PIPELINES}
        vs_exact: dict[str, list[float]] = {}
        for t in range(trials):
            rng = np.random.default_rng([seed, di, t])
            a, b = draw(rng, (m, k)), draw(rng, (k, n))
            ref = a @ b
            got = {p.label: p.matmul(a, b) for p in MATMUL_PIPELINES}
            for p in MATMUL_PIPELINES:
                errs[p.label].append(rel_fro(got[p.label], ref))
                twin = f"{p.fmt.name}, exact products"
                if p.kind == "lmul" and twin in got:
                    vs_exact.setdefault(p.label, []).append(rel_fro(got[p.label], got[twin]))
        out["vs_float64"][dist] = {k_: float(np.mean(v)) for k_, v in errs.items()}
        out["lmul_vs_exact"][dist] = {k_: float(np.mean(v)) for k_, v in vs_exact.items()}
    return out


# --- the whole run -----------------------------------------------------------------------------------------

def _versions() -> dict[str, str]:
    import matplotlib
    import ml_dtypes
    return {"python": platform.python_version(), "numpy": np.__version__, "ml_dtypes": ml_dtypes.__version__,
            "matplotlib": matplotlib.__version__}


def gate_results(gates: str, quick: bool, report_json: Path | None, sweep: Sweep | None, results: dict | None,
                 workers: int | None, progress: Progress) -> tuple[Sweep | None, dict, dict]:
    """(sweep, results, provenance) for items 3-4. ``results`` given (from ``run_report``): used, and
    only the extra FP32 multipliers are synthesised. Else ``auto``: ``report_json`` when it exists,
    missing generic jobs synthesised (cached); ``synth``: everything synthesised (cached);
    ``none``: no gate-level figures."""
    if gates not in ("auto", "synth", "none"):
        raise PaperError(f"gates must be auto, synth or none, got {gates!r}")
    if gates == "none":
        return None, {}, {"source": "none (--gates none)"}
    prov: dict[str, object] = {}
    res: dict = {}
    if results is not None and sweep is not None:
        res = dict(results)
        prov["source"] = "this report's synthesis sweep"
    elif gates == "auto" and report_json is not None and report_json.exists():
        sweep, res = load_report_results(report_json)
        written = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(report_json)))
        prov["source"] = f"{report_json} (written {written})"
    else:
        sweep = (Sweep(formats=["e4m3", "e5m2"], array_sizes={}, targets=("generic",)) if quick
                 else replace(default_sweep(), targets=("generic",)))
        prov["source"] = "generic synthesis run by lmul paper (cached)"
    jobs = gate_jobs(sweep, () if quick else EXTRA_FORMATS)
    missing = [(p, t) for p, t in jobs if (p.name, t) not in res]
    if missing:
        from lmul.scripts.synth import run_points
        progress(f"gates: {len(missing)} generic synthesis jobs (cached results are reused)")
        res.update(run_points(missing, workers=workers, progress=progress))
    from lmul.scripts.synth import tool_versions
    prov.update({"synth_jobs": len(missing), "tool_versions": tool_versions(), "k_max": sweep.k_max})
    return sweep, res, prov


def run(*, samples: int = 1_000_000, seed: int = 0, quick: bool = False, gates: str = "auto",
        report_json: Path | None = Path("build/report/report.json"), sweep: Sweep | None = None,
        results: dict | None = None, workers: int | None = None, progress: Progress | None = None) -> dict:
    """Compute all five items; returns the JSON-able data that ``markdown`` and ``plots`` render."""
    say = progress or (lambda s: None)
    t0 = time.time()
    sweep, res, prov = gate_results(gates, quick, report_json, sweep, results, workers, say)   # fails early
    dist = distribution_precision(samples, seed, say)
    say("precision: all pairs of e4m3, e5m2, e3m4")
    pairs = {f.name: all_pairs_precision(f) for f in ALL_PAIRS_FORMATS}
    op = operator_error()
    claims = claim_rows(dist, pairs, op)
    expect = expected_error(samples, seed, op, say)
    names = {k[0] for k in res}
    gate_formats = [f for f in dict.fromkeys([*(sweep.formats if sweep else []), *EXTRA_FORMATS])
                    if any(n in names for n in unit_names(f).values())]
    shape, trials = ((32, 64, 32), 1) if quick else ((64, 128, 64), 3)
    mm = matmul_accuracy(shape, trials, seed, say)
    data = {
        "generated_by": "lmul paper", "samples": samples, "seed": seed, "quick": quick, "versions": _versions(),
        "paper": {"claims": PAPER_CLAIMS, "energy_pj": PAPER_ENERGY_PJ, "third_party_counts": THIRD_PARTY_COUNTS,
                  "sources": SOURCES},
        "precision": {"distributions": dist, "all_pairs": pairs, "claims": claims},
        "expected_error": expect,
        "gates": {"provenance": prov, "formats": gate_formats, "cost": cost_table(res, gate_formats),
                  "energy": energy_table(sweep, res, gate_formats) if sweep is not None else {}},
        "energy_reconstructions": horowitz_reconstructions(),
        "matmul": mm,
    }
    data["seconds"] = round(time.time() - t0, 1)
    return data


# --- rendering ---------------------------------------------------------------------------------------------

def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f} %"


def _int(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


PLOTS = ("paper_precision.png", "paper_expected_error.png", "paper_energy.png", "paper_matmul.png")


def markdown(data: dict, img_prefix: str = "") -> str:
    """The report section (Markdown) for ``data`` from ``run``; images are linked as
    ``img_prefix + name``."""
    prec, L = data["precision"], []
    L += ["## Paper claims, reproduced (`lmul paper`)", "",
          f"Issue 7: the checkable claims of Luo & Sun (arXiv 2410.00907) against our golden models and gates. "
          f"The paper's body (error formula, Table 1, operation counts, precision setup) was not available "
          f"(see `{SOURCES}`): where an item needs it, this says so and uses the closest honest substitute. "
          f"Seed {data['seed']}, {data['samples']:,} random pairs per distribution"
          f"{' (quick run)' if data['quick'] else ''}. "
          + "; ".join(f"{k} {v}" for k, v in data["versions"].items()) + ".", ""]

    L += ["### 1. Precision: L-Mul vs FP8 multiplication", "",
          "The paper's setup (reviews: MSE over attention activations of Llama3.1-8B / Gemma2-2B on GSM8k) "
          "cannot be regenerated here. Substitute: random operands quantised (RNE, no scaling) to the format, "
          "error against the float64 product of the unquantised values; and all operand pairs of each 8-bit "
          "format. `L-Mul m (e8m)` keeps an 8-bit exponent (the paper's pairing, as `lmul numerics`); "
          "`L-Mul on eXmY` is our PE inside an 8-bit format. Relative error |approx − exact| / |exact|; "
          "NMSE = mean squared error / mean squared exact product.", ""]
    for dist, rows in prec["distributions"].items():
        L += [f"**{dist} operands** ({data['samples']:,} pairs)", "",
              "| pipeline | mean | median | p99 | max | NMSE | flushed to 0 |", "|---|---|---|---|---|---|---|"]
        L += [f"| {k} | {_pct(s['mean'])} | {_pct(s['median'])} | {_pct(s['p99'])} | {_pct(s['max'], 1)} | "
              f"{s['nmse']:.2e} | {_pct(s['flushed'])} |" for k, s in rows.items()]
        L.append("")
    L += ["**All operand pairs of each 8-bit format** (65,536 pairs; *in range* = normal operands and an exact "
          "product inside the normal range; *all* = every finite nonzero exact product, finite results)", "",
          "| format | multiplier | in-range pairs | mean (in range) | max (in range) | mean (all) | "
          "flushed to 0 (all) | overflow (all) |", "|---|---|---|---|---|---|---|---|"]
    for f, r in prec["all_pairs"].items():
        for kind in ("rounded", "lmul"):
            s, a = r[kind]["in_range"], r[kind]["all"]
            L.append(f"| {f} | {'RNE multiply' if kind == 'rounded' else 'L-Mul'} | {r['pairs']['in_range']:,} | "
                     f"{_pct(s['mean'])} | {_pct(s['max'])} | {_pct(a['mean'])} | {_pct(a['flushed'])} | "
                     f"{_pct(a['nonfinite'])} |")
    L += ["", "**The claims, setup by setup** (mean relative error; ratio = L-Mul / FP8)", "",
          "| claim | setup | L-Mul | FP8 | ratio | holds |", "|---|---|---|---|---|---|"]
    for c in prec["claims"]:
        L.append(f"| {c['claim']} | {c['setup']} | {c['lmul']}: {_pct(c['lmul_mean'])} | {c['fp8']}: "
                 f"{_pct(c['fp8_mean'])} | {c['ratio']:.2f} | {'yes' if c['holds'] else 'no'} |")
    L += ["", f"![error distributions]({img_prefix}paper_precision.png)", ""]

    ex = [r for r in data["expected_error"] if r["m"] != "inf"]
    lim = next(r for r in data["expected_error"] if r["m"] == "inf")
    L += ["### 2. Expected error: theory vs measurement", "",
          "The paper's own error-expectation formula is not available here, so it could not be checked. Our "
          "derivation for the adder reading: *grid* = exact rational mean over the 2^m × 2^m uniform mantissa "
          "grid (an independent formula, not the golden model); *uniform* / *log-uniform* = continuous "
          "mantissas with the same offset 2^−l(m); *log-uniform grid* = the grid weighted with the mantissa law "
          "of log-uniform (scale-free, Benford) data rounded to m bits. Measured with the golden L-Mul: all "
          "mantissa pairs; random operands (error against the exact product of the quantised operands, i.e. "
          "L-Mul's own error); N(0,1) end to end (against the float64 product, input rounding included).", "",
          "| m | l(m) | uniform grid E\\|r\\| | uniform grid E[r] | continuous uniform E\\|r\\| | "
          "log-uniform grid E\\|r\\| | continuous log-uniform E\\|r\\| | measured, all mantissa pairs | "
          "measured, log-uniform operands | measured, N(0,1) operands | N(0,1) end to end | RNE m bits, all pairs |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in ex:
        L.append(f"| {r['m']} | {r['l']} | " + " | ".join(_pct(r[k], 3) for k in (
            "grid_abs", "grid_signed", "cont_uniform_abs", "grid_log_abs", "cont_log_abs", "measured_all_pairs",
            "measured_loguniform_operator", "measured_normal_operator", "measured_normal_end_to_end",
            "rne_all_pairs")) + " |")
    L += ["", f"Limit m → ∞ (offset 2^−4): uniform {_pct(lim['cont_uniform_abs'], 3)}, log-uniform "
          f"{_pct(lim['cont_log_abs'], 3)}; Mitchell's approximation without offset: {_pct(lim['mitchell_abs'], 3)} "
          f"(signed {_pct(lim['mitchell_signed'], 3)}). Grid values for m ≤ 3 as fractions: "
          + ", ".join(f"m={r['m']}: {r['grid_abs_exact']}" for r in ex if r["grid_abs_exact"]) + ".", "",
          f"![expected error]({img_prefix}paper_expected_error.png)", ""]

    g = data["gates"]
    fm = g["formats"]
    L += ["### 3. Cost: operation counts vs gates", "",
          "The paper's bit-level operation counts are not available; third parties report them as follows "
          "(unverified, quoted in `docs/paper-sources.md`):", "",
          "| source | what | FP8 multiply | L-Mul | ratio |", "|---|---|---|---|---|"]
    for t in data["paper"]["third_party_counts"]:
        extra = f" (reviewer counts {t['reviewer_count']})" if t.get("reviewer_count") else ""
        ratio = f"{t['fp8_multiply'] / t['lmul']:.2f}" if t.get("lmul") else "—"
        L.append(f"| {t['source']} | {t['what']} | {t['fp8_multiply']}{extra} | {t['lmul'] or '—'} | {ratio} |")
    tv = g["provenance"].get("tool_versions", {})
    tools = f" ({tv.get('yosys', '?').split(' (')[0]}, Amaranth {tv.get('amaranth', '?')})" if tv else ""
    L += ["", f"Ours: Yosys generic synthesis{tools}, ABC `cmos3` gates (NAND/NOR/NOT/AOI3/OAI3) / transistors "
          f"(`stat -tech cmos`) / logic depth. Source: {g['provenance']['source']}"
          + (f"; {g['provenance']['synth_jobs']} jobs through the synthesis driver (cached results reused)"
             if g["provenance"].get("synth_jobs") else "") + ".", ""]
    if fm:
        L += ["| design | " + " | ".join(f"{f} gates / transistors / depth" for f in fm) + " |",
              "|---" * (len(fm) + 1) + "|"]
        labels = {"fp_multiplier": "FP multiplier, RNE-rounded", "fp_multiplier_exact": "FP multiplier, exact product",
                  "lmul_pe": "L-Mul PE (complete: specials, DAZ/FTZ, overflow)",
                  "int_adder": "bare integer adder, E+m bits", "int_multiplier": "integer multiplier, m+1 bits"}
        for d, lab in labels.items():
            L.append(f"| {lab} | " + " | ".join(
                f"{_int(g['cost'][f][d]['cells'])} / {_int(g['cost'][f][d]['transistors'])} / "
                f"{_int(g['cost'][f][d]['depth'])}" for f in fm) + " |")
        ratio = [(g["cost"][f]["fp_multiplier"]["cells"], g["cost"][f]["lmul_pe"]["cells"]) for f in fm]
        L.append("| ratio RNE multiplier / L-Mul PE (gates) | " + " | ".join(
            f"{a / b:.2f}" if a and b else "n/a" for a, b in ratio) + " |")
    else:
        L.append("(no gate-level results in this run)")
    L += ["", "### 4. Energy: the 95 % and 80 %, recomputed", "",
          "From the 45 nm per-operation energies the paper cites (Horowitz, ISSCC 2014; values in "
          "`lmul/report.py`, not confirmed against the paper's Table 1). How the paper combines them is not "
          "available; these are our candidate reconstructions:", "",
          "| # | claim | reconstruction | before (pJ) | after (pJ) | saving | paper |", "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(data["energy_reconstructions"], 1):
        L.append(f"| {i} | {r['claim']} | {r['derivation']} | {r['before_pj']} | {r['after_pj']} | "
                 f"{_pct(r['saving'], 1)} | {_pct(r['paper'], 0)} |")
    if g["energy"]:
        arrays = sorted({k for f in fm for k in g["energy"][f] if k.startswith("array_")},
                        key=lambda k: int(k.split("_")[1].split("x")[0]))
        cols = ["elementwise_lmul_pe", "elementwise_bare_adder", "elementwise_vs_exact_product", "mac_pe", *arrays]
        names = {"elementwise_lmul_pe": "element-wise: L-Mul PE vs RNE multiplier",
                 "elementwise_bare_adder": "element-wise: bare E+m-bit adder vs RNE multiplier",
                 "elementwise_vs_exact_product": "element-wise: L-Mul PE vs exact-product multiplier (a MAC's: "
                                                 "no rounding, no specials)",
                 "mac_pe": "dot product: MAC PE (exact accumulator, per MAC)"}
        L += ["", "Our gate-level proxy (transistors, same activity for both designs, as in `lmul report`; "
              f"MAC PEs and arrays with exact Kulisch accumulators, k_max = {g['provenance'].get('k_max')}, FP32 "
              "results):", "", "| saving | " + " | ".join(fm) + " | paper |", "|---" * (len(fm) + 2) + "|"]
        for c in cols:
            nm = names.get(c) or f"dot product: {c.split('_')[1]} array (per MAC)"
            paper = PAPER_CLAIMS["element-wise" if c.startswith("elementwise") else "dot product"]
            L.append(f"| {nm} | " + " | ".join(_pct(g["energy"][f].get(c), 1) for f in fm) + f" | {_pct(paper, 0)} |")
    L += ["", f"![energy]({img_prefix}paper_energy.png)", ""]

    mm = data["matmul"]
    m, k, n = mm["shape"]
    L += ["### 5. Matmul accuracy through the array's golden model", "",
          f"`lmul.sim.systolic_array.matmul` (bit-exact twin of the RTL array: exact or L-Mul products, exact "
          f"accumulation, one rounding to FP32) on ({m}×{k}) @ ({k}×{n}) matrices, mean of {mm['trials']} "
          "random pairs per distribution. 8-bit operands use per-tensor power-of-two amax scaling (largest "
          "|value| → at most the format's max); E8Mm operands are not scaled. Relative Frobenius error "
          "‖C − C_ref‖ / ‖C_ref‖ against float64 `A @ B`:", "",
          "| pipeline | " + " | ".join(mm["vs_float64"]) + " |", "|---" * (len(mm["vs_float64"]) + 1) + "|"]
    labels_mm = list(next(iter(mm["vs_float64"].values())))
    for p in labels_mm:
        L.append(f"| {p} | " + " | ".join(_pct(mm["vs_float64"][d][p], 3) for d in mm["vs_float64"]) + " |")
    L += ["", "L-Mul matmul against the exact-product matmul of the same operands (the multiplier's own error):",
          "", "| pipeline | " + " | ".join(mm["lmul_vs_exact"]) + " |", "|---" * (len(mm["lmul_vs_exact"]) + 1) + "|"]
    for p in next(iter(mm["lmul_vs_exact"].values())):
        L.append(f"| {p} | " + " | ".join(_pct(mm["lmul_vs_exact"][d][p], 3) for d in mm["lmul_vs_exact"]) + " |")
    L += ["", f"![matmul error]({img_prefix}paper_matmul.png)", "", "### Summary (computed)", ""]
    L += summary_lines(data)
    return "\n".join(L) + "\n"


def summary_lines(data: dict) -> list[str]:
    """Short verdicts computed from ``data`` (no hand-written numbers)."""
    out = []
    for claim in (c[0] for c in CLAIMS):
        rows = [c for c in data["precision"]["claims"] if c["claim"] == claim]
        held = [c["setup"] for c in rows if c["holds"]]
        out.append(f"- {claim}: holds in {len(held)} of {len(rows)} setups"
                   + (f" ({', '.join(held)})" if held else "") + "; ratios L-Mul/FP8 "
                   + f"{min(c['ratio'] for c in rows):.2f}–{max(c['ratio'] for c in rows):.2f}.")
    ex = [r for r in data["expected_error"] if r["m"] != "inf"]
    dev = max(abs(r["grid_abs"] - r["measured_all_pairs"]) for r in ex)
    dlog = max(abs(r["grid_log_abs"] - r["measured_loguniform_operator"]) for r in ex)
    dnorm = max(abs(r["grid_log_abs"] - r["measured_normal_operator"]) for r in ex)
    out.append(f"- Expected error (our derivation; the paper's formula could not be checked): the uniform-grid "
               f"expectation equals the golden mean over all mantissa pairs (max difference {dev:.1e}); the "
               f"log-uniform grid expectation matches log-uniform operands within {100 * dlog:.3f} points and "
               f"N(0,1) operands within {100 * dnorm:.3f} points (m = 1..7). For m = 3, 4: "
               + ", ".join(f"m={r['m']}: theory {_pct(r['grid_abs'])} (uniform) / {_pct(r['grid_log_abs'])} "
                           f"(log-uniform), N(0,1) {_pct(r['measured_normal_operator'])}"
                           for r in ex if r["m"] in (3, 4))
               + ".")
    g = data["gates"]
    if g["energy"]:
        ew = {f: g["energy"][f]["elementwise_lmul_pe"] for f in g["formats"]}
        mac = {f: g["energy"][f]["mac_pe"] for f in g["formats"] if g["energy"][f].get("mac_pe") is not None}
        out.append("- Energy proxy, element-wise (L-Mul PE vs RNE multiplier): "
                   + ", ".join(f"{f} {_pct(v, 1)}" for f, v in ew.items()) + " (claim 95 %); MAC PE: "
                   + (", ".join(f"{f} {_pct(v, 1)}" for f, v in mac.items()) or "n/a") + " (claim 80 %).")
    best, dot = (min((r for r in data["energy_reconstructions"] if r["claim"] == claim),
                     key=lambda r: abs(r["saving"] - r["paper"])) for claim in ("element-wise", "dot product"))
    out.append(f"- From the 45 nm table: '{best['derivation']}' gives {_pct(best['saving'], 1)}, "
               f"'{dot['derivation']}' gives {_pct(dot['saving'], 1)} — closest to the claims, but fp32-based.")
    vs = data["matmul"]["vs_float64"]
    worse = [d for d in vs if vs[d]["e4m3, L-Mul (m=3)"] > vs[d]["e4m3, exact products"]]
    out.append(f"- Matmul: e4m3 L-Mul is less accurate than e4m3 exact products on {len(worse)} of {len(vs)} "
               "matrix distributions; " + ", ".join(
                   f"{d}: {_pct(vs[d]['e4m3, L-Mul (m=3)'])} vs {_pct(vs[d]['e4m3, exact products'])}" for d in vs)
               + ".")
    return out


def plots(out: Path, data: dict) -> list[str]:
    """Draw the four figures from ``data`` (the same numbers as ``paper.json``) into ``out``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prec = data["precision"]
    dists = list(prec["distributions"])
    fig, axes = plt.subplots(1, len(dists) + 1, figsize=(5 * (len(dists) + 1), 4), sharey=True)
    show = [FP8_ROUNDED["e4m3"].label, FP8_ROUNDED["e5m2"].label, LMUL_WIDE[4].label, LMUL_WIDE[3].label,
            "L-Mul on e4m3 (m=3)"]
    floor = 1e-4
    for ax, dist in zip(axes, dists, strict=False):
        for label in show:
            q = np.maximum(prec["distributions"][dist][label]["quantiles"], floor)
            ax.plot(q, CDF_POINTS[: len(q)], label=label)
        ax.set_title(f"{dist} operands")
    ax = axes[-1]
    for i, (f, r) in enumerate(prec["all_pairs"].items()):
        for kind in ("rounded", "lmul"):
            q = np.maximum(r[kind]["in_range"]["quantiles"], floor)
            ax.plot(q, CDF_POINTS[: len(q)], label=f"{f} {'RNE multiply' if kind == 'rounded' else 'L-Mul'}",
                    linestyle="-" if kind == "rounded" else "--", color=f"C{i}")
    ax.set_title("all 8-bit pairs, in range")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlim(floor, 1)
        ax.set_xlabel(f"relative error (values < {floor:g} drawn at {floor:g})")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of products with error ≤ x")
    fig.tight_layout()
    fig.savefig(out / PLOTS[0], dpi=110)
    plt.close(fig)

    ex = [r for r in data["expected_error"] if r["m"] != "inf"]
    ms = [r["m"] for r in ex]
    fig, ax = plt.subplots(figsize=(9, 4))
    for key, label, style in (("grid_abs", "theory: uniform grid (exact)", "o-"),
                              ("cont_uniform_abs", "theory: continuous uniform", "--"),
                              ("grid_log_abs", "theory: log-uniform grid", "v-"),
                              ("cont_log_abs", "theory: continuous log-uniform", ":"),
                              ("measured_all_pairs", "measured: golden, all mantissa pairs", "x"),
                              ("measured_loguniform_operator", "measured: golden, log-uniform operands", "+"),
                              ("measured_normal_operator", "measured: golden, N(0,1) operands", "s"),
                              ("measured_normal_end_to_end", "measured: N(0,1) end to end", "^-"),
                              ("rne_all_pairs", "RNE multiply, m bits (reference)", "d-")):
        ax.plot(ms, [100 * r[key] for r in ex], style, label=label, fillstyle="none")
    ax.set_xlabel("mantissa bits m")
    ax.set_ylabel("mean relative error (%)")
    ax.set_yscale("log")
    ax.set_title("L-Mul expected error: theory vs measurement")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / PLOTS[1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    g = data["gates"]
    rec = data["energy_reconstructions"]
    labels = [f"45 nm #{i + 1} ({r['claim'][:3]}.)" for i, r in enumerate(rec)]
    vals = [100 * r["saving"] for r in rec]
    colors = ["tab:gray"] * len(rec)
    for f in g["formats"]:
        for key, short in (("elementwise_lmul_pe", "ele."), ("mac_pe", "MAC")):
            v = g["energy"].get(f, {}).get(key)
            if v is not None:
                labels.append(f"{f} {short}")
                vals.append(100 * v)
                colors.append("tab:blue" if key.startswith("elem") else "tab:orange")
    ax.bar(range(len(vals)), vals, color=colors)
    ax.axhline(100 * PAPER_CLAIMS["element-wise"], color="tab:blue", linestyle="--", label="claim: element-wise 95 %")
    ax.axhline(100 * PAPER_CLAIMS["dot product"], color="tab:orange", linestyle="--", label="claim: dot product 80 %")
    ax.set_xticks(range(len(vals)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("energy saving (%)")
    ax.set_title("Savings: 45 nm-table reconstructions (gray) vs our transistor proxy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / PLOTS[2], dpi=110)
    plt.close(fig)

    mm = data["matmul"]["vs_float64"]
    dists = list(mm)
    pl = list(next(iter(mm.values())))
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(pl)
    for i, p in enumerate(pl):
        ax.bar(np.arange(len(dists)) + (i - (len(pl) - 1) / 2) * width, [100 * mm[d][p] for d in dists], width,
               label=p)
    ax.set_xticks(range(len(dists)), dists)
    ax.set_yscale("log")
    ax.set_ylabel("relative Frobenius error vs float64 (%)")
    ax.set_title("Matmul through the array's golden model")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(out / PLOTS[3], dpi=110)
    plt.close(fig)
    return list(PLOTS)


def write(out: Path, data: dict, img_prefix: str = "") -> str:
    """Write ``paper.json``, ``paper.md`` and the plots into ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    data["plots"] = plots(out, data)
    (out / "paper.json").write_text(json.dumps(data, indent=1, default=str))
    md = markdown(data, img_prefix)
    (out / "paper.md").write_text(md)
    return md


def main(out: Path, *, samples: int | None, seed: int, quick: bool, gates: str, report_json: Path,
         workers: int | None = None, quiet: bool = False) -> int:
    """``lmul paper``: compute, write ``out``, print the Markdown."""
    say = (lambda s: None) if quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    data = run(samples=samples or (100_000 if quick else 1_000_000), seed=seed, quick=quick, gates=gates,
               report_json=report_json, workers=workers, progress=say)
    print(write(out, data))
    say(f"wrote {out / 'paper.md'}, {out / 'paper.json'} and {len(data['plots'])} plots ({data['seconds']} s)")
    return 0
