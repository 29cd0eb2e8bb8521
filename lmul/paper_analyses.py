"""``lmul paper``, analyses: every number of the paper-claims report, as JSON-able data.

Issue 7's five items (``lmul.paper`` runs them, ``lmul.paper_render`` and ``lmul.paper_plots``
draw them): precision of L-Mul vs FP8 multiplication (random operands from stated distributions
and all pairs of each 8-bit format), the expected error (our derivation vs measurement), gates
and transistors from the shared synthesis sweep (``lmul.sweep``), the energy claims recomputed,
and matmul accuracy through the array's bit-exact golden model.

Products go through one description, ``Pipeline``: ``rounded`` is the RNE multiplier
(``fp_multiply``); every other kind is a product kind of ``lmul.arith.PRODUCT_KINDS``, whose
golden product (``lmul.sim.mac_pe.products``) a matmul accumulates. Element-wise, a kind with a
processing element of its own that returns the operand format (``ELEMENTWISE_UNITS``: the L-Mul
PE, with the format's flush-to-zero and overflow policy) is measured through that PE; any other
kind through its exact product.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from lmul.acc_numerics import quantise, rel_fro  # shared with the accumulator study; re-exported
from lmul.arith import PRODUCT_KINDS, lmul_l
from lmul.formats import E3M4, E4M3, E5M2, FP32, FloatFormat, decode, encode
from lmul.numerics import DISTRIBUTIONS, Stats, e8m, relative_error
from lmul.scripts.synth import run_points, tool_versions
from lmul.sim.fp_multiplier import FixedProducts, fp_multiply
from lmul.sim.lmul_pe import lmul
from lmul.sim.mac_pe import products as golden_products
from lmul.sim.systolic_array import matmul
from lmul.sweep import (
    BASELINE,
    PAPER_CLAIMS,
    PAPER_ENERGY_PJ,
    Sweep,
    default_sweep,
    mac_by_acc,
    saving,
    summarize,
    unit_points,
)

__all__ = ["ALL_PAIRS_CLAIMS", "ALL_PAIRS_FORMATS", "CDF_POINTS", "CLAIMS", "COST_DESIGNS", "ELEMENTWISE_UNITS",
           "EXTRA_FORMATS", "FP8_ROUNDED", "LMUL_WIDE", "MATMUL_PIPELINES", "MATRICES", "PRODUCT_PIPELINES",
           "ROUNDED", "SOURCES", "THIRD_PARTY_COUNTS", "UNIT_LABELS", "PaperError", "Pipeline", "all_pairs_precision",
           "benford_weights", "claim_rows", "continuous_expectation", "cost_table", "distribution_precision",
           "energy_table", "error_summary", "expected_error", "fixed_to_float", "gate_jobs", "gate_results",
           "grid_errors", "grid_expectation", "grid_expectation_log", "horowitz_reconstructions",
           "load_report_results", "matmul_accuracy", "quantise", "rel_fro"]

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


ROUNDED = "rounded"          # the pipeline kind of the RNE multiplier: exact product rounded once to fmt
# Element-wise units that return a value of the operand format, by pipeline kind: the RNE multiplier
# (design fp_multiplier) and the L-Mul PE (design lmul_pe: the lmul product kind with the format's
# DAZ/FTZ and overflow policy). Other product kinds are measured through their exact golden product.
ELEMENTWISE_UNITS: dict[str, Callable[[FloatFormat, np.ndarray, np.ndarray], np.ndarray]] = {
    ROUNDED: fp_multiply, "lmul": lmul}
UNIT_LABELS = {ROUNDED: "RNE multiply", "lmul": "L-Mul"}


def fixed_to_float(p: FixedProducts) -> np.ndarray:
    """float64 values of exact fixed-point products (exact while they fit float64's range and
    53-bit significand, as every product of an 8-bit exponent format does); NaN / ±Inf flags applied."""
    v = np.asarray(p.value).astype(np.float64) * 2.0 ** p.lsb_exp
    v = np.where(p.inf != 0, np.copysign(np.inf, p.inf), v)
    return np.where(p.nan, np.nan, v)


@dataclass(frozen=True)
class Pipeline:
    """How products are formed: operands quantised (RNE) to ``fmt``, then multiplied by
    ``kind``: ``rounded`` (exact product rounded once to ``fmt``: ``fp_multiply``) or a product kind
    of ``PRODUCT_KINDS`` (``exact``: the unrounded product; ``lmul``: element-wise the L-Mul PE,
    result in ``fmt``; in a matmul each kind's product, as the MAC accumulates it)."""

    label: str
    fmt: FloatFormat
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in ELEMENTWISE_UNITS:
            PRODUCT_KINDS.get(self.kind)

    def multiply_bits(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """float64 products of ``fmt`` bit patterns."""
        unit = ELEMENTWISE_UNITS.get(self.kind)
        if unit is not None:
            return decode(self.fmt, unit(self.fmt, x, y))
        return fixed_to_float(golden_products(self.fmt, x, y, self.kind))

    def products(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Element-wise products of float64 operands (quantised directly, no scaling)."""
        return self.multiply_bits(encode(self.fmt, a), encode(self.fmt, b))

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``A @ B`` through the array's golden model (the kind's exact products, exact sum, FP32
        result), operands quantised with per-tensor power-of-two scaling (undone afterwards)."""
        (x, sx), (y, sy) = quantise(self.fmt, a), quantise(self.fmt, b)
        return decode(FP32, matmul(self.fmt, x, y, FP32, self.kind)) / (sx * sy)


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
    for kind in ELEMENTWISE_UNITS:
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
            # reference: the float64 product of the quantised operands, exact for these formats (2(m+1) <= 53
            # significant bits, 8-bit exponents); the golden exact product agrees but is slow at this width
            ref = decode(p.fmt, encode(p.fmt, a)) * decode(p.fmt, encode(p.fmt, b))
            row[f"measured_{dist}_operator"] = float(relative_error(approx, ref).mean())
            row[f"measured_{dist}_end_to_end"] = float(relative_error(approx, a * b).mean())
        rows.append(row)
    mitchell = continuous_expectation(0.0)
    rows.append({"m": "inf", "l": 4, "cont_uniform_abs": continuous_expectation(2.0 ** -4)[0],
                 "cont_log_abs": continuous_expectation(2.0 ** -4, "log")[0], "mitchell_abs": mitchell[0],
                 "mitchell_signed": mitchell[1]})
    return rows


# --- items 3 and 4: gates, transistors, energy ---------------------------------------------------------

EXTRA_FORMATS = ("fp32",)    # multipliers only: the paper's 45 nm energies are FP32 figures
COST_DESIGNS = ("lmul_pe", "fp_multiplier", "fp_multiplier_exact", "int_adder", "int_multiplier")   # table order


def gate_jobs(sweep: Sweep, extra_formats: tuple[str, ...] = ()) -> list:
    """Generic-synthesis jobs the cost/energy items use: the sweep's multipliers, MAC PEs and
    arrays, plus the multipliers (no MAC PEs) of ``extra_formats``."""
    jobs = [(p, t) for p, t in replace(sweep, targets=("generic",)).points()]
    extra = [f for f in extra_formats if f not in sweep.formats]
    jobs += [(p, "generic") for f in extra for p in unit_points(f).values()]
    return jobs


def load_report_results(path: Path) -> tuple[Sweep, dict]:
    """(sweep, results keyed by (design name, target)) from a ``lmul report`` JSON."""
    try:
        data = json.loads(path.read_text())
        sweep = Sweep.from_dict(data["sweep"])
        res = {(r["name"], r["target"]): r for r in data["results"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PaperError(f"cannot read synthesis results from {path}: {exc}") from None
    return sweep, res


def _generic(res: dict, name: str, key: str = "transistors") -> float | None:
    v = res.get((name, "generic"), {}).get(key)
    return v if isinstance(v, (int, float)) else None


def cost_table(res: dict, formats: list[str]) -> dict[str, dict[str, dict]]:
    """Per format and unit design: gates (cmos3 cells), transistors, logic depth."""
    out: dict[str, dict[str, dict]] = {}
    for f in formats:
        units = unit_points(f)
        out[f] = {d: {k: _generic(res, units[d].name, k) for k in ("cells", "transistors", "depth")}
                  for d in COST_DESIGNS}
    return out


def horowitz_reconstructions() -> list[dict]:
    """Candidate derivations of the paper's -95 % / -80 % from the 45 nm table it cites
    (``lmul.sweep.PAPER_ENERGY_PJ``): which operation replaces which is our guess, not the paper's."""
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
    against the exact-product multiplier a MAC uses, and per MAC for MAC PEs and arrays;
    ``mac_pe_by_acc``: the MAC PE saving for every accumulator of the sweep (``acc_label`` -> saving)."""
    sw = replace(sweep, formats=formats)
    head = summarize(sw, res)
    by_acc = mac_by_acc(sw, res)
    out: dict[str, dict] = {}
    for f in formats:
        h = head[f]
        row = {"elementwise_lmul_pe": h["elementwise_saving"],
               "elementwise_bare_adder": saving(h["int_adder_transistors"], h["fp_multiplier_transistors"]),
               "elementwise_vs_exact_product": saving(h["lmul_pe_transistors"],
                                                      _generic(res, unit_points(f)["fp_multiplier_exact"].name)),
               "mac_pe": h["mac_pe_saving"]}
        row.update({k: v for k, v in h.items() if k.startswith("array_") and k.endswith("_saving")})
        row["mac_pe_by_acc"] = {r["label"]: r["saving"] for r in by_acc[f].values()}
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


def matmul_accuracy(shape: tuple[int, int, int], trials: int, seed: int, progress: Progress) -> dict:
    """Relative Frobenius error of every ``MATMUL_PIPELINES`` entry against float64 ``A @ B``
    (mean over ``trials`` random matrix pairs per distribution), and of each L-Mul matmul
    against the exact-product matmul of the same operand format."""
    m, k, n = shape
    out: dict[str, dict] = {"shape": list(shape), "trials": trials, "vs_float64": {}, "lmul_vs_exact": {}}
    # each pipeline of another kind against the BASELINE-kind pipeline of the same operand format, if any
    twins = {p.label: q.label for p in MATMUL_PIPELINES if p.kind != BASELINE
             for q in MATMUL_PIPELINES if q.kind == BASELINE and q.fmt == p.fmt}
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
                if p.label in twins:
                    vs_exact.setdefault(p.label, []).append(rel_fro(got[p.label], got[twins[p.label]]))
        out["vs_float64"][dist] = {k_: float(np.mean(v)) for k_, v in errs.items()}
        out["lmul_vs_exact"][dist] = {k_: float(np.mean(v)) for k_, v in vs_exact.items()}
    return out


def gate_results(gates: str, quick: bool, report_json: Path | None, sweep: Sweep | None, results: dict | None,
                 workers: int | None, progress: Progress, *,
                 scheduler: str | None = None) -> tuple[Sweep | None, dict, dict]:
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
        progress(f"gates: {len(missing)} generic synthesis jobs (cached results are reused)")
        res.update(run_points(missing, workers=workers, progress=progress, scheduler=scheduler))
    prov.update({"synth_jobs": len(missing), "tool_versions": tool_versions(), "k_max": sweep.k_max,
                 "out_fmt": sweep.out_fmt, "accs": sweep.accs, "parameters": sweep.parameters()})
    return sweep, res, prov

