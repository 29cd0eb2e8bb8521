"""The synthesis sweep that ``lmul report`` and ``lmul paper`` share.

One definition of what is measured and how the headline is read from it, so neither command
imports the other for it:

* ``Sweep``: formats, array sizes, the MAC parameters (product kinds from ``PRODUCT_KINDS``,
  accumulators from ``ACCUMULATORS``: ``accs`` for MAC PEs and arrays, ``mac_accs`` more per format
  for MAC PEs only; ``k_max``, result format) and targets; ``points()`` lists the ``DesignPoint`` x
  target jobs. ``headline_sweep()`` is the main job's (``lmul report``), ``default_sweep()`` the
  whole sweep (``lmul report --full``), ``quick_sweep()`` a small one for tests and smoke runs.
* ``summarize``: the headline figures per format, looked up by each point's ``DesignPoint.name``
  (``lmul.designs.module_name``): the L-Mul PE against the RNE multiplier element-wise, and the
  ``CANDIDATE`` product kind against the ``BASELINE`` kind per MAC PE and per MAC of each array.
* ``mac_by_acc``: per format and MAC PE accumulator, both kinds' transistors, logic depth, iCE40 /
  ECP5 LUT4 and Fmax, and the saving: the "saving per MAC, by accumulator" table.
* ``dot_units``: the fused n-term dot units (``dot_formats`` x ``dot_variants``) per format and
  variant, both kinds' transistors in total and per MAC (/ n) and the saving: the "fused dot
  units" table.
* ``PAPER_ENERGY_PJ`` / ``PAPER_CLAIMS``: what the paper quotes and claims.

Savings follow the energy proxy stated in ``lmul.report``: 1 − transistors(candidate) /
transistors(baseline), per MAC for arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from lmul.arith import PRODUCT_KINDS, accumulator, check_dot_unit, product_kind
from lmul.designs import DesignParams, identifier
from lmul.formats import get_format
from lmul.scripts.synth import TARGETS, DesignPoint

__all__ = [
    "BASELINE",
    "CANDIDATE",
    "DOT_VARIANTS",
    "FULL_DOT_VARIANTS",
    "MAC_FIGURES",
    "PAPER_CLAIMS",
    "PAPER_ENERGY_PJ",
    "UNIT_DESIGNS",
    "DotVariant",
    "ParetoPoint",
    "Sweep",
    "acc_label",
    "default_sweep",
    "dot_units",
    "headline_sweep",
    "mac_by_acc",
    "pareto",
    "pipelined_arrays",
    "pipelined_macs",
    "quick_sweep",
    "saving",
    "summarize",
    "transistors",
    "unit_points",
]

# The paper's per-operation energy table (Horowitz, ISSCC 2014, 45 nm), as quoted by
# Luo & Sun (arXiv 2410.00907) to derive their -95 % (element-wise) and -80 % (dot product).
PAPER_ENERGY_PJ = {"fp32 mul": 3.7, "fp32 add": 0.9, "fp16 mul": 1.1, "fp16 add": 0.4,
                   "int32 add": 0.1, "int8 add": 0.03, "int32 mul": 3.1, "int8 mul": 0.2}
PAPER_CLAIMS = {"element-wise": 0.95, "dot product": 0.80}

# The comparison every headline makes: MACs with this product kind against MACs with that one.
CANDIDATE, BASELINE = product_kind("lmul").name, product_kind("exact").name

# Element-wise units measured for every format (multipliers, latency 0, and the integer references).
UNIT_DESIGNS = ("lmul_pe", "fp_multiplier", "fp_multiplier_exact", "int_multiplier", "int_adder")


def unit_points(fmt_name: str) -> dict[str, DesignPoint]:
    """The element-wise units of a format, by ``UNIT_DESIGNS`` entry: the L-Mul PE, the RNE and
    the exact-product FP multiplier, an m+1-bit integer multiplier and an E+m-bit integer adder."""
    fmt = get_format(fmt_name)
    width = {"int_multiplier": fmt.man_bits + 1, "int_adder": fmt.field_bits}
    return {d: DesignPoint(d, fmt_name, width=width.get(d, 0)) for d in UNIT_DESIGNS}


@dataclass(frozen=True)
class DotVariant:
    """One configuration of the fused dot unit (``lmul.rtl.dot_unit.DotUnit``): ``n`` products per
    beat, accumulator ``acc``, alignment ``align`` (``exact``: FDOT-style exact group sum; ``block``:
    Hopper-style window of ``w`` bits), promotion interval ``promote`` into FP32 (0: none)."""

    n: int = 4
    acc: str = "fp32"
    align: str = "exact"
    w: int = 14
    promote: int = 0

    def __post_init__(self) -> None:
        check_dot_unit(self.n, self.acc, self.align, self.w if self.align == "block" else None,
                       self.promote or None)
        object.__setattr__(self, "acc", accumulator(self.acc).name)

    @property
    def key(self) -> str:
        """A short unique key (``n4_fp32_exact``, ``n4_fp32_block_w14_p128``): report JSON rows."""
        return (f"n{self.n}_{identifier(acc_label(self.acc))}_{self.align}"
                + (f"_w{self.w}" if self.align == "block" else "") + (f"_p{self.promote}" if self.promote else ""))

    def label(self) -> str:
        """In words: ``n = 4, fp32, exact``, ``n = 4, fp32, block w=14, promote 128``."""
        return (f"n = {self.n}, {acc_label(self.acc)}, " + (f"block w={self.w}" if self.align == "block" else "exact")
                + (f", promote {self.promote}" if self.promote else ""))


# the headline's dot units (first: also placed and routed when the sweep's dot_targets say so)
DOT_VARIANTS = (DotVariant(4, "fp32", "exact"), DotVariant(4, "fp32", "block", 14))
# the whole sweep adds: other n, the Kulisch and narrow accumulators, Hopper-style promotion
FULL_DOT_VARIANTS = (*DOT_VARIANTS, DotVariant(1, "fp32"), DotVariant(2, "fp32"), DotVariant(8, "fp32"),
                     DotVariant(16, "fp32"), DotVariant(4, "kulisch"), DotVariant(4, "fp16"),
                     DotVariant(4, "bf16"), DotVariant(4, "e8m13:rtz", "block", 14),
                     DotVariant(4, "fp32", "block", 14, promote=128))


@dataclass(frozen=True)
class ParetoPoint:
    """One point of the Pareto view: ``family`` (``multiplier`` or ``mac_pe``), product ``kind``,
    pipeline ``depth`` (a multiplier's ``latency``, a MAC PE's ``pipeline``) and its ``DesignPoint``."""

    family: str
    kind: str
    depth: int
    point: DesignPoint


@dataclass
class Sweep:
    """What ``lmul report`` synthesises. MAC PEs and arrays are built for every product kind in
    ``kinds`` (default: all of ``PRODUCT_KINDS``) and accumulator in ``accs``, with ``k_max`` and
    results in ``out_fmt``; MAC PEs of a format also with the accumulators ``mac_accs[format]``
    (arrays are the expensive jobs); the headline reads the first accumulator (``acc``). Fused
    dot units (``lmul.rtl.dot_unit.DotUnit``) of the formats ``dot_formats``: every ``DotVariant`` of
    ``dot_variants`` (products per beat, accumulator, alignment, window, promotion) with every product
    kind, ``k_max`` and ``out_fmt`` as the MACs, on the targets of ``dot_targets`` that the sweep has
    (generic: every variant; FPGA synthesis: those of ``DOT_VARIANTS``; place and route: the first, the
    n = 4 FP32 FDOT-style unit)."""

    formats: list[str]
    array_sizes: dict[str, list[int]]
    k_max: int = 256
    # place and route arrays up to this many PEs (UP5K: a 4x4 E4M3 array needs ~8k LUTs of 5.3k;
    # 8x8 arrays on ECP5 take tens of minutes each in nextpnr: `lmul synth --target ecp5_pnr` runs one)
    pnr_max_pes: dict[str, int] = field(default_factory=lambda: {"ice40_pnr": 4, "ecp5_pnr": 16})
    # formats whose arrays are placed and routed at all (None: every format)
    pnr_array_formats: list[str] | None = None
    targets: tuple[str, ...] = TARGETS
    kinds: list[str] = field(default_factory=PRODUCT_KINDS.names)
    accs: list[str] = field(default_factory=lambda: ["kulisch"])
    out_fmt: str = "fp32"
    mac_accs: dict[str, list[str]] = field(default_factory=dict)
    dot_formats: list[str] = field(default_factory=list)
    dot_variants: list[DotVariant] = field(default_factory=lambda: list(DOT_VARIANTS))
    dot_targets: tuple[str, ...] = ("generic",)
    label: str = "custom"       # headline / full / quick: which of the sweeps below (stated in the report)
    # MAC PEs of these formats also built with this many pipeline stages (MacPE(pipeline=...)): the
    # headline accumulator, every product kind, every target
    mac_pipeline: dict[str, int] = field(default_factory=dict)
    # pipelined arrays: a size x size array of these formats at mac_pipeline[fmt] stages (every product
    # kind, the headline accumulator), synthesised and placed and routed on ECP5 whatever pnr_max_pes (the
    # whole sweep: 4x4, ~10 min each; an 8x8 at depth 7 takes nextpnr 10-30 min, README)
    speed_arrays: dict[str, int] = field(default_factory=dict)
    # the Pareto view across pipeline depths (``pareto_points``): formats, and the MAC PE depths
    pareto_formats: list[str] = field(default_factory=list)
    pareto_mac_depths: tuple[int, ...] = (0, 3, 7)

    def __post_init__(self) -> None:
        self.kinds = [product_kind(k).name for k in self.kinds]
        self.dot_variants = [DotVariant(**v) if isinstance(v, dict) else v for v in self.dot_variants]
        self.accs = [accumulator(a).name for a in self.accs]
        if not self.accs:
            raise ValueError("a sweep needs at least one accumulator")
        self.mac_accs = {f: [accumulator(a).name for a in v] for f, v in self.mac_accs.items()}
        get_format(self.out_fmt)

    @property
    def acc(self) -> str:
        """The headline's accumulator."""
        return self.accs[0]

    def mac_accs_of(self, fmt: str) -> list[str]:
        """The accumulators of ``fmt``'s MAC PEs: ``accs`` (the headline's first), then ``mac_accs[fmt]``."""
        return list(dict.fromkeys([*self.accs, *self.mac_accs.get(fmt, [])]))

    def mac_params(self, kind: str, acc: str, size: int | None = None) -> DesignParams:
        """``DesignParams`` of a MAC PE (``size`` None) or a size x size array of this sweep."""
        p = DesignParams(kind=kind, acc=acc, k_max=self.k_max, out_fmt=self.out_fmt)
        return p if size is None else replace(p, rows=size, cols=size)

    def mac_point(self, fmt: str, kind: str, acc: str, pipeline: int = 0) -> DesignPoint:
        return DesignPoint("mac_pe", fmt, replace(self.mac_params(kind, acc), pipeline=pipeline))

    def array_point(self, fmt: str, kind: str, acc: str, size: int, pipeline: int = 0) -> DesignPoint:
        return DesignPoint("systolic_array", fmt, replace(self.mac_params(kind, acc, size), pipeline=pipeline))

    def pareto_points(self) -> list[ParetoPoint]:
        """The Pareto view's points: per format of ``pareto_formats``, the L-Mul PE and the RNE
        multiplier at latency 0, 1, 2, and every kind's MAC PE (headline accumulator) at each depth of
        ``pareto_mac_depths``; measured on the generic, iCE40 and iCE40 place-and-route targets."""
        pts = []
        for f in self.pareto_formats:
            for lat in (0, 1, 2):
                pts += [ParetoPoint("multiplier", kind, lat, DesignPoint(d, f, DesignParams(latency=lat)))
                        for kind, d in ((CANDIDATE, "lmul_pe"), (BASELINE, "fp_multiplier"))]
            pts += [ParetoPoint("mac_pe", k, d, self.mac_point(f, k, self.acc, d))
                    for d in self.pareto_mac_depths for k in self.kinds]
        return pts

    def dot_point(self, fmt: str, kind: str, variant: DotVariant) -> DesignPoint:
        """The fused dot unit of ``fmt`` with product ``kind`` in the configuration ``variant``."""
        return DesignPoint("dot_unit", fmt, replace(self.mac_params(kind, variant.acc), n=variant.n,
                                                    align=variant.align, w=variant.w, promote=variant.promote))

    def points(self) -> list[tuple[DesignPoint, str]]:
        jobs: list[tuple[DesignPoint, str]] = []
        synth_targets = [t for t in self.targets if not t.endswith("_pnr")]
        pnr_targets = [t for t in self.targets if t.endswith("_pnr")]
        for name in self.formats:
            unit = list(unit_points(name).values())
            unit += [self.mac_point(name, k, a) for a in self.mac_accs_of(name) for k in self.kinds]
            if self.mac_pipeline.get(name):
                unit += [self.mac_point(name, k, self.acc, self.mac_pipeline[name]) for k in self.kinds]
            for p in unit:
                jobs += [(p, t) for t in synth_targets + pnr_targets]
            for n in self.array_sizes.get(name, []):
                for a in self.accs:
                    for k in self.kinds:
                        p = self.array_point(name, k, a, n)
                        jobs += [(p, t) for t in synth_targets]
                        if self.pnr_array_formats is None or name in self.pnr_array_formats:
                            jobs += [(p, t) for t in pnr_targets if n * n <= self.pnr_max_pes.get(t, 0)]
        for name, size in self.speed_arrays.items():
            depth = self.mac_pipeline.get(name, 0)
            jobs += [(self.array_point(name, k, self.acc, size, depth), t) for k in self.kinds
                     for t in ("ecp5", "ecp5_pnr") if t in self.targets]
        seen = {(p.name, t) for p, t in jobs}
        jobs += [(pt.point, t) for pt in self.pareto_points() for t in self.targets
                 if t in ("generic", "ice40", "ice40_pnr") and (pt.point.name, t) not in seen]
        for t in (t for t in self.targets if t in self.dot_targets):
            # generic: every variant; FPGA synthesis: the headline's (DOT_VARIANTS); place and route: the first
            variants = (self.dot_variants if t == "generic" else self.dot_variants[:1] if t.endswith("_pnr")
                        else [v for v in self.dot_variants if v in DOT_VARIANTS])
            jobs += [(self.dot_point(f, k, v), t) for f in self.dot_formats for v in variants for k in self.kinds]
        return jobs

    def parameters(self) -> str:
        """The MAC parameters in words, for every table and plot that shows MAC figures."""
        return f"k_max = {self.k_max}, {self.out_fmt.upper()} results, {', '.join(self.accs)} accumulator"

    def describe(self) -> str:
        """The whole sweep in one sentence (the report states it above its headline)."""
        arrays = "; ".join(f"{f}: " + ", ".join(f"{n}×{n}" for n in self.array_sizes[f])
                           for f in self.formats if self.array_sizes.get(f))
        extra = "; ".join(f"{f}: {', '.join(acc_label(a) for a in self.mac_accs_of(f)[len(self.accs):])}"
                          for f in self.formats if len(self.mac_accs_of(f)) > len(self.accs))
        which = {"headline": "the headline sweep of `lmul report` (`lmul report --full`: the whole sweep): ",
                 "full": "the whole sweep (`lmul report --full`): ",
                 "quick": "the quick sweep (`lmul report --quick`, small k_max): "}.get(self.label, "")
        return (f"{which}formats {', '.join(self.formats)}; multipliers combinational (latency 0); MAC PEs"
                + (f" and arrays ({arrays}, counted per MAC: array transistors / (rows · cols))" if arrays else "")
                + f" with product kinds {', '.join(self.kinds)}, {self.parameters()}"
                + (f"; MAC PEs also with the accumulators {extra}" if extra else "")
                + (f"; fused dot units ({', '.join(self.dot_formats)}: "
                   f"{'; '.join(v.label() for v in self.dot_variants)}; targets "
                   f"{', '.join(t for t in self.targets if t in self.dot_targets)}; counted per MAC: "
                   "transistors / n)" if self.dot_formats else "")
                + f"; targets {', '.join(self.targets)}")

    def to_dict(self) -> dict:
        return {"formats": self.formats, "array_sizes": self.array_sizes, "k_max": self.k_max,
                "targets": list(self.targets), "pnr_max_pes": self.pnr_max_pes, "kinds": self.kinds,
                "accs": self.accs, "out_fmt": self.out_fmt, "mac_accs": self.mac_accs,
                "dot_formats": self.dot_formats, "dot_variants": [asdict(v) for v in self.dot_variants],
                "dot_targets": list(self.dot_targets), "label": self.label, "mac_pipeline": self.mac_pipeline,
                "pareto_formats": self.pareto_formats, "pareto_mac_depths": list(self.pareto_mac_depths),
                "speed_arrays": self.speed_arrays, "pnr_array_formats": self.pnr_array_formats}

    @classmethod
    def from_dict(cls, d: dict) -> Sweep:
        """Inverse of ``to_dict``; fields a report JSON does not have keep their defaults."""
        sw = cls(formats=list(d["formats"]), array_sizes={k: list(v) for k, v in d["array_sizes"].items()},
                 k_max=int(d["k_max"]))
        for key, conv in (("targets", tuple), ("pnr_max_pes", dict), ("kinds", list), ("accs", list),
                          ("out_fmt", str), ("mac_accs", lambda v: {f: list(a) for f, a in v.items()}),
                          ("dot_formats", list), ("dot_variants", list), ("dot_targets", tuple),
                          ("label", str), ("mac_pipeline", dict), ("pareto_formats", list),
                          ("pareto_mac_depths", tuple), ("speed_arrays", dict),
                          ("pnr_array_formats", lambda v: v if v is None else list(v))):
            if key in d:
                sw = replace(sw, **{key: conv(d[key])})
        return sw


