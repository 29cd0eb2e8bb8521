"""Reference exact floating-point multiplier, rounded or unrounded (golden twin:
``lmul.sim.fp_multiplier``: ``fp_multiply`` and ``fp_product``)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lmul.errors import check_choice
from lmul.formats import FloatFormat, get_format
from lmul.rtl.float_layout import Classes, FloatLayout, classify, pack_result, special_result
from lmul.rtl.latency import check_latency, drive_output, register_inputs, stage
from lmul.rtl.rounding import leading_zeros, signed_width

__all__ = ["ExactProductLayout", "FPMultiplier"]


class ExactProductLayout(data.StructLayout):
    """Unrounded product of two ``fmt`` operands, as ``FPMultiplier(mode="exact")`` gives it
    (equal to ``lmul.sim.fp_multiplier.fp_product``):
    ``value = (-1)**sign * sig << shift`` at fixed-point LSB ``2**(2*quantum_exp)``.

    Fields, LSB first:

    * ``sig`` — unsigned(2m+2): the significand product (hidden bits included); 0 for zero, NaN
      and Inf products.
    * ``shift`` — unsigned, ``(2*max_exp_field - 2).bit_length()`` bits (at least 1):
      ``max(Ea,1) + max(Eb,1) - 2`` of the biased exponent fields; 0 for zero, NaN and Inf
      products.
    * ``sign`` — 1 bit: ``sign_a ^ sign_b``.
    * ``nan``, ``inf`` — 1 bit each: the product is NaN / ±Inf (project's NaN rule; ``inf``
      excludes NaN).

    Parameters
    ----------
    fmt : FloatFormat
        Operand format.
    """

    def __init__(self, fmt: FloatFormat) -> None:
        self.fmt = fmt
        super().__init__({
            "sig": 2 * fmt.man_bits + 2,
            "shift": (2 * fmt.max_exp_field - 2).bit_length() or 1,
            "sign": 1, "nan": 1, "inf": 1,
        })


class FPMultiplier(wiring.Component):
    """Exact floating-point multiplier of ``fmt``, rounded once or unrounded.

    ``mode="rounded"``: ``o = fp_multiply(fmt, a, b)`` bit for bit — the exact product rounded
    once to ``fmt`` with round-to-nearest-even, subnormal operands and results, the format's
    specials, the project's NaN rule and the overflow policy. Datapath (as HardFloat's
    ``mulRecFN``, without its recoded format):

    1. classify the operands; normalise a subnormal operand (its mantissa shifted left past
       its leading one, which becomes the hidden bit; the exponent lowered by the shift), so
       both significands are ``1.f`` in [1, 2): two m-bit normalisers instead of one on the
       2m+2-bit product;
    2. significand product ``(1 + fa)(1 + fb)`` (an m×m multiplier plus two adds) in [1, 4),
       its top bit ``t`` (no leading-zero count of the product: at most one position of
       normalisation); exponent sum ``E = Ea + Eb - bias + t``;
    3. round: the top m+2 product bits (significand and guard), the rest ORed into sticky; a
       result below the normal range (``E <= 0``) has its m+2 bits shifted right by ``1 - E``
       (at most m+2 positions), the dropped bits joining sticky through a thermometer mask;
       round half to even by one increment of ``E << m | fraction`` whose carry ripples into
       the exponent; overflow compare; special-value mux (``pack_result``).

    ``mode="exact"``: the unrounded product for MAC units, equal to ``fp_product``: significand
    product, shift amount and ``nan``/``inf`` flags (``ExactProductLayout``); no rounding.

    Parameters
    ----------
    fmt : FloatFormat or str
        Operand (and, rounded, result) format.
    mode : str
        ``"rounded"`` (default) or ``"exact"``; anything else raises ``ParameterError``.
    latency : int
        Pipeline depth, 0 (combinational), 1 or 2; anything else raises ``ParameterError``
        (``TypeError`` if not an int). Where the registers sit, rounded: 1: after step 2 (the
        product, exponent sum and special-value flags; between the multiplier and the
        rounder); 2: also after step 1 (the normalised operands) when m >= 4, so that the
        multiplier array, the longest segment there, has a stage of its own; for m <= 3 instead
        inside step 3, after the subnormal shift (before the RNE increment, overflow compare
        and result mux), the rounder being the longer segment. Exact: 1: output register; 2:
        input and output registers (the product is the whole path).

    Attributes
    ----------
    a : In(FloatLayout(fmt))
        First operand (``{man, exp, sign}`` view, LSB first).
    b : In(FloatLayout(fmt))
        Second operand.
    o : Out(FloatLayout(fmt))
        ``mode="rounded"`` only: ``fp_multiply(fmt, a, b)``.
    p : Out(ExactProductLayout(fmt))
        ``mode="exact"`` only: ``fp_product(fmt, a, b)``.
    mode : str
        The ``mode`` parameter.
    latency : int
        Clock cycles from ``a``/``b`` to ``o``/``p`` (the ``latency`` parameter; 0: same cycle).

    Throughput one operand pair per cycle at every latency (fully pipelined, no handshake, no
    stall). Reset clears the pipeline registers; until the first operands have passed through,
    the output is the all-zero code (+0, or the all-zero ``ExactProductLayout``). There is no
    other state.
    """

    def __init__(self, fmt: FloatFormat | str, *, mode: str = "rounded", latency: int = 0) -> None:
        self.fmt = fmt = get_format(fmt)
        self.mode = check_choice("FPMultiplier mode", mode, ("rounded", "exact"))
        self.latency = check_latency("FPMultiplier", latency)
        out = {"o": Out(FloatLayout(fmt))} if mode == "rounded" else {"p": Out(ExactProductLayout(fmt))}
        super().__init__({"a": In(FloatLayout(fmt)), "b": In(FloatLayout(fmt)), **out})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        if self.mode == "exact":
            self._exact(m)
        else:
            self._rounded(m)
        return m

    def _exact(self, m: Module) -> None:
        fmt = self.fmt
        a, b = register_inputs(m, self.latency, self.a, self.b)
        cx, cy = classify(m, fmt, a, "a"), classify(m, fmt, b, "b")
        special, _ = special_result(m, fmt, cx, cy)
        zero = Signal()
        m.d.comb += zero.eq(cx.zero | cy.zero)
        # significands with hidden bit, effective exponents max(E, 1)
        hid_a = ~cx.exp_zero if fmt.subnormals else Const(1)
        hid_b = ~cy.exp_zero if fmt.subnormals else Const(1)
        ea = Mux(cx.exp_zero, 1, a.exp)
        eb = Mux(cy.exp_zero, 1, b.exp)
        prod = Signal(2 * fmt.man_bits + 2)
        m.d.comb += prod.eq(Cat(a.man, hid_a) * Cat(b.man, hid_b))
        res = Signal(ExactProductLayout(fmt))
        # Restates the NaN condition of special_result on purpose: reusing that signal is the
        # same logic but maps differently in ABC (BF16: +24 transistors), and this netlist is
        # the one the published report measured inside every exact MAC and array.
        nan = Signal()
        m.d.comb += nan.eq(special & (cx.nan | cy.nan | cx.inf & cy.zero | cy.inf & cx.zero))
        m.d.comb += [
            res.sig.eq(Mux(zero | special, 0, prod)),
            res.shift.eq(Mux(zero | special, 0, ea + eb - 2)),
            res.sign.eq(cx.sign ^ cy.sign), res.nan.eq(nan), res.inf.eq(special & ~nan),
        ]
        drive_output(m, self.latency, self.p, res)

    def _cuts(self) -> tuple[str, ...]:
        """Pipeline cuts of the rounded datapath at this latency (see the class docstring)."""
        if self.latency == 0:
            return ()
        if self.latency == 1:
            return ("product",)
        # the multiplier array grows with m**2: from m = 4 on it is the longest segment and gets
        # a stage of its own; below, the rounder is, and is split after its subnormal shift
        return ("operands", "product") if self.fmt.man_bits >= 4 else ("product", "round")

    def _rounded(self, m: Module) -> None:
        fmt = self.fmt
        mb = fmt.man_bits
        a, b = self.a, self.b
        # step 1: classes, specials, normalised operands
        cx, cy = classify(m, fmt, a, "a"), classify(m, fmt, b, "b")
        special, special_bits = special_result(m, fmt, cx, cy)
        zero = Signal()
        m.d.comb += zero.eq(cx.zero | cy.zero)
        sign = cx.sign ^ cy.sign
        ea, fa = _normalised(m, fmt, a, cx, "a")
        eb, fb = _normalised(m, fmt, b, cy, "b")
        if "operands" in self._cuts():
            # zero travels inverted: the reset state (all registers 0) is then a zero product, +0
            ea, fa, eb, fb, nonzero, sign, special, special_bits = stage(
                m, True, "operands", ea, fa, eb, fb, ~zero, sign, special, special_bits)
            zero = ~nonzero
        # step 2: (1 + fa)(1 + fb) in [1, 4), written out so that the hidden ones are adds, not
        # a row and a column of the multiplier array; t: the product is in [2, 4)
        p = Signal(2 * mb + 2)
        m.d.comb += p.eq((1 << 2 * mb) + ((fa + fb) << mb) + fa * fb)
        # d = Ea + Eb - bias; the result's biased exponent before rounding is E = d + t
        lo = 2 * (1 - mb if fmt.subnormals else 1) - fmt.bias
        hi = 2 * fmt.max_exp_field - fmt.bias + 1
        d = Signal(signed(signed_width(lo - 1, hi)))
        m.d.comb += d.eq(ea + eb - fmt.bias)
        p, d, zero, sign, special, special_bits = stage(
            m, "product" in self._cuts(), "product", p, d, zero, sign, special, special_bits)
        # step 3: round
        t = p[-1]
        e = Signal.like(d)
        m.d.comb += e.eq(d + t)
        # a t-position normalise: q (m+1 bits, hidden bit on top) | guard, the rest sticky
        pe = Cat(Const(0, 1), p)                 # so that m = 0 has a (zero) bit below the guard
        qg = Signal(mb + 2)
        m.d.comb += qg.eq(Mux(t, pe[mb + 1:], pe[mb:-1]))
        sticky0 = pe[:mb].any() | (t & pe[mb])
        # subnormal result (E <= 0): shift q|guard right by 1 - E; from m+2 on, all of q is
        # below guard; the dropped bits join sticky through a thermometer mask of k
        r = mb + 2
        k = Signal(range(r + 1))
        m.d.comb += k.eq(Mux(e > 0, 0, Mux(e < 1 - r, r, 1 - e)))
        shifted = Signal(len(qg))
        dropped = Signal(len(qg))
        m.d.comb += [shifted.eq(qg >> k), dropped.eq(qg & ~(Const(-1, len(qg)) << k))]
        q = shifted[1:]
        guard = shifted[0]
        sticky = sticky0 | dropped.any()
        round_up = guard & (sticky | q[0])
        ebase = Mux(e > 0, e, 0)
        if "round" in self._cuts():
            q, round_up, ebase, zero, sign, special, special_bits = stage(
                m, True, "round", q, round_up, ebase, zero, sign, special, special_bits)
        # a normal q has its hidden bit set, so E << m | q[:m] is the field; a subnormal one has
        # E' = 0; the RNE increment's carry ripples into the exponent
        field = Signal(len(e) + mb + 1)
        m.d.comb += field.eq(Cat(q[:mb], ebase) + round_up)
        over = Signal()
        m.d.comb += over.eq(field > fmt.max_finite_field)
        res = pack_result(m, fmt, field, over, zero, sign, special, special_bits)
        m.d.comb += self.o.eq(res)


def _normalised(m: Module, fmt: FloatFormat, v: data.View, c: Classes, name: str) -> tuple[Value, Value]:
    """(effective biased exponent, fraction ``f`` of the significand ``1.f``, m bits) of a
    nonzero finite operand. A subnormal's mantissa is shifted left by its leading-zero count
    ``lz`` plus one (the leading one becomes the hidden bit) and its exponent is ``-lz``: a
    bounded m-bit normalise per operand, much smaller than normalising the 2m+2-bit product.
    Zero operands give don't-care values (the ``zero`` flag decides their result)."""
    mb = fmt.man_bits
    if not fmt.subnormals or mb == 0:
        return Mux(c.exp_zero, 1, v.exp), v.man
    lz = leading_zeros(m, v.man, f"{name}_lz")
    # one shifter for both cases: by 0 (normal) or lz + 1 (subnormal)
    sh = Signal(range(mb + 2), name=f"{name}_sh")
    exp = Signal(signed(signed_width(-mb, fmt.max_exp_field + 1)), name=f"{name}_exp")
    m.d.comb += [sh.eq(Mux(c.exp_zero, lz + 1, 0)), exp.eq(Mux(c.exp_zero, -lz, v.exp))]
    return exp, (v.man << sh)[:mb]
