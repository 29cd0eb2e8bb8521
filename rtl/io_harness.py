"""Pin-limited FPGA harness for timing a design of any width (used only for Fmax runs; no
golden twin: it does not compute anything)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["IOHarness"]


class IOHarness(wiring.Component):
    """Serial-in / serial-out wrapper that puts flip-flops on every port bit of ``design``.

    Every input port bit of ``design`` is fed from a serial-in shift register (pin ``sin``) and
    every output port bit is captured into a register chain that either loads in parallel (pin
    ``load``) or shifts out serially (pin ``sout``). Every design input therefore comes from a
    flip-flop and every output goes to one, so the place-and-route Fmax is the design's own
    register-to-register (or input-to-output, for combinational designs) critical path, while
    the harness adds only one LUT level on the output side. Resource figures in reports come
    from synthesising the bare design, not the harness.

    Parameters
    ----------
    design : wiring.Component
        The design under timing; its ports are flattened in signature order, inputs
        concatenated LSB first into the input chain, outputs into the output chain.

    Attributes
    ----------
    sin : In(1)
        Serial data: enters the input chain at bit 0 every cycle (the chain shifts towards its
        MSB and drives the design's inputs directly), and the output chain's MSB on cycles
        without ``load``.
    load : In(1)
        High: the output chain loads all design outputs in parallel; low: it shifts one bit
        towards ``sout``.
    sout : Out(1)
        Bit 0 of the output chain (registered).
    latency : int
        1: the design outputs present in a ``load`` cycle appear on ``sout`` (bit 0 first, one
        bit per following cycle) from the next cycle on. This is a timing harness, not a
        pipeline: the input chain shifts every cycle, so there is no throughput contract, and
        the wrapped design's own ``latency`` is not added.
    """

    latency = 1

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