# MAC PEs of these formats are also built with these accumulators (arrays: Kulisch only, for time)
DEFAULT_MAC_ACCS = {"e4m3": ["fp32", "fp16", "bf16"], "e5m2": ["fp32", "fp16", "bf16"], "bf16": ["fp32"]}


def default_sweep() -> Sweep:
    """The whole sweep (``lmul report --full``): E4M3, E5M2 and BF16 on every target; MAC PEs with
    four accumulators, arrays up to 8×8, fused dot units."""
    return Sweep(formats=["e4m3", "e5m2", "bf16"], array_sizes={"e4m3": [2, 4, 8], "e5m2": [2, 4, 8], "bf16": [2]},
                 mac_accs={f: list(v) for f, v in DEFAULT_MAC_ACCS.items()}, dot_formats=["e4m3", "e5m2"],
                 dot_variants=list(FULL_DOT_VARIANTS),
                 dot_targets=("generic", "ice40", "ecp5", "ice40_pnr", "ecp5_pnr"), label="full",
                 mac_pipeline={"e4m3": 7, "e5m2": 7}, pareto_formats=["e4m3", "e5m2"],
                 pareto_mac_depths=(0, 1, 2, 3, 5, 7), speed_arrays={"e4m3": 4},
                 # the BF16 2x2 Kulisch arrays (~530-bit accumulators) did not finish nextpnr-ecp5 in
                 # 3,600 s each (README): not placed and routed, so a cold run does not spend 2 hours on them
                 pnr_array_formats=["e4m3", "e5m2"])


