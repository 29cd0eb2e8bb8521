"""Host-link protocol: the neutral part both sides import (gateware and golden twin:
``lmul.boards.host_link``, ``lmul.boards.device_model``; host: ``lmul.boards.host``). Imports no
golden model and no gateware.

Frames (both directions), bytes on an 8N1 UART::

    0xA5 | cmd | seq | len_lo len_hi | hcrc_hi hcrc_lo | payload[len] | pcrc_hi pcrc_lo

``hcrc`` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of ``cmd seq len_lo len_hi``,
``pcrc`` the same CRC of the payload (also sent when ``len`` is 0); both big-endian, so a
receiver running the CRC over data+CRC checks for a zero remainder.
The CRC is ``CRC``, ``amaranth.lib.crc``'s catalogue entry: codec and gateware use the same one.

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

``status_payload`` (integers little-endian)::

    w_k w_n r_m r_n frames_ok frames_bad     6 × u16: loaded weights K×N, readable results M×N
                                             (0×0: none), accepted / rejected frames mod 2**16
    "LMUL" version:u8 rows:u8 cols:u8 m_max:u16 k_max:u16 n_max:u16
    fmt out_fmt kind acc                     4 strings, each len:u8 + ASCII: the element and
                                             result format specs (``lmul.formats``), the product
                                             kind and the accumulator spec (``lmul.arith``
                                             registries: ``lmul``, ``kulisch``)

Versions: 2, header rejections wait for an idle line, discarding what follows; 3, STATUS names
the product kind and the accumulator (two strings) instead of a kind byte.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, replace

import numpy as np
from amaranth.lib.crc import catalog

from lmul.arith import accumulator, product_kind
from lmul.errors import check_int
from lmul.formats import FP32, NAMED_FORMATS, FloatFormat, FormatError, get_format

__all__ = [
    "CRC", "CRC_RESIDUE", "ERROR", "HEADER_BYTES", "MAGIC", "OK", "PROTOCOL_VERSION", "SYNC", "Cmd", "Err", "Frame",
    "FrameDecoder", "LinkConfig", "LinkError", "Status", "crc16", "elem_bytes", "encode_frame", "pack_elements",
    "status_payload", "unpack_elements",
]

SYNC = 0xA5
OK = 0x80
ERROR = 0xFF
MAGIC = b"LMUL"
PROTOCOL_VERSION = 3   # 3: STATUS names kind and acc (module docstring, "Versions")
HEADER_BYTES = 7     # sync + cmd + seq + len(2) + hcrc(2)
# The one CRC definition: crc16() computes it in software, the gateware builds it with
# CRC.create(). Over data followed by its big-endian CRC it leaves CRC_RESIDUE (0).
CRC = catalog.CRC16_CCITT_FALSE(data_width=8)
CRC_RESIDUE = CRC.residue()


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


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (``crc16(b"123456789") == 0x29B1``)."""
    return CRC.compute(data)


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


def _lp(text: str) -> bytes:
    """A length-prefixed ASCII string of the STATUS payload."""
    return bytes([len(text)]) + text.encode("ascii")


@dataclass(frozen=True)
class LinkConfig:
    """What a board's gateware is built for; drives the RTL, the model, the driver and status."""

    # kind and acc: looked up in the lmul.arith registries and stored as their canonical names
    # ("lmul", "kulisch"); a bad value raises a FormatError naming the parameter
    fmt: FloatFormat
    kind: str = "lmul"
    rows: int = 2
    cols: int = 2
    m_max: int = 16
    k_max: int = 64
    n_max: int = 16
    out_fmt: FloatFormat = FP32
    acc: str = "kulisch"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fmt", get_format(self.fmt))
        object.__setattr__(self, "out_fmt", get_format(self.out_fmt))
        kind = product_kind(self.kind)
        object.__setattr__(self, "kind", kind.name)
        object.__setattr__(self, "acc", accumulator(self.acc).name)
        for name in ("rows", "cols", "m_max", "k_max", "n_max"):
            check_int(f"LinkConfig {name}", getattr(self, name), 1, 255 if name in ("rows", "cols") else 0xFFFF)
        elem_bytes(self.fmt)
        kind.check(self.fmt)
        if self.out_fmt.width > 32:
            raise FormatError(f"output format {self.out_fmt.name} is wider than 32 bits")
        for what, text in (("format spec", self.fmt.spec), ("format spec", self.out_fmt.spec),
                           ("kind", self.kind), ("acc", self.acc)):
            if len(text) > 255 or not text.isascii():
                raise FormatError(f"{what} {text!r} does not fit STATUS (at most 255 ASCII characters)")
        if max(self.max_payload, self.max_result) > 0xFFFF:
            raise FormatError(f"m_max/k_max/n_max too large: a frame would need "
                              f"{max(self.max_payload, self.max_result)} payload bytes (at most 65535)")

    def summary(self) -> str:
        """``e4m3 lmul kulisch 2x2, m/k/n max 16/64/16``."""
        return (f"{self.fmt.name} {self.kind} {self.acc} {self.rows}x{self.cols}, "
                f"m/k/n max {self.m_max}/{self.k_max}/{self.n_max}")

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
        return (MAGIC + struct.pack("<BBBHHH", PROTOCOL_VERSION, self.rows, self.cols, self.m_max, self.k_max,
                                    self.n_max)
                + b"".join(_lp(s) for s in (self.fmt.spec, self.out_fmt.spec, self.kind, self.acc)))


_STATIC_LEN = 4 + 9   # magic + version, rows, cols, m_max, k_max, n_max


def status_payload(cfg: LinkConfig, weights: tuple[int, int], results: tuple[int, int], frames_ok: int,
                   frames_bad: int) -> bytes:
    """The STATUS reply's payload (module docstring): 12 dynamic bytes + ``cfg.static_status()``."""
    return struct.pack("<6H", *weights, *results, frames_ok, frames_bad) + cfg.static_status()


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
            (ver,) = struct.unpack_from("<B", static, 4)
            if ver != PROTOCOL_VERSION:
                raise LinkError(f"device speaks protocol version {ver}, this driver {PROTOCOL_VERSION}")
            rows, cols, m_max, k_max, n_max = struct.unpack_from("<BBHHH", static, 5)
            pos, specs = _STATIC_LEN, []
            for _ in range(4):                      # fmt, out_fmt, kind, acc
                n = static[pos]
                specs.append(static[pos + 1: pos + 1 + n].decode("ascii"))
                pos += 1 + n
            if pos != len(static):                  # a string cut short, or bytes after the last
                raise IndexError(f"the strings end at byte {pos} of {len(static)}")
            fmt, out = (_named(get_format(s)) for s in specs[:2])
            cfg = LinkConfig(fmt, specs[2], rows, cols, m_max, k_max, n_max, out, specs[3])
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
            if crc16(bytes(self.buf[1:HEADER_BYTES])) != CRC_RESIDUE:
                self.skipped += 1
                del self.buf[:1]
                continue
            cmd, seq, n = struct.unpack_from("<BBH", self.buf, 1)
            end = HEADER_BYTES + n + 2
            if len(self.buf) < end:
                return frames
            body = bytes(self.buf[HEADER_BYTES:end])
            if crc16(body) != CRC_RESIDUE:
                self.skipped += 1
                del self.buf[:1]
                continue
            frames.append(Frame(cmd, seq, body[:-2]))
            del self.buf[:end]
