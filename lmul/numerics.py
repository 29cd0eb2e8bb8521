"""Precision comparison of L-Mul against exact FP8 multiplication (``lmul numerics``).

Two views, both computed with the bit-exact golden models:

* **operator error**: every pair of mantissa fields of an ``E8Mm`` format (exponents fixed in
  range, so the relative error depends on the mantissas only: this *is* all pairs): the exact
  product rounded to ``m`` bits (RNE), L-Mul (adder reading, what the RTL computes) and the
  literal formula reading, each against the exact product of the same operands.
* **end-to-end (paper-style)**: random float64 pairs quantised (RNE) to the input format, then
  multiplied; error against the float64 product of the unquantised values. FP8 rows use the
  real E4M3/E5M2 formats (product rounded to FP8); L-Mul rows use ``E8Mm`` operands.
* **accumulators** (``lmul.acc_numerics``): each accumulator's matmul error against the exact sum
  of the same products and against float64, exact and L-Mul products, through the golden array.
  Its size follows ``samples``: the full study (long K up to 16,384; ~30-40 s) from
  ``ACC_FULL_SAMPLES`` samples on, a quick one below (``run(..., acc_size=...)`` overrides).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmul import acc_numerics
from lmul.formats import E4M3, E5M2, FloatFormat, Specials, decode, encode
from lmul.sim.fp_multiplier import fp_multiply
from lmul.sim.lmul_pe import lmul, lmul_l, lmul_literal

MANTISSAS = range(1, 8)
ACC_FULL_SAMPLES = 100_000        # from this many samples on, the accumulator study runs at full size
ACC_PLOT = "accumulators.png"


def e8m(m: int) -> FloatFormat:
    """The L-Mul study format: 8-bit exponent (bias 127, like bf16/fp32) and m mantissa bits."""
    return FloatFormat(f"e8m{m}", 8, m, 127, Specials.IEEE)


@dataclass
class Stats:
    mean: float
    median: float
    p99: float
    max: float
    n: int

    @classmethod
    def of(cls, approx: np.ndarray, exact: np.ndarray) -> Stats:
        return cls.of_errors(relative_error(approx, exact))

    @classmethod
    def of_errors(cls, rel: np.ndarray) -> Stats:
        """Statistics of an array of relative errors."""
        return cls(float(rel.mean()), float(np.median(rel)), float(np.quantile(rel, 0.99)),
                   float(rel.max()), int(rel.size))


def relative_error(approx: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """``|approx - exact| / |exact|`` where ``exact`` is finite and nonzero (other elements dropped)."""
    ok = (exact != 0) & np.isfinite(exact)
    return np.abs(approx[ok] - exact[ok]) / np.abs(exact[ok])


@dataclass
class Report:
    operator: dict[str, Stats] = field(default_factory=dict)
    end_to_end: dict[str, dict[str, Stats]] = field(default_factory=dict)
    samples: int = 0
    seed: int = 0
    accumulators: dict | None = None     # lmul.acc_numerics.run data (None: not computed)

    def to_json(self) -> str:
        def conv(d: dict) -> dict:
            return {k: (v.__dict__ if isinstance(v, Stats) else conv(v)) for k, v in d.items()}
        return json.dumps({"operator": conv(self.operator), "end_to_end": conv(self.end_to_end),
                           "samples": self.samples, "seed": self.seed, "accumulators": self.accumulators},
                          indent=2)


def operator_error() -> dict[str, Stats]:
    """All mantissa pairs, operands in [1, 2): RNE product vs L-Mul (both readings)."""
    out: dict[str, Stats] = {}
    for m in MANTISSAS:
        fmt = e8m(m)
        mant = np.arange(1 << m)
        bits = (fmt.bias << m) | mant                     # values 1 + M/2**m
        x, y = (g.ravel() for g in np.meshgrid(bits, bits, indexing="ij"))
        exact = decode(fmt, x) * decode(fmt, y)
        out[f"rne m={m}"] = Stats.of(decode(fmt, fp_multiply(fmt, x, y)), exact)
        out[f"lmul m={m}"] = Stats.of(decode(fmt, lmul(fmt, x, y)), exact)
        out[f"literal m={m}"] = Stats.of(lmul_literal(fmt, x, y), exact)
    return out


DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "normal": lambda rng, n: rng.standard_normal(n),
    "loguniform": lambda rng, n: rng.choice([-1.0, 1.0], n) * np.exp2(rng.uniform(-4, 4, n)),
}


def end_to_end(samples: int, seed: int, progress: Callable[[str], None]) -> dict[str, dict[str, Stats]]:
    res: dict[str, dict[str, Stats]] = {}
    for dist, draw in DISTRIBUTIONS.items():
        rng = np.random.default_rng(seed)
        a, b = draw(rng, samples), draw(rng, samples)
        exact = a * b
        rows: dict[str, Stats] = {}
        for fmt in (E4M3, E5M2):
            progress(f"{dist}: {fmt.name} multiply")
            x, y = encode(fmt, a), encode(fmt, b)
            rows[f"{fmt.name} multiply"] = Stats.of(decode(fmt, fp_multiply(fmt, x, y)), exact)
        for m in MANTISSAS:
            progress(f"{dist}: L-Mul m={m}")
            fmt = e8m(m)
            x, y = encode(fmt, a), encode(fmt, b)
            rows[f"rne m={m}"] = Stats.of(decode(fmt, fp_multiply(fmt, x, y)), exact)
            rows[f"lmul m={m}"] = Stats.of(decode(fmt, lmul(fmt, x, y)), exact)
            rows[f"literal m={m}"] = Stats.of(lmul_literal(fmt, x, y), exact)
        res[dist] = rows
    return res


def acc_study_size(samples: int) -> str:
    """The accumulator study's size for a run with ``samples`` random pairs."""
    return "full" if samples >= ACC_FULL_SAMPLES else "quick"


