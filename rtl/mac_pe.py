"""MAC processing element with stream interfaces (twin of ``lmul.sim.mac_pe.dot``)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from lmul.arith import Accumulator, ProductKind
from lmul.formats import FP32, FloatFormat, get_format
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.mac_cell import MacCell

__all__ = ["MacPE", "in_layout"]


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

    Attributes
    ----------
    i : In(stream.Signature(in_layout(fmt)))
        ``{a, b, last}`` beats; ``last`` on the final pair of a dot product.
    o : Out(stream.Signature(FloatLayout(out_fmt)))
        One beat per dot product.
    latency : int
        Cycles from the ``last`` beat's transfer to ``o.valid``: the accumulator's latency + 1
        (the finisher is combinational into the output register); 3 for ``kulisch``.

    Throughput one beat per cycle while ``o`` is not stalled; a result waiting on ``o.ready``
    stalls the whole PE (``i.ready`` low), so nothing is lost.
    """

    def __init__(self, fmt: FloatFormat | str, kind: str | ProductKind = "exact",
                 out_fmt: FloatFormat | str = FP32, k_max: int = 4096, *, acc: str | Accumulator = "kulisch") -> None:
        self.fmt, self.out_fmt = get_format(fmt), get_format(out_fmt)
        self.cell = MacCell(self.fmt, kind, k_max, acc)
        self.kind, self.acc, self.k_max = self.cell.kind, self.cell.acc, k_max
        self.finisher = self.cell.accumulator.finisher(self.out_fmt)
        self.latency = self.cell.latency + 1
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
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(adv & cell.done):
            m.d.sync += [self.o.payload.eq(fin.o), self.o.valid.eq(1)]
        return m
