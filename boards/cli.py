"""The board commands of the ``lmul`` CLI: ``lmul build`` (bitstream, optionally programmed),
``lmul program`` (an existing bitstream) and ``lmul board`` (a checked random matmul on a board, its
simulated RTL or the golden device model).

Everything is checked before the (long) tool runs: the configuration (``LinkConfig``), whether the
array can fit the board (``targets.check_fit``: refused in seconds), the output folder, and with
``--program`` whether openFPGALoader is there (``targets.find_loader``). Bitstreams go to
``lmul.build_root() / "boards" / BOARD`` unless ``--out`` says otherwise.

``lmul.cli.build_parser`` registers them with ``add_commands``; argument errors and
``FormatError`` / ``LinkError`` from the command bodies are reported by ``lmul.cli.main`` (one
line, exit code 2 / 1). The heavy imports (gateware, toolchain, simulator, golden model) happen
inside the commands, so building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from lmul.arith import PRODUCT_KINDS
from lmul.formats import FormatError

__all__ = ["add_commands", "board_options", "cmd_board", "cmd_build", "cmd_program"]

BOARD_NAMES = ["icebreaker", "ulx3s"]     # keys of lmul.boards.targets.BOARDS (not imported: it loads the toolchain)
MAX_MATMUL_ELEMENTS = 1 << 25             # lmul board: m*k + k*n + m*n (~32M; float64 copies stay below ~2 GiB)


def _board(args: argparse.Namespace) -> object:
    """The chosen board with the command line's overrides (validated: ``FormatError`` for bad values)."""
    from lmul.boards.targets import BOARDS, configure
    return configure(BOARDS[args.board], fmt=args.format, kind=args.kind, size=args.size, m_max=args.m_max,
                     k_max=args.k_max, n_max=args.n_max, acc=args.acc, pipeline=args.pipeline)


def cmd_build(args: argparse.Namespace) -> int:
    """Bitstream for a board; prints utilisation and Fmax against the core clock."""
    import json

    from lmul import build_root
    from lmul.boards.targets import build, check_fit, find_loader, program
    board = _board(args)
    check_fit(board)                               # seconds, not hours: refuse what cannot fit
    if args.program:
        find_loader()                              # before building, not after
    out = args.check_out_dir(args.out or build_root() / "boards" / board.name)
    c = board.cfg
    print(f"building {board.name}: {c.fmt.name} {c.kind} {c.rows}x{c.cols} array, acc {c.acc}, "
          f"pipeline {board.pipeline}, "
          f"m/k/n max {c.m_max}/{c.k_max}/{c.n_max}, core clock {board.core_hz / 1e6:g} MHz, "
          f"{board.baud} baud -> {out}", file=sys.stderr, flush=True)
    res = build(board, out, seed=args.seed)
    (out / "build.json").write_text(json.dumps(res, indent=1))
    for k, v in res["utilization"].items():
        print(f"  {k:16} {v['used']:6} / {v['available']:6}  ({100 * v['used'] / v['available']:.0f} %)")
    met = res["timing_met"]
    for clk, f in res["fmax_mhz"].items():
        print(f"  Fmax {clk}: {f} MHz (needs {res['constraint_mhz'][clk]:g})")
    print(f"timing {'met' if met else 'NOT met'} (core clock {res['target_mhz']:g} MHz); bitstream {res['bitstream']}")
    if args.program:
        if not met:
            print("error: not programming a bitstream that fails timing", file=sys.stderr)
            return 1
        program(board, res["bitstream"])
        print(f"programmed the {board.name} with {res['bitstream']}")
    return 0 if met else 1


def cmd_program(args: argparse.Namespace) -> int:
    """Load an existing bitstream onto a board with openFPGALoader."""
    import json

    from lmul.boards.targets import BOARDS, find_loader, program
    board = BOARDS[args.board]
    bit = Path(args.bitstream)
    if not bit.is_file():
        raise FormatError(f"bitstream {bit}: no such file")
    if bit.suffix != f".{board.bitstream}":
        raise FormatError(f"bitstream {bit}: the {board.name} takes a .{board.bitstream} file "
                          f"(lmul build --board {board.name} writes top.{board.bitstream})")
    info = bit.with_name("build.json")              # written by `lmul build` beside the bitstream
    if info.is_file():
        try:
            res = json.loads(info.read_text())
        except ValueError:
            res = {}
        if res.get("board", board.name) != board.name:
            raise FormatError(f"bitstream {bit} was built for the {res['board']} ({info}), not the {board.name}")
        if res.get("timing_met") is False:
            raise FormatError(f"bitstream {bit} failed timing ({info}); not programming it")
    find_loader()
    program(board, str(bit))
    print(f"programmed the {board.name} with {bit}")
    return 0