def headline_sweep() -> Sweep:
    """The main job's sweep (``lmul report``; README: its cold time on 2 cores): E4M3 and E5M2
    multipliers and MAC PEs (E4M3 with the Kulisch, FP32, FP16 and BF16 accumulators, E5M2 with
    Kulisch and FP32), one 4×4 E4M3 array, the E4M3 fused dot units; generic and iCE40 targets,
    place and route of everything but the array on the iCE40 UP5K (the array does not fit it).
    k_max = 256 as in the whole sweep, so its figures are the same jobs (and cache entries)."""
    return Sweep(formats=["e4m3", "e5m2"], array_sizes={"e4m3": [4]}, targets=("generic", "ice40", "ice40_pnr"),
                 mac_accs={"e4m3": ["fp32", "fp16", "bf16"], "e5m2": ["fp32"]}, dot_formats=["e4m3"],
                 dot_targets=("generic", "ice40"), label="headline", mac_pipeline={"e4m3": 7}, pareto_formats=["e4m3"])


def quick_sweep() -> Sweep:
    """A small sweep for tests and smoke runs: E4M3 multipliers and MAC PEs (Kulisch and FP32
    accumulators), a 2×2 array (Kulisch), k_max = 16; no dot units."""
    return Sweep(formats=["e4m3"], array_sizes={"e4m3": [2]}, k_max=16,
                 targets=("generic", "ice40", "ice40_pnr"), mac_accs={"e4m3": ["fp32"]}, label="quick")


