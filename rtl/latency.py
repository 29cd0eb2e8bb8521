"""Pipeline-latency plumbing shared by the combinational datapath blocks.

``latency`` 0: combinational; 1: output register; 2: input and output registers.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value

from lmul.formats import FormatError

__all__ = ["check_latency", "drive_output", "register_inputs"]


def check_latency(owner: str, latency: int) -> int:
    if latency not in (0, 1, 2):
        raise FormatError(f"{owner} latency must be 0, 1 or 2, got {latency!r}")
    return latency


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
