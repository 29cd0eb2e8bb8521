"""MAC processing element with stream interfaces (twin of ``lmul.sim.mac_pe.dot``).

``MacPE(fmt, kind, out_fmt=FP32, k_max=4096)``: input stream ``i`` of ``{a, b, last}`` beats,
one multiply-accumulate per beat; after a ``last`` beat the exact sum is rounded once (RNE) to
``out_fmt`` and sent on output stream ``o`` as ``{value}``. Exactly ``dot(fmt, a, b, out_fmt,
kind)`` for every dot product of at most ``k_max`` terms (the accumulator has
``accumulator_bits(fmt, k_max, kind)`` bits and cannot overflow; longer ones are outside the
contract). Specials as the golden model: NaN, or +Inf and -Inf, give ``encode(out, nan)``;
±Inf gives ``encode(out, ±inf)``; a zero sum is +0.

Latency: 3 cycles from the ``last`` beat to ``o.valid``. Throughput: one beat per cycle while
``o`` is not stalled; a result waiting on ``o.ready`` stalls the whole PE (no loss).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from lmul.formats import FP32, FloatFormat, FormatError, encode, get_format
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.mac_cell import MacCell, check_mac
from lmul.rtl.rounding import round_to_format

__all__ = ["AccRounder", "MacPE"]


def check_out_format(fmt: FloatFormat, out_fmt: FloatFormat) -> None:
    if (fmt.has_nan or fmt.has_inf) and not out_fmt.has_nan:
        raise FormatError(f"output format {out_fmt.name} cannot hold the NaN a {fmt.name} dot product can give")


class AccRounder(wiring.Component):
    """Combinational: exact accumulator sum + special flags -> ``out_fmt`` bits (RNE)."""

    def __init__(self, fmt: FloatFormat, out_fmt: FloatFormat, acc_bits: int) -> None:
        check_out_format(fmt, out_fmt)
        self.fmt, self.out_fmt, self.acc_bits = fmt, out_fmt, acc_bits
        super().__init__({"sum": In(signed(acc_bits)),
                          "nan": In(1), "pinf": In(1), "ninf": In(1), "o": Out(FloatLayout(out_fmt))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        out, w = self.out_fmt, self.acc_bits
        s = self.sum.as_signed()
        neg = s[w - 1]
        mag = Signal(w - 1)
        m.d.comb += mag.eq(Mux(neg, -s, s))
        # value = sum * 2**lsb; mag's top bit (w-2) has unbiased exponent w-2+lsb
        lsb = 2 * self.fmt.quantum_exp
        d = Const(w - 2 + lsb + out.bias - 1)
        nan = self.nan | (self.pinf & self.ninf)
        special = nan | self.pinf | self.ninf

        def bits(v: float) -> int:
            return int(encode(out, np.array([v]))[0]) if not (np.isnan(v) and not out.has_nan) else 0

        special_bits = Mux(nan, bits(np.nan), Mux(self.pinf, bits(np.inf), bits(-np.inf)))
        res = round_to_format(m, out, mag, d, mag == 0, neg, special, special_bits, lzc=True)
        m.d.comb += self.o.eq(res)
        return m


class MacPE(wiring.Component):
    def __init__(self, fmt: FloatFormat | str, kind: str = "exact", out_fmt: FloatFormat | str = FP32,
                 k_max: int = 4096) -> None:
        self.fmt, self.out_fmt = get_format(fmt), get_format(out_fmt)
        self.kind, self.k_max = kind, k_max
        check_mac(self.fmt, kind, k_max)               # validate before building sub-components
        check_out_format(self.fmt, self.out_fmt)
        self.cell = MacCell(self.fmt, kind, k_max)
        self.rounder = AccRounder(self.fmt, self.out_fmt, self.cell.acc_bits)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"a": FloatLayout(self.fmt), "b": FloatLayout(self.fmt),
                                                        "last": 1}))),
            "o": Out(stream.Signature(FloatLayout(self.out_fmt))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.cell = cell = self.cell
        m.submodules.rounder = rnd = self.rounder
        adv = Signal()
        m.d.comb += [adv.eq(~self.o.valid | self.o.ready), self.i.ready.eq(adv),
                     cell.en.eq(adv), cell.valid.eq(self.i.valid), cell.last.eq(self.i.p.last),
                     cell.a.eq(self.i.p.a), cell.b.eq(self.i.p.b),
                     rnd.sum.eq(cell.sum), rnd.nan.eq(cell.nan), rnd.pinf.eq(cell.pinf), rnd.ninf.eq(cell.ninf)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(adv & cell.done):
            m.d.sync += [self.o.payload.eq(rnd.o), self.o.valid.eq(1)]
        return m