def transistors(res: dict, point: DesignPoint) -> float | None:
    """The generic-synthesis transistor count of ``point`` in ``res`` (keyed by (name, target))."""
    v = res.get((point.name, "generic"), {}).get("transistors")
    return v if isinstance(v, (int, float)) else None


def saving(new: float | None, old: float | None) -> float | None:
    """``1 - new / old`` (None when either is missing or zero)."""
    return 1 - new / old if new and old else None


def _acc_suffix(sweep: Sweep, acc: str) -> str:
    return "" if acc == sweep.acc else f"_{identifier(acc)}"


def acc_label(acc: str) -> str:
    """A short name of a canonical accumulator: ``kulisch``, ``fp32`` (``float:fp32:rne``), ``e8m13:rtz``."""
    name = accumulator(acc).name
    if name.startswith("float:"):
        name = name[len("float:"):]
        name = name[: -len(":rne")] if name.endswith(":rne") else name
    return name


# what mac_by_acc reads per MAC PE: (key, target, result field)
MAC_FIGURES = (("transistors", "generic", "transistors"), ("depth", "generic", "depth"),
               ("ice40_lut4", "ice40", "lut4"), ("ice40_fmax_mhz", "ice40_pnr", "fmax_mhz"),
               ("ecp5_lut4", "ecp5", "lut4"), ("ecp5_fmax_mhz", "ecp5_pnr", "fmax_mhz"))


