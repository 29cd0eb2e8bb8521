"""Pipeline-latency plumbing shared by the combinational datapath blocks (``LMulPE``,
``FPMultiplier``, ``IntMultiplier``, ``IntAdder``).

A block's ``latency`` parameter is 0 (combinational), 1 (output register) or 2 (input and
output registers); it is the number of clock cycles from operands on the input ports to the
result on the output ports.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value

from lmul.errors import check_int

__all__ = ["LATENCIES", "check_latency", "drive_output", "register_inputs"]

#: The pipeline depths a datapath block supports.
LATENCIES = (0, 1, 2)


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
