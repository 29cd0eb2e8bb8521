"""Host driver for a board running ``MatmulBoard``: ``LMulDevice(transport).matmul(A, B)``.

Transports have ``write(bytes)``, ``read(timeout) -> bytes`` (whatever arrived, waiting up to
``timeout`` seconds for the first byte) and ``byte_time`` (seconds per byte). ``SerialTransport``
wraps pyserial for a real board; ``lmul.boards.board_sim.SimulatedBoard`` is the simulated one and
``lmul.boards.device_model.ModelTransport`` the golden device model.

Reliability: every request carries a sequence number (1..255); a reply is accepted only with the
matching number, stale or corrupted frames are dropped, and a request is resent after an error
reply about the frame itself (CRC, timeout, garbage) or when no reply comes in time. All
commands are idempotent, so a resend cannot duplicate an effect.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from lmul.boards.protocol import (
    ERROR,
    OK,
    Cmd,
    Err,
    Frame,
    FrameDecoder,
    LinkConfig,
    LinkError,
    Status,
    encode_frame,
    pack_elements,
    unpack_elements,
)
from lmul.formats import FloatFormat, FormatError, twin_dtype
from lmul.sim.systolic_array import matmul as golden_matmul

__all__ = ["LMulDevice", "SerialTransport", "Transport", "as_bits"]

# frame-level rejections: resend. (GARBAGE replies carry seq 0 and never match a request.)
RETRYABLE = {Err.HEADER_CRC, Err.PAYLOAD_CRC, Err.TIMEOUT}


class Transport(Protocol):
    byte_time: float

    def write(self, data: bytes) -> None: ...

    def read(self, timeout: float) -> bytes: ...


class SerialTransport:
    """A serial port (pyserial), 8N1. ``port`` is a device (``/dev/ttyUSB1``, ``COM3``) or any
    pyserial URL (``socket://host:port``, ``rfc2217://...``, ``loop://``).

    ``read`` returns once the line has been quiet for ``gap`` seconds after the first byte, and
    at ``timeout`` at the latest even if bytes keep coming (a port that never goes quiet cannot
    hold the host). USB serial adapters deliver data in bursts (an FTDI's latency timer is 16 ms
    by default), so the default gap is 20 ms: a reply usually comes back in one piece, and the
    driver reassembles it from several pieces if not. Bytes already waiting when the port is
    opened (an earlier session's) are discarded.
    """

    def __init__(self, port: str, baud: int = 115200, gap: float = 0.02) -> None:
        try:
            import serial
        except ImportError:
            raise LinkError("pyserial is not installed (pip install pyserial)") from None
        try:
            self.port = serial.serial_for_url(port, baudrate=baud, timeout=0)
        except (serial.SerialException, ValueError) as e:
            raise LinkError(f"cannot open {port}: {e}") from None
        self.port.reset_input_buffer()
        self.byte_time = 10 / baud
        self.gap = max(gap, 4 * self.byte_time)

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def read(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        out, last = b"", 0.0
        while True:
            chunk = self.port.read(4096)
            now = time.monotonic()
            if chunk:
                out, last = out + chunk, now
            elif out and now - last >= self.gap:
                return out
            if now >= deadline:
                return out
            time.sleep(min(0.001, self.gap / 4))

    def close(self) -> None:
        self.port.close()


def as_bits(x: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    """Bit patterns of ``fmt`` from integer patterns or an array of ``fmt``'s own dtype (its
    ``twin_dtype``: ml_dtypes ``float8_e4m3fn`` for E4M3, ...); int64 result, encodings checked.
    Any other float dtype is refused rather than reinterpreted or silently converted."""
    x = np.asarray(x)
    if x.dtype.kind in "ui":
        return fmt.check_bits(x)
    twin = twin_dtype(fmt)
    if twin is not None and x.dtype == twin:
        return fmt.check_bits(x.view(f"u{x.dtype.itemsize}"))
    want, how = f"{fmt.name} bit patterns", "quantise with lmul.formats.encode"
    if twin is not None:
        want, how = f"{want} or a {twin} array", f"convert with .astype({twin}) or {how}"
    raise FormatError(f"expected {want}, got dtype {x.dtype} ({how})")


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class LMulDevice:
    def __init__(self, transport: Transport, retries: int = 8, base_timeout: float | None = None) -> None:
        self.t = transport
        self.retries = retries
        self.base_timeout = base_timeout if base_timeout is not None else 400 * transport.byte_time + 0.05
        self.decoder = FrameDecoder()
        self.seq = 0
        self.stats = Stats()
        st = self.status()
        self.config: LinkConfig = st.config
        self.weights_k = st.weights[0]      # K of the weights on the device (0: none)

    # ---- requests ----------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self.seq = self.seq % 255 + 1
        return self.seq

    def request(self, cmd: Cmd, payload: bytes = b"", reply_bytes: int = 0) -> bytes:
        """Send a request until a matching OK reply arrives; its payload. Raises ``LinkError``."""
        seq = self._next_seq()
        frame = encode_frame(cmd, seq, payload)
        timeout = self.base_timeout + 3 * (len(frame) + reply_bytes) * self.t.byte_time
        self.stats.requests += 1
        last = "no reply"
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
            self.decoder = FrameDecoder()       # drop partial frames from earlier attempts
            self.t.write(frame)
            reply = self._await(seq, timeout)
            if reply is None:
                last = "no reply (timeout)"
                continue
            if reply.cmd == ERROR:
                code = Err(reply.payload[0]) if reply.payload and reply.payload[0] in Err._value2member_map_ else None
                name = code.name if code else f"code {reply.payload[:1].hex()}"
                self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
                if code in RETRYABLE:
                    last = f"device error {name}"
                    continue
                raise LinkError(f"{cmd.name} rejected by the device: {name}")
            if reply.cmd != cmd | OK:
                last = f"unexpected reply 0x{reply.cmd:02x}"
                continue
            return reply.payload
        raise LinkError(f"{cmd.name} failed after {self.retries + 1} attempts: {last}")

    def _await(self, seq: int, timeout: float) -> Frame | None:
        """The reply numbered ``seq``, reassembled from as many reads as it comes in; None after
        ``timeout`` of silence. Every byte received uses up its line time from a budget of
        ``timeout``, so stale frames or garbage cannot keep the host waiting forever."""
        budget = timeout
        while budget > 0:
            data = self.t.read(timeout)
            if not data:
                return None
            budget -= len(data) * self.t.byte_time
            for fr in self.decoder.feed(data):
                if fr.seq == seq:
                    return fr
        return None

    # ---- commands ----------------------------------------------------------------------------
    def status(self) -> Status:
        return Status.parse(self.request(Cmd.STATUS, reply_bytes=64))

    def load_weights(self, b: np.ndarray) -> None:
        cfg = self.config
        b = as_bits(b, cfg.fmt)
        if b.ndim != 2 or not (1 <= b.shape[0] <= cfg.k_max and 1 <= b.shape[1] <= cfg.n_max):
            raise FormatError(f"weights must be K×N with K <= {cfg.k_max}, N <= {cfg.n_max}; got {b.shape}")
        self.request(Cmd.LOAD_WEIGHTS, struct.pack("<HH", *b.shape) + pack_elements(b.ravel(), cfg.eb))
        self.weights_k = b.shape[0]

    def run(self, a: np.ndarray) -> None:
        cfg = self.config
        a = as_bits(a, cfg.fmt)
        if a.ndim != 2 or not 1 <= a.shape[0] <= cfg.m_max:
            raise FormatError(f"activations must be M×K with M <= {cfg.m_max}; got {a.shape}")
        if self.weights_k and a.shape[1] != self.weights_k:
            raise FormatError(f"activations have K = {a.shape[1]}, the loaded weights K = {self.weights_k}")
        self.request(Cmd.RUN, struct.pack("<H", a.shape[0]) + pack_elements(a.ravel(), cfg.eb))

    def read_results(self) -> np.ndarray:
        cfg = self.config
        p = self.request(Cmd.READ_RESULTS, reply_bytes=cfg.max_result)
        m, n = struct.unpack_from("<HH", p) if len(p) >= 4 else (0, 0)
        if len(p) < 4 or len(p) != 4 + m * n * cfg.ob:
            raise LinkError(f"READ_RESULTS: {len(p)} payload bytes for a {m}×{n} result")
        return unpack_elements(p[4:], cfg.ob).reshape(m, n)

    def matmul(self, a: np.ndarray, b: np.ndarray, check: bool = True) -> np.ndarray:
        """``C = A @ B`` on the board (bit patterns of ``out_fmt``), tiled over M (``m_max``) and
        N (``n_max``). K must be at most ``k_max``: splitting K would add a second rounding and
        is left to the caller. ``check``: compare every tile with the golden model."""
        cfg = self.config
        a, b = as_bits(a, cfg.fmt), as_bits(b, cfg.fmt)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or a.shape[1] == 0:
            raise FormatError(f"matmul needs A (M×K) and B (K×N), got {a.shape} and {b.shape}")
        if a.shape[1] > cfg.k_max:
            raise FormatError(f"K = {a.shape[1]} exceeds the board's k_max = {cfg.k_max} (one rounding per "
                              "result; split K yourself if a second rounding is acceptable)")
        out = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
        for j in range(0, b.shape[1], cfg.n_max):
            bt = b[:, j: j + cfg.n_max]
            self.load_weights(bt)
            for i in range(0, a.shape[0], cfg.m_max):
                at = a[i: i + cfg.m_max]
                self.run(at)
                c = self.read_results()
                if c.shape != (at.shape[0], bt.shape[1]):
                    raise LinkError(f"board returned a {c.shape} tile, expected {(at.shape[0], bt.shape[1])}")
                if check:
                    ref = golden_matmul(cfg.fmt, at, bt, cfg.out_fmt, cfg.kind, cfg.acc).astype(np.int64)
                    bad = np.argwhere(c != ref)
                    if len(bad):
                        r, s = bad[0]
                        raise LinkError(f"board result differs from the golden model at C[{i + r}, {j + s}]: "
                                        f"0x{c[r, s]:x} != 0x{ref[r, s]:x} ({len(bad)} mismatches in the tile)")
                out[i: i + at.shape[0], j: j + bt.shape[1]] = c
        return out