def _figure(res: dict, point: DesignPoint, target: str, key: str) -> float | None:
    v = res.get((point.name, target), {}).get(key)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def mac_by_acc(sweep: Sweep, res: dict) -> dict[str, dict[str, dict]]:
    """Per format and MAC PE accumulator (``Sweep.mac_accs_of``): ``{kind: {MAC_FIGURES key: value}}``
    for every product kind, ``saving`` (transistors, ``CANDIDATE`` vs ``BASELINE``), ``design``
    (the ``CANDIDATE`` MAC PE's name) and ``label`` (``acc_label``). Missing figures are None."""
    out: dict[str, dict[str, dict]] = {}
    for name in sweep.formats:
        rows: dict[str, dict] = {}
        for acc in sweep.mac_accs_of(name):
            row: dict[str, object] = {"label": acc_label(acc), "design": sweep.mac_point(name, CANDIDATE, acc).name}
            for k in sweep.kinds:
                p = sweep.mac_point(name, k, acc)
                row[k] = {key: _figure(res, p, target, field_) for key, target, field_ in MAC_FIGURES}
            t = {k: row[k]["transistors"] for k in sweep.kinds}     # type: ignore[index]
            row["saving"] = saving(t.get(CANDIDATE), t.get(BASELINE))
            rows[acc] = row
        out[name] = rows
    return out


