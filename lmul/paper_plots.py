"""``lmul paper``, plots: the five figures, drawn from the data of ``lmul.paper.run``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmul import acc_numerics
from lmul.paper_analyses import CDF_POINTS, ELEMENTWISE_UNITS, FP8_ROUNDED, LMUL_WIDE, UNIT_LABELS
from lmul.sweep import PAPER_CLAIMS

__all__ = ["PLOTS", "plots"]

PLOTS = ("paper_precision.png", "paper_expected_error.png", "paper_energy.png", "paper_matmul.png",
         "paper_accumulators.png")


def plots(out: Path, data: dict) -> list[str]:
    """Draw the five figures from ``data`` (the same numbers as ``paper.json``) into ``out``."""
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
        for kind, style in zip(ELEMENTWISE_UNITS, ("-", "--", ":", "-."), strict=False):
            q = np.maximum(r[kind]["in_range"]["quantiles"], floor)
            ax.plot(q, CDF_POINTS[: len(q)], label=f"{f} {UNIT_LABELS[kind]}", linestyle=style, color=f"C{i}")
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
        for acc, v in list(g["energy"].get(f, {}).get("mac_pe_by_acc", {}).items())[1:]:   # [0]: the MAC bar
            if v is not None:
                labels.append(f"{f} MAC, {acc} acc.")
                vals.append(100 * v)
                colors.append("tab:red")
    fig.set_size_inches(max(8.0, 2 + 0.4 * len(vals)), 4.6)
    ax.bar(range(len(vals)), vals, color=colors)
    ax.axhline(100 * PAPER_CLAIMS["element-wise"], color="tab:blue", linestyle="--", label="claim: element-wise 95 %")
    ax.axhline(100 * PAPER_CLAIMS["dot product"], color="tab:orange", linestyle="--", label="claim: dot product 80 %")
    ax.set_xticks(range(len(vals)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("energy saving (%)")
    prov = g.get("provenance", {})
    params = f"\nMAC PEs: {prov['parameters']}" if prov.get("parameters") and g["formats"] else ""
    head_acc = (prov.get("accs") or ["the headline"])[0]
    ax.set_title("Savings: 45 nm-table reconstructions (gray) vs our transistor proxy\n(blue: element-wise, "
                 f"orange: MAC PE with the {head_acc} accumulator, red: MAC PE with the accumulator named)" + params,
                 fontsize=9)
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
    m, k, n = data["matmul"]["shape"]
    ax.set_title(f"Matmul through the array's golden model: ({m}×{k}) @ ({k}×{n}), exact (Kulisch) "
                 "accumulation, FP32 result", fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(out / PLOTS[3], dpi=110)
    plt.close(fig)

    acc_numerics.plot(out / PLOTS[4], data["accumulators"])
    return list(PLOTS)

