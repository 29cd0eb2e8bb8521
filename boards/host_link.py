"""Host-link protocol engine: gateware (golden twin: ``lmul.boards.device_model.HostLinkModel``).

``HostLink`` implements the frame protocol of ``lmul.boards.protocol`` between a UART and a
``MatmulEngine``, reply for reply and byte for byte as the golden model: CRC-16 checks of header
and payload, garbage, timeout and header-rejection reporting after ``timeout_cycles`` idle
cycles, command validation in the model's order (length, weights, dimensions, exact length,
element encodings), then execution.

Store and forward: a request payload is written to a frame buffer and only reaches the engine
after its CRC checked and it validated, so a rejected frame changes nothing. Results are kept
in a result memory (``m_max`` rows × ``ceil(n_max/cols)`` words of ``cols`` elements) and can be
read again. Half duplex: while a request executes or a reply is sent, ``rx`` is not read (the
UART drops bytes that arrive meanwhile; a host waits for the reply before sending more), so one
CRC processor (``amaranth.lib.crc``, built from ``protocol.CRC``) serves both directions.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from lmul.boards.protocol import CRC, ERROR, HEADER_BYTES, OK, SYNC, Cmd, Err, LinkConfig
from lmul.errors import check_int
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.matmul_engine import Op, cmd_layout, res_layout

__all__ = ["HostLink"]


class HostLink(wiring.Component):
    """The device side of the host link: frames in from a UART, jobs out to a ``MatmulEngine``,
    replies back.

    Parameters
    ----------
    cfg : LinkConfig
        Element and result formats, array size and the ``m_max``/``k_max``/``n_max`` limits;
        they size the frame buffer, the result memory and the engine streams, and are the
        constant part of the STATUS reply.
    timeout_cycles : int
        Idle cycles after which a frame that stopped arriving, a rejected header or garbage is
        reported (>= 1; a few byte times, so a host's pause inside a frame is not mistaken for
        its end).

    Attributes
    ----------
    rx : In(stream.Signature(8))
        Bytes from the host (a UART receiver); ``ready`` is low while a request executes or a
        reply is sent, so bytes arriving then are dropped by the UART.
    tx : Out(stream.Signature(8))
        Reply bytes to the host (a UART transmitter).
    cmd : Out(stream.Signature(cmd_layout(m_max, k_max, n_max)))
        One ``WEIGHTS`` or ``RUN`` job per validated ``LOAD_WEIGHTS`` / ``RUN`` request.
    data : Out(stream.Signature(FloatLayout(cfg.fmt)))
        The job's elements, row-major, one per beat.
    res : In(stream.Signature(res_layout(out_fmt, cols, m_max, n_max)))
        The engine's result rows, stored for ``READ_RESULTS`` (always ready).

    Latency and throughput: not meaningful as fixed figures for a request/reply protocol whose
    pace the UART sets. For scale: the link takes a received byte per cycle and sends a reply byte
    every two cycles (far below a UART byte time); after a request's last byte it needs a few
    cycles plus one or two shift-and-add multiplications (a cycle per bit of a dimension) to
    validate it, then feeds the engine one element per ``2 * elem_bytes + 1`` cycles.
    """

    def __init__(self, cfg: LinkConfig, timeout_cycles: int) -> None:
        self.cfg, self.timeout_cycles = cfg, check_int("timeout_cycles", timeout_cycles, 1)
        super().__init__({
            "rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8)),
            "cmd": Out(stream.Signature(cmd_layout(cfg.m_max, cfg.k_max, cfg.n_max))),
            "data": Out(stream.Signature(FloatLayout(cfg.fmt))),
            "res": In(stream.Signature(res_layout(cfg.out_fmt, cfg.cols, cfg.m_max, cfg.n_max))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.cfg
        eb, ob, C = cfg.eb, cfg.ob, cfg.cols
        width = cfg.fmt.width

        # ---- receiver -------------------------------------------------------------------------
        buf = Memory(shape=8, depth=cfg.max_payload, init=[])
        m.submodules.buf = buf
        bw, br = buf.write_port(), buf.read_port()
        cmd, seq = Signal(8), Signal(8)
        length = Signal(16)
        hidx = Signal(range(HEADER_BYTES))
        pcount = Signal(range(cfg.max_payload + 3))
        # one CRC processor for both directions (half duplex): the crc register is updated on the
        # cycle after ``valid``; ``match_detected``: data followed by its CRC so far
        m.submodules.crc = crc = CRC.create()
        f = Array([Signal(8, name=f"f{i}") for i in range(4)])
        garbage, bad_elem = Signal(), Signal()
        pend = Signal(8)        # the error code of a rejected header, sent when the line is idle
        timer = Signal(range(self.timeout_cycles + 1))
        byte = self.rx.payload
        rx_fire = self.rx.valid & self.rx.ready
        hdr_len = Mux(cmd == Cmd.LOAD_WEIGHTS, 4, 2)
        m.d.comb += [bw.addr.eq(pcount), bw.data.eq(byte)]
        if width < 8 * eb:
            elem_phase = pcount[0] if eb == 2 else Const(0)
            high_bad = (byte >> (width - 8 * (eb - 1))) != 0
            is_elem_top = ((cmd == Cmd.LOAD_WEIGHTS) | (cmd == Cmd.RUN)) & (pcount >= hdr_len) & (
                elem_phase == eb - 1) & (pcount < length)
        else:
            high_bad, is_elem_top = Const(0), Const(0)

        # ---- link state ------------------------------------------------------------------------
        w_ok, w_k, w_n = Signal(), Signal(range(cfg.k_max + 1)), Signal(range(cfg.n_max + 1))
        res_ok, res_m, res_n = Signal(), Signal(range(cfg.m_max + 1)), Signal(range(cfg.n_max + 1))
        res_len = Signal(range(cfg.max_result + 1))
        frames_ok, frames_bad = Signal(16), Signal(16)
        # iterative multiplier (operands validated first: products fit these widths)
        prod_max = max(cfg.k_max * cfg.n_max, cfg.m_max * cfg.k_max, cfg.m_max * cfg.n_max)
        mul_a, mul_acc = Signal(range(prod_max + 1)), Signal(range(prod_max + 1))
        mul_b = Signal(range(max(cfg.m_max, cfg.k_max, cfg.n_max) + 1))
        # engine feed
        ptr = Signal(range(cfg.max_payload + 1))
        remaining = Signal(range(prod_max + 1))
        elem = Signal(8 * eb)
        bphase = Signal(range(eb + 1))
        # reply
        r_cmd, r_seq, r_code, r_ecmd = Signal(8), Signal(8), Signal(8), Signal(8)
        static = cfg.static_status()
        n_status = 12 + len(static)
        r_len = Signal(range(max(cfg.max_result, n_status) + 1))
        r_src = Signal(2)    # 0 none, 1 error, 2 status, 3 results
        tidx = Signal(range(HEADER_BYTES + max(cfg.max_result, n_status) + 3))
        tcrc = crc.crc

        # ---- result memory ---------------------------------------------------------------------
        nb = -(-cfg.n_max // C)
        jb_bits = max(nb - 1, 0).bit_length()
        word = data.ArrayLayout(FloatLayout(cfg.out_fmt), C)
        rmem = Memory(shape=word, depth=cfg.m_max << jb_bits, init=[])
        m.submodules.rmem = rmem
        rw, rr = rmem.write_port(), rmem.read_port()
        prev_j0, prev_jb = Signal.like(self.res.p.j0), Signal(max(jb_bits, 1))
        jb = Signal(max(jb_bits, 1))
        rp = self.res.p
        m.d.comb += [jb.eq(Mux(rp.j0 == 0, 0, Mux(rp.j0 == prev_j0, prev_jb, prev_jb + 1))),
                     self.res.ready.eq(1), rw.data.eq(rp.c), rw.en.eq(self.res.valid),
                     rw.addr.eq(Cat(jb[:jb_bits], rp.i) if jb_bits else rp.i)]
        res_last = Signal()
        with m.If(self.res.valid):
            m.d.sync += [prev_j0.eq(rp.j0), prev_jb.eq(jb)]
            with m.If(rp.last):
                m.d.sync += res_last.eq(1)

        # result read-out counters (payload bytes >= 4 of a READ_RESULTS reply)
        ri, rjb = Signal(range(cfg.m_max + 1)), Signal(max(jb_bits, 1))
        rj, rc, rb = Signal(range(cfg.n_max + 1)), Signal(range(C)), Signal(range(ob))
        m.d.comb += rr.addr.eq(Cat(rjb[:jb_bits], ri) if jb_bits else ri)
        out_elem = Signal(8 * ob)
        m.d.comb += out_elem.eq(Array([rr.data[c].as_value() for c in range(C)])[rc])

        # status bytes: 12 dynamic, then the configuration constants
        def u16(v: Value) -> Value:
            return Cat(v, Const(0, 16))[:16]

        status_bytes = [u16(v)[i: i + 8] for v in (w_k, w_n, res_m, res_n, frames_ok, frames_bad) for i in (0, 8)]
        status_bytes += [Const(b, 8) for b in static]
        pidx = Signal.like(tidx)
        m.d.comb += pidx.eq(tidx - HEADER_BYTES)
        results_header = Array([u16(res_m)[:8], u16(res_m)[8:], u16(res_n)[:8], u16(res_n)[8:]])
        payload_byte = Mux(r_src == 1, Mux(pidx == 0, r_code, r_ecmd),
                           Mux(r_src == 2, Array(status_bytes)[pidx[:len(status_bytes).bit_length()]],
                               Mux(pidx < 4, results_header[pidx[:2]], Array(
                                   [out_elem[8 * i: 8 * i + 8] for i in range(ob)])[rb])))
        last_idx = Signal.like(tidx)
        m.d.comb += last_idx.eq(HEADER_BYTES + r_len + 1)
        tx_byte = Signal(8)
        with m.Switch(tidx):
            with m.Case(0):
                m.d.comb += tx_byte.eq(SYNC)
            with m.Case(1):
                m.d.comb += tx_byte.eq(r_cmd)
            with m.Case(2):
                m.d.comb += tx_byte.eq(r_seq)
            with m.Case(3):
                m.d.comb += tx_byte.eq(r_len[:8])
            with m.Case(4):
                m.d.comb += tx_byte.eq(r_len[8:16])
            with m.Case(5):
                m.d.comb += tx_byte.eq(tcrc[8:])
            with m.Case(6):
                m.d.comb += tx_byte.eq(tcrc[:8])
            with m.Default():
                with m.If(tidx == last_idx - 1):
                    m.d.comb += tx_byte.eq(tcrc[8:])
                with m.Elif(tidx == last_idx):
                    m.d.comb += tx_byte.eq(tcrc[:8])
                with m.Else():
                    m.d.comb += tx_byte.eq(payload_byte)

        def reply(src: int, length_: Value | int, code: int = 0, seq_: int | None = None) -> None:
            """Start a reply frame: ``src`` 0 no payload, 1 error, 2 status, 3 results."""
            ok = src != 1
            m.d.sync += [r_src.eq(src), r_len.eq(length_), r_code.eq(code), r_ecmd.eq(cmd),
                         r_cmd.eq(cmd | OK if ok else ERROR), r_seq.eq(seq if seq_ is None else seq_),
                         tidx.eq(0), ri.eq(0), rjb.eq(0), rj.eq(0), rc.eq(0), rb.eq(0)]
            counter = frames_ok if ok else frames_bad
            m.d.sync += counter.eq(counter + 1)
            m.next = "TX_PREP"

        def error(code: Err, seq_: int | None = None) -> None:
            reply(1, 2, code, seq_=seq_)
            if code == Err.GARBAGE:
                m.d.sync += r_ecmd.eq(0)

        def mul(a: Value, b: Value, then: str) -> None:
            m.d.sync += [mul_a.eq(a), mul_b.eq(b), mul_acc.eq(0)]
            m.next = then

        def mul_state(name: str, then: str) -> None:
            with m.State(name):
                with m.If(mul_b == 0):
                    m.next = then
                with m.Else():
                    with m.If(mul_b[0]):
                        m.d.sync += mul_acc.eq(mul_acc + mul_a)
                    m.d.sync += [mul_a.eq(mul_a << 1), mul_b.eq(mul_b >> 1)]

        k_in, n_in = Cat(f[0], f[1]), Cat(f[2], f[3])
        m_in = Cat(f[0], f[1])

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(rx_fire):
                    m.d.sync += timer.eq(0)
                    with m.If(byte == SYNC):
                        m.d.comb += crc.start.eq(1)
                        m.d.sync += [garbage.eq(0), cmd.eq(0), seq.eq(0), hidx.eq(0)]
                        m.next = "HEADER"
                    with m.Else():
                        m.d.sync += garbage.eq(1)
                with m.Elif(garbage):
                    m.d.sync += timer.eq(timer + 1)
                    with m.If(timer == self.timeout_cycles - 1):
                        m.d.sync += [garbage.eq(0), timer.eq(0), cmd.eq(0)]
                        error(Err.GARBAGE, seq_=0)
            with m.State("HEADER"):
                m.d.comb += [self.rx.ready.eq(1), crc.data.eq(byte), crc.valid.eq(rx_fire)]
                with m.If(rx_fire):
                    m.d.sync += [timer.eq(0), hidx.eq(hidx + 1)]
                    with m.Switch(hidx):
                        with m.Case(0):
                            m.d.sync += cmd.eq(byte)
                        with m.Case(1):
                            m.d.sync += seq.eq(byte)
                        with m.Case(2):
                            m.d.sync += length[:8].eq(byte)
                        with m.Case(3):
                            m.d.sync += length[8:].eq(byte)
                    with m.If(hidx == HEADER_BYTES - 2):
                        m.next = "HCHECK"
                with m.Else():
                    m.d.sync += timer.eq(timer + 1)
                    with m.If(timer == self.timeout_cycles - 1):
                        error(Err.TIMEOUT)
            with m.State("HCHECK"):         # the CRC register holds the whole header now
                with m.If(~crc.match_detected):
                    m.d.sync += pend.eq(Err.HEADER_CRC)
                    m.next = "DISCARD"
                with m.Elif(length > cfg.max_payload):
                    m.d.sync += pend.eq(Err.LENGTH)
                    m.next = "DISCARD"
                with m.Else():
                    m.d.comb += crc.start.eq(1)
                    m.d.sync += [pcount.eq(0), bad_elem.eq(0)]
                    m.next = "PAYLOAD"
            with m.State("DISCARD"):        # a rejected header: drop bytes until the line is idle
                m.d.comb += self.rx.ready.eq(1)
                with m.If(rx_fire):
                    m.d.sync += timer.eq(0)
                with m.Else():
                    m.d.sync += timer.eq(timer + 1)
                    with m.If(timer == self.timeout_cycles - 1):
                        reply(1, 2, pend)
            with m.State("PAYLOAD"):
                m.d.comb += [self.rx.ready.eq(1), crc.data.eq(byte), crc.valid.eq(rx_fire)]
                with m.If(rx_fire):
                    m.d.sync += [timer.eq(0), pcount.eq(pcount + 1)]
                    m.d.comb += bw.en.eq(pcount < length)
                    with m.If(pcount < 4):
                        m.d.sync += f[pcount[:2]].eq(byte)
                    with m.If(is_elem_top & high_bad):
                        m.d.sync += bad_elem.eq(1)
                    with m.If(pcount == length + 1):
                        m.next = "EXEC"
                with m.Else():
                    m.d.sync += timer.eq(timer + 1)
                    with m.If(timer == self.timeout_cycles - 1):
                        error(Err.TIMEOUT)
            with m.State("EXEC"):
                with m.If(~crc.match_detected):         # payload + its CRC, checked
                    error(Err.PAYLOAD_CRC)
                with m.Else(), m.Switch(cmd):
                    with m.Case(Cmd.STATUS):
                        with m.If(length != 0):
                            error(Err.LENGTH)
                        with m.Else():
                            reply(2, len(status_bytes))
                    with m.Case(Cmd.READ_RESULTS):
                        with m.If(length != 0):
                            error(Err.LENGTH)
                        with m.Elif(~res_ok):
                            error(Err.NO_RESULTS)
                        with m.Else():
                            reply(3, res_len)
                    with m.Case(Cmd.LOAD_WEIGHTS):
                        with m.If(length < 4):
                            error(Err.LENGTH)
                        with m.Elif((k_in == 0) | (k_in > cfg.k_max) | (n_in == 0) | (n_in > cfg.n_max)):
                            error(Err.DIMS)
                        with m.Else():
                            mul(k_in, n_in, "MUL")
                    with m.Case(Cmd.RUN):
                        with m.If(length < 2):
                            error(Err.LENGTH)
                        with m.Elif(~w_ok):
                            error(Err.NO_WEIGHTS)
                        with m.Elif((m_in == 0) | (m_in > cfg.m_max)):
                            error(Err.DIMS)
                        with m.Else():
                            mul(m_in, w_k, "MUL")
                    with m.Default():
                        error(Err.UNKNOWN_CMD)
            mul_state("MUL", "CHECK")
            with m.State("CHECK"):          # the element count after the k,n (4) or m (2) header
                with m.If(mul_acc * eb + hdr_len != length):
                    error(Err.LENGTH)
                with m.Elif(bad_elem):
                    error(Err.ELEMENT)
                with m.Else():
                    m.d.sync += [ptr.eq(hdr_len), remaining.eq(mul_acc)]
                    with m.If(cmd == Cmd.LOAD_WEIGHTS):
                        m.next = "ECMD"
                    with m.Else():
                        mul(m_in, w_n, "R_MUL2")
            mul_state("R_MUL2", "R_LEN")
            with m.State("R_LEN"):
                m.d.sync += [res_len.eq(mul_acc * ob + 4), res_ok.eq(0)]
                m.next = "ECMD"
            with m.State("ECMD"):
                is_w = cmd == Cmd.LOAD_WEIGHTS
                m.d.comb += [self.cmd.valid.eq(1), self.cmd.p.m.eq(m_in), self.cmd.p.k.eq(k_in),
                             self.cmd.p.n.eq(n_in), self.cmd.p.op.eq(Mux(is_w, Op.WEIGHTS, Op.RUN))]
                with m.If(self.cmd.ready):
                    m.d.sync += [bphase.eq(0), res_last.eq(0)]
                    m.next = "FEED_RD"
            with m.State("FEED_RD"):
                m.d.comb += [br.addr.eq(ptr)]
                m.d.sync += ptr.eq(ptr + 1)
                m.next = "FEED_LAT"
            with m.State("FEED_LAT"):
                m.d.sync += [elem.eq(Cat(elem[8:], br.data) if eb > 1 else br.data), bphase.eq(bphase + 1)]
                with m.If(bphase == eb - 1):
                    m.next = "FEED_OUT"
                with m.Else():
                    m.next = "FEED_RD"
            with m.State("FEED_OUT"):
                m.d.comb += [self.data.valid.eq(1), self.data.payload.eq(elem[:width])]
                with m.If(self.data.ready):
                    m.d.sync += [remaining.eq(remaining - 1), bphase.eq(0)]
                    with m.If(remaining == 1):
                        with m.If(cmd == Cmd.LOAD_WEIGHTS):
                            m.d.sync += [w_ok.eq(1), w_k.eq(k_in), w_n.eq(n_in)]
                            reply(0, 0)
                        with m.Else():
                            m.next = "WAIT_RES"
                    with m.Else():
                        m.next = "FEED_RD"
            with m.State("WAIT_RES"):
                with m.If(res_last):
                    m.d.sync += [res_ok.eq(1), res_m.eq(m_in), res_n.eq(w_n)]
                    reply(0, 0)
            with m.State("TX_PREP"):        # one cycle for the result memory read
                m.next = "TX_SEND"
            with m.State("TX_SEND"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(tx_byte), crc.data.eq(tx_byte)]
                with m.If(self.tx.ready):
                    m.d.sync += tidx.eq(tidx + 1)
                    # the header CRC covers bytes 1..4, the payload CRC the payload; the CRC restarts
                    # after the sync byte and after the header CRC
                    m.d.comb += [
                        crc.valid.eq(((tidx >= 1) & (tidx <= 4)) | ((tidx >= HEADER_BYTES) & (tidx < last_idx - 1))),
                        crc.start.eq((tidx == 0) | (tidx == HEADER_BYTES - 1))]
                    with m.If((r_src == 3) & (tidx >= HEADER_BYTES + 4) & (tidx < last_idx - 1)):
                        m.d.sync += rb.eq(rb + 1)
                        with m.If(rb == ob - 1):
                            m.d.sync += [rb.eq(0), rc.eq(rc + 1), rj.eq(rj + 1)]
                            with m.If(rj == res_n - 1):
                                m.d.sync += [rj.eq(0), rc.eq(0), rjb.eq(0), ri.eq(ri + 1)]
                            with m.Elif(rc == C - 1):
                                m.d.sync += [rc.eq(0), rjb.eq(rjb + 1)]
                    with m.If(tidx == last_idx):
                        m.next = "HUNT"
                    with m.Else():
                        m.next = "TX_PREP"
        return m
