"""Integer reference blocks for the cost comparison (golden twin: ``lmul.sim.int_reference``):
the significand multiplier an exact FP multiplier contains and the adder an L-Mul PE is built
around."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lmul.errors import check_int
from lmul.rtl.latency import check_latency, drive_output, register_inputs

__all__ = ["IntAdder", "IntMultiplier"]


class _IntOp(wiring.Component):
    """Two unsigned ``width``-bit operands, one result; shared by ``IntMultiplier``/``IntAdder``."""

    def __init__(self, width: int, latency: int = 0) -> None:
        self.width = check_int(f"{type(self).__name__} integer width", width, 1, 256)
        self.latency = check_latency(type(self).__name__, latency)
        super().__init__({"a": In(width), "b": In(width), "o": Out(self.out_width(width))})

    @staticmethod
    def out_width(width: int) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def op(self, a: Signal, b: Signal):
        raise NotImplementedError

    def elaborate(self, platform: object) -> Module:
        m = Module()
        a, b = register_inputs(m, self.latency, self.a, self.b)
        drive_output(m, self.latency, self.o, self.op(a, b))
        return m


class IntMultiplier(_IntOp):
    """Unsigned integer multiplier ``o = a * b`` — the significand multiplier an exact FP
    multiplier contains.

    Parameters
    ----------
    width : int
        Operand width, 1..256 (``ParameterError`` otherwise; ``TypeError`` if not an int).
    latency : int
        Pipeline registers: 0 (combinational), 1 (output register) or 2 (input and output
        registers), as for the multipliers.

    Attributes
    ----------
    a : In(width)
        First operand, unsigned.
    b : In(width)
        Second operand, unsigned.
    o : Out(2*width)
        ``a * b``, unsigned, never truncated.
    latency : int
        Clock cycles from ``a``/``b`` to ``o`` (the ``latency`` parameter; 0: same cycle).

    Throughput one operand pair per cycle at every latency (no handshake, no stall). Reset
    clears the pipeline registers to zero; there is no other state.
    """

    @staticmethod
    def out_width(width: int) -> int:
        return 2 * width

    def op(self, a: Signal, b: Signal):
        return a * b


class IntAdder(_IntOp):
    """Unsigned integer adder ``o = a + b`` — the adder an L-Mul PE is built around.

    Parameters
    ----------
    width : int
        Operand width, 1..256 (``ParameterError`` otherwise; ``TypeError`` if not an int).
    latency : int
        Pipeline registers: 0 (combinational), 1 (output register) or 2 (input and output
        registers), as for the multipliers.

    Attributes
    ----------
    a : In(width)
        First operand, unsigned.
    b : In(width)
        Second operand, unsigned.
    o : Out(width + 1)
        ``a + b``, unsigned, carry included.
    latency : int
        Clock cycles from ``a``/``b`` to ``o`` (the ``latency`` parameter; 0: same cycle).

    Throughput one operand pair per cycle at every latency (no handshake, no stall). Reset
    clears the pipeline registers to zero; there is no other state.
    """

    @staticmethod
    def out_width(width: int) -> int:
        return width + 1

    def op(self, a: Signal, b: Signal):
        return a + b