def cmd_board(args: argparse.Namespace) -> int:
    """Run a random matmul on a board (serial port), its RTL in simulation, or the golden model."""
    import numpy as np

    from lmul.boards.host import LMulDevice, SerialTransport
    from lmul.formats import decode, encode
    board = _board(args)
    if args.baud and not args.port:
        raise FormatError("--baud applies to a serial port (--port) only")
    if args.pipeline is not None and not args.sim:
        raise FormatError("--pipeline applies to the simulated RTL (--sim) only: a board runs what it was built with "
                          "and the golden model has no pipeline")
    elems = args.m * args.k + args.k * args.n + args.m * args.n
    if elems > MAX_MATMUL_ELEMENTS:
        raise FormatError(f"--m {args.m} --k {args.k} --n {args.n}: A, B and C hold {elems:,} elements, more than "
                          f"the {MAX_MATMUL_ELEMENTS:,} this check runs with (each is kept in float64 several times)")
    if args.port:
        transport = SerialTransport(args.port, args.baud or board.baud)
    elif args.sim:
        from lmul.boards.board_sim import SimulatedBoard
        transport = SimulatedBoard(board.cfg, pipeline=board.pipeline)
    else:
        from lmul.boards.device_model import ModelTransport
        transport = ModelTransport(board.cfg)
    dev = LMulDevice(transport)
    st = dev.status()
    cfg = st.config
    # a real board answers with the configuration it was built for: options given here must agree
    c0 = board.cfg
    asked = [("format", args.format, c0.fmt.same_as(cfg.fmt)), ("kind", args.kind, c0.kind == cfg.kind),
             ("acc", args.acc, c0.acc == cfg.acc), ("size", args.size, (c0.rows, c0.cols) == (cfg.rows, cfg.cols)),
             *((f"{d}-max", getattr(args, f"{d}_max"), getattr(c0, f"{d}_max") == getattr(cfg, f"{d}_max"))
               for d in "mkn")]
    differ = [name for name, given, same in asked if given is not None and not same]
    if differ:
        raise FormatError(f"the device was built for {cfg.summary()}; it does not match --{', --'.join(differ)}")
    print(f"device: {cfg.summary()}, out {cfg.out_fmt.name}; frames ok {st.frames_ok}, rejected {st.frames_bad}")
    rng = np.random.default_rng(args.seed)
    scale = 2.0 ** np.floor(np.log2(cfg.fmt.max_value / 8))
    a_f = rng.standard_normal((args.m, args.k)) * min(1.0, scale)
    b_f = rng.standard_normal((args.k, args.n)) * min(1.0, scale)
    a, b = encode(cfg.fmt, a_f), encode(cfg.fmt, b_f)
    c = dev.matmul(a, b, check=True)
    ref = decode(cfg.fmt, a).astype(np.float64) @ decode(cfg.fmt, b).astype(np.float64)
    got = decode(cfg.out_fmt, c).astype(np.float64)
    rel = np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-300)
    print(f"C = A @ B ({args.m}x{args.k} @ {args.k}x{args.n}): bit-exact with the golden model; "
          f"relative error vs float64 on the same inputs {100 * rel:.2f} %; "
          f"{dev.stats.requests} requests, {dev.stats.retries} resent")
    return 0


def board_options(s: argparse.ArgumentParser, size: Callable[[str], tuple[int, int]],
                  positive_int: Callable[[str], int], pipeline: Callable[[str], int] = int) -> None:
    """The options ``build`` and ``board`` share: which board and what it is built for. ``--acc`` is
    checked by the ``lmul.arith`` registry when the command runs (one error line naming the allowed
    values, exit code 2)."""
    s.add_argument("--board", choices=BOARD_NAMES, default="icebreaker", help="target board")
    s.add_argument("--format", help="element format (default: the board's, e4m3)")
    s.add_argument("--kind", choices=PRODUCT_KINDS.names(), help="product kind (default: the board's, lmul)")
    s.add_argument("--acc", help="accumulator (default: the board's, kulisch)")
    s.add_argument("--size", type=size, help="array RxC (default: the board's)")
    s.add_argument("--pipeline", type=pipeline, help="extra register stages of the array (default: the board's, "
                   "0; lmul board: --sim only); results do not change")
    for d in "mkn":
        s.add_argument(f"--{d}-max", type=positive_int, help=f"largest {d.upper()} per request (at most 65535: "
                       "the protocol's 16-bit fields and frames)")


def add_commands(sub: argparse._SubParsersAction, *, size: Callable[[str], tuple[int, int]],
                 positive_int: Callable[[str], int], seed: Callable[[str], int] = int,
                 check_out_dir: Callable[[str | Path], Path] | None = None,
                 pipeline: Callable[[str], int] = int) -> None:
    """Register ``build``, ``program`` and ``board`` on the ``lmul`` sub-command parser ``sub``;
    ``size``, ``positive_int`` and ``seed`` are the CLI's argument types and ``check_out_dir`` its output
    folder check (passed in: this module does not import ``lmul.cli``, which imports it)."""
    s = sub.add_parser("build", help="bitstream for an FPGA board (YoWASP tools); prints utilisation and Fmax")
    board_options(s, size, positive_int, pipeline)
    s.add_argument("--out", help="build folder (default: BUILD/boards/BOARD; BUILD is $LMUL_BUILD, else ./build)")
    s.add_argument("--seed", type=seed, default=1, help="nextpnr seed (default 1)")
    s.add_argument("--program", action="store_true",
                   help="load the bitstream with openFPGALoader (checked to be there before building)")
    s.set_defaults(func=cmd_build, check_out_dir=check_out_dir or Path)

    s = sub.add_parser("program", help="load an existing bitstream onto a board with openFPGALoader")
    s.add_argument("--board", choices=BOARD_NAMES, default="icebreaker", help="target board")
    s.add_argument("bitstream", help="bitstream file (lmul build: BUILD/boards/BOARD/top.bin or top.bit)")
    s.set_defaults(func=cmd_program)

    s = sub.add_parser("board", help="run a checked random matmul on a board, its simulation, or the golden model")
    board_options(s, size, positive_int, pipeline)
    where = s.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port of a programmed board (e.g. /dev/ttyUSB1)")
    where.add_argument("--sim", action="store_true", help="the board RTL in the Amaranth simulator (slow)")
    s.add_argument("--baud", type=positive_int, help="serial rate (default: the board's, 115200)")
    for d, v in zip("mkn", (8, 16, 8), strict=True):
        s.add_argument(f"--{d}", type=positive_int, default=v, help=f"{d.upper()} (default {v})")
    s.add_argument("--seed", type=seed, default=0, help="random seed of the matrices (default 0)")
    s.set_defaults(func=cmd_board)
