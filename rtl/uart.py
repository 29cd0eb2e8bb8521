"""8N1 UART transmitter and receiver with ``lib.stream`` interfaces (for the board host link;
no golden twin: the loopback test checks one against the other)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from lmul.errors import check_int

__all__ = ["UARTRx", "UARTTx"]


class UARTTx(wiring.Component):
    """8N1 transmitter: bytes from stream ``i`` go out on ``tx``.

    Frame: idle high, one start bit (low), 8 data bits LSB first, one stop bit (high);
    ``divisor`` clock cycles per bit, so the bit rate is ``f_clk / divisor``.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, >= 4 (``ParameterError`` otherwise; ``TypeError`` if not an int).

    Attributes
    ----------
    i : In(stream.Signature(8))
        Bytes to send. ``i.ready`` is high exactly when the transmitter is idle (no frame in
        progress); a byte is taken in a cycle with ``i.valid & i.ready``.
    tx : Out(1, init=1)
        Serial line, idle high.
    latency : int
        1: the start bit begins on ``tx`` one cycle after the byte's transfer on ``i``; the
        frame then lasts ``10 * divisor`` cycles (stop bit included).

    Throughput one byte per ``10 * divisor + 1`` cycles with ``i.valid`` held high (``i.ready``
    returns in the cycle after the stop bit ends, so back-to-back frames have a stop bit one
    cycle longer). Reset aborts a frame in progress and returns ``tx`` to idle (high).
    """

    latency = 1

    def __init__(self, divisor: int) -> None:
        self.divisor = check_int("UART divisor", divisor, 4)
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
    """8N1 receiver: frames on ``rx`` become bytes on stream ``o``.

    ``rx`` passes a two-flip-flop synchroniser; a falling edge starts a frame, the start bit is
    re-checked at its middle (glitches are ignored), data bits are sampled at their middles and
    the stop bit must be high, else the byte is dropped and ``frame_error`` pulses. A received
    byte waits on stream ``o``; if it is not taken before the next byte completes, that next
    byte is dropped and ``overflow`` pulses (nothing is overwritten silently). The bit rate is
    ``f_clk / divisor``.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, >= 4 (``ParameterError`` otherwise; ``TypeError`` if not an int).

    Attributes
    ----------
    rx : In(1, init=1)
        Serial line (asynchronous; idle high).
    o : Out(stream.Signature(8))
        Received bytes; ``o.valid`` stays high until ``o.ready`` takes the byte.
    frame_error : Out(1)
        One-cycle pulse: a frame's stop bit was low; its byte was dropped.
    overflow : Out(1)
        One-cycle pulse: a byte completed while the previous one still waited on ``o``; the new
        byte was dropped.
    latency : int
        ``9 * divisor + divisor // 2 + 3`` cycles from the first cycle ``rx`` reads low (the
        start bit's leading edge) to ``o.valid`` (or the ``frame_error``/``overflow`` pulse):
        9.5 bit times to the middle of the stop bit, 2 synchroniser cycles and 1 to start.

    Throughput one byte per frame (10 bit times) at the transmitter's bit rate: the receiver
    re-arms at the middle of the stop bit. Reset drops a frame in progress and an untaken byte.
    """

    def __init__(self, divisor: int) -> None:
        self.divisor = check_int("UART divisor", divisor, 4)
        self.latency = 9 * self.divisor + self.divisor // 2 + 3
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
