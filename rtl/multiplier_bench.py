"""Multi-lane test/throughput wrapper around the multipliers (used by the cocotb benches).

For each format ``f`` in ``formats``: ``lanes`` copies of ``LMulPE(f)``, ``FPMultiplier(f)``
(rounded) and ``FPMultiplier(f, mode="exact")`` share flattened operand ports ``{f}_a``,
``{f}_b`` (lane ``i`` in bits ``[i*w, (i+1)*w)``) and drive ``{f}_lmul``, ``{f}_mul``,
``{f}_exact``. Combinational: one simulator step evaluates ``lanes`` pairs per design.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lmul.designs import identifier
from lmul.formats import FloatFormat, get_format
from lmul.rtl.fp_multiplier import ExactProductLayout, FPMultiplier
from lmul.rtl.lmul_pe import LMulPE

__all__ = ["MultiplierBench", "port_name"]


def port_name(fmt: FloatFormat) -> str:
    """Verilog-safe port prefix of a format."""
    return identifier(fmt)


class MultiplierBench(wiring.Component):
    def __init__(self, formats: list[FloatFormat | str], lanes: int) -> None:
        self.formats = [get_format(f) for f in formats]
        self.lanes = lanes
        sig = {}
        for f in self.formats:
            p, w = port_name(f), f.width
            sig |= {f"{p}_a": In(lanes * w), f"{p}_b": In(lanes * w), f"{p}_lmul": Out(lanes * w),
                    f"{p}_mul": Out(lanes * w), f"{p}_exact": Out(lanes * ExactProductLayout(f).size)}
        super().__init__(sig)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        for f in self.formats:
            p, w = port_name(f), f.width
            ew = ExactProductLayout(f).size
            a, b = getattr(self, f"{p}_a"), getattr(self, f"{p}_b")
            for i in range(self.lanes):
                lm, fm, fx = LMulPE(f), FPMultiplier(f), FPMultiplier(f, mode="exact")
                m.submodules[f"{p}_lmul{i}"] = lm
                m.submodules[f"{p}_mul{i}"] = fm
                m.submodules[f"{p}_exact{i}"] = fx
                for dut in (lm, fm, fx):
                    m.d.comb += [dut.a.as_value().eq(a[i * w:(i + 1) * w]),
                                 dut.b.as_value().eq(b[i * w:(i + 1) * w])]
                m.d.comb += [getattr(self, f"{p}_lmul")[i * w:(i + 1) * w].eq(lm.o.as_value()),
                             getattr(self, f"{p}_mul")[i * w:(i + 1) * w].eq(fm.o.as_value()),
                             getattr(self, f"{p}_exact")[i * ew:(i + 1) * ew].eq(fx.p.as_value())]
        return m
