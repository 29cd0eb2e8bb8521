"""Golden device model: the twin of the link gateware (``lmul.boards.host_link.HostLink`` with a
``MatmulEngine`` behind it), bytes in, reply bytes out, for the protocol of ``lmul.boards.protocol``.

``HostLinkModel(cfg)`` is what the tests compare the gateware with byte for byte;
``ModelTransport(cfg)`` puts it behind the host transport interface (``lmul.boards.host``), so the
driver and ``lmul board`` run without hardware or simulator. Results come from the golden
``lmul.sim.systolic_array.matmul`` with the configuration's product kind and accumulator.
Host side only: gateware never imports this module.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lmul.boards.protocol import (
    CRC_RESIDUE,
    ERROR,
    HEADER_BYTES,
    OK,
    SYNC,
    Cmd,
    Err,
    LinkConfig,
    crc16,
    encode_frame,
    pack_elements,
    status_payload,
    unpack_elements,
)
from lmul.sim.systolic_array import matmul

__all__ = ["HostLinkModel", "ModelTransport"]


@dataclass
class HostLinkModel:
    """Golden device: bytes in -> reply bytes out, exactly as ``lmul.boards.host_link.HostLink``
    with a ``MatmulEngine`` behind it. ``idle()`` is the line-idle timeout event."""

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
            bad_crc = crc16(bytes(self.hdr)) != CRC_RESIDUE
            if bad_crc or self.length > self.cfg.max_payload:
                self.state, self.pending = "discard", Err.HEADER_CRC if bad_crc else Err.LENGTH
                return b""
            self.payload, self.state = bytearray(), "payload"
            return b""
        self.payload.append(byte)
        if len(self.payload) < self.length + 2:
            return b""
        self.state = "hunt"
        if crc16(bytes(self.payload)) != CRC_RESIDUE:
            return self._error(Err.PAYLOAD_CRC)
        return self._execute(bytes(self.payload[:-2]))

    def _reply(self, payload: bytes | Callable[[], bytes] = b"") -> bytes:
        """OK reply; the counter includes this request (a STATUS reply shows it)."""
        self.frames_ok = (self.frames_ok + 1) & 0xFFFF
        return encode_frame(self.cmd | OK, self.seq, payload() if callable(payload) else payload)

    def status_payload(self) -> bytes:
        weights = self.weights.shape if self.weights is not None else (0, 0)
        results = self.results.shape if self.results is not None else (0, 0)
        return status_payload(self.cfg, weights, results, self.frames_ok, self.frames_bad)

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
            self.results = matmul(cfg.fmt, a, self.weights, cfg.out_fmt, cfg.kind, cfg.acc).astype(np.int64)
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
