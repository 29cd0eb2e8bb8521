"""Host-link protocol and golden device model (twin of ``rtl/host_link.py``).

Frames (both directions), bytes on an 8N1 UART::

    0xA5 | cmd | seq | len_lo len_hi | hcrc_hi hcrc_lo | payload[len] | pcrc_hi pcrc_lo

``hcrc`` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of ``cmd seq len_lo len_hi``,
``pcrc`` the same CRC of the payload (also sent when ``len`` is 0); both big-endian, so a
receiver running the CRC over data+CRC checks for a zero remainder.

Requests: ``STATUS`` (no payload), ``LOAD_WEIGHTS`` (``k:u16 n:u16`` + B, K×N row-major),
``RUN`` (``m:u16`` + A, M×K row-major, K of the loaded weights; computes C = A @ B),
``READ_RESULTS`` (no payload). Elements are ``elem_bytes`` little-endian bytes each. Every
accepted request is answered by one frame with ``cmd | 0x80`` and the request's ``seq``;
``READ_RESULTS`` returns ``m:u16 n:u16`` + C (M×N row-major, ``out_fmt`` elements); ``STATUS``
returns ``status_payload``. Every rejected frame is answered by an ``ERROR`` frame (cmd 0xFF,
payload ``code, cmd``, ``seq`` of the rejected frame as received, 0 for garbage).

Receiver (the device's): bytes other than 0xA5 between frames are garbage; a frame with a bad
payload CRC is rejected at its end; a header with a bad CRC or an oversize ``len`` is rejected
once the line has been idle for the timeout, everything after it being discarded (the rest of
that frame is never parsed as frames, and the device does not reply while the host still
sends); then the receiver hunts for the next 0xA5. A frame that stops arriving is rejected when
the line has been idle for the timeout; garbage followed by an idle line is reported once
(``GARBAGE``, seq 0). Half duplex: bytes that arrive while the device executes a request or
sends a reply are dropped, so a host waits for each reply before it sends again. Commands are
checked in the order: length minimum, weights present, dimensions, exact length, element
encodings, and change nothing when rejected. All commands are idempotent, so a host may
resend a request whose reply it lost: nothing is lost or duplicated.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from lmul.formats import FP32, NAMED_FORMATS, FloatFormat, FormatError, get_format
from lmul.sim.systolic_array import matmul

__all__ = [
    "ERROR", "MAGIC", "OK", "PROTOCOL_VERSION", "SYNC", "Cmd", "Err", "Frame", "FrameDecoder", "HostLinkModel",
    "LinkConfig", "LinkError", "ModelTransport", "Status", "crc16", "elem_bytes", "encode_frame", "pack_elements",
    "unpack_elements",
]

SYNC = 0xA5
OK = 0x80
ERROR = 0xFF
MAGIC = b"LMUL"
PROTOCOL_VERSION = 2   # 2: header rejections wait for an idle line, discarding what follows
HEADER_BYTES = 7     # sync + cmd + seq + len(2) + hcrc(2)
CRC_INIT = 0xFFFF
CRC_POLY = 0x1021


class Cmd(enum.IntEnum):
    STATUS = 0x01
    LOAD_WEIGHTS = 0x02
    RUN = 0x03
    READ_RESULTS = 0x04


class Err(enum.IntEnum):
    HEADER_CRC = 1
    PAYLOAD_CRC = 2
    TIMEOUT = 3
    LENGTH = 4
    UNKNOWN_CMD = 5
    DIMS = 6
    NO_WEIGHTS = 7
    NO_RESULTS = 8
    ELEMENT = 9
    GARBAGE = 10


class LinkError(RuntimeError):
    """A protocol-level failure seen by the host (bad reply, error reply, timeout)."""


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE (``crc16(b"123456789") == 0x29B1``)."""
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def encode_frame(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    if not (0 <= cmd <= 0xFF and 0 <= seq <= 0xFF):
        raise LinkError(f"cmd and seq must be bytes, got {cmd!r}, {seq!r}")
    if len(payload) > 0xFFFF:
        raise LinkError(f"payload of {len(payload)} bytes does not fit a frame (max 65535)")
    head = struct.pack("<BBH", cmd, seq, len(payload))
    return bytes([SYNC]) + head + crc16(head).to_bytes(2, "big") + payload + crc16(payload).to_bytes(2, "big")


def elem_bytes(fmt: FloatFormat) -> int:
    """Bytes per element on the link (1 or 2; formats wider than 16 bits are not linkable)."""
    if fmt.width > 16:
        raise FormatError(f"{fmt.name} is {fmt.width} bits wide; the host link carries formats of at most 16 bits")
    return (fmt.width + 7) // 8


def pack_elements(bits: np.ndarray, nbytes: int) -> bytes:
    """Elements as ``nbytes`` little-endian bytes each (1 to 4; 3 for 17..24-bit output formats)."""
    return np.asarray(bits, dtype="<u8").reshape(-1, 1).view(np.uint8)[:, :nbytes].tobytes()


def unpack_elements(raw: bytes, nbytes: int) -> np.ndarray:
    """Inverse of ``pack_elements``: int64 bit patterns."""
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, nbytes).astype(np.int64)
    return sum((b[:, i] << (8 * i) for i in range(1, nbytes)), b[:, 0])