def dot_units(sweep: Sweep, res: dict) -> dict[str, dict[str, dict]]:
    """Per format of ``dot_formats`` and ``DotVariant`` (by its ``key``): ``{kind: {MAC_FIGURES key:
    value, "per_mac": transistors / n}}`` for every product kind, ``saving`` (transistors,
    ``CANDIDATE`` vs ``BASELINE``, the same per MAC), ``mac_pe`` (``{kind: transistors}`` of the MAC
    PE with the same accumulator, None when the sweep has none), ``design`` (the ``CANDIDATE`` unit's
    name), ``label``, ``n``, ``acc`` (``acc_label``). Missing figures are None."""
    out: dict[str, dict[str, dict]] = {}
    for name in sweep.dot_formats:
        rows: dict[str, dict] = {}
        for v in sweep.dot_variants:
            row: dict[str, object] = {"label": v.label(), "n": v.n, "acc": acc_label(v.acc),
                                      "design": sweep.dot_point(name, CANDIDATE, v).name}
            for k in sweep.kinds:
                pt = sweep.dot_point(name, k, v)
                fig = {key: _figure(res, pt, target, field_) for key, target, field_ in MAC_FIGURES}
                fig["per_mac"] = fig["transistors"] / v.n if fig["transistors"] else None
                row[k] = fig
            row["saving"] = saving(row[CANDIDATE]["transistors"], row[BASELINE]["transistors"])  # type: ignore[index]
            mac = v.acc in sweep.mac_accs_of(name) and name in sweep.formats
            row["mac_pe"] = ({k: transistors(res, sweep.mac_point(name, k, v.acc)) for k in sweep.kinds}
                             if mac else None)
            rows[v.key] = row
        out[name] = rows
    return out


