"""MAC datapath cell: one product kind feeding one accumulator kind (no stream handshake).

Shared by ``MacPE`` (stream interface + finisher) and the PEs of ``SystolicArray``. The product
comes from the kind's RTL builder (``lmul.arith.PRODUCT_KINDS``; ``lmul.rtl.products``), the sum
from the accumulator's component (``lmul.arith.ACCUMULATORS``; ``kulisch`` ->
``lmul.rtl.kulisch.KulischAccumulator``). Golden semantics: ``lmul.sim.mac_pe.dot``.
"""

from __future__ import annotations

from functools import partial

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lmul.arith import Accumulator, ProductKind, accumulator, product_kind
from lmul.errors import check_int
from lmul.formats import FloatFormat
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.fp_accumulator import check_pipeline, pipe

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
    pipeline : int
        Extra register stages, ``0..max_pipeline`` (default 0), shared between the accumulator
        (``acc_pipeline``: its ``pipeline``, first of all a register between product and
        accumulator) and one stage inside the product builder before its alignment shift
        (``builder_stage``: the builder's ``stage`` hook, ``lmul.rtl.products``). The
        accumulator's stages come first unless its class sets ``builder_stage_first`` (the
        float accumulator: its leading-zero count of an unregistered L-Mul product ``1.m <<
        shift`` folds away in synthesis, of a registered one it does not). ``ParameterError``
        above ``max_pipeline``.

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

    latency : int
        ``en`` cycles from a ``last`` pair to ``done``: the accumulator's (``2 + acc_pipeline``)
        plus 1 when the builder is split; 2 for ``kulisch`` and float accumulators at depth 0.
    max_pipeline : int
        Largest ``pipeline``: the accumulator's ``max_pipeline`` + 1.

    Throughput one pair per cycle at every depth, dot products back to back.
    """

    def __init__(self, fmt: FloatFormat, kind: str | ProductKind, k_max: int,
                 acc: str | Accumulator = "kulisch", *, prebiased: bool = False, pipeline: int = 0) -> None:
        self.kind, self.acc = product_kind(kind), accumulator(acc)
        self.kind.check(fmt)
        self.fmt, self.k_max, self.prebiased = fmt, check_int("k_max", k_max, 1), prebiased
        self.builder = self.kind.rtl()(fmt)
        acc_cls = self.acc.rtl()
        acc_max = getattr(acc_cls, "max_pipeline", 0)
        self.max_pipeline = self.pipeline_room(self.acc)
        self.pipeline = check_pipeline("MacCell", pipeline, self.max_pipeline)
        if getattr(acc_cls, "builder_stage_first", False):
            self.builder_stage = self.pipeline >= 1
            self.acc_pipeline = self.pipeline - int(self.builder_stage)
        else:
            self.acc_pipeline = min(self.pipeline, acc_max)
            self.builder_stage = self.pipeline > acc_max
        # an accumulator plug-in without pipelining need not take the keyword
        kw = {"pipeline": self.acc_pipeline} if self.acc_pipeline else {}
        self.accumulator = acc_cls(fmt, self.kind, k_max, self.acc, **kw)
        self.latency = self.accumulator.latency + int(self.builder_stage)
        b_layout = self.builder.operand_layout if prebiased else FloatLayout(fmt)
        super().__init__({
            "en": In(1), "valid": In(1), "last": In(1), "a": In(FloatLayout(fmt)), "b": In(b_layout),
            "done": Out(1), "result": Out(self.accumulator.state_layout),
        })

    @staticmethod
    def pipeline_room(acc: str | Accumulator) -> int:
        """``max_pipeline`` of a cell with accumulator ``acc``, known before building one."""
        return getattr(accumulator(acc).rtl(), "max_pipeline", 0) + 1

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.acc = acc = self.accumulator
        b = self.b if self.prebiased else self.builder.prepare(m, self.b, "b")
        valid, last = self.valid, self.last
        if self.builder_stage:
            p = self.builder.build(m, self.a, b, stage=partial(pipe, m, self.en, True))
            q = pipe(m, self.en, True, "bld", valid=valid, last=last)   # alongside the builder's cut
            valid, last = q["valid"], q["last"]
        else:
            p = self.builder.build(m, self.a, b)
        m.d.comb += [acc.en.eq(self.en), acc.valid.eq(valid), acc.last.eq(last), acc.p.eq(p),
                     self.done.eq(acc.done), self.result.eq(acc.result)]
        return m
