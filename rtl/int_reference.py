"""Integer reference blocks for the cost comparison (twin: ``lmul.sim.int_reference``).

``IntMultiplier(width)``: ``o = a * b`` (2·width bits, unsigned) — the significand multiplier an
exact FP multiplier contains. ``IntAdder(width)``: ``o = a + b`` (width+1 bits) — the adder an
L-Mul PE is built around. ``latency`` 0 (combinational), 1 (output register) or 2 (input and
output registers), as for the multipliers.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lmul.formats import FormatError
from lmul.rtl.latency import check_latency, drive_output, register_inputs

__all__ = ["IntAdder", "IntMultiplier"]


class _IntOp(wiring.Component):
    def __init__(self, width: int, latency: int = 0) -> None:
        if not isinstance(width, int) or not 1 <= width <= 256:
            raise FormatError(f"integer width must be in 1..256, got {width!r}")
        self.width, self.latency = width, check_latency(type(self).__name__, latency)
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
    @staticmethod
    def out_width(width: int) -> int:
        return 2 * width

    def op(self, a: Signal, b: Signal):
        return a * b


class IntAdder(_IntOp):
    @staticmethod
    def out_width(width: int) -> int:
        return width + 1

    def op(self, a: Signal, b: Signal):
        return a + b
