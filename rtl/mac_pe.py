"""MAC processing element with stream interfaces (twin of ``lmul.sim.mac_pe.dot``)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from lmul.arith import Accumulator, ProductKind, accumulator
from lmul.formats import FP32, FloatFormat, get_format
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.fp_accumulator import check_pipeline, finish_stream
from lmul.rtl.mac_cell import MacCell

__all__ = ["PIPELINE_ORDER", "MacPE", "in_layout", "split_pipeline"]

#: Where ``MacPE``'s ``pipeline`` registers go, in order: ``"fin"`` one more finisher stage
#: (``KulischRounder``/``FloatConverter`` ``pipeline``), ``"cell"`` one more ``MacCell`` stage;
#: a part already at its maximum is skipped.
PIPELINE_ORDER = ("fin", "fin", "fin", "fin", "cell", "fin", "cell")


def split_pipeline(pipeline: int, cell_max: int, fin_max: int) -> tuple[int, int]:
    """``(cell, finisher)`` register stages for ``pipeline`` extra stages of a MAC PE, following
    ``PIPELINE_ORDER`` and then whichever part still has room (``pipeline <= cell_max + fin_max``)."""
    room = {"cell": cell_max, "fin": fin_max}
    got = {"cell": 0, "fin": 0}
    order = [*PIPELINE_ORDER, *["cell"] * cell_max, *["fin"] * fin_max]
    for part in order:
        if sum(got.values()) == pipeline:
            break
        if got[part] < room[part]:
            got[part] += 1
    return got["cell"], got["fin"]


def in_layout(fmt: FloatFormat) -> data.StructLayout:
    """One input beat: an operand pair and the end-of-dot-product flag."""
    return data.StructLayout({"a": FloatLayout(fmt), "b": FloatLayout(fmt), "last": 1})


class MacPE(wiring.Component):
    """Dot products, one multiply-accumulate per beat, results rounded to ``out_fmt``.

    Exactly ``dot(fmt, a, b, out_fmt, kind, acc)`` for every dot product of at most ``k_max``
    terms (``kulisch``: the accumulator has ``kulisch_bits(fmt, kind, k_max)`` bits and cannot
    overflow; longer dot products are outside the contract).

    Parameters
    ----------
    fmt : FloatFormat or str
        Operand format.
    kind : str
        Product kind: ``exact`` or ``lmul`` (``lmul.arith.PRODUCT_KINDS``).
    out_fmt : FloatFormat or str
        Result format (default FP32).
    k_max : int
        Longest dot product (default 4096).
    acc : str
        Accumulator (default ``kulisch``; ``lmul.arith.ACCUMULATORS``).
    pipeline : int
        Extra register stages, ``0..max_pipeline`` (default 0), split between the finisher and
        the MAC cell by ``split_pipeline`` (``cell_pipeline``, ``fin_pipeline``); each adds one
        cycle of latency and none changes a result bit. ``ParameterError`` above ``max_pipeline``.

    Attributes
    ----------
    i : In(stream.Signature(in_layout(fmt)))
        ``{a, b, last}`` beats; ``last`` on the final pair of a dot product.
    o : Out(stream.Signature(FloatLayout(out_fmt)))
        One beat per dot product.
    latency : int
        Cycles from the ``last`` beat's transfer to ``o.valid``: the cell's latency + the
        finisher's + 1 (the output register) = ``3 + pipeline`` for ``kulisch`` and float
        accumulators.
    max_pipeline : int
        Largest ``pipeline``: the cell's ``max_pipeline`` + the finisher's.

    Throughput one beat per cycle while ``o`` is not stalled, at every depth; a result waiting
    on ``o.ready`` stalls the whole PE (``i.ready`` low, every pipeline register holds), so
    nothing is lost.
    """

    def __init__(self, fmt: FloatFormat | str, kind: str | ProductKind = "exact",
                 out_fmt: FloatFormat | str = FP32, k_max: int = 4096, *, acc: str | Accumulator = "kulisch",
                 pipeline: int = 0) -> None:
        self.fmt, self.out_fmt = get_format(fmt), get_format(out_fmt)
        acc_cls = accumulator(acc).rtl()
        cell_max = MacCell.pipeline_room(acc)
        room = getattr(acc_cls, "finisher_max_pipeline", None)     # (plug-ins without pipelining: 0)
        fin_max = room(accumulator(acc), self.out_fmt) if room else 0
        self.max_pipeline = cell_max + fin_max
        self.pipeline = check_pipeline("MacPE", pipeline, self.max_pipeline)
        self.cell_pipeline, self.fin_pipeline = split_pipeline(self.pipeline, cell_max, fin_max)
        self.cell = MacCell(self.fmt, kind, k_max, acc, pipeline=self.cell_pipeline)
        self.kind, self.acc, self.k_max = self.cell.kind, self.cell.acc, k_max
        fin_kw = {"pipeline": self.fin_pipeline} if self.fin_pipeline else {}
        self.finisher = self.cell.accumulator.finisher(self.out_fmt, **fin_kw)
        self.latency = self.cell.latency + getattr(self.finisher, "latency", 0) + 1
        super().__init__({"i": In(stream.Signature(in_layout(self.fmt))),
                          "o": Out(stream.Signature(FloatLayout(self.out_fmt)))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.cell = cell = self.cell
        m.submodules.rounder = fin = self.finisher
        adv = Signal()
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), self.i.ready.eq(adv),
                     cell.en.eq(adv), cell.valid.eq(self.i.valid), cell.last.eq(self.i.p.last),
                     cell.a.eq(self.i.p.a), cell.b.eq(self.i.p.b), fin.i.eq(cell.result)]
        finish_stream(m, adv, cell.done, fin, self.fin_pipeline, self.o)
        return m
