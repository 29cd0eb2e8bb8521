"""Host link: frame codec, golden device model, RTL == model byte for byte (Amaranth sim through
the UART pins), and the host driver end to end over a faulty simulated serial line."""

from __future__ import annotations

import random
import struct
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.lib.crc import catalog

from lmul.arith import ACCUMULATORS, AccKind, Accumulator, kulisch_bits, product_kind
from lmul.boards.device_model import HostLinkModel, ModelTransport
from lmul.boards.host import LMulDevice, as_bits
from lmul.boards.protocol import (
    CRC,
    CRC_RESIDUE,
    ERROR,
    MAGIC,
    OK,
    PROTOCOL_VERSION,
    SYNC,
    Cmd,
    Err,
    FrameDecoder,
    LinkConfig,
    LinkError,
    Status,
    crc16,
    encode_frame,
    pack_elements,
    unpack_elements,
)
from lmul.formats import FormatError, encode, get_format
from lmul.sim.kulisch import kulisch_accumulate
from lmul.sim.systolic_array import matmul
from lmul.vectors import special_values

# ---- codec ------------------------------------------------------------------------------------


def test_crc16_check_value_and_zero_residue() -> None:
    assert crc16(b"123456789") == 0x29B1          # CRC-16/CCITT-FALSE catalogue check value
    for data in (b"", b"\x00", bytes(range(256))):
        assert crc16(data + crc16(data).to_bytes(2, "big")) == 0


def test_decoder_recovers_frames_between_garbage_and_corruption() -> None:
    rng = random.Random(1)
    stream, want = b"", []
    for i in range(300):
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        frame = encode_frame(rng.randrange(256), i % 256, payload)
        r = rng.random()
        if r < 0.3:                                # corrupt one bit: CRC-16 catches every 1-bit error
            b = bytearray(frame)
            pos = rng.randrange(1, len(b))
            b[pos] ^= 1 << rng.randrange(8)
            stream += bytes(b)
        else:
            want.append((frame[1], frame[2], payload))
            stream += frame
        stream += bytes(rng.choice([SYNC, rng.randrange(256)]) for _ in range(rng.randrange(0, 4)))
    dec, got = FrameDecoder(), []
    for i in range(0, len(stream), 7):             # arbitrary chunking
        got += [(f.cmd, f.seq, f.payload) for f in dec.feed(stream[i:i + 7])]
    assert got == want            # every intact frame, in order; no corrupted one
    assert dec.skipped > 0


def test_encode_frame_rejects_bad_fields() -> None:
    with pytest.raises(LinkError):
        encode_frame(256, 0)
    with pytest.raises(LinkError):
        encode_frame(1, 0, bytes(70000))


def test_element_packing_round_trips_1_to_4_bytes() -> None:
    rng = np.random.default_rng(0)
    for nb in (1, 2, 3, 4):                  # 3: a 17..24-bit output format (e.g. e8m15)
        v = rng.integers(0, 1 << (8 * nb), 50)
        raw = pack_elements(v, nb)
        assert len(raw) == 50 * nb and raw[:nb] == int(v[0]).to_bytes(nb, "little")
        assert np.array_equal(unpack_elements(raw, nb), v)
    cfg = LinkConfig(get_format("e4m3"), "exact", 2, 2, m_max=3, k_max=4, n_max=3, out_fmt=get_format("e8m15"))
    a = encode(cfg.fmt, np.random.default_rng(1).standard_normal((3, 4)))
    assert LMulDevice(ModelTransport(cfg)).matmul(a, a.T).shape == (3, 3)       # checked against the model


def test_link_config_validation() -> None:
    with pytest.raises(FormatError, match="kind"):
        LinkConfig(get_format("e4m3"), "approx")
    with pytest.raises(FormatError, match="rows"):
        LinkConfig(get_format("e4m3"), rows=0)
    with pytest.raises(FormatError, match="16 bits"):
        LinkConfig(get_format("fp32"))
    with pytest.raises(FormatError, match="65535"):
        LinkConfig(get_format("bf16"), m_max=300, k_max=300, n_max=300)


