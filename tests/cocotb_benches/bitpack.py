"""Pack/unpack lanes of fixed-width unsigned values to/from wide integers (vectorised)."""

from __future__ import annotations

import numpy as np

__all__ = ["pack_lanes", "unpack_lanes"]


def pack_lanes(values: np.ndarray, width: int) -> list[int]:
    """``values`` (steps, lanes) unsigned -> one int per step, lane ``i`` at bit ``i*width``."""
    v = np.asarray(values, dtype=np.uint64)
    steps, lanes = v.shape
    bits = ((v[:, :, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    packed = np.packbits(bits.reshape(steps, lanes * width), axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def unpack_lanes(words: list[int], width: int, lanes: int) -> np.ndarray:
    """Inverse of ``pack_lanes`` for ``width`` <= 64: (steps, lanes) uint64."""
    nbytes = (lanes * width + 7) // 8
    raw = np.frombuffer(b"".join(w.to_bytes(nbytes, "little") for w in words), dtype=np.uint8)
    bits = np.unpackbits(raw.reshape(len(words), nbytes), axis=1, bitorder="little")[:, :lanes * width]
    bits = bits.reshape(len(words), lanes, width).astype(np.uint64)
    return (bits << np.arange(width, dtype=np.uint64)).sum(axis=2, dtype=np.uint64)
