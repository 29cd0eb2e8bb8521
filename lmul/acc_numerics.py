"""Accuracy of the accumulators (``acc=``) on matmuls: the accumulator's own error and its share.

Issue 14 item 7, for the accumulators that exist (``kulisch``; float ``acc="<format>[:rne|:rtz]"``;
``docs/accumulators.md``). Every result comes from the bit-exact golden array,
``lmul.sim.systolic_array.matmul(fmt, A, B, FP32, kind, acc)``; nothing is emulated in float64.

Setup (stated in every table): operands are quantised to E4M3 with per-tensor power-of-two
scaling (``quantise``: the largest |value| lands at most on the format's max, FP8 practice), the
products are the product kind's exact ones (``exact``, or ``lmul``: the unbounded L-Mul adder
result, as the MAC accumulates it), the result format is FP32. For each setting (data, shape),
product kind and accumulator, against three references:

* **the exact sum of the same products** (``S``: the products' exact integer sum, converted once
  to float64, so the reference itself is off by at most 2^-53 relative): the accumulator's own
  error. ``kulisch`` has only its final RNE rounding to FP32 (|C − S| ≤ 2^-24 |S| element-wise);
  a float accumulator rounds at every step.
* **float64 ``A @ B`` of the unquantised data**: the whole pipeline (quantisation, multiplier,
  accumulator); the exact sum ``S`` against the same reference is the share of quantisation and
  multiplier alone (row "exact sum of the products"), so the accumulator's share can be read
  against it.

Errors: relative Frobenius ``‖C − R‖ / ‖R‖`` (mean and max over trials), the largest element
error normalised by the RMS of the reference ``max |C − R| / rms(R)`` (element-wise relative
errors are meaningless for dot products near zero), and the signed bias ``mean((C − S) ·
sign(S)) / rms(S)`` (negative: results shrink toward zero, as truncation does). A non-finite
result (an accumulator overflow: FP16 holds at most 65,504, and a single product of two amax-scaled
E4M3 operands can reach 448² = 200,704) makes the error infinite; the fraction of such outputs is
reported. The row ``fp16, products × 2^-s`` feeds the same products, each multiplied by 2^-s
(exact: an exponent offset at the accumulator input, like a per-tensor output scale), with ``s``
the smallest shift that puts the largest |exact sum| at or below FP16's max / 16 (an oracle
scale chosen from the exact sums; the results are scaled back by 2^s).

``run`` returns JSON-able data; ``markdown`` and ``plot`` draw from that data only, so
``lmul numerics``, ``lmul report`` and ``lmul paper`` show the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmul.arith import accumulator, sum_bits
from lmul.formats import E4M3, FP32, FloatFormat, decode, encode, get_format
from lmul.sim.fp_multiplier import FixedProducts
from lmul.sim.mac_pe import products as golden_products
from lmul.sim.systolic_array import matmul

__all__ = ["ACC_SPECS", "FULL_SETTINGS", "KINDS", "QUICK_SETTINGS", "AccSpec", "Setting", "compare", "exact_sums",
           "markdown", "plot", "quantise", "rel_fro", "run", "summary_lines"]

Progress = Callable[[str], None]


def quantise(fmt: FloatFormat, x: np.ndarray) -> tuple[np.ndarray, float]:
    """(bits, scale): ``encode(fmt, x * scale)`` with ``scale = 2**floor(log2(max / amax))`` for
    formats with an exponent field narrower than 8 bits (FP8 practice); 1 for wider formats."""
    amax = float(np.max(np.abs(x))) if np.size(x) else 0.0
    scale = 1.0
    if fmt.exp_bits < 8 and amax > 0:
        scale = float(2.0 ** math.floor(math.log2(fmt.max_value / amax)))
    return encode(fmt, x * scale), scale


def rel_fro(c: np.ndarray, ref: np.ndarray) -> float:
    """Relative Frobenius error ``||c - ref|| / ||ref||``."""
    return float(np.linalg.norm(c - ref) / np.linalg.norm(ref))


# --- what is studied ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class AccSpec:
    """One accumulator row: ``acc`` is an ``acc=`` spec; ``rescale``: the products enter the
    accumulator multiplied by 2^-s (module docstring)."""

    label: str
    acc: str
    doc: str
    rescale: bool = False

    def to_dict(self) -> dict:
        return {"label": self.label, "acc": accumulator(self.acc).name, "doc": self.doc, "rescale": self.rescale}


ACC_SPECS = (
    AccSpec("kulisch", "kulisch", "exact fixed-point sum, one RNE rounding to FP32"),
    AccSpec("fp32", "fp32", "FP32, RNE every step (TPU: bf16 products into FP32)"),
    AccSpec("e8m13:rtz", "e8m13:rtz", "14-bit significand, truncation every step (Hopper FP8-like)"),
    AccSpec("e8m10", "e8m10", "11-bit significand (TF32 layout), RNE every step"),
    AccSpec("bf16", "bf16", "BF16, RNE every step"),
    AccSpec("fp16", "fp16", "FP16, RNE every step (Graphcore-style FP16 partial sums)"),
    AccSpec("fp16, products × 2^-s", "fp16", "FP16 with the products scaled into its range", rescale=True),
)
KINDS = ("exact", "lmul")
KIND_LABELS = {"exact": "exact products", "lmul": "L-Mul products"}
RESCALE_HEADROOM = 4            # the largest |exact sum| after scaling: at most A.max / 2**4


def _normal(rng: np.random.Generator, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((m, k)), rng.standard_normal((k, n))


def _outliers(rng: np.random.Generator, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """LLM-like activations: N(0,1) with 1 % of the input channels (columns of A, at least 2)
    scaled by 20-100 (log-uniform); weights N(0,1)."""
    a = rng.standard_normal((m, k))
    ch = rng.choice(k, max(2, k // 100), replace=False)
    a[:, ch] *= np.exp(rng.uniform(math.log(20), math.log(100), ch.size))
    return a, rng.standard_normal((k, n))


def _uniform(rng: np.random.Generator, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.random((m, k)), rng.random((k, n))


DATA: dict[str, tuple[str, Callable[[np.random.Generator, int, int, int], tuple[np.ndarray, np.ndarray]]]] = {
    "normal": ("N(0,1)", _normal),
    "outliers": ("outlier channels", _outliers),
    "uniform": ("uniform [0,1)", _uniform),
}


@dataclass(frozen=True)
class Setting:
    """One data set: ``data`` (a ``DATA`` key), ``(M, K, N)``, ``trials`` random matrix pairs."""

    data: str
    shape: tuple[int, int, int]
    trials: int

    @property
    def name(self) -> str:
        m, k, n = self.shape
        return f"{DATA[self.data][0]}, {m}×{k}×{n}"

    def to_dict(self) -> dict:
        return {"name": self.name, "data": self.data, "shape": list(self.shape), "trials": self.trials}


# default run (``lmul numerics`` with >= 100,000 samples, ``lmul paper``): ~30 s on one core, most of
# it the float accumulators' Python-integer steps (cost ~ K, nearly independent of M·N)
FULL_SETTINGS = (
    Setting("normal", (16, 256, 16), 3), Setting("outliers", (16, 256, 16), 3), Setting("uniform", (16, 256, 16), 3),
    Setting("normal", (4, 1024, 4), 1), Setting("normal", (4, 4096, 4), 1), Setting("normal", (4, 16384, 4), 1),
)
QUICK_SETTINGS = (
    Setting("normal", (8, 64, 8), 1), Setting("outliers", (8, 128, 8), 1), Setting("uniform", (8, 64, 8), 1),
    Setting("normal", (2, 1024, 2), 1),
)
SIZES = {"full": FULL_SETTINGS, "quick": QUICK_SETTINGS}


# --- the computation --------------------------------------------------------------------------------------

def exact_sums(p: FixedProducts, axis: int) -> np.ndarray:
    """The exact sum of ``p`` along ``axis`` as float64 (one RNE conversion of the exact integer sum:
    relative error <= 2**-53); NaN / ±Inf products give NaN / ±Inf."""
    value = p.value
    if value.dtype != object and sum_bits(p.bits, max(value.shape[axis], 1)) > 63:
        value = value.astype(object)
    total = np.asarray(value.sum(axis=axis))
    s = np.ldexp(total.astype(np.float64), p.lsb_exp)
    inf = np.asarray(p.inf)
    pos, neg = (inf > 0).any(axis=axis), (inf < 0).any(axis=axis)
    s = np.where(pos, np.inf, np.where(neg, -np.inf, s))
    return np.where(np.asarray(p.nan).any(axis=axis) | (pos & neg), np.nan, s)


def _rescale_shift(a_fmt: FloatFormat, s: np.ndarray) -> int:
    """Smallest ``s >= 0`` with ``max|S| * 2**-s <= A.max / 2**RESCALE_HEADROOM``."""
    top = float(np.max(np.abs(s))) if s.size else 0.0
    if top == 0.0:
        return 0
    return max(0, math.ceil(math.log2(top / (a_fmt.max_value / 2 ** RESCALE_HEADROOM))))


def compare(fmt: FloatFormat, x: np.ndarray, y: np.ndarray, kind: str, specs: tuple[AccSpec, ...] = ACC_SPECS,
            out: FloatFormat = FP32) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, int]]]:
    """Bit patterns ``x`` (M×K) and ``y`` (K×N) of ``fmt`` -> (exact sums ``S`` (M×N, float64),
    {label: (C as float64, shift s)}): every accumulator's matmul through the golden array
    (``matmul``), the rescaled rows through the same golden accumulator on products × 2**-s
    (results multiplied back by 2**s)."""
    p = golden_products(fmt, x[:, :, None], y[None, :, :], kind)
    s_exact = exact_sums(p, axis=1)
    res: dict[str, tuple[np.ndarray, int]] = {}
    for spec in specs:
        if not spec.rescale:
            res[spec.label] = (decode(out, matmul(fmt, x, y, out, kind, spec.acc)), 0)
            continue
        acc = accumulator(spec.acc)
        a_fmt = get_format(acc.params[0]) if acc.params else out
        shift = _rescale_shift(a_fmt, s_exact[np.isfinite(s_exact)])
        q = FixedProducts(p.value, p.lsb_exp - shift, p.nan, p.inf, p.bits)
        res[spec.label] = (np.ldexp(decode(out, acc.golden()(acc, out, q, 1)), shift), shift)
    return s_exact, res


def _errors(c: np.ndarray, ref: np.ndarray) -> dict:
    """Frobenius, max-element (/ rms) and signed bias (/ rms) errors; infinite with any non-finite result."""
    fin = np.isfinite(c)
    rms = float(np.sqrt(np.mean(ref ** 2)))
    if not fin.all():
        return {"fro": math.inf, "elem_max": math.inf, "rel_max": math.inf, "bias": None,
                "overflow": float(1 - fin.mean())}
    d = c - ref
    nz = ref != 0
    return {"fro": rel_fro(c, ref), "elem_max": float(np.max(np.abs(d)) / rms),
            "rel_max": float(np.max(np.abs(d[nz]) / np.abs(ref[nz]))) if nz.any() else 0.0,
            "bias": float(np.mean(d * np.sign(ref)) / rms), "overflow": 0.0}


def _finite(x: float) -> float | None:
    """JSON has no infinity: an infinite error (an overflowed result) is stored as None."""
    return None if math.isinf(x) else float(x)


def _combine(trials: list[dict]) -> dict:
    """Mean / max over trials; errors of overflowed results are None (see ``overflow``)."""
    fro = [t["fro"] for t in trials]
    bias = [t["bias"] for t in trials if t["bias"] is not None]
    return {"fro_mean": _finite(np.mean(fro)), "fro_max": _finite(np.max(fro)),
            "elem_max": _finite(np.max([t["elem_max"] for t in trials])),
            "rel_max": _finite(np.max([t["rel_max"] for t in trials])),
            "bias": float(np.mean(bias)) if len(bias) == len(trials) else None,
            "overflow": float(np.mean([t["overflow"] for t in trials])),
            "vs_float64": _finite(np.mean([t["vs_float64"] for t in trials])),
            "shift": [t["shift"] for t in trials]}


def run(seed: int = 0, size: str = "full", progress: Progress | None = None, fmt: FloatFormat = E4M3,
        settings: tuple[Setting, ...] | None = None, specs: tuple[AccSpec, ...] = ACC_SPECS,
        kinds: tuple[str, ...] = KINDS) -> dict:
    """The study (module docstring) as JSON-able data. ``size``: ``full`` or ``quick``
    (``SIZES``), unless ``settings`` are given."""
    if settings is None:
        if size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
        settings = SIZES[size]
    else:
        size = "custom"
    say = progress or (lambda s: None)
    results: dict[str, dict] = {}
    for si, st in enumerate(settings):
        m, k, n = st.shape
        say(f"accumulators: {st.name}, {st.trials} trial(s), {len(kinds)} product kinds × {len(specs)} accumulators")
        per: dict[str, dict[str, list[dict]]] = {kd: {} for kd in kinds}
        for t in range(st.trials):
            rng = np.random.default_rng([seed, si, t])
            a, b = DATA[st.data][1](rng, m, k, n)
            (x, sx), (y, sy) = quantise(fmt, a), quantise(fmt, b)
            ref64 = a @ b
            for kd in kinds:
                s_exact, got = compare(fmt, x, y, kd, specs)
                rows = per[kd]
                rows.setdefault("products", []).append(_errors(s_exact / (sx * sy), ref64))
                for spec in specs:
                    c, shift = got[spec.label]
                    e = _errors(c, s_exact)
                    e["vs_float64"] = _errors(c / (sx * sy), ref64)["fro"]
                    e["shift"] = shift
                    rows.setdefault(spec.label, []).append(e)
        out: dict[str, dict] = {}
        for kd, rows in per.items():
            prod = rows.pop("products")
            out[kd] = {"products_vs_float64": float(np.mean([r["fro"] for r in prod]))}
            for label, trials in rows.items():
                out[kd][label] = _combine(trials)
        results[st.name] = out
    return {"fmt": fmt.name, "out_fmt": FP32.name, "seed": seed, "size": size, "kinds": list(kinds),
            "accumulators": [s.to_dict() for s in specs], "settings": [s.to_dict() for s in settings],
            "results": results}


# --- rendering (from the data only) ---------------------------------------------------------------------

def _sci(x: float | None) -> str:
    if x is None:
        return "n/a"
    return "0" if x == 0 else f"{x:.1e}"


def _total(r: dict) -> str:
    return "overflow" if r["overflow"] > 0 else _sci(r["vs_float64"])


def _cell(r: dict) -> str:
    if r["overflow"] > 0:
        return f"overflow ({100 * r['overflow']:.0f} % of outputs)"
    return f"{_sci(r['fro_mean'])} / {_sci(r['elem_max'])}"


def _setup(data: dict) -> str:
    return (f"{data['fmt'].upper()} operands (per-tensor power-of-two scaling), {data['out_fmt'].upper()} results, "
            f"golden array `matmul(..., acc=...)`, seed {data['seed']}")


def markdown(data: dict, heading: str = "##", plot_file: str | None = None, title: str | None = None) -> str:
    """The accumulator-accuracy section (tables, computed summary, optional plot link) from ``run``'s
    data; ``heading``: the section's Markdown level (subsections one deeper), ``title`` its title."""
    names = [s["name"] for s in data["settings"]]
    res = data["results"]
    hdr = "| accumulator | products | " + " | ".join(names) + " |"
    sep = "|---|---|" + "---|" * len(names)
    L = [f"{heading} {title or 'Accumulators: error of the sum (issue 14, item 7)'}", "",
         f"{_setup(data)}; trials per setting: "
         + ", ".join(f"{s['name']}: {s['trials']}" for s in data["settings"]) + ". Accumulators "
         "(`docs/accumulators.md`): " + "; ".join(f"`{a['label']}` = {a['doc']}" for a in data["accumulators"])
         + ". The `products × 2^-s` row scales the products into FP16's range (largest exact sum at most "
         f"max / 2^{RESCALE_HEADROOM}; s per trial: "
         + "; ".join(f"{n}: {_shifts(data, n)}" for n in names) + ").", "",
         f"{heading}# The accumulator's own error: against the exact sum of the same products", "",
         "Cell: relative Frobenius error ‖C − S‖/‖S‖ (mean over trials) / largest element error max|C − S| / rms(S) "
         "(worst trial). `kulisch` is only its final rounding to FP32 (≤ 2^-24 ≈ 6.0e-08 per element).", "",
         hdr, sep]
    for a in data["accumulators"]:
        for kd in data["kinds"]:
            L.append(f"| {a['label']} | {KIND_LABELS.get(kd, kd)} | "
                     + " | ".join(_cell(res[n][kd][a["label"]]) for n in names) + " |")
    L += ["", f"{heading}# Whole pipeline: against float64 `A @ B` of the unquantised data", "",
          "Relative Frobenius error, mean over trials. *exact sum of the products* is the error of quantisation "
          "and multiplier alone (no accumulator error): the accumulator's share is the difference.", "", hdr, sep]
    for kd in data["kinds"]:
        L.append(f"| exact sum of the products | {KIND_LABELS.get(kd, kd)} | "
                 + " | ".join(_sci(res[n][kd]["products_vs_float64"]) for n in names) + " |")
    for a in data["accumulators"]:
        for kd in data["kinds"]:
            L.append(f"| {a['label']} | {KIND_LABELS.get(kd, kd)} | "
                     + " | ".join(_total(res[n][kd][a["label"]]) for n in names) + " |")
    L += ["", f"{heading}# Signed bias", "",
          "mean((C − S) · sign(S)) / rms(S), mean over trials: negative = results shrink toward zero.", "", hdr, sep]
    for a in data["accumulators"]:
        for kd in data["kinds"]:
            L.append(f"| {a['label']} | {KIND_LABELS.get(kd, kd)} | "
                     + " | ".join(_bias(res[n][kd][a["label"]]) for n in names) + " |")
    if plot_file:
        L += ["", f"![accumulator error]({plot_file})"]
    L += ["", f"{heading}# Summary (computed)", "", *summary_lines(data)]
    return "\n".join(L) + "\n"