def pipelined_macs(sweep: Sweep, res: dict) -> dict[str, dict[str, dict]]:
    """Per format of ``mac_pipeline``: ``{kind: {depth: {MAC_FIGURES key: value}}}`` for depth 0 and
    the format's pipeline depth (the headline accumulator), plus ``depth``. Missing figures are None."""
    out: dict[str, dict[str, dict]] = {}
    for name, depth in sweep.mac_pipeline.items():
        if not depth or name not in sweep.formats:
            continue
        row: dict[str, dict] = {"depth": depth}       # type: ignore[dict-item]
        for k in sweep.kinds:
            row[k] = {d: {key: _figure(res, sweep.mac_point(name, k, sweep.acc, d), target, field_)
                          for key, target, field_ in MAC_FIGURES} for d in (0, depth)}
        out[name] = row
    return out


def pipelined_arrays(sweep: Sweep, res: dict) -> dict[str, dict]:
    """Per format of ``speed_arrays``: ``{"size", "depth", kind: {depth: {"ecp5_lut4", "ecp5_ff",
    "ecp5_fmax_mhz"}}}`` for depth 0 and the format's ``mac_pipeline`` depth (ECP5 synthesis and
    place and route); missing figures are None."""
    out: dict[str, dict] = {}
    for name, size in sweep.speed_arrays.items():
        depth = sweep.mac_pipeline.get(name, 0)
        row: dict = {"size": size, "depth": depth}
        for k in sweep.kinds:
            row[k] = {}
            for d in dict.fromkeys((0, depth)):
                p = sweep.array_point(name, k, sweep.acc, size, d)
                row[k][d] = {"ecp5_lut4": _figure(res, p, "ecp5", "lut4"), "ecp5_ff": _figure(res, p, "ecp5", "dff"),
                             "ecp5_fmax_mhz": _figure(res, p, "ecp5_pnr", "fmax_mhz")}
        out[name] = row
    return out


