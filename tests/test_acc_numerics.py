"""The accumulator accuracy study (``lmul.acc_numerics``, issue 14 item 7): its references against
independent computations (``fractions``), its verdicts against what the accumulators must do, the
rendering from the data, and its place in ``lmul numerics``. Small shapes only."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lmul import acc_numerics as an
from lmul import numerics
from lmul.formats import E4M3, E5M2, FP32, decode, encode
from lmul.sim.mac_pe import products
from lmul.sim.systolic_array import matmul

SPECS = {s.label: s for s in an.ACC_SPECS}


def small(seed: int, m: int = 5, k: int = 48, n: int = 4, data: str = "normal") -> tuple[np.ndarray, np.ndarray]:
    a, b = an.DATA[data][1](np.random.default_rng(seed), m, k, n)
    return an.quantise(E4M3, a)[0], an.quantise(E4M3, b)[0]


def strict_json(data: dict) -> dict:
    def bad(c: str) -> None:
        raise ValueError(f"non-standard JSON constant {c}")
    return json.loads(json.dumps(data), parse_constant=bad)


# --- the references ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["exact", "lmul"])
@pytest.mark.parametrize("fmt", [E4M3, E5M2])
def test_exact_sums_are_the_fraction_sums_rounded_once(fmt, kind: str) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 1 << fmt.width, (3, 20)), rng.integers(0, 1 << fmt.width, (20, 2))
    x, y = np.where(fmt.classify(x)["nan"], 0, x), np.where(fmt.classify(y)["nan"], 0, y)
    p = products(fmt, x[:, :, None], y[None, :, :], kind)
    got = an.exact_sums(p, axis=1)
    for i in range(3):
        for j in range(2):
            vals = [Fraction(int(v)) * Fraction(2) ** p.lsb_exp for v in np.asarray(p.value)[i, :, j]]
            inf = np.asarray(p.inf)[i, :, j]
            if (inf > 0).any() and (inf < 0).any():
                assert math.isnan(got[i, j])
            elif inf.any():
                assert got[i, j] == math.copysign(math.inf, int(inf[inf != 0][0]))
            else:
                assert got[i, j] == float(sum(vals, Fraction(0)))      # Fraction -> float: one RNE rounding


def test_hand_checked_case() -> None:
    """A = [[16, 1, -16], [16, 1, 1]], B = [16, 1, 16]^T: products 256, 1, -256 and 256, 1, 16.
    bf16 (8 significant bits): 256 + 1 = 257 is a tie -> 256, so the rows give 0 and 272;
    fp32 and kulisch are exact (1, 273); fp16 holds 257 (11 bits): exact too."""
    x = encode(E4M3, np.array([[16.0, 1.0, -16.0], [16.0, 1.0, 1.0]]))
    y = encode(E4M3, np.array([[16.0], [1.0], [16.0]]))
    s, got = an.compare(E4M3, x, y, "exact")
    assert s.ravel().tolist() == [1.0, 273.0]
    want = {"kulisch": [1, 273], "fp32": [1, 273], "bf16": [0, 272], "fp16": [1, 273], "e8m13:rtz": [1, 273],
            "e8m10": [1, 273], "fp16, products × 2^-s": [1, 273]}
    for label, vals in want.items():
        assert got[label][0].ravel().tolist() == vals, label
    assert got["fp16, products × 2^-s"][1] == 0                 # 273 needs no scaling into fp16's range
    e = an._errors(got["bf16"][0], s)
    assert e["fro"] == pytest.approx(math.hypot(1, 1) / math.hypot(1, 273))
    assert e["bias"] < 0 and e["overflow"] == 0


def test_fp16_overflow_is_reported_and_rescaling_fixes_it() -> None:
    """448 * 448 = 200,704 > 65,504: an FP16 accumulator overflows to Inf (RNE); products scaled
    by 2^-s land in range and give the exact 0 again."""
    x = encode(E4M3, np.array([[448.0, 448.0], [448.0, 2.0]]))
    y = encode(E4M3, np.array([[448.0], [-448.0]]))
    s, got = an.compare(E4M3, x, y, "exact")
    assert s.ravel().tolist() == [0.0, 448.0 * 448 - 2 * 448]         # 199,808 = 3,122 * 2^6: 11 bits
    assert np.isinf(got["fp16"][0]).tolist() == [[True], [True]]
    c, shift = got["fp16, products × 2^-s"]
    assert np.array_equal(c, s) and shift >= 1 and s.max() * 2.0 ** -shift <= 65504 / 16
    assert s.max() * 2.0 ** -(shift - 1) > 65504 / 16              # the smallest such shift
    e = an._errors(got["fp16"][0], s)
    assert e["fro"] == math.inf and e["overflow"] == 1.0


def test_compare_is_the_golden_array() -> None:
    """Rows without rescaling are ``matmul(..., acc=...)`` bit for bit; a rescaled row whose shift
    is 0 (fp32: every sum is far inside its range) equals the plain one."""
    x, y = small(2)
    specs = (SPECS["fp32"], SPECS["bf16"], an.AccSpec("fp32 rescaled", "fp32", "", rescale=True))
    for kind in ("exact", "lmul"):
        _, got = an.compare(E4M3, x, y, kind, specs)
        for spec in specs[:2]:
            assert np.array_equal(got[spec.label][0], decode(FP32, matmul(E4M3, x, y, FP32, kind, spec.acc)))
        assert got["fp32 rescaled"][1] == 0 and np.array_equal(got["fp32 rescaled"][0], got["fp32"][0])


# --- what the accumulators must show -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["exact", "lmul"])
def test_kulisch_is_only_the_final_rounding(kind: str) -> None:
    for seed, data in ((3, "normal"), (4, "outliers"), (5, "uniform")):
        x, y = small(seed, k=200, data=data)
        s, got = an.compare(E4M3, x, y, kind, (SPECS["kulisch"],))
        c = got["kulisch"][0]
        assert np.all(np.abs(c - s) <= 2.0 ** -24 * np.abs(s)), data
        assert np.array_equal(c, s.astype(np.float32).astype(np.float64))   # the RNE rounding of the exact sum


@pytest.fixture(scope="module")
def study() -> dict:
    settings = (an.Setting("normal", (6, 96, 6), 2), an.Setting("uniform", (6, 96, 6), 1),
                an.Setting("outliers", (4, 200, 4), 1), an.Setting("normal", (2, 512, 2), 1))
    return an.run(seed=7, settings=settings)


def test_study_orders_the_accumulators(study: dict) -> None:
    assert study["size"] == "custom" and [a["label"] for a in study["accumulators"]] == list(SPECS)
    for name, per_kind in study["results"].items():
        for kind, r in per_kind.items():
            assert r["kulisch"]["rel_max"] <= 2.0 ** -24, (name, kind)
            fp32, fp16s, bf16 = (r[k]["fro_mean"] for k in ("fp32", "fp16, products × 2^-s", "bf16"))
            assert fp32 <= fp16s <= bf16, (name, kind)
            assert fp32 <= r["e8m13:rtz"]["fro_mean"] and fp32 <= r["e8m10"]["fro_mean"]
            assert r["fp16"]["overflow"] > 0 and r["fp16"]["fro_mean"] is None     # amax-scaled products
            assert r["fp16, products × 2^-s"]["overflow"] == 0
            for label, v in r.items():
                if label != "products_vs_float64":
                    assert v["fro_max"] is None or v["fro_max"] >= v["fro_mean"], label


def test_truncation_is_biased_low_on_positive_data(study: dict) -> None:
    """Every RTZ step of a positive running sum rounds down, so each result is at most the exact
    sum and the bias is negative; RNE stays centred."""
    x, y = small(11, k=300, data="uniform")
    s, got = an.compare(E4M3, x, y, "exact", (SPECS["e8m13:rtz"], SPECS["kulisch"]))
    c = got["e8m13:rtz"][0]
    assert np.all(c <= s) and np.mean(c < s) > 0.9
    uni = next(n for n in study["results"] if n.startswith("uniform"))
    for kind in ("exact", "lmul"):
        r = study["results"][uni][kind]
        assert r["e8m13:rtz"]["bias"] < 0
        assert abs(r["kulisch"]["bias"]) < 2.0 ** -24 < abs(r["e8m13:rtz"]["bias"])


def test_total_error_against_float64(study: dict) -> None:
    """The exact sum of the products carries quantisation + multiplier error only; with kulisch the
    whole pipeline adds just the final rounding to it."""
    for per_kind in study["results"].values():
        for r in per_kind.values():
            prod = r["products_vs_float64"]
            assert prod > 1e-3                                          # E4M3 quantisation
            assert r["kulisch"]["vs_float64"] == pytest.approx(prod, rel=1e-5)
            assert r["fp16"]["vs_float64"] is None
    assert study["results"][next(iter(study["results"]))]["lmul"]["products_vs_float64"] > \
        study["results"][next(iter(study["results"]))]["exact"]["products_vs_float64"]


# --- rendering, CLI path ------------------------------------------------------------------------------------

def test_markdown_and_plot_come_from_the_data(study: dict, tmp_path: Path) -> None:
    strict_json(study)
    md = an.markdown(study, "##", "acc.png")
    names = [s["name"] for s in study["settings"]]
    for header in ("The accumulator's own error", "Whole pipeline", "Signed bias", "Summary (computed)"):
        assert header in md
    assert md.count("| " + " | ".join(names) + " |") == 3
    for a in study["accumulators"]:
        for kind in ("exact products", "L-Mul products"):
            assert len([ln for ln in md.splitlines() if ln.startswith(f"| {a['label']} | {kind} |")]) == 3
    r = study["results"][names[0]]["exact"]["bf16"]
    assert f"| bf16 | exact products | {r['fro_mean']:.1e} / {r['elem_max']:.1e} |" in md
    assert "overflow (" in md and "![accumulator error](acc.png)" in md
    assert "- `kulisch`: largest error" in md and "(truncation) on positive data" in md
    an.plot(tmp_path / "acc.png", study)
    assert (tmp_path / "acc.png").stat().st_size > 10_000


def test_numerics_includes_the_study(tmp_path: Path) -> None:
    assert numerics.acc_study_size(numerics.ACC_FULL_SAMPLES) == "full"
    assert numerics.acc_study_size(numerics.ACC_FULL_SAMPLES - 1) == "quick"
    with pytest.raises(ValueError, match="acc_size"):
        numerics.run(200, 0, acc_size="huge")
    with pytest.raises(ValueError, match="size"):
        an.run(size="huge")
    assert numerics.run(200, 0, acc_size=None).accumulators is None
    lines: list[str] = []
    rep = numerics.run(300, 1, progress=lines.append)
    assert rep.accumulators is not None and rep.accumulators["size"] == "quick"
    total = 1 + 2 * (2 + len(numerics.MANTISSAS)) + len(an.QUICK_SETTINGS)
    assert len(lines) == total and lines[-1].startswith(f"[{total}/{total}] accumulators:")
    files = numerics.write(tmp_path, rep)
    assert [f.name for f in files] == ["numerics.md", "numerics.json", numerics.ACC_PLOT]
    md = files[0].read_text()
    assert md == numerics.format_markdown(rep, numerics.ACC_PLOT)
    assert "### Accumulators: error of the sum" in md and f"]({numerics.ACC_PLOT})" in md
    assert strict_json(json.loads(files[1].read_text()))["accumulators"]["seed"] == 1