def _bias(r: dict) -> str:
    if r["overflow"] > 0:
        return "overflow"
    b = r["bias"]
    return "n/a" if b is None else ("0" if b == 0 else f"{b:+.1e}")


def _shifts(data: dict, name: str) -> str:
    rs = [a["label"] for a in data["accumulators"] if a["rescale"]]
    if not rs:
        return "—"
    vals = sorted({s for kd in data["kinds"] for lab in rs for s in data["results"][name][kd][lab]["shift"]})
    return ", ".join(str(v) for v in vals)


def summary_lines(data: dict) -> list[str]:
    """Verdicts computed from ``data`` (no hand-written numbers)."""
    res, names = data["results"], [s["name"] for s in data["settings"]]
    labels = [a["label"] for a in data["accumulators"]]
    out = []

    def worst(label: str, key: str = "fro_mean") -> float:
        return max(res[n][kd][label][key] for n in names for kd in data["kinds"])

    if "kulisch" in labels:
        rel = worst("kulisch", "rel_max")
        out.append(f"- `kulisch`: largest error of an output relative to its own exact sum {_sci(rel)} over all "
                   f"settings ({'within' if rel <= 2.0 ** -24 else 'ABOVE'} 2^-24, one FP32 rounding), whatever "
                   "K and the data.")
    for label in labels:
        if label == "kulisch":
            continue
        ovf = [n for n in names if any(res[n][kd][label]["overflow"] > 0 for kd in data["kinds"])]
        if ovf:
            out.append(f"- `{label}` overflows on " + ", ".join(
                f"{n} ({max(100 * res[n][kd][label]['overflow'] for kd in data['kinds']):.0f} % of outputs)"
                for n in ovf) + ".")
            continue
        share = []
        for n in names:
            for kd in data["kinds"]:
                prod = res[n][kd]["products_vs_float64"]
                share.append(res[n][kd][label]["fro_mean"] / prod if prod else math.inf)
        lo = min(res[n][kd][label]["fro_mean"] for n in names for kd in data["kinds"])
        out.append(f"- `{label}`: error vs the exact sum {_span(_sci(lo), _sci(worst(label)))}, i.e. "
                   f"{_span(_share(min(share)), _share(max(share)))} of the quantisation + multiplier error of "
                   "the same setting.")
    long_k = [n for n in names if n.startswith(DATA["normal"][0])]
    if len(long_k) > 1:
        for label in labels:
            if label == "kulisch" or any(res[n][kd][label]["overflow"] > 0 for n in long_k for kd in data["kinds"]):
                continue
            vals = [res[n]["exact"][label]["fro_mean"] for n in long_k] if "exact" in data["kinds"] else []
            if vals:
                out.append(f"- `{label}` with exact products on N(0,1) as K grows ("
                           + ", ".join(f"K={_k(data, n)}: {_sci(v)}" for n, v in zip(long_k, vals, strict=True))
                           + ").")
    for a in data["accumulators"]:
        if not a["rescale"]:
            continue
        twins = [b["label"] for b in data["accumulators"] if not b["rescale"] and b["label"] != a["label"] and all(
            res[n][kd][b["label"]]["fro_mean"] == res[n][kd][a["label"]]["fro_mean"]
            for n in names for kd in data["kinds"])]
        if twins:
            out.append(f"- `{a['label']}` gives the same errors as `{twins[0]}` in every setting: once the sums "
                       "are in range, only the significand width matters.")
    pos = [n for n in names if n.startswith(DATA["uniform"][0])]
    for label in labels:
        biases = [res[n][kd][label]["bias"] for n in pos for kd in data["kinds"]]
        if pos and label.endswith(":rtz") and all(b is not None for b in biases):
            out.append(f"- `{label}` (truncation) on positive data: bias {', '.join(f'{b:+.1e}' for b in biases)} "
                       "(every step rounds down: results below the exact sum).")
    return out


