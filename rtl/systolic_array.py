"""Output-stationary systolic array of MAC cells, or of fused n-term dot-product cells that take
n K-steps per beat (golden twin: ``lmul.sim.systolic_array.matmul``)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from lmul.arith import Accumulator, ProductKind, accumulator, check_dot_unit, product_kind
from lmul.errors import check_int
from lmul.formats import FP32, FloatFormat, get_format
from lmul.rtl.dot_cell import DotCell
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.fp_accumulator import check_pipeline
from lmul.rtl.latency import REPLICA
from lmul.rtl.mac_cell import MacCell
from lmul.rtl.mac_pe import split_pipeline

__all__ = ["SystolicArray", "in_layout", "out_layout"]


def in_layout(fmt: FloatFormat, rows: int, cols: int, n: int = 1) -> data.StructLayout:
    """One input beat: ``{a: rows x FloatLayout(fmt), b: cols x FloatLayout(fmt), last}`` for
    ``n = 1``; for ``n > 1`` n K-steps, ``{a: rows x n x FloatLayout(fmt), b: cols x n x
    FloatLayout(fmt), count: range(n + 1), last}`` (``a[r][j]`` = A[r, k0 + j], ``b[c][j]`` =
    B[k0 + j, c]; lanes ``count .. n-1`` are zero products)."""
    if n == 1:
        return data.StructLayout({"a": data.ArrayLayout(FloatLayout(fmt), rows),
                                  "b": data.ArrayLayout(FloatLayout(fmt), cols), "last": 1})
    lane = data.ArrayLayout(FloatLayout(fmt), n)
    return data.StructLayout({"a": data.ArrayLayout(lane, rows), "b": data.ArrayLayout(lane, cols),
                              "count": range(n + 1), "last": 1})


def out_layout(out_fmt: FloatFormat, rows: int, cols: int) -> data.StructLayout:
    """One output beat: ``{c: cols x FloatLayout(out_fmt), row: range(max(rows, 2)), last}``."""
    return data.StructLayout({"c": data.ArrayLayout(FloatLayout(out_fmt), cols),
                              "row": range(max(rows, 2)), "last": 1})


class SystolicArray(wiring.Component):
    """``rows × cols`` output tiles ``C = A_tile @ B_tile`` over any K (1..k_max).

    Bit-exactly the golden ``matmul(fmt, A, B, out_fmt, kind, acc, n, align, w, promote)``: each
    PE sums its products in k order with the accumulator ``acc`` (``kulisch``: exact
    accumulation and one RNE rounding per result, so results do not depend on the order; a float
    accumulator rounds every step). With ``n = 1``, ``align="exact"`` and no promotion the PEs are
    ``MacCell`` s (one product per beat; this is the default and its netlist does not depend on
    the dot-unit options). Otherwise every PE is a ``DotCell`` (``lmul.rtl.dot_cell``, the
    ``DotUnit`` datapath): each beat carries n consecutive K-steps, each PE adds their n products
    to its accumulator with one rounding per beat (``align``: exact group sum or block
    truncation; ``promote``: partials added into FP32 every P products), i.e. every output
    element is ``dot_unit(fmt, A[r, :], B[:, c], out_fmt, kind, n, acc, align, w, promote)``.

    Dataflow (output-stationary): A elements enter row r skewed by r cycles and move right; B
    elements enter column c skewed by c cycles and move down (prepared once at the column input
    by the kind's builder — for L-Mul pre-biased, ``F_b + C``, so each PE's L-Mul is a
    two-operand adder per lane); PE(r, c) accumulates C[r, c] in place. With n > 1 each hop
    carries n lanes, and the beat's ``count`` travels with A along the rows. When the bottom
    PE of a column finishes a tile, the column's ``rows`` sums are loaded in parallel into a
    drain register, shifted out one per cycle through that column's rounder (the accumulator's
    finisher), re-aligned across columns (deskew) and written to an output FIFO — while the
    next tile is already computing.

    Parameters
    ----------
    fmt : FloatFormat or str
        Operand format.
    kind : str or ProductKind
        Product kind: ``exact`` or ``lmul`` (``lmul.arith.PRODUCT_KINDS``).
    rows, cols : int
        Array size (>= 1 each): rows of the A tile / columns of the B tile.
    out_fmt : FloatFormat or str
        Result format (default FP32).
    k_max : int
        Longest K (>= 1, default 4096): sets the accumulator width, which cannot overflow for
        up to ``k_max`` terms; longer tiles are outside the contract.
    fifo_depth : int or None
        Output FIFO depth in result rows. At pipeline 0 at least 2 (default 4); at pipeline > 0 at
        least ``rows`` (default ``latency + 2 * rows``, which never throttles tiles of ``rows`` or
        more beats while ``o`` is ready; see flow control below).
    acc : str or Accumulator
        Accumulator (default ``kulisch``; ``lmul.arith.ACCUMULATORS``).
    n : int
        K-steps per beat and PE, one of 1, 2, 4, 8, 16, 32 (default 1).
    align : str
        Dot-unit alignment, ``"exact"`` (default) or ``"block"`` (float accumulators;
        ``lmul.sim.dot_unit``).
    w : int or None
        Block window width, 1..64 (``align="block"`` only, required there).
    promote : int or None
        Promotion interval P (a multiple of n) into an FP32 accumulator; float accumulators only.
    pipeline : int
        Extra register stages (default 0), split between the PEs and the column finishers by
        ``split_pipeline`` as in ``MacPE``: ``MacCell(pipeline=...)`` or ``DotCell(pipeline=...)``
        (lane products registered, builders split; 0..2) and the finisher's ``pipeline``
        (``cell_pipeline``, ``fin_pipeline``). A MAC array's largest is ``pipeline_room(acc,
        out_fmt)``; more raises ``ParameterError``. Results do not change; ``latency`` grows by
        ``pipeline``. A pipelined array (> 0) is built for clock speed: credit flow control
        instead of a global enable, and every PE's valid/last register is its own flip-flop
        (``REPLICA``: synthesis keeps the copies instead of one flip-flop per anti-diagonal).

    Attributes
    ----------
    i : In(stream.Signature(in_layout(fmt, rows, cols, n)))
        One beat per k (n = 1): ``{a: rows elements (column k of the A tile), b: cols elements
        (row k of the B tile), last}``; for n > 1 one beat per n consecutive k, ``{a[rows][n],
        b[cols][n], count, last}``: lanes ``0 .. count-1`` live (``count >= n``: all), the rest
        zero products whatever they hold — the last beat of a tile with K not a multiple of n has
        ``count = K mod n``; a short beat in the middle equals zero operands in its missing
        lanes. ``last`` marks the final beat of a tile. Tiles follow back to back.
    o : Out(stream.Signature(out_layout(out_fmt, rows, cols)))
        One beat per output row: ``{c: cols elements of out_fmt, row, last}``; rows of a tile
        come out in order 0..rows-1, ``last`` on row ``rows-1``. Results appear in tile order.
    latency : int
        ``rows + cols + PE latency + fin_pipeline + 2`` (``rows + cols + 4`` for ``kulisch`` with
        n = 1 at depth 0): cycles
        from the transfer of a tile's ``last`` beat on ``i`` to its row 0 on ``o``
        (``o.valid``), when ``o`` has not been stalled (the output FIFO is empty). It is
        ``rows - 1`` skew + ``cols - 1`` hops to the bottom-right PE + the PE's latency
        (``MacCell.latency`` / ``DotCell.latency``) + 1 drain register + 1 rounder output
        register (row 0 is then written into the FIFO, the other columns deskewed to it) + 2
        through the FIFO (``SyncFIFOBuffered``).
    cells : list of list of MacCell or DotCell
        The PEs, ``cells[r][c]``.

    Throughput one ``i`` beat (one k, or n of them) per cycle and one ``o`` beat per cycle. A
    tile needs at least ``rows`` cycles to drain its column registers: a ``last`` beat that
    comes sooner is held back (``i.ready`` low), so tiles of at least ``rows`` beats run with no
    bubbles and shorter tiles take ``rows`` cycles each. Flow control at pipeline 0: one global
    advance enable (the output FIFO has room); a full FIFO freezes the whole array, so nothing is
    lost or duplicated. At pipeline > 0 the array never stops (no enable fans out to every
    register, the critical net of large arrays): a tile's ``last`` beat is taken only when the
    FIFO has room reserved for its ``rows`` results (credits: ``fifo_depth`` minus rows reserved
    and not yet read), so a slow reader holds back ``i`` at tile boundaries only. Without input,
    bubbles enter, so the last tile always drains. Synchronous reset clears all state (a tile in
    flight is dropped).
    """

    @staticmethod
    def _pipeline_rooms(acc: str | Accumulator, out_fmt: FloatFormat | str) -> tuple[int, int]:
        """Most extra stages of a MAC array's PE cells and of its column finishers."""
        acc, out_fmt = accumulator(acc), get_format(out_fmt)
        room = getattr(acc.rtl(), "finisher_max_pipeline", None)
        return MacCell.pipeline_room(acc), (room(acc, out_fmt) if room else 0)

    @staticmethod
    def pipeline_room(acc: str | Accumulator, out_fmt: FloatFormat | str = FP32) -> int:
        """The largest ``pipeline`` of a MAC array (n = 1, exact alignment) with accumulator ``acc``
        and results in ``out_fmt``, known before building one."""
        return sum(SystolicArray._pipeline_rooms(acc, out_fmt))

    def __init__(self, fmt: FloatFormat | str, kind: str | ProductKind = "exact", rows: int = 4, cols: int = 4,
                 out_fmt: FloatFormat | str = FP32, k_max: int = 4096, fifo_depth: int | None = None, *,
                 acc: str | Accumulator = "kulisch", n: int = 1, align: str = "exact", w: int | None = None,
                 promote: int | None = None, pipeline: int = 0) -> None:
        self.fmt, self.out_fmt = get_format(fmt), get_format(out_fmt)
        self.kind, self.acc = product_kind(kind), check_dot_unit(n, acc, align, w, promote)
        self.rows, self.cols = check_int("rows", rows, 1), check_int("cols", cols, 1)
        self.k_max = check_int("k_max", k_max, 1)
        self.n, self.align, self.w, self.promote = n, align, w, promote
        self.kind.check(self.fmt)
        self.builder = self.kind.rtl()(self.fmt)
        # the plain MAC array unless an option needs the dot-unit datapath
        self.dot = n > 1 or align != "exact" or promote is not None
        cell_max, fin_max = ((DotCell.max_pipeline, DotCell.finisher_room(self.acc, promote, self.out_fmt))
                             if self.dot else self._pipeline_rooms(self.acc, self.out_fmt))
        self.pipeline = check_pipeline("SystolicArray", pipeline, cell_max + fin_max)
        self.cell_pipeline, self.fin_pipeline = split_pipeline(self.pipeline, cell_max, fin_max)
        self.credit = self.pipeline > 0
        if fifo_depth is not None:                  # a pipelined array's FIFO must hold a whole tile
            check_int("fifo_depth", fifo_depth, max(rows, 2) if self.credit else 2)
        fin_kw = {"pipeline": self.fin_pipeline} if self.fin_pipeline else {}
        self.cells: list[list[MacCell | DotCell]]
        if self.dot:
            self.cells = [[DotCell(self.fmt, self.kind, n, k_max, self.acc, align, w, promote, prebiased=True,
                                   pipeline=self.cell_pipeline) for _ in range(cols)] for _ in range(rows)]
            self.finishers = [self.cells[0][c].finisher(self.out_fmt, **fin_kw) for c in range(cols)]
        else:
            self.cells = [[MacCell(self.fmt, self.kind, k_max, self.acc, prebiased=True, pipeline=self.cell_pipeline)
                           for _ in range(cols)] for _ in range(rows)]
            self.finishers = [self.cells[0][c].accumulator.finisher(self.out_fmt, **fin_kw) for c in range(cols)]
        self.state_layout = self.cells[0][0].result.shape()
        self.latency = rows + cols + self.cells[0][0].latency + self.fin_pipeline + 2
        self.fifo_depth = fifo_depth if fifo_depth is not None else self.latency + 2 * rows if self.credit else 4
        super().__init__({"i": In(stream.Signature(in_layout(self.fmt, rows, cols, n))),
                          "o": Out(stream.Signature(out_layout(self.out_fmt, rows, cols)))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt, R, C, n = self.fmt, self.rows, self.cols, self.n
        b_layout = self.builder.operand_layout

        m.submodules.fifo = fifo = SyncFIFOBuffered(width=Shape.cast(self.o.payload.shape()).width,
                                                    depth=self.fifo_depth)
        # pipelined: free-running (results have room reserved, below); else one global enable
        adv: Value = Const(1)
        replica = REPLICA if self.credit else {}
        if not self.credit:
            adv = Signal()
            m.d.comb += adv.eq(fifo.w_rdy)

        # --- input: tile spacing (>= R cycles between `last` beats), FIFO credits -------------
        gap = Signal(range(R), init=R - 1)
        gap_ok = gap == R - 1
        inject = Signal()
        take_ok: Value = gap_ok
        if self.credit:
            # rows of the FIFO not reserved by a taken tile: a `last` beat reserves R, a read frees one
            free = Signal(range(self.fifo_depth + 1), init=self.fifo_depth)
            take_ok = gap_ok & (free >= R)
            m.d.sync += free.eq(free - Mux(inject & self.i.p.last, R, 0) + (fifo.r_rdy & fifo.r_en))
        m.d.comb += self.i.ready.eq(adv & (~self.i.p.last | take_ok))
        m.d.comb += inject.eq(self.i.valid & self.i.ready)
        with m.If(adv):
            with m.If(inject & self.i.p.last):
                m.d.sync += gap.eq(0)
            with m.Elif(~gap_ok):
                m.d.sync += gap.eq(gap + 1)

        # --- edge skew --------------------------------------------------------------------------
        def delay(v: Value, n: int, name: str, attrs: dict | None = None) -> Value:
            for s in range(n):
                r = Signal.like(v, name=f"{name}_d{s}", attrs=attrs)
                with m.If(adv):
                    m.d.sync += r.eq(v)
                v = r
            return v

        # operands as the PEs take them: one element (MacCell) or n lanes (DotCell)
        a_layout: object = FloatLayout(fmt)
        a_in_rows: list[Value] = [self.i.p.a[r] for r in range(R)]
        if self.dot:
            a_layout = data.ArrayLayout(FloatLayout(fmt), n)
            if n == 1:                                   # today's beat layout: wrap into one lane
                a_in_rows = [Signal(a_layout, name=f"a{r}_lanes") for r in range(R)]
                m.d.comb += [a_in_rows[r][0].eq(self.i.p.a[r]) for r in range(R)]
            b_layout = data.ArrayLayout(b_layout, n)
        count = self.i.p.count if n > 1 else 1

        a_edge, v_edge, l_edge, c_edge = [], [], [], []
        for r in range(R):
            a_edge.append(delay(a_in_rows[r], r, f"a{r}"))
            v_edge.append(delay(inject, r, f"v{r}", replica))
            l_edge.append(delay(inject & self.i.p.last, r, f"l{r}", replica))
            if self.dot and n > 1:
                c_edge.append(delay(count, r, f"cnt{r}", replica))
        b_edge = []
        for c in range(C):
            if not self.dot:
                b_edge.append(delay(self.builder.prepare(m, self.i.p.b[c], f"b{c}"), c, f"b{c}"))
                continue
            lanes = [self.i.p.b[c]] if n == 1 else [self.i.p.b[c][j] for j in range(n)]
            prep = Signal(b_layout, name=f"b{c}_lanes")
            m.d.comb += [prep[j].eq(self.builder.prepare(m, v, f"b{c}_{j}")) for j, v in enumerate(lanes)]
            b_edge.append(delay(prep, c, f"b{c}"))

        # --- PE grid ------------------------------------------------------------------------------
        cells = self.cells
        b_above = list(b_edge)
        for r in range(R):
            a_in, v_in, l_in = a_edge[r], v_edge[r], l_edge[r]
            c_in = c_edge[r] if c_edge else None
            b_below = []
            for c in range(C):
                cell = cells[r][c]
                m.submodules[f"pe_{r}_{c}"] = cell
                m.d.comb += [cell.en.eq(adv), cell.a.eq(a_in), cell.b.eq(b_above[c]),
                             cell.valid.eq(v_in), cell.last.eq(l_in)]
                if self.dot:
                    m.d.comb += cell.count.eq(c_in if c_in is not None else 1)
                a_nx = Signal(a_layout, name=f"a_{r}_{c}")
                # the last column's copies drive nothing: unmarked, so synthesis drops them
                keep = replica if c < C - 1 else {}
                v_nx, l_nx = Signal(name=f"v_{r}_{c}", attrs=keep), Signal(name=f"l_{r}_{c}", attrs=keep)
                b_nx = Signal(b_layout, name=f"b_{r}_{c}")
                with m.If(adv):
                    m.d.sync += [a_nx.eq(a_in), v_nx.eq(v_in), l_nx.eq(l_in), b_nx.eq(b_above[c])]
                if c_in is not None:
                    c_nx = Signal.like(c_in, name=f"cnt_{r}_{c}", attrs=keep)
                    with m.If(adv):
                        m.d.sync += c_nx.eq(c_in)
                    c_in = c_nx
                a_in, v_in, l_in = a_nx, v_nx, l_nx
                b_below.append(b_nx)
            b_above = b_below
        # --- column drain registers + rounders + deskew ---------------------------------------------
        out_c, out_v, out_row = [], None, None
        for c in range(C):
            stages = [Signal(self.state_layout, name=f"drain_{c}_{r}") for r in range(R)]
            valid = Signal(R, name=f"drain_{c}_valid")
            row = Signal(range(max(R, 2)), name=f"drain_{c}_row")
            bottom = cells[R - 1][c]
            with m.If(adv):
                with m.If(bottom.done):
                    for r in range(R):
                        m.d.sync += stages[r].eq(cells[r][c].result)
                    m.d.sync += [valid.eq((1 << R) - 1), row.eq(0)]
                with m.Else():
                    for r in range(R - 1):
                        m.d.sync += stages[r].eq(stages[r + 1])
                    m.d.sync += [valid.eq(valid >> 1), row.eq(row + 1)]
            rnd = self.finishers[c]
            m.submodules[f"round_{c}"] = rnd
            m.d.comb += rnd.i.eq(stages[0])
            if self.fin_pipeline:                       # the rounder's stages advance with the array
                m.d.comb += rnd.en.eq(adv)
            res = Signal(FloatLayout(self.out_fmt), name=f"res_{c}")
            res_v = Signal(name=f"res_{c}_valid")
            res_row = Signal.like(row, name=f"res_{c}_row")
            with m.If(adv):
                m.d.sync += [res.eq(rnd.o), res_v.eq(delay(valid[0], self.fin_pipeline, f"rndv{c}")),
                             res_row.eq(delay(row, self.fin_pipeline, f"rndrow{c}"))]
            out_c.append(delay(res, C - 1 - c, f"res{c}"))
            if c == 0:
                out_v = delay(res_v, C - 1, "resv")
                out_row = delay(res_row, C - 1, "resrow")

        beat = Signal(self.o.payload.shape())
        m.d.comb += [beat.row.eq(out_row), beat.last.eq(out_row == R - 1)]
        for c in range(C):
            m.d.comb += beat.c[c].eq(out_c[c])
        m.d.comb += [fifo.w_en.eq(adv & out_v), fifo.w_data.eq(beat),
                     self.o.valid.eq(fifo.r_rdy), self.o.payload.eq(fifo.r_data), fifo.r_en.eq(self.o.ready)]
        return m
