"""The ``lmul`` command line (also ``python -m lmul``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lmul import __version__
from lmul.formats import NAMED_FORMATS, FormatError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


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
    return r, c


def cmd_formats(args: argparse.Namespace) -> int:
    for fmt in NAMED_FORMATS.values():
        print(fmt.describe())
    return 0


def cmd_numerics(args: argparse.Namespace) -> int:
    from lmul import numerics
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
    from lmul.designs import DESIGNS, DesignParams, export_design
    from lmul.formats import get_format

    formats = [get_format(f) for f in (args.format or [n for n in NAMED_FORMATS if n != "fp32"])]
    designs = args.design or ["lmul_pe", "fp_multiplier", "fp_multiplier_exact"]
    if args.design is None and args.all:
        designs = list(DESIGNS)
    params = DesignParams(latency=args.latency, rows=args.size[0], cols=args.size[1], k_max=args.k_max,
                          out_fmt=args.out_format)
    get_format(args.out_format)
    out = Path(args.out)
    jobs = [(d, f) for f in formats for d in designs]
    for i, (d, f) in enumerate(jobs, 1):
        path = export_design(d, f, params, out)
        print(f"[{i}/{len(jobs)}] {path}", file=sys.stderr)
    print(f"exported {len(jobs)} Verilog modules into {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The main job. For now: the numerics comparison (synthesis reports come later)."""
    args.out = args.out or "build/report"
    return cmd_numerics(args)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lmul", description="L-Mul in hardware: golden models, RTL, reports.")
    p.add_argument("--version", action="version", version=f"lmul {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    s = sub.add_parser("formats", help="list the named minifloat formats")
    s.set_defaults(func=cmd_formats)

    from lmul.designs import DESIGNS
    s = sub.add_parser("export", help="write Verilog of every block (default: all designs and formats)")
    s.add_argument("--design", action="append", choices=list(DESIGNS), help="design (repeatable)")
    s.add_argument("--format", action="append", help="format name or ExMy spec (repeatable)")
    s.add_argument("--all", action="store_true", help="all designs (default: the three multipliers)")
    s.add_argument("--latency", type=int, choices=[0, 1, 2], default=0, help="multiplier pipeline registers")
    s.add_argument("--size", type=_size, default=(4, 4), help="array size RxC (default 4x4)")
    s.add_argument("--k-max", type=_positive_int, default=256, help="longest dot product (accumulator width)")
    s.add_argument("--out-format", default="fp32", help="MAC/array result format (default fp32)")
    s.add_argument("--out", default="build/verilog", help="output folder (default build/verilog)")
    s.set_defaults(func=cmd_export)

    for name, func, hlp in (("numerics", cmd_numerics, "print the L-Mul vs FP8 precision comparison"),
                            ("report", cmd_report, "the main job: full report into a folder")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("--samples", type=_positive_int, default=1_000_000, help="random pairs (default 1e6)")
        s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        s.add_argument("--out", help="also write numerics.md/.json into this folder")
        s.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
        s.set_defaults(func=func)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FormatError as exc:
        print(f"lmul: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
