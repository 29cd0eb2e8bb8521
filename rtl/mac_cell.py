"""MAC datapath cell: one product kind feeding one accumulator kind (no stream handshake).

Shared by ``MacPE`` (stream interface + finisher) and the PEs of ``SystolicArray``. The product
comes from the kind's RTL builder (``lmul.arith.PRODUCT_KINDS``; ``lmul.rtl.products``), the sum
from the accumulator's component (``lmul.arith.ACCUMULATORS``; ``kulisch`` ->
``lmul.rtl.kulisch.KulischAccumulator``). Golden semantics: ``lmul.sim.mac_pe.dot``.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lmul.arith import Accumulator, ProductKind, accumulator, product_kind
from lmul.errors import check_int
from lmul.formats import FloatFormat
from lmul.rtl.float_layout import FloatLayout

__all__ = ["MacCell"]


class MacCell(wiring.Component):
    """Multiply-accumulate datapath of one PE.

    Parameters
    ----------
    fmt : FloatFormat
        Operand format.
    kind : str or ProductKind
        Product kind (``exact``, ``lmul``; ``lmul.arith.PRODUCT_KINDS``).
    k_max : int
        Longest dot product the accumulator must hold (>= 1).
    acc : str or Accumulator
        Accumulator (``kulisch``; ``lmul.arith.ACCUMULATORS``).
    prebiased : bool
        ``b`` arrives already prepared by the kind's builder (``operand_layout``, e.g. L-Mul's
        ``F_b + C`` computed once at the top of an array column); otherwise the cell prepares it.

    Attributes
    ----------
    en : In(1)
        Advance enable: all registers hold while low.
    valid, last : In(1)
        ``a``/``b`` hold an operand pair; it is the last of its dot product.
    a : In(FloatLayout(fmt))
    b : In(FloatLayout(fmt)) or In(builder.operand_layout) when ``prebiased``
    done : Out(1)
        ``result`` holds a newly finished dot product (one ``en`` cycle).
    result : Out(accumulator.state_layout)
        Finished accumulator state (for ``kulisch``: exact sum and special flags).

    Latency ``self.latency`` ``en`` cycles from a ``last`` pair to ``done`` (the accumulator's; 2
    for ``kulisch``). Throughput one pair per cycle, dot products back to back.
    """

    def __init__(self, fmt: FloatFormat, kind: str | ProductKind, k_max: int,
                 acc: str | Accumulator = "kulisch", *, prebiased: bool = False) -> None:
        self.kind, self.acc = product_kind(kind), accumulator(acc)
        self.kind.check(fmt)
        self.fmt, self.k_max, self.prebiased = fmt, check_int("k_max", k_max, 1), prebiased
        self.builder = self.kind.rtl()(fmt)
        self.accumulator = self.acc.rtl()(fmt, self.kind, k_max, self.acc)
        self.latency = self.accumulator.latency
        b_layout = self.builder.operand_layout if prebiased else FloatLayout(fmt)
        super().__init__({
            "en": In(1), "valid": In(1), "last": In(1), "a": In(FloatLayout(fmt)), "b": In(b_layout),
            "done": Out(1), "result": Out(self.accumulator.state_layout),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.acc = acc = self.accumulator
        b = self.b if self.prebiased else self.builder.prepare(m, self.b, "b")
        p = self.builder.build(m, self.a, b)
        m.d.comb += [acc.en.eq(self.en), acc.valid.eq(self.valid), acc.last.eq(self.last), acc.p.eq(p),
                     self.done.eq(acc.done), self.result.eq(acc.result)]
        return m
