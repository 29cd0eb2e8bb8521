"""``lib.stream`` helpers for cocotb benches of Amaranth designs: a driver (``StreamSource``) and a
monitor (``StreamSink``) with random valid/ready stalls.

An Amaranth stream port ``name`` appears in the generated Verilog as ``name__valid``,
``name__ready`` and ``name__payload``. Both helpers run one background task each, clocked by
``clk`` (in the spirit of cocotbext-axi's ``AxiStreamSource``/``AxiStreamSink``): they drive on the
falling edge, sample in the settled (``ReadOnly``) phase before the rising edge, and count a beat
as transferred on a rising edge with ``valid`` and ``ready`` both high.

Stream rules (Amaranth ``lib.stream``, RFC 61): the source never drops ``valid`` before its beat
is transferred and keeps the payload steady meanwhile, so its stalls are bubbles *between* beats
(before each beat: one more idle cycle with probability ``stall``); the sink's ``ready`` is low
with probability ``stall`` in every cycle. ``stall`` is an attribute and may be changed between
transfers; ``rng`` is anything with ``random()`` (``random.Random``).

Payloads: ints (the raw bits) or ``amaranth.lib.data.Const`` (``layout.const({...})``,
``layout.from_bits(...)``); the sink returns ``decode(bits)``, e.g. ``layout.from_bits``.

Usage::

    cmd = StreamSource(dut, "cmd", dut.clk)
    res = StreamSink(dut, "res", dut.clk, rng=random.Random(0), stall=0.3, decode=res_layout.from_bits)
    await cmd.send([cmd_layout.const({"m": 2, "k": 3, "n": 4})])
    beat = await res.recv()
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import cocotb
from cocotb.queue import Queue
from cocotb.triggers import Event, FallingEdge, ReadOnly, RisingEdge, with_timeout

__all__ = ["StreamSink", "StreamSource", "bits"]


def bits(payload: Any) -> int:
    """The raw bits of a payload: an int, or an ``amaranth.lib.data.Const`` (``as_bits()``)."""
    return int(payload.as_bits()) if hasattr(payload, "as_bits") else int(payload)


class _Port:
    def __init__(self, dut: Any, name: str, clk: Any, rng: Any, stall: float) -> None:
        self.name, self.clk, self.rng, self.stall = name, clk, rng, stall
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")

    def _stalled(self) -> bool:
        return self.rng is not None and self.stall > 0 and self.rng.random() < self.stall


class StreamSource(_Port):
    """Sends queued payloads on the stream ``name`` of ``dut``, in order.

    ``send(payloads)`` queues them and returns once all queued beats are transferred;
    ``send_nowait`` only queues. ``clear()`` drops what is queued (e.g. with a reset), ``sent``
    counts transferred beats.
    """

    def __init__(self, dut: Any, name: str, clk: Any, *, rng: Any = None, stall: float = 0.0) -> None:
        super().__init__(dut, name, clk, rng, stall)
        self.queue: deque[int] = deque()
        self.current: int | None = None
        self.sent = 0
        self._idle = Event()
        self._idle.set()
        self.valid.value = 0
        self._task = cocotb.start_soon(self._run())

    def send_nowait(self, payloads: Iterable[Any]) -> None:
        self.queue.extend(bits(p) for p in payloads)
        if self.queue:
            self._idle.clear()

    async def send(self, payloads: Iterable[Any]) -> None:
        self.send_nowait(payloads)
        await self.wait()

    async def wait(self) -> None:
        """Until every queued beat is transferred (returns after that rising edge)."""
        if not self._idle.is_set():
            await self._idle.wait()

    def clear(self) -> None:
        self.queue.clear()
        self.current = None
        self._idle.set()

    async def _run(self) -> None:
        while True:
            await FallingEdge(self.clk)
            if self.current is None and self.queue and not self._stalled():
                self.current = self.queue.popleft()
                self.payload.value = self.current
            self.valid.value = int(self.current is not None)
            await ReadOnly()
            fire = self.current is not None and bool(self.ready.value)
            await RisingEdge(self.clk)
            if fire:
                self.current = None
                self.sent += 1
                if not self.queue:
                    self._idle.set()


class StreamSink(_Port):
    """Takes every beat of the stream ``name`` of ``dut`` (``ready`` random with ``stall``) into a
    queue; ``recv()`` returns the next one, ``decode(bits)``. ``clear()`` drops what is queued."""

    def __init__(self, dut: Any, name: str, clk: Any, *, rng: Any = None, stall: float = 0.0,
                 decode: Callable[[int], Any] = int) -> None:
        super().__init__(dut, name, clk, rng, stall)
        self.decode = decode
        self.queue: Queue[Any] = Queue()
        self.ready.value = 0
        self._task = cocotb.start_soon(self._run())

    async def recv(self, timeout_ns: float | None = None) -> Any:
        """The next beat; ``SimTimeoutError`` if none arrives within ``timeout_ns`` (if given)."""
        if timeout_ns is None:
            return await self.queue.get()
        return await with_timeout(self.queue.get(), timeout_ns, "ns")

    def clear(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    async def _run(self) -> None:
        while True:
            await FallingEdge(self.clk)
            self.ready.value = int(not self._stalled())
            await ReadOnly()
            beat = self.payload.value.to_unsigned() if self.valid.value and self.ready.value else None
            await RisingEdge(self.clk)
            if beat is not None:
                self.queue.put_nowait(self.decode(beat))
