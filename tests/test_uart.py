"""UART transmitter/receiver in the Amaranth simulator: loopback, framing errors, overflow."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator
from streams import get, put

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
        # idle gaps between bytes: geometric, about 1.5 bit times (1.5 * divisor cycles) on average
        await put(ctx, tx.i, data, rng=np.random.default_rng(divisor + 100), stall=1 - 1 / (1.5 * divisor))

    async def receive(ctx) -> None:
        # slow consumer (ready in 20 % of the cycles), still within a byte time
        got.extend(await get(ctx, rx.o, len(data), rng=np.random.default_rng(divisor + 200), stall=0.8))

    async def watch(ctx) -> None:
        async for _, _, frame_error, overflow in ctx.tick().sample(rx.frame_error, rx.overflow):
            if frame_error or overflow:
                errors.append("error flag")

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(send)
    sim.add_testbench(receive)
    sim.add_testbench(watch, background=True)
    sim.run()
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
        received.extend(await get(ctx, rx.o, 1))
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
    with pytest.raises(TypeError, match="divisor"):
        UARTRx(2.5)  # type: ignore[arg-type]
