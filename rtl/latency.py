"""Pipeline-latency plumbing shared by the combinational datapath blocks (``LMulPE``,
``FPMultiplier``, ``IntMultiplier``, ``IntAdder``).

A block's ``latency`` parameter is 0 (combinational), 1 or 2: the number of clock cycles from
operands on the input ports to the result on the output ports, one register stage per cycle.
Where the stages sit is the block's choice, documented in its class docstring:
``IntMultiplier``/``IntAdder`` register the output (1) or the inputs and the output (2)
(``register_inputs``/``drive_output``); ``LMulPE`` and the rounded ``FPMultiplier`` cut their
longest internal paths (``stage``), so that each stage is shorter than the whole datapath.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value, ValueCastable

from lmul.errors import check_int

__all__ = ["LATENCIES", "REPLICA", "REPLICA_ATTR", "REPLICA_YOSYS", "check_latency", "drive_output", "marks_replicas",
           "register_inputs", "stage"]

#: The pipeline depths a datapath block supports.
LATENCIES = (0, 1, 2)

#: Attributes of a register that must stay a separate flip-flop although others compute the same
#: value (per-PE copies of a control bit in an array): Yosys' ``opt_merge`` would fold identical
#: flip-flops into one that drives them all across the chip. Our synthesis flows mark the
#: flip-flops behind signals with this attribute ``keep`` (``REPLICA_YOSYS``).
REPLICA_ATTR = "lmul_replica"
REPLICA = {REPLICA_ATTR: 1}

#: Yosys commands to run right after reading a design: the flip-flops behind signals marked
#: ``REPLICA`` get ``keep``, so ``opt_merge`` leaves each copy where the design put it.
REPLICA_YOSYS = f"proc\nsetattr -set keep 1 a:{REPLICA_ATTR} %ci1:+$dff[Q] t:$dff %i\n"


def marks_replicas(verilog_text: str) -> bool:
    """Whether Verilog converted from our gateware has registers marked ``REPLICA``."""
    return REPLICA_ATTR in verilog_text


def check_latency(owner: str, latency: object) -> int:
    """``latency`` if it is 0, 1 or 2.

    Raises ``TypeError`` when it is not an int and ``ParameterError`` (a ``FormatError``) naming
    ``{owner} latency`` and the allowed values 0..2 otherwise.
    """
    return check_int(f"{owner} latency", latency, LATENCIES[0], LATENCIES[-1])


def register_inputs(m: Module, latency: int, a: Value, b: Value) -> tuple[Value, Value]:
    """The operands as the datapath sees them: registered when ``latency == 2``."""
    if latency != 2:
        return a, b
    a_r, b_r = Signal.like(a), Signal.like(b)
    m.d.sync += [a_r.eq(a), b_r.eq(b)]
    return a_r, b_r


def drive_output(m: Module, latency: int, target: Value, value: Value) -> None:
    """``target`` follows ``value``, through a register when ``latency >= 1``."""
    if latency >= 1:
        m.d.sync += target.eq(value)
    else:
        m.d.comb += target.eq(value)


def stage(m: Module, enabled: bool, name: str, *values: Value | ValueCastable) -> tuple:
    """``values`` through one pipeline register each (``sync``, reset 0, named ``{name}_{i}``)
    when ``enabled``, else unchanged: one cut of a datapath's pipeline."""
    if not enabled:
        return values
    regs = tuple(Signal.like(v, name=f"{name}_{i}") for i, v in enumerate(values))
    m.d.sync += [r.eq(v) for r, v in zip(regs, values, strict=True)]
    return regs