def test_crc_is_the_amaranth_catalog_entry() -> None:
    """One CRC definition (``amaranth.lib.crc``) for the software codec and the gateware."""
    ref = catalog.CRC16_CCITT_FALSE(data_width=8)
    assert repr(CRC) == repr(ref) and CRC_RESIDUE == 0
    rng = random.Random(4)
    for n in (0, 1, 2, 7, 100):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert crc16(data) == ref.compute(data)


def test_link_config_kind_and_acc_come_from_the_registries() -> None:
    e4m3 = get_format("e4m3")
    cfg = LinkConfig(e4m3)
    assert (cfg.kind, cfg.acc) == ("lmul", "kulisch")                         # default accumulator
    cfg = LinkConfig(e4m3, product_kind("exact"), acc=Accumulator(ACCUMULATORS.get("kulisch")))
    assert (cfg.kind, cfg.acc) == ("exact", "kulisch") and type(cfg.kind) is str and type(cfg.acc) is str
    assert LinkConfig(e4m3, acc="KULISCH") == LinkConfig(e4m3)                # canonical names
    with pytest.raises(FormatError, match=r"acc must be one of kulisch; got 'wallace'"):
        LinkConfig(e4m3, acc="wallace")
    with pytest.raises(FormatError, match="acc options"):
        LinkConfig(e4m3, acc="kulisch:7")
    with pytest.raises(FormatError, match=r"kind must be one of exact, lmul"):
        LinkConfig(e4m3, "approx")
    with pytest.raises(FormatError, match="L-Mul needs at least 1 mantissa bit"):
        LinkConfig(get_format("e3m0:fn"), "lmul")          # the kind's own format check


def test_status_v3_names_kind_and_acc() -> None:
    """STATUS (protocol 3) carries the product kind and the accumulator as length-prefixed names."""
    assert PROTOCOL_VERSION == 3
    cfg = LinkConfig(get_format("e4m3"), "exact", 2, 3, m_max=4, k_max=5, n_max=6)
    static = cfg.static_status()
    assert static == (MAGIC + bytes([3, 2, 3]) + struct.pack("<HHH", 4, 5, 6) + b"\x0ee4m3:fn:bias=7"
                      + b"\x13e8m23:ieee:bias=127" + b"\x05exact" + b"\x07kulisch")
    dyn = struct.pack("<6H", 1, 2, 3, 4, 5, 6)
    st = Status.parse(dyn + static)
    assert st.config == cfg and (st.config.kind, st.config.acc) == ("exact", "kulisch")
    assert st.config.summary() == "e4m3 exact kulisch 2x3, m/k/n max 4/5/6"
    assert (st.weights, st.results, st.frames_ok, st.frames_bad) == ((1, 2), (3, 4), 5, 6)
    v2 = bytearray(dyn + static)
    v2[16] = 2
    with pytest.raises(LinkError, match="version 2, this driver 3"):
        Status.parse(bytes(v2))
    bad = [dyn + static[:-8] + b"\x07wallace",             # an accumulator this host does not know
           dyn + static[:-3],                                # the last name cut short
           dyn + static + b"\x00"]                          # bytes after the last name
    for payload, why in zip(bad, ["acc must be one of", "strings end at byte 62 of 59",
                                  "strings end at byte 62 of 63"], strict=True):
        with pytest.raises(LinkError, match=f"malformed STATUS.*{why}"):
            Status.parse(payload)


def flipped_accumulate(acc: Accumulator, out: object, p: object, axis: int) -> np.ndarray:
    """Golden function of a toy accumulator: the Kulisch result with its LSB flipped."""
    return kulisch_accumulate(acc, out, p, axis) ^ 1


