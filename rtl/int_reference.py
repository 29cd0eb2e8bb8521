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

__all__ = ["IntAdder", "IntMultiplier"]


class _IntOp(wiring.Component):
    out_extra: int

    def __init__(self, width: int, latency: int = 0) -> None:
        if not isinstance(width, int) or not 1 <= width <= 256:
            raise FormatError(f"integer width must be in 1..256, got {width!r}")
        if latency not in (0, 1, 2):
            raise FormatError(f"latency must be 0, 1 or 2, got {latency!r}")
        self.width, self.latency = width, latency
        super().__init__({"a": In(width), "b": In(width), "o": Out(self.out_width(width))})

    @staticmethod
    def out_width(width: int) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def op(self, a: Signal, b: Signal):
        raise NotImplementedError

    def elaborate(self, platform: object) -> Module:
        m = Module()
        a, b = self.a, self.b
        if self.latency == 2:
            a_r, b_r = Signal.like(a), Signal.like(b)
            m.d.sync += [a_r.eq(a), b_r.eq(b)]
            a, b = a_r, b_r
        dom = m.d.sync if self.latency >= 1 else m.d.comb
        dom += self.o.eq(self.op(a, b))
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
