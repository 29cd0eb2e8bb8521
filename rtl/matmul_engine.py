"""Matrix-multiply engine: array-edge-wide A/B memories + a tiling controller that issues tiles
while operands load + ``SystolicArray`` (golden twin: ``lmul.sim.systolic_array.matmul``)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from lmul.arith import Accumulator, ProductKind
from lmul.errors import check_int
from lmul.formats import FP32, FloatFormat, get_format
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.systolic_array import SystolicArray

__all__ = ["MatmulEngine", "Op", "cmd_layout", "res_layout"]


class Op(enum.Enum, shape=2):
    """Job type of a ``cmd`` beat."""

    FULL = 0
    WEIGHTS = 1
    RUN = 2


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def cmd_layout(m_max: int, k_max: int, n_max: int) -> data.StructLayout:
    """A ``cmd`` beat: ``{m: range(m_max + 1), k: range(k_max + 1), n: range(n_max + 1), op: Op}``."""
    return data.StructLayout({"m": range(m_max + 1), "k": range(k_max + 1), "n": range(n_max + 1), "op": Op})


def res_layout(out_fmt: FloatFormat, cols: int, m_max: int, n_max: int) -> data.StructLayout:
    """A ``res`` beat: ``{c: cols x FloatLayout(out_fmt), i: range(max(m_max, 2)),
    j0: range(max(n_max, 2)), last}``."""
    return data.StructLayout({"c": data.ArrayLayout(FloatLayout(out_fmt), cols),
                              "i": range(max(m_max, 2)), "j0": range(max(n_max, 2)), "last": 1})


class MatmulEngine(wiring.Component):
    """``C = A @ B`` for any ``1 <= m <= m_max``, ``1 <= k <= k_max``, ``1 <= n <= n_max``.

    Bit-exactly ``lmul.sim.systolic_array.matmul`` (tiling does not change results: K is
    accumulated exactly in place, there is one rounding per element).

    Storage: A and B each live in one memory (``amaranth.lib.memory``) whose word is a whole
    array edge — an A word holds ``A[ib*rows : ib*rows+rows, kk]`` (column kk of row block ib),
    a B word ``B[kk, jb*cols : jb*cols+cols]`` (row kk of column block jb) — so one read per
    cycle feeds one array beat. Loading writes one element (one lane of a word, write
    granularity one element) per ``data`` beat.

    Sequencing: output tiles are walked row blocks outer, column blocks inner, each as ``k``
    beats into the array, back to back across tiles (K is accumulated in place — there is no
    separate K tiling pass); rows/columns beyond ``m``/``n`` are fed zeros and their results
    dropped. The issuer runs concurrently with loading: a row block's tiles are issued as soon
    as its A rows are in memory, so in a ``RUN`` job (B on chip) the next row block of A
    streams in while this one's tiles compute, and results drain out of the array while the
    next tiles compute. A ``FULL`` job streams A then B (row-major), so its tiles start after
    the last B element (the first tile needs every row of B).

    Parameters
    ----------
    fmt : FloatFormat or str
        Operand format.
    kind : str or ProductKind
        Product kind: ``exact`` or ``lmul`` (``lmul.arith.PRODUCT_KINDS``).
    rows, cols : int
        Systolic array size (>= 1 each).
    out_fmt : FloatFormat or str
        Result format (default FP32).
    m_max, k_max, n_max : int
        Largest job dimensions (>= 1 each; defaults 64, 256, 64); they size the memories
        (A: ``ceil(m_max/rows)*k_max`` words of ``rows`` elements, B: ``ceil(n_max/cols)*k_max``
        words of ``cols`` elements), the ports and the accumulators (``k_max``).
    acc : str or Accumulator
        Accumulator (default ``kulisch``; ``lmul.arith.ACCUMULATORS``).
    pipeline : int
        Extra register stages of the array (``SystolicArray(pipeline=...)``: PE datapath and
        column finishers; default 0). Results and their order do not change, only ``latency``.

    Attributes
    ----------
    cmd : In(stream.Signature(cmd_layout(m_max, k_max, n_max)))
        ``{m, k, n, op}``: starts a job; taken only while idle (``busy`` low). ``op`` (``Op``)
        is ``FULL``: ``data`` then carries ``m*k`` elements of A (row-major) and ``k*n``
        elements of B (row-major), and C is computed; ``WEIGHTS``: ``data`` carries B only
        (K×N; ``m`` ignored), kept for later ``RUN`` jobs; ``RUN``: ``data`` carries A only
        (``m``×K; ``k``, ``n`` ignored) and C = A @ (the B last loaded). Out-of-range
        dimensions, an unknown ``op`` or a ``RUN`` with no B loaded are refused: the command is
        consumed, ``error`` is set and no data is expected.
    data : In(stream.Signature(FloatLayout(fmt)))
        The job's elements, one per beat (``data.ready`` high while loading).
    res : Out(stream.Signature(res_layout(out_fmt, cols, m_max, n_max)))
        One beat per output row segment: ``{i, j0, c[cols], last}`` holds
        ``C[i, j0 : j0+cols]`` (entries at ``j >= n`` are padding); beats come tile by tile
        (row blocks outer, column blocks inner, rows in order), ``last`` on the job's final
        beat. In a ``RUN`` job results may come before all of A is loaded.
    busy : Out(1)
        A job is in progress: from the cycle after its command to its last result beat, or up to
        ``rows - 1`` cycles later when the last row block is not full (its padding rows leave the
        array first); ``WEIGHTS``: to its last data beat.
    error : Out(1)
        The last command was refused (held until the next command).
    weights_ok : Out(1)
        A complete B is loaded (by ``WEIGHTS`` or ``FULL``), so ``RUN`` is accepted; cleared
        when a new B load starts and by reset.
    latency : int
        ``array.latency + 1`` (``rows + cols + 5`` for ``kulisch`` at pipeline 0): the first ``res`` beat of
        a job is valid ``k + latency`` cycles after the transfer of the ``data`` beat that
        completes its first tile's operands — ``FULL``: the last ``data`` beat; ``RUN``: the
        last element of A's first row block (row ``min(m, rows) - 1``) — when ``res`` is ready
        (k cycles issue the first tile's K beats, 1 cycle is the memory read, then the array's
        latency). Not a per-beat latency: later tiles follow at the array's throughput.

    Throughput: loading takes one element per cycle; the array gets one beat per cycle
    whenever the operands of the tile being issued are in memory, ``max(k, rows)`` cycles per
    output tile, ``ceil(m/rows) * ceil(n/cols)`` tiles, with no bubbles between tiles when
    ``k >= rows``. In a ``RUN`` job a row block's A takes ``min(m, rows) * k`` cycles to load and
    ``ceil(n/cols) * max(k, rows)`` cycles to compute, overlapped: compute-bound (the array never
    waits after the first row block) when ``n >= rows * cols`` and ``k >= rows``. ``res`` gives
    one beat per cycle while ``res.ready`` is high (a stalled ``res`` freezes the array, nothing
    is lost). Jobs do not overlap: the next command is taken once ``busy`` is low.
    Synchronous reset abandons a job in any phase (memories keep their contents but
    ``weights_ok`` is cleared); the next command starts cleanly.
    """

    def __init__(self, fmt: FloatFormat | str, kind: str | ProductKind = "exact", rows: int = 4, cols: int = 4,
                 out_fmt: FloatFormat | str = FP32, m_max: int = 64, k_max: int = 256, n_max: int = 64, *,
                 acc: str | Accumulator = "kulisch", pipeline: int = 0) -> None:
        self.fmt, self.out_fmt = get_format(fmt), get_format(out_fmt)
        for name, v in (("m_max", m_max), ("k_max", k_max), ("n_max", n_max)):
            check_int(name, v, 1)
        self.array = SystolicArray(self.fmt, kind, rows, cols, self.out_fmt, k_max=k_max, acc=acc, pipeline=pipeline)
        self.kind, self.acc, self.rows, self.cols = self.array.kind, self.array.acc, rows, cols
        self.m_max, self.k_max, self.n_max = m_max, k_max, n_max
        self.latency = self.array.latency + 1
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(m_max, k_max, n_max))),
            "data": In(stream.Signature(FloatLayout(self.fmt))),
            "res": Out(stream.Signature(res_layout(self.out_fmt, cols, m_max, n_max))),
            "busy": Out(1), "error": Out(1), "weights_ok": Out(1),
        })

    @property
    def pipeline(self) -> int:
        """The array's extra register stages (``array.pipeline``)."""
        return self.array.pipeline

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt, R, C = self.fmt, self.rows, self.cols
        m.submodules.array = arr = self.array
        a_blocks, b_blocks = _ceil_div(self.m_max, R), _ceil_div(self.n_max, C)
        # one word = one array edge: A[ib*R : ib*R+R, kk] at ib*k + kk, B[kk, jb*C : jb*C+C] at jb*k + kk
        m.submodules.a_mem = a_mem = Memory(shape=data.ArrayLayout(FloatLayout(fmt), R), depth=a_blocks * self.k_max,
                                            init=[])
        m.submodules.b_mem = b_mem = Memory(shape=data.ArrayLayout(FloatLayout(fmt), C), depth=b_blocks * self.k_max,
                                            init=[])
        a_wr, b_wr = a_mem.write_port(granularity=1), b_mem.write_port(granularity=1)   # one element per write
        a_rd, b_rd = a_mem.read_port(), b_mem.read_port()

        # job registers
        op = Signal(Op)
        jm = Signal(range(self.m_max + 1))
        jk = Signal(range(self.k_max + 1))
        jn = Signal(range(self.n_max + 1))

        # --- loader: data beats -> one lane of a memory word -------------------------------------
        kk = Signal(range(self.k_max + 1))
        cnt = Signal(range(max(self.m_max, self.n_max) + 1))   # i (A) or j (B)
        lane = Signal(range(max(R, C)))
        base = Signal(range(max(a_blocks, b_blocks) * self.k_max + 1))
        a_ready = Signal(range(a_blocks + 1))       # A row blocks completely written
        wr_addr = Signal.like(base)
        m.d.comb += wr_addr.eq(base + kk)
        m.d.comb += [a_wr.addr.eq(wr_addr), b_wr.addr.eq(wr_addr)]
        for r in range(R):
            m.d.comb += a_wr.data[r].eq(self.data.payload)
        for c in range(C):
            m.d.comb += b_wr.data[c].eq(self.data.payload)
        data_fire = self.data.valid & self.data.ready

        # --- issuer: one memory read (a whole A column slice and B row slice) per array beat -------
        issuing = Signal()                          # tiles left to issue for this job
        ib = Signal(range(a_blocks + 1))            # row block being issued
        ib_base = Signal(range(a_blocks * self.k_max + 1))     # ib * k
        jb_base = Signal(range(b_blocks * self.k_max + 1))     # jb * k
        ck = Signal(range(self.k_max + 1))
        rows_left = Signal(range(self.m_max + 1))   # m - ib*R
        cols_left = Signal(range(self.n_max + 1))   # n - jb*C
        # read stage (registered alongside the memories' read data)
        s1_valid, s1_last = Signal(), Signal()
        s1_rmask, s1_cmask = Signal(R), Signal(C)
        rd_en, issue = Signal(), Signal()
        m.d.comb += [rd_en.eq(~s1_valid | arr.i.ready),
                     # RUN: a row block's tiles start as soon as its A rows are in, while later rows load
                     issue.eq(rd_en & issuing & (ib < a_ready)),
                     a_rd.addr.eq(ib_base + ck), a_rd.en.eq(rd_en),
                     b_rd.addr.eq(jb_base + ck), b_rd.en.eq(rd_en),
                     arr.i.valid.eq(s1_valid), arr.i.p.last.eq(s1_last)]
        for r in range(R):
            m.d.comb += arr.i.p.a[r].eq(Mux(s1_rmask[r], a_rd.data[r].as_value(), 0))
        for c in range(C):
            m.d.comb += arr.i.p.b[c].eq(Mux(s1_cmask[c], b_rd.data[c].as_value(), 0))
        with m.If(rd_en):
            m.d.sync += s1_valid.eq(issue)
        with m.If(issue):
            m.d.sync += [s1_last.eq(ck == jk - 1), ck.eq(ck + 1)]
            for r in range(R):
                m.d.sync += s1_rmask[r].eq(rows_left > r)
            for c in range(C):
                m.d.sync += s1_cmask[c].eq(cols_left > c)
            with m.If(ck == jk - 1):
                m.d.sync += ck.eq(0)
                with m.If(cols_left <= C):
                    m.d.sync += [jb_base.eq(0), cols_left.eq(jn), ib_base.eq(ib_base + jk), ib.eq(ib + 1),
                                 rows_left.eq(rows_left - R)]
                    with m.If(rows_left <= R):
                        m.d.sync += issuing.eq(0)
                with m.Else():
                    m.d.sync += [jb_base.eq(jb_base + jk), cols_left.eq(cols_left - C)]

        # --- result side -----------------------------------------------------------------------
        o_rows_left = Signal(range(self.m_max + 1))
        o_i = Signal(range(self.m_max + R + 1))     # ib*R of the tile being drained
        o_j0 = Signal(range(self.n_max + C + 1))
        row = arr.o.p.row
        row_ok, last_tile, final = Signal(), Signal(), Signal()
        m.d.comb += [row_ok.eq(row < o_rows_left),
                     last_tile.eq((o_i + R >= jm) & (o_j0 + C >= jn)),
                     final.eq(last_tile & (row == Mux(o_rows_left > R, R, o_rows_left) - 1)),
                     self.res.valid.eq(arr.o.valid & row_ok),
                     self.res.p.i.eq(o_i + row), self.res.p.j0.eq(o_j0), self.res.p.last.eq(final),
                     arr.o.ready.eq(self.res.ready | ~row_ok)]
        for c in range(C):
            m.d.comb += self.res.p.c[c].eq(arr.o.p.c[c])
        with m.If(arr.o.valid & arr.o.ready & arr.o.p.last):
            with m.If(o_j0 + C >= jn):
                m.d.sync += [o_j0.eq(0), o_i.eq(o_i + R), o_rows_left.eq(o_rows_left - R)]
            with m.Else():
                m.d.sync += o_j0.eq(o_j0 + C)

        def start_issue(rows: Value) -> None:
            m.d.sync += [issuing.eq(1), ib.eq(0), ib_base.eq(0), jb_base.eq(0), ck.eq(0), rows_left.eq(rows),
                         cols_left.eq(jn), o_i.eq(0), o_j0.eq(0), o_rows_left.eq(rows)]

        m.d.comb += self.busy.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    p = self.cmd.p
                    bad_m = (p.m == 0) | (p.m > self.m_max)
                    bad_kn = (p.k == 0) | (p.n == 0) | (p.k > self.k_max) | (p.n > self.n_max)
                    bad = Mux(p.op == Op.FULL, bad_m | bad_kn,
                              Mux(p.op == Op.WEIGHTS, bad_kn,
                                  Mux(p.op == Op.RUN, bad_m | ~self.weights_ok, 1)))
                    m.d.sync += [self.error.eq(bad), kk.eq(0), cnt.eq(0), lane.eq(0), base.eq(0), a_ready.eq(0)]
                    with m.If(~bad):
                        m.d.sync += op.eq(p.op)
                        with m.If(p.op != Op.RUN):
                            m.d.sync += [jk.eq(p.k), jn.eq(p.n), self.weights_ok.eq(0)]
                        with m.If(p.op != Op.WEIGHTS):
                            m.d.sync += jm.eq(p.m)
                        m.next = "LOAD_A"
                        with m.If(p.op == Op.WEIGHTS):
                            m.next = "LOAD_B"
                        with m.If(p.op == Op.RUN):
                            start_issue(p.m)    # B is on chip: row blocks are issued as A streams in
            with m.State("LOAD_A"):
                m.d.comb += [self.busy.eq(1), self.data.ready.eq(1)]
                with m.If(data_fire):
                    m.d.comb += a_wr.en.eq(Cat(lane == r for r in range(R)))
                    m.d.sync += kk.eq(kk + 1)
                    with m.If(kk == jk - 1):
                        m.d.sync += [kk.eq(0), cnt.eq(cnt + 1), lane.eq(lane + 1)]
                        with m.If((lane == R - 1) | (cnt == jm - 1)):
                            m.d.sync += [lane.eq(0), base.eq(base + jk), a_ready.eq(a_ready + 1)]
                        with m.If(cnt == jm - 1):
                            m.d.sync += [cnt.eq(0), lane.eq(0), base.eq(0)]
                            with m.If(op == Op.RUN):
                                m.next = "DRAIN"
                            with m.Else():
                                m.next = "LOAD_B"
            with m.State("LOAD_B"):
                m.d.comb += [self.busy.eq(1), self.data.ready.eq(1)]
                with m.If(data_fire):
                    m.d.comb += b_wr.en.eq(Cat(lane == c for c in range(C)))
                    m.d.sync += [cnt.eq(cnt + 1), lane.eq(lane + 1)]
                    with m.If(lane == C - 1):
                        m.d.sync += [lane.eq(0), base.eq(base + jk)]
                    with m.If(cnt == jn - 1):
                        m.d.sync += [cnt.eq(0), lane.eq(0), base.eq(0), kk.eq(kk + 1)]
                        with m.If(kk == jk - 1):
                            m.d.sync += self.weights_ok.eq(1)
                            with m.If(op == Op.WEIGHTS):
                                m.next = "IDLE"
                            with m.Else():
                                start_issue(jm)
                                m.next = "DRAIN"
            with m.State("DRAIN"):          # tiles still issuing and results draining
                m.d.comb += self.busy.eq(1)
                # done with the array's last row of the last tile, not with the last result: padding rows
                # after it must leave the array before the next job resets the result counters
                with m.If(arr.o.valid & arr.o.ready & arr.o.p.last & last_tile):
                    m.next = "IDLE"
        return m
