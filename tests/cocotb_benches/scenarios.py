"""What the stream benches of ``tb_dot_unit.py`` and ``tb_array.py`` share: the environment's
clock, stream driver/monitor and reset (``BenchEnv``), and the four scenarios every such bench
runs (``scenario_tests``): random stalls with short middle beats, back to back, the output stalled
most of the time, and a reset in the middle of a stream followed by the whole stream again.

A bench subclasses ``BenchEnv`` with ``beats(split) -> (beats, expected)`` and
``stream(beats, expected, what, *, stall_in, stall_out)`` and binds the scenarios at module level
(cocotb collects them from the module's names)::

    stalls_and_short_beats, back_to_back, output_stalled, reset_in_the_middle = scenario_tests(Env, __name__)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from .streams import StreamSink, StreamSource

__all__ = ["BenchEnv", "scenario_tests"]


class BenchEnv:
    """A 10 ns clock on ``dut.clk``, a ``StreamSource`` on ``i`` and a ``StreamSink`` on ``o``
    (decoding with ``decode``), seeded from ``seed``, stalling with probability ``stall``."""

    def __init__(self, dut: Any, seed: int, stall: float, n: int, decode: Callable[[int], Any] = int) -> None:
        self.dut, self.seed, self.stall, self.n, self.decode = dut, seed, stall, n, decode
        self.src: StreamSource | None = None
        self.sink: StreamSink | None = None

    async def start(self) -> None:
        d = self.dut
        cocotb.start_soon(Clock(d.clk, 10, unit="ns").start())
        self.src = StreamSource(d, "i", d.clk, rng=random.Random(self.seed), stall=self.stall)
        self.sink = StreamSink(d, "o", d.clk, rng=random.Random(self.seed + 1), stall=self.stall,
                               decode=self.decode)
        await self.reset()

    async def reset(self) -> None:
        self.dut.rst.value = 1
        self.src.clear()
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.sink.clear()

    def beats(self, split: bool) -> tuple[list, list]:
        raise NotImplementedError

    async def stream(self, beats: list, expected: list, what: str, *, stall_in: float, stall_out: float) -> None:
        raise NotImplementedError


def scenario_tests(env_cls: Callable[[Any], BenchEnv], module: str) -> tuple:
    """The four cocotb tests on ``env_cls(dut)``, named and placed as if written in ``module``."""

    async def stalls_and_short_beats(dut) -> None:
        env = env_cls(dut)
        await env.start()
        beats, expected = env.beats(split=env.n > 1)
        await env.stream(beats, expected, "random stalls", stall_in=env.stall, stall_out=env.stall)

    async def back_to_back(dut) -> None:
        env = env_cls(dut)
        await env.start()
        beats, expected = env.beats(split=False)
        await env.stream(beats, expected, "back to back", stall_in=0.0, stall_out=0.0)

    async def output_stalled(dut) -> None:
        env = env_cls(dut)
        await env.start()
        beats, expected = env.beats(split=False)
        await env.stream(beats, expected, "output stalled", stall_in=0.0, stall_out=0.85)

    async def reset_in_the_middle(dut) -> None:
        env = env_cls(dut)
        await env.start()
        beats, expected = env.beats(split=False)
        env.src.stall = env.sink.stall = 0.2
        env.src.send_nowait(beats[: len(beats) // 2])
        for _ in range(len(beats) // 3):
            await RisingEdge(dut.clk)
        await env.reset()
        await env.stream(beats, expected, "after a reset", stall_in=0.2, stall_out=0.2)

    tests = (stalls_and_short_beats, back_to_back, output_stalled, reset_in_the_middle)
    for t in tests:
        t.__qualname__, t.__module__ = t.__name__, module
    return tuple(cocotb.test()(t) for t in tests)
