"""Fused n-term dot-product unit (golden twin: ``lmul.sim.dot_unit.dot_unit``, whose docstring is
the specification): n products per beat, summed and added to the accumulator with one rounding
per cycle; exact (FDOT-style) or block-truncating (Hopper-style) alignment; optional promotion of
the partial sum into an FP32 accumulator every P products. The datapath is ``DotCell``
(``lmul.rtl.dot_cell``), shared with the dot-unit PEs of ``SystolicArray``."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from lmul.arith import Accumulator, ProductKind, check_dot_unit
from lmul.formats import FP32, FloatFormat, get_format
from lmul.rtl.dot_cell import DotCell
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.fp_accumulator import check_pipeline, finish_stream
from lmul.rtl.mac_pe import split_pipeline

__all__ = ["DotUnit", "in_layout"]


def in_layout(fmt: FloatFormat, n: int) -> data.StructLayout:
    """One input beat: n operand pairs, how many of them are live, end of the dot product."""
    return data.StructLayout({"a": data.ArrayLayout(FloatLayout(fmt), n), "b": data.ArrayLayout(FloatLayout(fmt), n),
                              "count": range(n + 1), "last": 1})


class DotUnit(wiring.Component):
    """Fused n-term dot-product unit with stream ports: n products per beat, their sum added to
    the accumulator with one rounding per cycle (``lmul.sim.dot_unit``: the specification).

    Exactly ``dot_unit(fmt, a, b, out_fmt, kind, n, acc, align, w, promote)`` for every dot
    product of at most ``k_max`` terms fed as ``ceil(K / n)`` beats of n consecutive operand
    pairs (the last beat with ``count = K - n * (beats - 1)``).

    Parameters
    ----------
    fmt : FloatFormat or str
        Operand format.
    kind : str or ProductKind
        Product kind (``lmul.arith.PRODUCT_KINDS``: ``exact``, ``lmul``); one builder per lane,
        ``product_kind(kind).rtl()(fmt)``.
    n : int
        Products per beat, one of 1, 2, 4, 8, 16, 32.
    out_fmt : FloatFormat or str
        Result format (default FP32).
    k_max : int
        Longest dot product (>= 1): sets the Kulisch width, only a contract for float accumulators.
    acc : str or Accumulator
        A float accumulator ``"<format>[:rne|:rtz]"`` (default ``fp32``) or ``kulisch``
        (``align="exact"`` only, no promotion).
    align : str
        ``"exact"``: the group's products are summed exactly (a fixed-point adder tree), then
        ``acc <- round_A(acc + S)``. ``"block"``: each product and the accumulator truncated to
        the ``w`` bits below the largest exponent among them, summed, rounded into A.
    w : int or None
        Block window width, 1..64 (``align="block"`` only, required there).
    promote : int or None
        Promotion interval P (a multiple of n): every P products the partial accumulator A is
        added into an FP32 accumulator (RNE) and A restarts at -0; float accumulators only.
    pipeline : int
        Extra register stages, ``0..max_pipeline`` (default 0), split as in ``MacPE``
        (``split_pipeline``): the finisher's (``KulischRounder``/``FloatConverter``
        ``pipeline``: 5 for ``kulisch``, 0 from ``fp32`` to FP32) and the cell's
        (``DotCell(pipeline=...)``: lane products registered, product builders split; 2).

    Attributes
    ----------
    i : In(stream.Signature(in_layout(fmt, n)))
        Beats ``{a[n], b[n], count, last}``: lanes ``0 .. count-1`` hold operand pairs, lanes
        ``count .. n-1`` are zero products whatever they hold (``count >= n``: all lanes);
        ``last`` on the final beat of a dot product. A short beat in the middle of a dot product
        equals zero operands in its missing lanes.
    o : Out(stream.Signature(FloatLayout(out_fmt)))
        One beat per dot product.
    latency : int
        Cycles from the ``last`` beat's transfer to ``o.valid`` (measured by the tests):

        * ``align="exact"``, float: ``T + 3`` with ``T = max(1, ceil(log2(n) / 2))`` adder-tree
          stages (a register after every second level): products + tree, normalise, accumulate,
          output register; 4 for n <= 4, 5 for n = 8, 16, 6 for n = 32;
        * ``acc="kulisch"``: ``T + 2`` (no normalisation stage);
        * ``align="block"``: 3 (products + alignment to the group's largest exponent, accumulate,
          output register);
        * promotion adds 2 (the partial's normalisation, the FP32 step);
        * ``pipeline`` adds itself.
    a_fmt, mode : FloatFormat, str
        Accumulator format and rounding mode (float accumulators).
    group_bits : int
        Two's-complement width of an exact group sum (``align="exact"``): ``sum_bits(P, n)``.
    acc_bits : int
        Kulisch accumulator width (``acc="kulisch"``).
    cell : DotCell
        The datapath (``lmul.rtl.dot_cell``): everything but the finisher and the output register.
    max_pipeline, cell_pipeline, fin_pipeline : int
        Largest ``pipeline``; its share in the cell and in the finisher.

    Throughput one beat (n products) per cycle while ``o`` is not stalled; a result waiting on
    ``o.ready`` stalls the whole unit (``i.ready`` low), so nothing is lost; bubbles leave the
    state unchanged; dot products follow back to back. The accumulate step is a single-cycle
    recurrence (the critical path); in block mode it also holds the lane shifters and the
    (n + 1)-term adder, because the accumulator's exponent takes part in the alignment.
    """

    def __init__(self, fmt: FloatFormat | str, kind: str | ProductKind = "exact", n: int = 4,
                 out_fmt: FloatFormat | str = FP32, k_max: int = 4096, acc: str | Accumulator = "fp32",
                 align: str = "exact", w: int | None = None, promote: int | None = None, pipeline: int = 0) -> None:
        self.fmt, self.out_fmt = get_format(fmt), get_format(out_fmt)
        fin_max = DotCell.finisher_room(check_dot_unit(n, acc, align, w, promote), promote, self.out_fmt)
        self.max_pipeline = DotCell.max_pipeline + fin_max
        self.pipeline = check_pipeline("DotUnit", pipeline, self.max_pipeline)
        self.cell_pipeline, self.fin_pipeline = split_pipeline(self.pipeline, DotCell.max_pipeline, fin_max)
        self.cell = DotCell(self.fmt, kind, n, k_max, acc, align, w, promote, pipeline=self.cell_pipeline)
        c = self.cell
        self.acc, self.kind, self.k_max = c.acc, c.kind, c.k_max
        self.n, self.align, self.w, self.promote = n, align, w, promote
        self.group_bits, self.is_float = c.group_bits, c.is_float
        if c.is_float:
            self.a_fmt, self.mode = c.a_fmt, c.mode
        else:
            self.acc_bits = c.acc_bits
        self.finisher = c.finisher(self.out_fmt, pipeline=self.fin_pipeline)
        self.latency = c.latency + self.finisher.latency + 1  # + the finisher's stages + the output register
        super().__init__({"i": In(stream.Signature(in_layout(self.fmt, n))),
                          "o": Out(stream.Signature(FloatLayout(self.out_fmt)))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.cell = cell = self.cell
        m.submodules.finisher = fin = self.finisher
        adv = Signal()
        beat = self.i.p
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), self.i.ready.eq(adv),
                     cell.en.eq(adv), cell.valid.eq(self.i.valid), cell.last.eq(beat.last),
                     cell.count.eq(beat.count), cell.a.eq(beat.a), cell.b.eq(beat.b), fin.i.eq(cell.result)]
        finish_stream(m, adv, cell.done, fin, self.finisher.latency, self.o)
        return m
