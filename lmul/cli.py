"""The ``lmul`` command line (also ``python -m lmul``).

Every argument is checked before any work starts (one error line, exit code 2): formats, kinds and
accumulators by their registries, array sizes (``1..64`` per side), ``--k-max``, ``--samples`` (a
memory estimate), seeds (``>= 0``), the dot unit's ``--n``/``--align``/``--w``/``--promote`` with its
accumulator (``lmul.arith.check_dot_unit``), and output folders (``check_out_dir``: a folder that can be
created and written). Every build output goes under ``lmul.build_root()`` (``$LMUL_BUILD``, else
``./build``): the ``--out`` defaults are folders in it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from lmul import __version__, build_root
from lmul.boards.cli import add_commands as add_board_commands
from lmul.boards.protocol import LinkError
from lmul.designs import MAX_K, MAX_PIPELINE, MAX_SIDE  # array sides 1..64, --k-max of export / synth (boards: 65535)
from lmul.formats import NAMED_FORMATS, FormatError

MAX_SEED = (1 << 31) - 1          # nextpnr takes a 32-bit signed seed; numpy any non-negative int
MEMORY_LIMIT = 24 << 30           # --samples: what `lmul numerics` / `lmul paper` / `lmul report` may use
# peak memory per random operand pair (float64 operands, products, encodings and errors alive at once):
# measured as peak RSS at 0.25/1/2 million samples, numerics ~145 B, paper ~216 B; 256 MiB base
SAMPLE_BYTES = 220
BASE_BYTES = 256 << 20
MAX_SAMPLES = (MEMORY_LIMIT - BASE_BYTES) // SAMPLE_BYTES


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _scheduler(text: str) -> str:
    """A Dask scheduler address: ``[tcp|tls|inproc|ucx]://host:port`` or ``host:port``."""
    import re
    if not re.fullmatch(r"(?:(?:tcp|tls|ucx|ws|wss)://)?[\w.\-\[\]:]+:\d{1,5}", text):
        raise argparse.ArgumentTypeError(f"expected a Dask scheduler address like tcp://host:8786, got {text!r}")
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _size(text: str) -> tuple[int, int]:
    try:
        r, c = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RxC such as 4x4, got {text!r}") from None
    if r < 1 or c < 1:
        raise argparse.ArgumentTypeError(f"array sides must be >= 1, got {text!r}")
    if r > MAX_SIDE or c > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"array sides must be at most {MAX_SIDE}, got {text!r}")
    return r, c