@pytest.fixture
def flipped_acc():
    entry = ACCUMULATORS.register(AccKind(
        "flipped", "toy: kulisch, result LSB flipped", f"{__name__}:flipped_accumulate",
        "lmul.rtl.kulisch:KulischAccumulator", lambda fmt, kind, k_max, params: kulisch_bits(fmt, kind, k_max)))
    yield entry
    ACCUMULATORS.unregister("flipped")


def test_acc_reaches_model_driver_status_and_gateware(flipped_acc: AccKind) -> None:
    """``acc`` is not just a label: the device model computes with it, STATUS reports it, the driver
    checks against it and the board gateware builds its engine with it."""
    from lmul.boards.matmul_board import MatmulBoard

    cfg = LinkConfig(get_format("e4m3"), "lmul", 2, 2, m_max=3, k_max=4, n_max=3, acc="flipped")
    dev = LMulDevice(ModelTransport(cfg))
    assert dev.config.acc == "flipped" and dev.config.same_as(cfg)
    rng = np.random.default_rng(8)
    a, b = _floats(cfg, rng, (3, 4)), _floats(cfg, rng, (4, 3))
    c = dev.matmul(a, b)                                   # check=True: golden model with acc="flipped"
    assert np.array_equal(c, matmul(cfg.fmt, a, b, cfg.out_fmt, cfg.kind, "flipped"))
    assert np.array_equal(c ^ 1, matmul(cfg.fmt, a, b, cfg.out_fmt, cfg.kind, "kulisch"))
    board = MatmulBoard(cfg, 4, 100)
    assert board.engine.acc.name == "flipped"
    Fragment.get(board, None)                              # elaborates (and is not left unused)


def test_board_gateware_imports_no_golden_model() -> None:
    """Elaborating the board gateware loads neither ``lmul.sim`` nor the device model or host side;
    the protocol module loads no gateware either."""
    code = """if True:
        import sys
        import lmul.boards.protocol
        before = sorted(m for m in sys.modules if m.startswith(("lmul.rtl", "lmul.sim")))
        from amaranth.back import rtlil
        from lmul.boards.matmul_board import MatmulBoard
        from lmul.boards.protocol import LinkConfig
        rtlil.convert(MatmulBoard(LinkConfig("e3m2", "lmul", 1, 1, m_max=2, k_max=2, n_max=2), 4, 50))
        after = sorted(m for m in sys.modules if m.startswith("lmul.sim")
                       or m in ("lmul.boards.device_model", "lmul.boards.host", "lmul.boards.board_sim"))
        print(before, after)
    """
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["[]", "[]"]


# ---- golden device model ----------------------------------------------------------------------

CFG6 = LinkConfig(get_format("e3m2"), "exact", 1, 2, m_max=3, k_max=5, n_max=3)        # 6-bit: ELEMENT testable
CFG10 = LinkConfig(get_format("e4m5"), "lmul", 2, 1, m_max=3, k_max=4, n_max=3)        # 2 bytes per element