def _span(lo: str, hi: str) -> str:
    return lo if lo == hi else f"{lo} – {hi}"


def _share(x: float) -> str:
    """A ratio as a percentage, readable from 1e-6 to 1e3."""
    if x < 1e-4:
        return "< 0.01 %"
    return f"{100 * x:.2g} %" if x < 0.1 else f"{100 * x:.0f} %"


def _k(data: dict, name: str) -> int:
    return next(s["shape"][1] for s in data["settings"] if s["name"] == name)


def plot(path: Path, data: dict) -> None:
    """One figure, one panel per product kind: each accumulator's relative Frobenius error against the
    exact sum of the same products per setting (log y axis), and the quantisation + multiplier error
    against float64 for scale. Overflowing points are drawn at the top and marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s["name"] for s in data["settings"]]
    res = data["results"]
    fig, axes = plt.subplots(1, len(data["kinds"]), figsize=(7 * len(data["kinds"]), 5), sharey=True,
                             squeeze=False)
    finite = [res[n][kd][a["label"]]["fro_mean"] for n in names for kd in data["kinds"]
              for a in data["accumulators"] if res[n][kd][a["label"]]["overflow"] == 0]
    finite += [res[n][kd]["products_vs_float64"] for n in names for kd in data["kinds"]]
    floor = 1e-10
    top = max([*finite, 1e-3]) * 30
    xi = np.arange(len(names))
    markers = "osv^D<>ph*"
    for ax, kd in zip(axes[0], data["kinds"], strict=True):
        ax.plot(xi, [res[n][kd]["products_vs_float64"] for n in names], "k--", lw=1.5,
                label="quantisation + multiplier (exact sum vs float64)")
        for i, a in enumerate(data["accumulators"]):
            rs = [res[n][kd][a["label"]] for n in names]
            ovf = np.array([r["overflow"] > 0 for r in rs])
            y = np.array([np.nan if r["overflow"] > 0 else max(r["fro_mean"], floor) for r in rs])
            mk = markers[i % len(markers)]
            ax.plot(xi, y, marker=mk, color=f"C{i}", fillstyle="none",
                    label=a["label"] + (" (× at the top: overflow)" if ovf.any() else ""))
            if ovf.any():
                ax.plot(xi[ovf], np.full(ovf.sum(), top), "x", color=f"C{i}", ms=8)
        ax.axhline(top, color="gray", lw=0.5)
        ax.text(xi[0], top * 1.15, "overflow (error infinite)", fontsize=7, color="gray")
        ax.set_yscale("log")
        ax.set_ylim(floor, top * 3)
        ax.set_xticks(xi, [n.replace(", ", "\n") for n in names], fontsize=7)
        ax.set_title(f"{KIND_LABELS.get(kd, kd)}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("relative Frobenius error vs exact sum of the same products\n(log scale; "
                          f"values < {floor:g} drawn at {floor:g})", fontsize=8)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(f"Accumulator error: {_setup(data)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
