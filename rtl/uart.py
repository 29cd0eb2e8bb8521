"""8N1 UART transmitter and receiver with ``lib.stream`` interfaces (for the board host link).

``UARTTx(divisor)``: bytes from stream ``i`` go out on ``tx`` (idle high), one start bit, 8 data
bits LSB first, one stop bit, ``divisor`` clock cycles per bit. ``i.ready`` is high when idle.

``UARTRx(divisor)``: ``rx`` passes a two-flip-flop synchroniser; a falling edge starts a frame,
the start bit is re-checked at its middle (glitches are ignored), data bits are sampled at their
middles and the stop bit must be high, else the byte is dropped and ``frame_error`` pulses. A
received byte waits on stream ``o``; if it is not taken before the next byte completes, that
next byte is dropped and ``overflow`` pulses (nothing is overwritten silently).
``divisor`` >= 4; the bit rate is ``f_clk / divisor``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from lmul.formats import FormatError

__all__ = ["UARTRx", "UARTTx"]


def _check_divisor(divisor: int) -> None:
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 4:
        raise FormatError(f"UART divisor must be an int >= 4, got {divisor!r}")


class UARTTx(wiring.Component):
    def __init__(self, divisor: int) -> None:
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        shreg = Signal(10, init=0x3FF)          # stop | data | start, shifted out LSB first
        bits_left = Signal(range(11))
        timer = Signal(range(self.divisor))
        m.d.comb += [self.tx.eq(shreg[0]), self.i.ready.eq(bits_left == 0)]
        with m.If(bits_left == 0):
            with m.If(self.i.valid):
                m.d.sync += [shreg.eq(Cat(0, self.i.payload, 1)), bits_left.eq(10), timer.eq(self.divisor - 1)]
        with m.Else():
            with m.If(timer == 0):
                m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), bits_left.eq(bits_left - 1),
                             timer.eq(self.divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m


class UARTRx(wiring.Component):
    def __init__(self, divisor: int) -> None:
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "o": Out(stream.Signature(8)),
                          "frame_error": Out(1), "overflow": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        d = self.divisor
        sync = Signal(2, init=0b11)
        m.d.sync += sync.eq(Cat(self.rx, sync[0]))
        rx = sync[1]
        timer = Signal(range(d + d // 2 + 1))
        shreg = Signal(8)
        nbits = Signal(range(9))
        m.d.sync += [self.frame_error.eq(0), self.overflow.eq(0)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"              # glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(d - 1), nbits.eq(0)]
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), nbits.eq(nbits + 1), timer.eq(d - 1)]
                    with m.If(nbits == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(~rx):
                        m.d.sync += self.frame_error.eq(1)
                    with m.Elif(self.o.valid & ~self.o.ready):
                        m.d.sync += self.overflow.eq(1)
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        return m
