"""Multi-lane test/throughput wrapper around the multipliers (used by the cocotb benches,
``tests/cocotb_benches/tb_multipliers.py``; golden twins: those of ``LMulPE`` and ``FPMultiplier``)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lmul.errors import check_int
from lmul.formats import FloatFormat, get_format
from lmul.rtl.fp_multiplier import ExactProductLayout, FPMultiplier
from lmul.rtl.lmul_pe import LMulPE

__all__ = ["MultiplierBench", "port_name"]


def port_name(fmt: FloatFormat) -> str:
    """Verilog-safe port prefix of a format: its name with every non-alphanumeric character
    replaced by ``_`` (``e4m3:sat`` -> ``e4m3_sat``)."""
    return "".join(c if c.isalnum() else "_" for c in str(fmt))


class MultiplierBench(wiring.Component):
    """``lanes`` copies of each multiplier per format, on flat ports, all combinational.

    For each format ``f`` in ``formats`` (prefix ``p = port_name(f)``, width ``w = f.width``):
    ``lanes`` copies of ``LMulPE(f)``, ``FPMultiplier(f)`` (rounded) and
    ``FPMultiplier(f, mode="exact")``, all at latency 0, share the operand ports; lane ``i`` of
    every port occupies bits ``[i*w, (i+1)*w)`` (``[i*x, (i+1)*x)`` for ``{p}_exact``). One
    simulator step evaluates ``lanes`` pairs per design.

    Parameters
    ----------
    formats : list of FloatFormat or str
        Formats to instantiate (their ``port_name`` prefixes must differ).
    lanes : int
        Copies per design and format (>= 1).

    Attributes
    ----------
    {p}_a : In(lanes * w)
        First operands, lane ``i`` in bits ``[i*w, (i+1)*w)``.
    {p}_b : In(lanes * w)
        Second operands.
    {p}_lmul : Out(lanes * w)
        ``lmul(f, a, b)`` per lane (``LMulPE``).
    {p}_mul : Out(lanes * w)
        ``fp_multiply(f, a, b)`` per lane (``FPMultiplier``, rounded).
    {p}_exact : Out(lanes * x), x = ExactProductLayout(f).size
        ``fp_product(f, a, b)`` per lane, packed as ``ExactProductLayout(f)``.
    latency : int
        0: combinational, outputs follow the operands in the same cycle.

    Throughput ``lanes`` operand pairs per format and design per evaluation; no state, no reset.
    """

    latency = 0

    def __init__(self, formats: list[FloatFormat | str], lanes: int) -> None:
        self.formats = [get_format(f) for f in formats]
        self.lanes = check_int("lanes", lanes, 1)
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
