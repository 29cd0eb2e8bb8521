"""UART transmitter/receiver in the Amaranth simulator: loopback, framing errors, overflow."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from lmul.formats import FormatError
from lmul.rtl.uart import UARTRx, UARTTx


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_loopback_random_bytes_with_backpressure(divisor: int) -> None:
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor)
    m.submodules.rx = rx = UARTRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    rng = np.random.default_rng(divisor)
    data = [int(v) for v in rng.integers(0, 256, 40)] + [0x00, 0xFF, 0x55, 0xAA]
    got: list[int] = []
    errors = []

    async def send(ctx) -> None:
        for byte in data:
            ctx.set(tx.i.payload, byte)
            ctx.set(tx.i.valid, 1)
            await ctx.tick().until(tx.i.ready)
            ctx.set(tx.i.valid, 0)
            for _ in range(int(rng.integers(0, 3 * divisor))):       # idle gaps between bytes
                await ctx.tick()

    async def receive(ctx) -> None:
        while len(got) < len(data):
            ctx.set(rx.o.ready, int(rng.random() < 0.2))              # slow consumer, within a byte time
            if ctx.get(rx.o.valid) and ctx.get(rx.o.ready):
                got.append(ctx.get(rx.o.payload))
            if ctx.get(rx.frame_error) or ctx.get(rx.overflow):
                errors.append("error flag")
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(send)
    sim.add_testbench(receive)
    sim.run_until(1e-6 * divisor * 10 * len(data) * 3)
    assert got == data
    assert not errors


def test_frame_error_glitch_and_overflow() -> None:
    divisor = 8
    rx = UARTRx(divisor)
    flags: dict[str, int] = {"frame_error": 0, "overflow": 0}
    received: list[int] = []

    def frame(byte: int, stop: int = 1) -> list[int]:
        return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]

    async def tb(ctx) -> None:
        async def watch(n: int) -> None:
            for _ in range(n):
                await ctx.tick()
                flags["frame_error"] += ctx.get(rx.frame_error)
                flags["overflow"] += ctx.get(rx.overflow)

        ctx.set(rx.o.ready, 0)
        ctx.set(rx.rx, 1)
        await watch(20)
        for bit in [*frame(0x3C, stop=0), 1, 1]:        # bad stop bit: dropped, frame_error
            ctx.set(rx.rx, bit)
            await watch(divisor)
        assert flags["frame_error"] == 1 and not ctx.get(rx.o.valid)
        ctx.set(rx.rx, 0)                                # a glitch shorter than half a bit
        await watch(2)
        ctx.set(rx.rx, 1)
        await watch(3 * divisor)
        assert not ctx.get(rx.o.valid)
        for byte in (0xA5, 0x5A):                        # second byte arrives while the first waits
            for bit in [*frame(byte), 1]:
                ctx.set(rx.rx, bit)
                await watch(divisor)
        assert flags["overflow"] == 1
        assert ctx.get(rx.o.valid) and ctx.get(rx.o.payload) == 0xA5   # the first byte is kept
        ctx.set(rx.o.ready, 1)
        await ctx.tick()
        received.append(0xA5)
        ctx.set(rx.o.ready, 0)
        for bit in [*frame(0x81), 1]:
            ctx.set(rx.rx, bit)
            await watch(divisor)
        assert ctx.get(rx.o.valid) and ctx.get(rx.o.payload) == 0x81

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert received == [0xA5]


def test_bad_divisor() -> None:
    with pytest.raises(FormatError, match="divisor"):
        UARTTx(3)
    with pytest.raises(FormatError, match="divisor"):
        UARTRx(2.5)  # type: ignore[arg-type]