def _int_in(what: str, lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an int in ``lo..hi``, else "expected <what> in lo..hi"."""
    def parse(text: str) -> int:
        error = argparse.ArgumentTypeError(f"expected {what} in {lo}..{hi}, got {text!r}")
        try:
            value = int(text)
        except ValueError:
            raise error from None
        if not lo <= value <= hi:
            raise error
        return value
    return parse


_seed = _int_in("a seed", 0, MAX_SEED)


def _k_max(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_K:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_K}, got {text!r}")
    return value


# --pipeline: the design refuses more stages than it has cut points
_pipeline = _int_in("an integer", 0, MAX_PIPELINE)


def _samples(text: str) -> int:
    """A positive sample count whose arrays fit ``MEMORY_LIMIT`` (measured ``SAMPLE_BYTES`` per pair)."""
    value = _positive_int(text)
    if value > MAX_SAMPLES:
        need = (BASE_BYTES + value * SAMPLE_BYTES) / (1 << 30)
        raise argparse.ArgumentTypeError(
            f"{value:,} pairs would need about {need:,.0f} GiB of memory (~{SAMPLE_BYTES} bytes per pair, all "
            f"held at once); at most {MAX_SAMPLES:,} fit in {MEMORY_LIMIT >> 30} GiB")
    return value


def check_out_dir(path: str | Path, option: str = "--out") -> Path:
    """``path`` (absolute) if it is, or can be created as, a folder this process can write, else
    ``FormatError`` naming ``option``: a file where a folder is needed, no permission, a read-only or
    pseudo file system. Nothing is created: the nearest existing folder is probed with a temporary
    file (root ignores permission bits, so ``os.access`` alone is not enough)."""
    p = Path(path).absolute()
    anc = next(a for a in (p, *p.parents) if a.exists() or a == a.parent)
    if not anc.is_dir():
        raise FormatError(f"{option} {path}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise FormatError(f"{option} {path}: cannot write in {anc} (permission denied)")
    try:
        with tempfile.TemporaryFile(dir=anc):
            pass
    except OSError as e:
        raise FormatError(f"{option} {path}: cannot write in {anc} ({e.strerror or e})") from None
    return p


def _check_params(designs: list[str], params: list[object]) -> None:
    from lmul.designs import check_params
    for d in designs:
        for p in params:
            check_params(d, p)  # type: ignore[arg-type]


def _dot_params(args: argparse.Namespace) -> dict[str, object]:
    """The fused dot unit's ``DesignParams`` fields from ``--n``/``--align``/``--w``/``--promote``
    (checked with the accumulator by ``check_params`` -> ``lmul.arith.check_dot_unit``)."""
    from lmul.designs import DesignParams
    if args.w is not None and args.align != "block":      # a window only exists in block alignment
        raise FormatError(f"--w {args.w} applies to --align block only (got --align {args.align})")
    return {"n": args.n, "align": args.align, "w": DesignParams().w if args.w is None else args.w,
            "promote": args.promote}


def _add_dot_options(s: argparse.ArgumentParser) -> None:
    from lmul.arith import ALIGNS, N_CHOICES, W_MAX
    from lmul.designs import DEFAULT_N, DesignParams
    d = DesignParams()
    s.add_argument("--n", type=int, default=d.n,
                   help=f"dot_unit, systolic_array: products per beat (the array: K-steps per beat and PE), one of "
                        f"{', '.join(map(str, N_CHOICES))} (default: dot_unit {DEFAULT_N['dot_unit']}, systolic_array "
                        f"{DEFAULT_N['systolic_array']})")
    s.add_argument("--align", choices=ALIGNS, default=d.align,
                   help=f"dot_unit, systolic_array: alignment (default {d.align})")
    s.add_argument("--w", type=int, default=None,
                   help=f"dot_unit, systolic_array: block window width in bits, 1..{W_MAX}, --align block only "
                        f"(default {d.w})")
    s.add_argument("--promote", type=int, default=d.promote,
                   help="dot_unit, systolic_array: promote into FP32 every P products, a multiple of --n "
                        "(default 0: never)")


def cmd_formats(args: argparse.Namespace) -> int:
    for fmt in NAMED_FORMATS.values():
        print(fmt.describe())
    return 0


def cmd_numerics(args: argparse.Namespace) -> int:
    from lmul import numerics
    if args.out:
        check_out_dir(args.out)
    rep = numerics.run(args.samples, args.seed, progress=None if args.quiet else numerics.main_progress)
    text = numerics.format_markdown(rep)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "numerics.md").write_text(text)
        (out / "numerics.json").write_text(rep.to_json())
        print(f"wrote {out / 'numerics.md'} and {out / 'numerics.json'}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from lmul.arith import PRODUCT_KINDS, accumulator
    from lmul.designs import DESIGNS, DesignParams, export_design
    from lmul.formats import get_format

    # everything is validated before the first (slow) elaboration
    formats = [get_format(f) for f in (args.format or [n for n in NAMED_FORMATS if n != "fp32"])]
    designs = args.design or ["lmul_pe", "fp_multiplier", "fp_multiplier_exact"]
    if args.design is None and args.all:
        designs = list(DESIGNS)
    kinds = args.kind or PRODUCT_KINDS.names()
    accs = [accumulator(a).name for a in (args.acc or ["kulisch"])]
    get_format(args.out_format)
    base = DesignParams(latency=args.latency, pipeline=args.pipeline, rows=args.size[0], cols=args.size[1],
                        k_max=args.k_max,
                        out_fmt=args.out_format, **_dot_params(args))
    jobs = []
    for f in formats:
        for d in designs:
            uses = DESIGNS[d].uses
            for k in (kinds if "kind" in uses else [base.kind]):
                for a in (accs if "acc" in uses else [base.acc]):
                    jobs.append((d, f, replace(base, kind=k, acc=a)))
    for d, _, params in jobs:       # sizes, k_max, the dot unit's parameters with each accumulator
        _check_params([d], [params])
    out = check_out_dir(args.out or build_root() / "verilog")
    for i, (d, f, params) in enumerate(jobs, 1):
        path = export_design(d, f, params, out)
        print(f"[{i}/{len(jobs)}] {path} (+ .json, .md: port map)", file=sys.stderr)
    print(f"exported {len(jobs)} Verilog modules into {out}")
    return 0


def _check_scheduler(address: str | None) -> None:
    """Fail in seconds, before any work, when ``--scheduler`` names no reachable Dask scheduler."""
    if address is not None:
        from lmul.scripts.synth import connect
        connect(address).close()


def cmd_report(args: argparse.Namespace) -> int:
    """The main job: verification smoke, numerics and the full synthesis sweep into a folder."""
    from lmul.report import default_sweep, headline_sweep, quick_sweep, run_report

    out = check_out_dir(args.out or build_root() / "report")
    check_out_dir(build_root() / "synth", "the synthesis cache ($LMUL_BUILD or ./build)")
    _check_scheduler(args.scheduler)
    sweep = quick_sweep() if args.quick else default_sweep() if args.full else headline_sweep()
    data = run_report(out, sweep, workers=args.jobs, numerics_samples=args.samples, paper_quick=args.quick,
                      progress=None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True)),
                      scheduler=args.scheduler)
    print((out / "report.md").read_text())
    failed = [r for r in data["results"] if "error" in r and r.get("fits") is not False]
    if failed:
        print(f"lmul report: {len(failed)} synthesis jobs failed (see report.md)", file=sys.stderr)
    return 0


def cmd_paper(args: argparse.Namespace) -> int:
    """Issue 7: the paper's claims against our golden models and gates -> paper.md/.json + plots."""
    from lmul import paper
    out = check_out_dir(args.out or build_root() / "paper")
    if args.gates != "none":
        check_out_dir(build_root() / "synth", "the synthesis cache ($LMUL_BUILD or ./build)")
    report_json = Path(args.report_json) if args.report_json else build_root() / "report" / "report.json"
    try:
        return paper.main(out, samples=args.samples, seed=args.seed, quick=args.quick, gates=args.gates,
                          report_json=report_json, workers=args.jobs, quiet=args.quiet)
    except paper.PaperError as exc:
        print(f"lmul: error: {exc}", file=sys.stderr)
        return 2


def cmd_synth(args: argparse.Namespace) -> int:
    from lmul.arith import accumulator
    from lmul.designs import DesignParams
    from lmul.formats import get_format
    from lmul.scripts.synth import DesignPoint, run_points

    get_format(args.format)
    get_format(args.out_format)
    params = DesignParams(latency=args.latency, pipeline=args.pipeline, rows=args.size[0], cols=args.size[1],
                        k_max=args.k_max,
                          kind=args.kind, acc=accumulator(args.acc).name, out_fmt=args.out_format,
                          **_dot_params(args))
    from lmul.designs import DESIGNS
    if args.design in DESIGNS:
        _check_params([args.design], [params])
    check_out_dir(build_root() / "synth", "the synthesis cache ($LMUL_BUILD or ./build)")
    _check_scheduler(args.scheduler)
    point = DesignPoint(args.design, args.format, params, width=args.width)
    res = run_points([(point, t) for t in args.target], workers=args.jobs, scheduler=args.scheduler,
                     progress=lambda s: print(s, file=sys.stderr, flush=True))
    import json
    print(json.dumps({f"{n} {t}": r for (n, t), r in res.items()}, indent=1, sort_keys=True))
    return 1 if any("error" in r for r in res.values()) else 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lmul", description="L-Mul in hardware: golden models, RTL, reports.")
    p.add_argument("--version", action="version", version=f"lmul {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    s = sub.add_parser("formats", help="list the named minifloat formats")
    s.set_defaults(func=cmd_formats)

    from lmul.arith import PRODUCT_KINDS
    from lmul.designs import DESIGNS
    s = sub.add_parser("export", help="write Verilog of every block (default: all designs and formats)")
    s.add_argument("--design", action="append", choices=list(DESIGNS), help="design (repeatable)")
    s.add_argument("--format", action="append", help="format name or ExMy spec (repeatable)")
    s.add_argument("--all", action="store_true", help="all designs (default: the three multipliers)")
    s.add_argument("--latency", type=int, choices=[0, 1, 2], default=0, help="multiplier pipeline registers")
    s.add_argument("--pipeline", type=_pipeline, default=0,
                   help="extra register stages of MAC PEs / arrays / dot units (default 0)")
    s.add_argument("--size", type=_size, default=(4, 4), help=f"array size RxC (default 4x4, sides 1..{MAX_SIDE})")
    s.add_argument("--k-max", type=_k_max, default=256,
                   help=f"longest dot product (accumulator width; default 256, at most {MAX_K})")
    s.add_argument("--kind", action="append", choices=PRODUCT_KINDS.names(),
                   help="product kind of MACs/arrays/engines (repeatable; default: all)")
    s.add_argument("--acc", action="append", help="accumulator of MACs/arrays/engines (repeatable; default kulisch)")
    s.add_argument("--out-format", default="fp32", help="MAC/array result format (default fp32)")
    _add_dot_options(s)
    s.add_argument("--out", help="output folder (default: BUILD/verilog; BUILD is $LMUL_BUILD, else ./build)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("numerics", help="print the L-Mul vs FP8 precision comparison")
    s.add_argument("--samples", type=_samples, default=1_000_000,
                   help=f"random pairs (default 1e6; at most {MAX_SAMPLES:,}: {MEMORY_LIMIT >> 30} GiB)")
    s.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    s.add_argument("--out", help="also write numerics.md/.json into this folder")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_numerics)

    s = sub.add_parser("report", help="the main job: smoke tests, numerics, synthesis sweep -> build/report")
    s.add_argument("--out", help="report folder (default: BUILD/report; BUILD is $LMUL_BUILD, else ./build)")
    size = s.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sweep (E4M3, 2x2 array, k_max 16, iCE40 only)")
    size.add_argument("--full", action="store_true",
                      help="the whole sweep (E4M3/E5M2/BF16, arrays to 8x8, ECP5 too: hours cold on 2 cores); "
                           "default: the headline sweep (minutes)")
    s.add_argument("--jobs", type=_positive_int, default=None, help="parallel tool runs (default: cores)")
    s.add_argument("--scheduler", metavar="ADDRESS", type=_scheduler, default=None,
                   help="run the tool jobs on this Dask distributed scheduler (tcp://host:8786) instead of "
                        "local processes; same cache, same results")
    s.add_argument("--samples", type=_samples, default=1_000_000, help="numerics and paper random pairs (1e6)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("paper", help="reproduce the paper's precision, cost and energy claims -> build/paper")
    s.add_argument("--out", help="output folder (default: BUILD/paper; BUILD is $LMUL_BUILD, else ./build)")
    s.add_argument("--samples", type=_samples, default=None, help="random pairs per distribution (1e6; quick 1e5)")
    s.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    s.add_argument("--quick", action="store_true", help="fewer samples, small matmuls, no arrays/FP32 synthesis")
    s.add_argument("--gates", choices=["auto", "synth", "none"], default="auto",
                   help="gate counts: auto = --report-json if present, synthesise what is missing (cached); "
                        "synth = synthesise all (cached); none = skip")
    s.add_argument("--report-json", help="a previous `lmul report` JSON (default: BUILD/report/report.json)")
    s.add_argument("--jobs", type=_positive_int, default=None, help="parallel synthesis runs (default: cores)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_paper)

    # the board commands live beside the board gateware and host driver (lmul.boards.cli)
    add_board_commands(sub, size=_size, positive_int=_positive_int, seed=_seed, check_out_dir=check_out_dir,
                       pipeline=_pipeline)

    # standard-cell area, timing and activity-based energy per operation (issue 15)
    from lmul.energy import add_parser as add_energy_parser
    add_energy_parser(sub)

    from lmul.scripts.synth import POINT_DESIGNS, TARGETS
    s = sub.add_parser("synth", help="synthesise one design point (cached)")
    s.add_argument("--design", required=True, choices=POINT_DESIGNS)
    s.add_argument("--format", default="e4m3")
    s.add_argument("--target", action="append", choices=TARGETS, help="repeatable (default: generic)")
    s.add_argument("--latency", type=int, choices=[0, 1, 2], default=0)
    s.add_argument("--pipeline", type=_pipeline, default=0,
                   help="MAC PE / array / dot unit: extra register stages (default 0)")
    s.add_argument("--size", type=_size, default=(4, 4), help=f"array size RxC (sides 1..{MAX_SIDE})")
    s.add_argument("--k-max", type=_k_max, default=256, help=f"longest dot product (at most {MAX_K})")
    s.add_argument("--kind", choices=PRODUCT_KINDS.names(), default="lmul", help="MAC product kind (default lmul)")
    s.add_argument("--acc", default="kulisch", help="MAC accumulator (default kulisch)")
    s.add_argument("--out-format", default="fp32", help="MAC/array result format (default fp32)")
    _add_dot_options(s)
    s.add_argument("--width", type=_positive_int, default=8, help="int_multiplier / int_adder width")
    s.add_argument("--jobs", type=_positive_int, default=None, help="parallel tool runs (default: cores)")
    s.add_argument("--scheduler", metavar="ADDRESS", type=_scheduler, default=None,
                   help="run the tool jobs on this Dask distributed scheduler (tcp://host:8786); same cache")
    s.set_defaults(func=cmd_synth, target=None)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "synth" and not args.target:
        args.target = ["generic"]
    try:
        return int(args.func(args) or 0)
    except FormatError as exc:
        print(f"lmul: error: {exc}", file=sys.stderr)
        return 2
    except LinkError as exc:
        print(f"lmul: link error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