def _weights(cfg: LinkConfig, rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    pool = np.concatenate([special_values(cfg.fmt), rng.integers(0, 1 << cfg.fmt.width, 64)])
    return rng.choice(pool, (k, n))


def _req(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    return encode_frame(cmd, seq, payload)


def _w(cfg: LinkConfig, seq: int, b: np.ndarray) -> bytes:
    return _req(Cmd.LOAD_WEIGHTS, seq, struct.pack("<HH", *b.shape) + pack_elements(b.ravel(), cfg.eb))


def _run(cfg: LinkConfig, seq: int, a: np.ndarray) -> bytes:
    return _req(Cmd.RUN, seq, struct.pack("<H", a.shape[0]) + pack_elements(a.ravel(), cfg.eb))


def _replies(data: bytes) -> list[tuple[int, int, bytes]]:
    return [(f.cmd, f.seq, f.payload) for f in FrameDecoder().feed(data)]


def _err(code: Err, seq: int, cmd: int) -> tuple[int, int, bytes]:
    return (ERROR, seq, bytes([code, cmd]))


@pytest.mark.parametrize("cfg", [CFG6, CFG10], ids=["e3m2", "e4m5"])
def test_model_commands_errors_and_no_side_effects(cfg: LinkConfig) -> None:
    rng = np.random.default_rng(2)
    dev = HostLinkModel(cfg)
    st = Status.parse(_replies(dev.feed(_req(Cmd.STATUS, 1)))[0][2])
    assert st.config.same_as(cfg) and st.weights == (0, 0) and st.results == (0, 0) and st.frames_ok == 1
    a = _weights(cfg, rng, 2, 3)
    assert _replies(dev.feed(_run(cfg, 2, a))) == [_err(Err.NO_WEIGHTS, 2, Cmd.RUN)]
    assert _replies(dev.feed(_req(Cmd.READ_RESULTS, 3))) == [_err(Err.NO_RESULTS, 3, Cmd.READ_RESULTS)]
    b = _weights(cfg, rng, 3, 2)
    assert _replies(dev.feed(_w(cfg, 4, b))) == [(Cmd.LOAD_WEIGHTS | OK, 4, b"")]
    assert _replies(dev.feed(_run(cfg, 5, a))) == [(Cmd.RUN | OK, 5, b"")]
    ref = matmul(cfg.fmt, a, b, cfg.out_fmt, cfg.kind)
    (cmd, seq, p), = _replies(dev.feed(_req(Cmd.READ_RESULTS, 6)))
    assert (cmd, seq) == (Cmd.READ_RESULTS | OK, 6) and p[:4] == struct.pack("<HH", 2, 2)
    assert np.array_equal(np.frombuffer(p[4:], "<u4"), ref.ravel())
    # rejected requests: each error, and nothing changes (results stay readable and equal)
    big = np.zeros((cfg.k_max + 1, 1), dtype=np.int64)
    bad = [
        (_req(Cmd.STATUS, 7, b"x"), Err.LENGTH),
        (_req(Cmd.LOAD_WEIGHTS, 8, b"\x01\x00"), Err.LENGTH),
        (_w(cfg, 9, big), Err.DIMS),
        (_req(Cmd.LOAD_WEIGHTS, 10, struct.pack("<HH", 1, 1)), Err.LENGTH),
        (_run(cfg, 11, np.zeros((cfg.m_max + 1, 3), dtype=np.int64)), Err.DIMS),
        (_run(cfg, 12, np.zeros((1, 2), dtype=np.int64)), Err.LENGTH),
        (_req(0x33, 13), Err.UNKNOWN_CMD),
        (_req(Cmd.READ_RESULTS, 14, b"\x00"), Err.LENGTH),
        (_w(cfg, 15, np.full((1, 1), 1 << cfg.fmt.width)), Err.ELEMENT),
        (_run(cfg, 16, np.full((1, 3), (1 << (8 * cfg.eb)) - 1)), Err.ELEMENT),
    ]
    for frame, code in bad:
        assert _replies(dev.feed(frame)) == [_err(code, frame[2], frame[1])], code
    corrupt = bytearray(_w(cfg, 17, b))
    corrupt[9] ^= 0x10
    assert _replies(dev.feed(bytes(corrupt))) == [_err(Err.PAYLOAD_CRC, 17, Cmd.LOAD_WEIGHTS)]
    hdr = bytearray(_req(Cmd.STATUS, 18))
    hdr[3] ^= 1
    assert dev.feed(bytes(hdr)) == b""                 # a header rejection waits for the idle line
    assert _replies(dev.idle()) == [_err(Err.HEADER_CRC, 18, Cmd.STATUS)]
    # what follows a rejected header is discarded, never parsed as frames: a STATUS frame inside the
    # payload of an oversize or header-corrupted frame is not executed
    inner = _req(Cmd.STATUS, 40)
    over = _req(Cmd.LOAD_WEIGHTS, 41, inner + bytes(cfg.max_payload))
    assert dev.feed(over) == b"" and _replies(dev.idle()) == [_err(Err.LENGTH, 41, Cmd.LOAD_WEIGHTS)]
    hdr = _hdr_flipped(_req(Cmd.LOAD_WEIGHTS, 42, inner))
    assert dev.feed(bytes(hdr)) == b"" and _replies(dev.idle()) == [_err(Err.HEADER_CRC, 42, Cmd.LOAD_WEIGHTS)]
    assert dev.feed(_w(cfg, 19, b)[:10]) == b""
    assert _replies(dev.idle()) == [_err(Err.TIMEOUT, 19, Cmd.LOAD_WEIGHTS)]
    assert dev.feed(b"\x00\x13\x37") == b"" and _replies(dev.idle()) == [_err(Err.GARBAGE, 0, 0)]
    assert dev.idle() == b""
    assert _replies(dev.feed(_req(Cmd.READ_RESULTS, 20)))[0][2] == p
    st = Status.parse(_replies(dev.feed(_req(Cmd.STATUS, 21)))[0][2])
    assert st.weights == (3, 2) and st.results == (2, 2)
    assert st.frames_ok == 6 and st.frames_bad == 2 + len(bad) + 6


# ---- RTL == model (Amaranth simulation through the UART pins) ----------------------------------


def _hdr_flipped(frame: bytes) -> bytearray:
    f = bytearray(frame)
    f[4] ^= 0x80            # the length's high byte: the header CRC fails
    return f


def _script(cfg: LinkConfig, seed: int) -> list[bytes | None]:
    """Requests, corruptions, truncations and garbage; ``None`` = line idle past the timeout."""
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    b = _weights(cfg, rng, cfg.k_max, 2)
    a = _weights(cfg, rng, cfg.m_max, cfg.k_max)
    ev: list[bytes | None] = [
        _req(Cmd.STATUS, 1), _run(cfg, 2, a), _w(cfg, 3, b), _run(cfg, 4, a), _req(Cmd.READ_RESULTS, 5),
        _w(cfg, 6, _weights(cfg, rng, 2, cfg.n_max)), _run(cfg, 7, a[:1, :2]), _req(Cmd.READ_RESULTS, 8),
        _req(Cmd.STATUS, 9, b"xy"), _req(0x7E, 10), _w(cfg, 11, np.zeros((cfg.k_max + 1, 1), np.int64)),
        _w(cfg, 12, np.full((1, 1), 1 << cfg.fmt.width)),
        _req(Cmd.STATUS, 13, bytes(cfg.max_payload + 1)), None,      # oversize length
        _req(Cmd.RUN, 16, _req(Cmd.STATUS, 17) + bytes(cfg.max_payload)), None,   # frame inside an oversize one
        b"\x01\x02\x03", None,                                       # garbage, then idle
        bytes(_hdr_flipped(_req(Cmd.LOAD_WEIGHTS, 18, _req(Cmd.STATUS, 19)))), None,   # ... a corrupted one
        b"\x07\xa5\xa5\x00", None,                                   # garbage with sync bytes (a header cut short)
        _w(cfg, 14, b)[:9], None,                                    # truncated
        _req(Cmd.STATUS, 15)[:4], None,                              # truncated inside the header
    ]
    for i in range(12):                                              # random single/multi-bit corruption
        f = bytearray(prng.choice([_w(cfg, 50 + i, b), _run(cfg, 50 + i, a[:2]), _req(Cmd.READ_RESULTS, 50 + i)]))
        for _ in range(prng.randint(1, 3)):
            f[prng.randrange(len(f))] ^= 1 << prng.randrange(8)
        ev += [bytes(f), None]
    ev += [_run(cfg, 30, a), _req(Cmd.READ_RESULTS, 31), _req(Cmd.STATUS, 32)]
    return ev


@pytest.mark.parametrize("cfg", [CFG6, CFG10], ids=["e3m2", "e4m5"])
def test_rtl_replies_equal_model_byte_for_byte(cfg: LinkConfig) -> None:
    from lmul.boards.board_sim import SimulatedBoard

    board = SimulatedBoard(cfg, divisor=4)
    model = HostLinkModel(cfg)
    idle = (board.timeout_cycles + 40 * board.divisor) / 1e6
    kinds = set()
    for ev in _script(cfg, 3):
        if ev is None:
            board.idle(idle)
            want = model.idle()
        else:
            board.write(ev)
            want = model.feed(ev)
        got = board.read(0.05 if want else 3 * board.byte_time)
        assert got == want, (ev, _replies(got), _replies(want))
        kinds |= {(c, p[:1]) for c, _, p in _replies(want)}
    st = Status.parse(_replies(want)[0][2])              # the script ends with STATUS: the gateware's ROM
    assert st.config.same_as(cfg) and (st.config.kind, st.config.acc) == (cfg.kind, "kulisch")
    codes = {p[0] for c, p in kinds if c == ERROR}
    assert {Err.NO_WEIGHTS, Err.LENGTH, Err.UNKNOWN_CMD, Err.DIMS, Err.ELEMENT, Err.GARBAGE, Err.TIMEOUT,
            Err.HEADER_CRC} <= codes
    assert {Cmd.STATUS | OK, Cmd.RUN | OK, Cmd.READ_RESULTS | OK, Cmd.LOAD_WEIGHTS | OK} <= {c for c, _ in kinds}


# ---- the host driver ----------------------------------------------------------------------------


class FaultyLine:
    """Wraps a transport; corrupts, truncates, pads with garbage, drops or duplicates frames to
    the device and flips bits in replies, with probability ``p`` each way."""

    def __init__(self, inner: object, seed: int, p: float) -> None:
        self.inner, self.rng, self.p = inner, random.Random(seed), p
        self.byte_time = inner.byte_time
        self.faults: dict[str, int] = {}

    def _count(self, what: str) -> None:
        self.faults[what] = self.faults.get(what, 0) + 1

    def write(self, data: bytes) -> None:
        r = self.rng
        if r.random() < self.p:
            kind = r.choice(["flip", "truncate", "garbage", "drop", "duplicate"])
            self._count(kind)
            b = bytearray(data)
            if kind == "flip":
                b[r.randrange(len(b))] ^= 1 << r.randrange(8)
            elif kind == "truncate":
                b = b[:r.randrange(1, len(b))]
            elif kind == "garbage":
                b = bytearray(r.randrange(256) for _ in range(r.randint(1, 5))) + b
            elif kind == "drop":
                del b[r.randrange(len(b))]
            else:
                b = b + b
            data = bytes(b)
        self.inner.write(data)

    def read(self, timeout: float) -> bytes:
        data = self.inner.read(timeout)
        if data and self.rng.random() < self.p:
            self._count("reply flip")
            b = bytearray(data)
            b[self.rng.randrange(len(b))] ^= 1 << self.rng.randrange(8)
            data = bytes(b)
        return data


def _floats(cfg: LinkConfig, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return encode(cfg.fmt, rng.standard_normal(shape))


@pytest.mark.parametrize("seed", range(4))
def test_driver_matmul_over_faulty_model_line(seed: int) -> None:
    cfg = LinkConfig(get_format("e4m3"), "lmul", 2, 2, m_max=3, k_max=8, n_max=2)
    line = FaultyLine(ModelTransport(cfg), seed, p=0.3)
    dev = LMulDevice(line, retries=30)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        m, k, n = (int(v) for v in rng.integers(1, [8, cfg.k_max + 1, 6]))
        a, b = _floats(cfg, rng, (m, k)), _floats(cfg, rng, (k, n))
        c = dev.matmul(a, b)
        assert np.array_equal(c, matmul(cfg.fmt, a, b, cfg.out_fmt, cfg.kind))
    assert sum(line.faults.values()) > 10 and dev.stats.retries > 0


def test_driver_end_to_end_on_simulated_board_with_faults() -> None:
    from lmul.boards.board_sim import SimulatedBoard

    cfg = LinkConfig(get_format("e4m3"), "lmul", 2, 2, m_max=3, k_max=6, n_max=3)   # N tile: 2 column blocks
    board = SimulatedBoard(cfg, divisor=4)
    line = FaultyLine(board, 7, p=0.25)
    dev = LMulDevice(line, retries=20, base_timeout=40 * board.byte_time)    # > the board's idle timeout
    rng = np.random.default_rng(5)
    a, b = _floats(cfg, rng, (5, 6)), _floats(cfg, rng, (6, 5))     # 2 x 2 tiles (M 3+2, N 3+2)
    c = dev.matmul(a, b)
    assert np.array_equal(c, matmul(cfg.fmt, a, b, cfg.out_fmt, cfg.kind))
    assert sum(line.faults.values()) > 0 and dev.stats.retries > 0
    line.p = 0
    st = dev.status()
    assert st.frames_bad > 0 and st.weights == (6, 2) and st.results == (2, 2)


def test_driver_input_errors() -> None:
    cfg = LinkConfig(get_format("e4m3"), "lmul", 2, 2, m_max=3, k_max=4, n_max=2)
    dev = LMulDevice(ModelTransport(cfg))
    assert dev.config.same_as(cfg)
    with pytest.raises(FormatError, match="k_max"):
        dev.matmul(np.zeros((2, 5), np.uint8), np.zeros((5, 2), np.uint8))
    with pytest.raises(FormatError, match="quantise"):
        dev.matmul(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(FormatError, match="M×K"):
        dev.matmul(np.zeros((2, 3), np.uint8), np.zeros((2, 2), np.uint8))
    with pytest.raises(LinkError, match="NO_WEIGHTS"):
        dev.run(np.zeros((1, 2), np.uint8))
    dev.load_weights(np.zeros((3, 2), np.uint8))
    with pytest.raises(FormatError, match="K = 2, the loaded weights K = 3"):
        dev.run(np.zeros((1, 2), np.uint8))
    # arrays of the board's own dtype are taken as they are; any other float dtype is refused, never
    # reinterpreted (float8_e4m3 is IEEE-style E4M3: same width, different encodings)
    x = np.array([[1.5, -2.0]], dtype=ml_dtypes.float8_e4m3fn)
    assert list(as_bits(x, cfg.fmt).ravel()) == list(encode(cfg.fmt, np.array([1.5, -2.0])))
    for t in (ml_dtypes.float8_e4m3, ml_dtypes.float8_e5m2, ml_dtypes.bfloat16, np.float16, np.float32):
        with pytest.raises(FormatError, match="float8_e4m3fn"):
            as_bits(np.ones((1, 2), dtype=t), cfg.fmt)
    for fmt, t in ((get_format("e5m2"), ml_dtypes.float8_e5m2), (get_format("bf16"), ml_dtypes.bfloat16),
                   (get_format("fp16"), np.float16), (get_format("e3m2"), ml_dtypes.float6_e3m2fn)):
        v = np.array([[1.0, -0.25, 3.0]])
        assert list(as_bits(v.astype(t), fmt).ravel()) == list(encode(fmt, v).ravel()), fmt.name
    with pytest.raises(FormatError, match=r"e3m3 bit patterns, got dtype float64 \(quantise"):
        as_bits(np.ones(2), get_format("e3m3"))
    e5 = LinkConfig(get_format("e5m2"), "exact", 2, 2, m_max=2, k_max=2, n_max=2)
    a = np.array([[1.5, -2.0], [0.5, 4.0]], dtype=ml_dtypes.float8_e5m2)
    c = LMulDevice(ModelTransport(e5)).matmul(a, a)
    assert np.array_equal(c, matmul(e5.fmt, as_bits(a, e5.fmt), as_bits(a, e5.fmt), e5.out_fmt, e5.kind))


class _ModelOverTCP:
    """The golden device model behind a TCP socket, answering in small pieces with pauses (as a USB
    serial adapter delivers bursts); a quiet line lets the device's idle timeout fire."""

    def __init__(self, cfg: LinkConfig, piece: int = 8, pause: float = 0.003) -> None:
        import socket
        import threading

        self.model, self.piece, self.pause = HostLinkModel(cfg), piece, pause
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import time

        conn, _ = self.server.accept()
        conn.settimeout(0.05)
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                    if not data:
                        return
                    reply = self.model.feed(data)
                except TimeoutError:
                    reply = self.model.idle()
                except OSError:
                    return
                try:
                    for i in range(0, len(reply), self.piece):
                        conn.sendall(reply[i:i + self.piece])
                        time.sleep(self.pause)
                except OSError:                     # the host closed the port
                    return


def test_serial_transport_driver_over_pyserial_socket() -> None:
    """``SerialTransport`` (pyserial URL) + driver against the model served over TCP: replies of
    ~1 kB arrive in 8-byte pieces, each a separate read, and are reassembled; open errors are clear."""
    from lmul.boards.host import SerialTransport

    cfg = LinkConfig(get_format("e4m3"), "lmul", 2, 2, m_max=16, k_max=8, n_max=16)
    server = _ModelOverTCP(cfg)
    line = SerialTransport(server.url, gap=0.0005)
    try:
        dev = LMulDevice(line)
        assert dev.config.same_as(cfg)
        rng = np.random.default_rng(11)
        a, b = _floats(cfg, rng, (16, 8)), _floats(cfg, rng, (8, 16))
        assert np.array_equal(dev.matmul(a, b), matmul(cfg.fmt, a, b, cfg.out_fmt, cfg.kind))
        assert dev.stats.retries == 0
        line.write(encode_frame(Cmd.STATUS, 9, b"")[:5])                # a truncated frame: TIMEOUT reply
        dec, reply = FrameDecoder(), []
        while not reply and (data := line.read(2.0)):
            reply = list(dec.feed(data))
        assert [(f.cmd, f.payload[0]) for f in reply] == [(ERROR, Err.TIMEOUT)]
    finally:
        line.close()
    with pytest.raises(LinkError, match="cannot open"):
        SerialTransport("/dev/no-such-serial-port")


def test_serial_transport_gives_up_on_a_line_that_never_goes_quiet() -> None:
    """A port that keeps sending (wrong port, another bitstream printing, wrong baud rate) cannot
    hold the host: the driver gives up with a LinkError in bounded time."""
    import socket
    import threading
    import time

    from lmul.boards.host import SerialTransport

    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def chatter() -> None:
        conn, _ = server.accept()
        with conn:
            while not stop.is_set():
                try:
                    conn.sendall(b"hello from another design\r\n")
                except OSError:
                    return
                time.sleep(0.001)

    threading.Thread(target=chatter, daemon=True).start()
    line = SerialTransport(f"socket://127.0.0.1:{server.getsockname()[1]}")     # 20 ms quiet gap
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            LMulDevice(line, retries=1, base_timeout=0.1)
            outcome.append(None)
        except LinkError as e:
            outcome.append(e)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(20)
    stop.set()
    line.close()
    assert not worker.is_alive(), "the driver is still waiting on a line that never goes quiet"
    assert outcome and isinstance(outcome[0], LinkError) and "STATUS failed after 2 attempts" in str(outcome[0])