def run(samples: int = 1_000_000, seed: int = 0, progress: Callable[[str], None] | None = None,
        acc_size: str | None = "auto") -> Report:
    """Operator, end-to-end and accumulator views. ``acc_size``: ``auto`` (from ``samples``),
    ``full``, ``quick``, or None (no accumulator study)."""
    size = acc_study_size(samples) if acc_size == "auto" else acc_size
    if size is not None and size not in acc_numerics.SIZES:
        raise ValueError(f"acc_size must be auto, None or one of {', '.join(acc_numerics.SIZES)}; got {acc_size!r}")
    settings = acc_numerics.SIZES[size] if size else ()
    steps = [0]
    total = 1 + len(DISTRIBUTIONS) * (2 + len(MANTISSAS)) + len(settings)

    def tick(what: str) -> None:
        steps[0] += 1
        if progress:
            progress(f"[{steps[0]}/{total}] {what}")

    tick("operator error, all mantissa pairs")
    rep = Report(operator=operator_error(), samples=samples, seed=seed)
    rep.end_to_end = end_to_end(samples, seed, tick)
    if size:
        rep.accumulators = acc_numerics.run(seed, size, progress=tick)
    return rep


def _pct(x: float) -> str:
    return f"{100 * x:7.3f}%"


def format_markdown(rep: Report, plot_file: str | None = None, accumulators: bool = True) -> str:
    """The Markdown of ``lmul numerics``; ``plot_file``: link the accumulator plot under that name;
    ``accumulators``: include the accumulator study (if computed)."""
    lines = ["## L-Mul precision (lmul numerics)", "",
             "Relative error |approx - exact| / |exact|. `rne m` = exact product rounded to m mantissa bits,",
             "`lmul m` = L-Mul adder reading (the RTL), `literal m` = formula value without carry, unrounded.",
             "", "### Operator error: all mantissa pairs, operands in [1, 2)", "",
             "| m | l(m) | rne mean | rne max | lmul mean | lmul max | literal mean | literal max |",
             "|---|---|---|---|---|---|---|---|"]
    for m in MANTISSAS:
        r, lm, li = (rep.operator[f"{k} m={m}"] for k in ("rne", "lmul", "literal"))
        lines.append(f"| {m} | {lmul_l(m)} | {_pct(r.mean)} | {_pct(r.max)} | {_pct(lm.mean)} | {_pct(lm.max)} "
                     f"| {_pct(li.mean)} | {_pct(li.max)} |")
    lines.append("")
    lines.append("(e5m2 multiply has m=2 and e4m3 has m=3: their operator error is the `rne` row.)")
    for dist, rows in rep.end_to_end.items():
        lines += ["", f"### End to end: {rep.samples} pairs, {dist} operands (seed {rep.seed})", "",
                  "| pipeline | mean | median | p99 | max |", "|---|---|---|---|---|"]
        for name, s in rows.items():
            lines.append(f"| {name} | {_pct(s.mean)} | {_pct(s.median)} | {_pct(s.p99)} | {_pct(s.max)} |")
    lines += ["", "### The paper's claims, checked", ""]
    for dist, rows in [("operator", rep.operator), *rep.end_to_end.items()]:
        e4 = rows.get("e4m3 multiply", rep.operator["rne m=3"])
        e5 = rows.get("e5m2 multiply", rep.operator["rne m=2"])
        l4, l3 = rows["lmul m=4"].mean, rows["lmul m=3"].mean
        lines.append(f"- {dist}: L-Mul m=4 mean {_pct(l4).strip()} vs e4m3 {_pct(e4.mean).strip()} "
                     f"({'<=' if l4 <= e4.mean else '>'}); L-Mul m=3 mean {_pct(l3).strip()} vs e5m2 "
                     f"{_pct(e5.mean).strip()} ({'better' if l3 < e5.mean else 'not better'})")
    text = "\n".join(lines) + "\n"
    if rep.accumulators and accumulators:
        text += "\n" + acc_numerics.markdown(rep.accumulators, "###", plot_file)
    return text


def write(out: Path, rep: Report) -> list[Path]:
    """``numerics.md`` (with the plot linked), ``numerics.json`` and the accumulator plot into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "numerics.md", out / "numerics.json"]
    plot = None
    if rep.accumulators:
        acc_numerics.plot(out / ACC_PLOT, rep.accumulators)
        plot = ACC_PLOT
        files.append(out / ACC_PLOT)
    files[0].write_text(format_markdown(rep, plot))
    files[1].write_text(rep.to_json())
    return files


def main_progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