@dataclass(frozen=True)
class LinkConfig:
    """What a board's gateware is built for; drives the RTL, the model, the driver and status."""

    fmt: FloatFormat
    kind: str = "lmul"
    rows: int = 2
    cols: int = 2
    m_max: int = 16
    k_max: int = 64
    n_max: int = 16
    out_fmt: FloatFormat = FP32

    def __post_init__(self) -> None:
        object.__setattr__(self, "fmt", get_format(self.fmt))
        object.__setattr__(self, "out_fmt", get_format(self.out_fmt))
        if self.kind not in ("exact", "lmul"):
            raise FormatError(f"kind must be 'exact' or 'lmul', got {self.kind!r}")
        for name in ("rows", "cols", "m_max", "k_max", "n_max"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= (255 if name in ("rows", "cols")
                                                                                else 0xFFFF):
                raise FormatError(f"LinkConfig {name} out of range: {v!r}")
        elem_bytes(self.fmt)
        if self.out_fmt.width > 32:
            raise FormatError(f"output format {self.out_fmt.name} is wider than 32 bits")
        if max(self.max_payload, self.max_result) > 0xFFFF:
            raise FormatError(f"m_max/k_max/n_max too large: a frame would need "
                              f"{max(self.max_payload, self.max_result)} payload bytes (at most 65535)")

    def summary(self) -> str:
        """``e4m3 lmul 2x2, m/k/n max 16/64/16``."""
        return f"{self.fmt.name} {self.kind} {self.rows}x{self.cols}, m/k/n max {self.m_max}/{self.k_max}/{self.n_max}"

    def same_as(self, other: LinkConfig) -> bool:
        """Same configuration (format names ignored)."""
        return (self.fmt.same_as(other.fmt) and self.out_fmt.same_as(other.out_fmt)
                and replace(self, fmt=other.fmt, out_fmt=other.out_fmt) == other)

    @property
    def eb(self) -> int:
        return elem_bytes(self.fmt)

    @property
    def ob(self) -> int:
        return (self.out_fmt.width + 7) // 8

    @property
    def max_payload(self) -> int:
        """Largest request payload the device accepts (LOAD_WEIGHTS or RUN at the limits)."""
        return max(4 + self.k_max * self.n_max * self.eb, 2 + self.m_max * self.k_max * self.eb)

    @property
    def max_result(self) -> int:
        """Largest READ_RESULTS payload."""
        return 4 + self.m_max * self.n_max * self.ob

    def static_status(self) -> bytes:
        """The constant part of the STATUS payload (follows the 12 dynamic bytes)."""
        specs = b"".join(bytes([len(s)]) + s for s in (self.fmt.spec.encode(), self.out_fmt.spec.encode()))
        return (MAGIC + struct.pack("<BBBBHHH", PROTOCOL_VERSION, self.kind == "lmul", self.rows, self.cols,
                                    self.m_max, self.k_max, self.n_max) + specs)


_STATIC_LEN = 4 + 10   # magic + version, kind, rows, cols, m_max, k_max, n_max


def _named(fmt: FloatFormat) -> FloatFormat:
    return next((f for f in NAMED_FORMATS.values() if f.same_as(fmt)), fmt)


@dataclass(frozen=True)
class Status:
    config: LinkConfig
    weights: tuple[int, int]      # (k, n) loaded, (0, 0) if none
    results: tuple[int, int]      # (m, n) readable, (0, 0) if none
    frames_ok: int                # accepted requests, modulo 2**16
    frames_bad: int               # error replies sent, modulo 2**16

    @classmethod
    def parse(cls, payload: bytes) -> Status:
        try:
            wk, wn, rm, rn, ok, bad = struct.unpack_from("<6H", payload, 0)
            static = payload[12:]
            if static[:4] != MAGIC:
                raise LinkError(f"STATUS: bad magic {static[:4]!r}")
            ver, kind, rows, cols, m_max, k_max, n_max = struct.unpack_from("<BBBBHHH", static, 4)
            if ver != PROTOCOL_VERSION:
                raise LinkError(f"device speaks protocol version {ver}, this driver {PROTOCOL_VERSION}")
            pos, specs = _STATIC_LEN, []
            for _ in range(2):
                n = static[pos]
                specs.append(static[pos + 1: pos + 1 + n].decode("ascii"))
                pos += 1 + n
            fmt, out = (_named(get_format(s)) for s in specs)
            cfg = LinkConfig(fmt, "lmul" if kind else "exact", rows, cols, m_max, k_max, n_max, out)
        except (struct.error, IndexError, UnicodeDecodeError, FormatError) as e:
            raise LinkError(f"malformed STATUS payload ({e})") from None
        return cls(cfg, (wk, wn), (rm, rn), ok, bad)


@dataclass
class Frame:
    cmd: int
    seq: int
    payload: bytes


class FrameDecoder:
    """Host-side frame parser: feed bytes, collect complete frames; bad bytes are skipped."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.skipped = 0

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames = []
        while True:
            start = self.buf.find(SYNC)
            if start < 0:
                self.skipped += len(self.buf)
                self.buf.clear()
                return frames
            self.skipped += start
            del self.buf[:start]
            if len(self.buf) < HEADER_BYTES:
                return frames
            if crc16(bytes(self.buf[1:HEADER_BYTES])) != 0:
                self.skipped += 1
                del self.buf[:1]
                continue
            cmd, seq, n = struct.unpack_from("<BBH", self.buf, 1)
            end = HEADER_BYTES + n + 2
            if len(self.buf) < end:
                return frames
            body = bytes(self.buf[HEADER_BYTES:end])
            if crc16(body) != 0:
                self.skipped += 1
                del self.buf[:1]
                continue
            frames.append(Frame(cmd, seq, body[:-2]))
            del self.buf[:end]


@dataclass
class HostLinkModel:
    """Golden device: bytes in -> reply bytes out, exactly as ``rtl.host_link.HostLink`` with a
    ``MatmulEngine`` behind it. ``idle()`` is the line-idle timeout event."""

    cfg: LinkConfig
    state: str = "hunt"
    hdr: bytearray = field(default_factory=bytearray)
    payload: bytearray = field(default_factory=bytearray)
    cmd: int = 0
    seq: int = 0
    length: int = 0
    garbage: bool = False
    pending: Err | None = None      # a header rejection, reported when the line goes idle
    weights: np.ndarray | None = None
    results: np.ndarray | None = None
    frames_ok: int = 0
    frames_bad: int = 0

    def _error(self, code: Err, seq: int | None = None) -> bytes:
        self.frames_bad = (self.frames_bad + 1) & 0xFFFF
        self.state = "hunt"
        return encode_frame(ERROR, self.seq if seq is None else seq, bytes([code, self.cmd]))

    def feed(self, data: bytes) -> bytes:
        out = b""
        for byte in data:
            out += self._byte(byte)
        return out

    def idle(self) -> bytes:
        if self.state == "discard":
            code, self.pending = self.pending, None
            return self._error(code)
        if self.state != "hunt":
            return self._error(Err.TIMEOUT)
        if self.garbage:
            self.garbage = False
            self.cmd = 0
            return self._error(Err.GARBAGE, seq=0)
        return b""

    def _byte(self, byte: int) -> bytes:
        if self.state == "hunt":
            if byte == SYNC:
                self.state, self.hdr, self.cmd, self.seq, self.garbage = "header", bytearray(), 0, 0, False
            else:
                self.garbage = True
            return b""
        if self.state == "discard":
            return b""
        if self.state == "header":
            self.hdr.append(byte)
            if len(self.hdr) == 1:
                self.cmd = byte
            elif len(self.hdr) == 2:
                self.seq = byte
            if len(self.hdr) < HEADER_BYTES - 1:
                return b""
            self.length = self.hdr[2] | self.hdr[3] << 8
            bad_crc = crc16(bytes(self.hdr)) != 0
            if bad_crc or self.length > self.cfg.max_payload:
                self.state, self.pending = "discard", Err.HEADER_CRC if bad_crc else Err.LENGTH
                return b""
            self.payload, self.state = bytearray(), "payload"
            return b""
        self.payload.append(byte)
        if len(self.payload) < self.length + 2:
            return b""
        self.state = "hunt"
        if crc16(bytes(self.payload)) != 0:
            return self._error(Err.PAYLOAD_CRC)
        return self._execute(bytes(self.payload[:-2]))

    def _reply(self, payload: bytes | Callable[[], bytes] = b"") -> bytes:
        """OK reply; the counter includes this request (a STATUS reply shows it)."""
        self.frames_ok = (self.frames_ok + 1) & 0xFFFF
        return encode_frame(self.cmd | OK, self.seq, payload() if callable(payload) else payload)

    def status_payload(self) -> bytes:
        wk, wn = self.weights.shape if self.weights is not None else (0, 0)
        rm, rn = self.results.shape if self.results is not None else (0, 0)
        return struct.pack("<6H", wk, wn, rm, rn, self.frames_ok, self.frames_bad) + self.cfg.static_status()

    def _matrix(self, p: bytes, hdr: int, shape: tuple[int, int]) -> np.ndarray | Err:
        """The matrix after a ``hdr``-byte header: exact length, then element encodings checked."""
        if len(p) != hdr + shape[0] * shape[1] * self.cfg.eb:
            return Err.LENGTH
        v = unpack_elements(p[hdr:], self.cfg.eb)
        if np.any(v >> self.cfg.fmt.width):
            return Err.ELEMENT
        return v.reshape(shape)

    def _execute(self, p: bytes) -> bytes:
        cfg = self.cfg
        if self.cmd in (Cmd.STATUS, Cmd.READ_RESULTS):
            if p:
                return self._error(Err.LENGTH)
            if self.cmd == Cmd.STATUS:
                return self._reply(self.status_payload)
            if self.results is None:
                return self._error(Err.NO_RESULTS)
            r = self.results
            return self._reply(struct.pack("<HH", *r.shape) + pack_elements(r.ravel(), cfg.ob))
        if self.cmd == Cmd.LOAD_WEIGHTS:
            if len(p) < 4:
                return self._error(Err.LENGTH)
            k, n = struct.unpack_from("<HH", p)
            if not (1 <= k <= cfg.k_max and 1 <= n <= cfg.n_max):
                return self._error(Err.DIMS)
            b = self._matrix(p, 4, (k, n))
            if isinstance(b, Err):
                return self._error(b)
            self.weights = b
            return self._reply()
        if self.cmd == Cmd.RUN:
            if len(p) < 2:
                return self._error(Err.LENGTH)
            if self.weights is None:
                return self._error(Err.NO_WEIGHTS)
            (m,) = struct.unpack_from("<H", p)
            k = self.weights.shape[0]
            if not 1 <= m <= cfg.m_max:
                return self._error(Err.DIMS)
            a = self._matrix(p, 2, (m, k))
            if isinstance(a, Err):
                return self._error(a)
            self.results = matmul(cfg.fmt, a, self.weights, cfg.out_fmt, cfg.kind).astype(np.int64)
            return self._reply()
        return self._error(Err.UNKNOWN_CMD)


class ModelTransport:
    """A host transport backed by ``HostLinkModel`` (no hardware, no simulator): what the device
    would answer. ``read`` on a quiet line lets the device's idle timeout fire."""

    byte_time = 1e-4

    def __init__(self, cfg: LinkConfig) -> None:
        self.model = HostLinkModel(cfg)
        self.pending = b""

    def write(self, data: bytes) -> None:
        self.pending += self.model.feed(data)

    def read(self, timeout: float) -> bytes:
        if not self.pending:
            self.pending = self.model.idle()
        out, self.pending = self.pending, b""
        return out
