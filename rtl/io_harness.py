"""Pin-limited FPGA harness for timing a design of any width (used only for Fmax runs).

``IOHarness(design)`` feeds every input port bit of ``design`` from a serial-in shift register
(pin ``sin``) and captures every output port bit into a register chain that either loads in
parallel (pin ``load``) or shifts out serially (pin ``sout``). Every design input therefore
comes from a flip-flop and every output goes to one, so the place-and-route Fmax is the design's
own register-to-register (or input-to-output, for combinational designs) critical path, while
the harness adds only one LUT level on the output side. Resource figures in reports come from
synthesising the bare design, not the harness.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["IOHarness"]


class IOHarness(wiring.Component):
    def __init__(self, design: wiring.Component) -> None:
        self.design = design
        super().__init__({"sin": In(1), "load": In(1), "sout": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.dut = dut = self.design
        ins: list[Value] = []
        outs: list[Value] = []
        for _path, member, value in dut.signature.flatten(dut):
            (ins if member.flow == wiring.In else outs).append(Value.cast(value))
        in_bits = Cat(*ins)
        out_bits = Cat(*outs)
        chain_in = Signal(max(len(in_bits), 1))
        m.d.sync += chain_in.eq(Cat(self.sin, chain_in[:-1]))
        m.d.comb += in_bits.eq(chain_in[:len(in_bits)])
        chain_out = Signal(max(len(out_bits), 1))
        with m.If(self.load):
            m.d.sync += chain_out.eq(out_bits)
        with m.Else():
            m.d.sync += chain_out.eq(Cat(chain_out[1:], self.sin))
        m.d.comb += self.sout.eq(chain_out[0])
        return m