def pareto(sweep: Sweep, res: dict, energy: dict[str, dict] | None = None) -> list[dict]:
    """The Pareto view's rows (``Sweep.pareto_points``): family, kind, depth, design name, transistors,
    iCE40 LUT4 and Fmax, and the ASIC ``energy`` rows by design name (``area_um2``, pJ/op both bounds;
    None without them). ``pareto`` is True when no point of the same format and family is at least as
    good in transistors, iCE40 Fmax and zero-delay energy (where both have it) and better in one."""
    energy = energy or {}
    rows = []
    for pt in sweep.pareto_points():
        e = energy.get(pt.point.name, {})
        rows.append({"format": pt.point.fmt, "family": pt.family, "kind": pt.kind, "depth": pt.depth,
                     "design": pt.point.name, "transistors": _figure(res, pt.point, "generic", "transistors"),
                     "ice40_lut4": _figure(res, pt.point, "ice40", "lut4"),
                     "ice40_fmax_mhz": _figure(res, pt.point, "ice40_pnr", "fmax_mhz"),
                     "area_um2": e.get("area_um2"), "energy_pj": e.get("energy_pj")})

    def costs(r: dict) -> tuple[float, ...] | None:
        """What is minimised: transistors, −Fmax and, where measured, the zero-delay energy."""
        if r["transistors"] is None or r["ice40_fmax_mhz"] is None:
            return None
        pj = (r["energy_pj"] or {}).get("zero_delay")
        return (r["transistors"], -r["ice40_fmax_mhz"]) + ((pj,) if pj is not None else ())

    def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        n = min(len(a), len(b))              # energy counts only where both points have it
        return all(x <= y for x, y in zip(a[:n], b[:n], strict=True)) and a[:n] != b[:n]

    for r in rows:
        c = costs(r)
        others = [costs(o) for o in rows if o is not r and (o["format"], o["family"]) == (r["format"], r["family"])]
        r["pareto"] = c is not None and not any(o is not None and dominates(o, c) for o in others)
    return rows


def summarize(sweep: Sweep, res: dict) -> dict:
    """Headline figures per format: the L-Mul PE vs the RNE multiplier element-wise, and every
    product kind's MAC PE and arrays (transistors per MAC) with the ``CANDIDATE`` vs ``BASELINE``
    saving. Keys for the headline accumulator are ``mac_pe_<kind>_transistors``, ``mac_pe_saving``,
    ``array_<n>x<n>_<kind>_transistors_per_mac``, ``array_<n>x<n>_saving``; further accumulators
    add ``_<acc>`` after the kind (``mac_pe_lmul_<acc>_transistors``, ``mac_pe_<acc>_saving``,
    ``<acc>`` = ``identifier`` of the canonical name, e.g. ``float_fp32_rne``); MAC PEs have every
    accumulator of ``Sweep.mac_accs_of``, arrays those of ``Sweep.accs``."""
    head: dict[str, dict] = {}
    for name in sweep.formats:
        units = unit_points(name)
        t_l, t_m = transistors(res, units["lmul_pe"]), transistors(res, units["fp_multiplier"])
        row: dict[str, object] = {"lmul_pe_transistors": t_l, "fp_multiplier_transistors": t_m,
                                  "elementwise_saving": saving(t_l, t_m)}
        for acc in sweep.mac_accs_of(name):
            sfx = _acc_suffix(sweep, acc)
            mac = {k: transistors(res, sweep.mac_point(name, k, acc)) for k in sweep.kinds}
            row.update({f"mac_pe_{k}{sfx}_transistors": v for k, v in mac.items()})
            row[f"mac_pe{sfx}_saving"] = saving(mac.get(CANDIDATE), mac.get(BASELINE))
        for acc in sweep.accs:
            sfx = _acc_suffix(sweep, acc)
            for n in sweep.array_sizes.get(name, []):
                arr = {k: transistors(res, sweep.array_point(name, k, acc, n)) for k in sweep.kinds}
                row.update({f"array_{n}x{n}_{k}{sfx}_transistors_per_mac": v / (n * n) if v else None
                            for k, v in arr.items()})
                row[f"array_{n}x{n}{sfx}_saving"] = saving(arr.get(CANDIDATE), arr.get(BASELINE))
        row["int_adder_transistors"] = transistors(res, units["int_adder"])
        row["int_multiplier_transistors"] = transistors(res, units["int_multiplier"])
        head[name] = row
    return head
