"""A ``MatmulBoard`` (the board gateware) in the Amaranth simulator behind a simulated serial line,
as a host transport.

``SimulatedBoard(cfg, divisor=4, timeout_cycles=...)`` offers the transport interface of
``lmul.boards.host`` (``write``, ``read``, ``byte_time``): written bytes are sent bit by bit (8N1,
``divisor`` cycles per bit) into the design's ``rx`` pin; the design's ``tx`` pin is sampled at
bit middles and decoded into bytes. Time is simulated time with a 1 MHz clock, so a host's
timeouts are in simulated seconds. ``idle(seconds)`` lets the line rest (the device's idle
timeout fires). The line itself is perfect; faults are injected by wrapping the transport.
"""

from __future__ import annotations

from collections import deque

from amaranth.sim import Simulator

from lmul.boards.matmul_board import MatmulBoard
from lmul.boards.protocol import LinkConfig

__all__ = ["SimulatedBoard"]

CLOCK_HZ = 1_000_000


async def _ticks(ctx, n: int) -> None:
    for _ in range(n):      # not ``tick().repeat``: its async generator warns when the sim is dropped mid-wait
        await ctx.tick()


class SimulatedBoard:
    def __init__(self, cfg: LinkConfig, divisor: int = 4, timeout_cycles: int | None = None,
                 pipeline: int = 0) -> None:
        self.cfg, self.divisor = cfg, divisor
        self.timeout_cycles = timeout_cycles if timeout_cycles is not None else 8 * 10 * divisor
        self.dut = MatmulBoard(cfg, divisor, self.timeout_cycles, pipeline)
        self.to_dut: deque[int] = deque()
        self.from_dut = bytearray()
        self._now = 0.0
        self.sim = Simulator(self.dut)
        self.sim.add_clock(1 / CLOCK_HZ)
        self.sim.add_testbench(self._drive, background=True)
        self.sim.add_testbench(self._sample, background=True)

    @property
    def byte_time(self) -> float:
        """Seconds per byte on the line (10 bits)."""
        return 10 * self.divisor / CLOCK_HZ

    async def _drive(self, ctx) -> None:
        d = self.divisor
        while True:
            if not self.to_dut:
                await _ticks(ctx, d)                # poll once per bit time
                continue
            byte = self.to_dut.popleft()
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                ctx.set(self.dut.rx, bit)
                await _ticks(ctx, d)

    async def _sample(self, ctx) -> None:
        d = self.divisor
        while True:
            await ctx.negedge(self.dut.tx)
            await _ticks(ctx, d // 2 + 1)            # middle of the start bit
            if ctx.get(self.dut.tx):
                continue
            byte = 0
            for i in range(8):
                await _ticks(ctx, d)
                byte |= ctx.get(self.dut.tx) << i
            await _ticks(ctx, d)
            if not ctx.get(self.dut.tx):
                raise AssertionError("simulated board sent a byte without a stop bit")
            self.from_dut.append(byte)

    def _run(self, seconds: float) -> None:
        self.sim.run_until(self._now + seconds)
        self._now += seconds

    def write(self, data: bytes) -> None:
        self.to_dut.extend(data)

    def read(self, timeout: float) -> bytes:
        """Bytes sent by the board so far, waiting up to ``timeout`` simulated seconds for the first."""
        step = 16 * self.byte_time
        waited = 0.0
        while not self.from_dut and waited < timeout:
            chunk = min(step, timeout - waited)
            self._run(chunk)
            waited += chunk
        # let a reply that has started arrive completely before returning
        while True:
            n = len(self.from_dut)
            if not n:
                break
            self._run(2 * self.byte_time)
            if len(self.from_dut) == n:
                break
        out = bytes(self.from_dut)
        self.from_dut.clear()
        return out

    def idle(self, seconds: float) -> None:
        """Let the line rest (after the pending bytes are sent)."""
        while self.to_dut:
            self._run(16 * self.byte_time)
        self._run(seconds)
