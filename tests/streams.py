"""``lib.stream`` helpers for Amaranth-simulator testbenches: a source (``put``), a sink (``get``)
and an idle check (``expect_idle``), with random valid/ready stalls.

They follow the stream rules (Amaranth ``lib.stream``, RFC 61): a source never drops ``valid``
before its beat is transferred and keeps the payload steady meanwhile (stalls are bubbles
*between* beats); a sink may drop ``ready`` in any cycle. A beat is transferred on the clock edge
at which ``valid`` and ``ready`` are both high.

Payloads are what ``ctx.set``/``ctx.get`` take and give for the stream's payload shape: for a
``data.Layout``, constants built with ``layout.const({...})`` or ``layout.from_bits(int)``
(``put`` also takes a plain ``int`` as the raw bits); ``get`` returns ``data.Const`` views
(``.field``, ``[i]``, ``.as_bits()``) or ints for plain shapes.

Cycle numbers: ``cycles=`` (a list) collects, per beat, the number of the clock edge that
transferred it, counted from the call (edge 1 is the first edge after the call). A source and a
sink started as two testbenches at time 0 count the same edges, so ``sink - source`` is the
number of cycles between the two transfers; with ``ready`` held high on the sink side it is the
number of cycles from the input beat's transfer to ``valid`` of the output beat.

Usage::

    async def source(ctx):
        await put(ctx, dut.i, [layout.const({...}), ...], rng=rng, stall=0.3)

    async def sink(ctx):
        got.extend(await get(ctx, dut.o, n, rng=rng, stall=0.3))

    sim.add_testbench(source)
    sim.add_testbench(sink)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from amaranth.hdl import ShapeCastable
from amaranth.lib import stream
from amaranth.sim import Simulator

__all__ = ["TIMEOUT", "expect_idle", "get", "put", "results_and_latencies", "run"]

#: Cycles a helper waits for a transfer before it fails the test (a hung design would otherwise
#: hang the simulation).
TIMEOUT = 10_000


class Random(Protocol):
    """What the helpers need of a random generator (``numpy.random.Generator``, ``random.Random``)."""

    def random(self) -> float: ...


def _stalled(rng: Random | None, stall: float) -> bool:
    return rng is not None and stall > 0 and rng.random() < stall


def _payload(s: stream.Interface, value: Any) -> Any:
    shape = s.payload.shape()
    if isinstance(value, int) and isinstance(shape, ShapeCastable):
        return shape.from_bits(value)
    return value


async def put(ctx, s: stream.Interface, payloads: Iterable[Any], *, rng: Random | None = None,
              stall: float = 0.0, cycles: list[int] | None = None, timeout: int = TIMEOUT) -> None:
    """Send ``payloads`` on stream ``s`` in order, then drop ``valid``.

    Before each beat, ``valid`` stays low for a random number of cycles: one more with
    probability ``stall`` each (needs ``rng``). Then the beat is held until ``ready``.
    """
    edge = 0
    for value in payloads:
        while _stalled(rng, stall):
            ctx.set(s.valid, 0)
            await ctx.tick()
            edge += 1
        ctx.set(s.payload, _payload(s, value))
        ctx.set(s.valid, 1)
        waited = 0
        while True:
            _, _, ready = await ctx.tick().sample(s.ready)
            edge += 1
            if ready:
                break
            waited += 1
            if waited > timeout:
                raise AssertionError(f"put: no ready for {timeout} cycles")
        if cycles is not None:
            cycles.append(edge)
    ctx.set(s.valid, 0)


async def get(ctx, s: stream.Interface, n: int, *, rng: Random | None = None, stall: float = 0.0,
              cycles: list[int] | None = None, timeout: int = TIMEOUT) -> list[Any]:
    """Receive ``n`` beats from stream ``s``; ``ready`` is low with probability ``stall`` in each
    cycle (needs ``rng``; else always high), and low again on return. Returns the payloads."""
    got: list[Any] = []
    edge = idle = 0
    while len(got) < n:
        ctx.set(s.ready, int(not _stalled(rng, stall)))
        _, _, valid, ready, payload = await ctx.tick().sample(s.valid, s.ready, s.payload)
        edge += 1
        if valid and ready:
            got.append(payload)
            idle = 0
            if cycles is not None:
                cycles.append(edge)
        else:
            idle += 1
            if idle > timeout:
                raise AssertionError(f"get: {len(got)} of {n} beats, then nothing for {timeout} cycles")
    ctx.set(s.ready, 0)
    return got


async def expect_idle(ctx, s: stream.Interface, n: int) -> None:
    """Hold ``ready`` high for ``n`` cycles and fail if a beat arrives (nothing beyond what was
    expected), then drop ``ready``."""
    ctx.set(s.ready, 1)
    for i in range(n):
        _, _, valid = await ctx.tick().sample(s.valid)
        assert not valid, f"unexpected beat {i + 1} cycles after the last expected one"
    ctx.set(s.ready, 0)


def run(dut, *testbenches) -> None:
    """Simulate ``dut`` with a clock and the given async testbenches until they all return."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for tb in testbenches:
        sim.add_testbench(tb)
    sim.run()


def results_and_latencies(dut, beats: list, n: int, rng: Random) -> tuple[list[int], list[int]]:
    """Send ``beats`` on ``dut.i`` (25 % bubbles), take ``n`` results from ``dut.o`` (always ready):
    (result bits, cycles from each ``last`` beat's transfer to its result's ``o.valid``)."""
    t_in: list[int] = []
    t_out: list[int] = []
    got: list[int] = []

    async def source(ctx) -> None:
        await put(ctx, dut.i, beats, rng=rng, stall=0.25, cycles=t_in)

    async def sink(ctx) -> None:
        got.extend(c.as_bits() for c in await get(ctx, dut.o, n, cycles=t_out))

    run(dut, source, sink)
    last_in = [t for t, beat in zip(t_in, beats, strict=True) if beat.last]
    return got, [o - i for i, o in zip(last_in, t_out, strict=True)]
