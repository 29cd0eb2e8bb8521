"""Round-to-nearest-even of an unsigned magnitude into a float format, in gates: the general
combinational rounder of any magnitude (leading-zero count, normalising or denormalising shift),
for accumulator rounders (golden twin: ``lmul.formats.round_fields``). The rounded
``FPMultiplier`` does not use it: its product needs at most one position of normalisation, and
it rounds with a smaller datapath of its own."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value

from lmul.formats import FloatFormat
from lmul.rtl.float_layout import pack_result

__all__ = ["leading_zeros", "round_to_format", "signed_width"]


def signed_width(lo: int, hi: int) -> int:
    """Bits of the smallest signed shape holding ``lo..hi``."""
    w = 2
    while not (-(1 << (w - 1)) <= lo and hi < (1 << (w - 1))):
        w += 1
    return w


def leading_zeros(m: Module, v: Value, name: str = "lz") -> Signal:
    """Leading-zero count of ``v`` (``len(v)`` for zero): a priority encoder."""
    w = len(v)
    lz = Signal(range(w + 1), name=name)
    m.d.comb += lz.eq(w)
    for i in range(w):                 # the last matching assignment wins: the highest set bit
        with m.If(v[i]):
            m.d.comb += lz.eq(w - 1 - i)
    return lz


def round_to_format(m: Module, fmt: FloatFormat, mag: Value, d: Value, zero: Value, sign: Value,
                    special: Value, special_bits: Value, *, lzc: bool = True) -> Signal:
    """RNE-round ``mag`` into ``fmt`` and pack it with sign/zero/specials (combinational).

    Normalise left by ``min(lz, d)`` (``lz`` the leading-zero count of ``mag``), or right by
    ``1 - (d + 1)`` into the subnormal range; take m+1 bits, guard and sticky; round half to
    even; the increment's carry ripples into the exponent field; overflow/zero/specials per
    ``pack_result``. Mirrors ``lmul.formats.round_fields``.

    Parameters
    ----------
    m : Module
        Module the logic is added to (``comb`` domain only).
    fmt : FloatFormat
        Target format.
    mag : Value
        W-bit unsigned magnitude whose top bit (bit W-1) has biased exponent ``d + 1`` in
        ``fmt``, i.e. ``value = mag * 2**(d + 1 - bias - (W-1))``.
    d : Value
        Signed: the biased exponent of ``mag``'s top bit, minus one.
    zero : Value
        The result is zero regardless of ``mag`` (signed by ``sign``; +0 in FNUZ formats).
    sign : Value
        Result sign.
    special, special_bits : Value
        Special result (NaN/Inf) and its ``fmt`` bit pattern, taking precedence over all else.
    lzc : bool
        Build the leading-zero count. ``False`` when ``mag``'s top two bits cannot both be zero
        for a normal result: then at most one position of left shift (smaller logic).

    Returns
    -------
    Signal
        ``fmt.width`` bits: the packed result.
    """
    mb = fmt.man_bits
    w = len(mag)
    lshift = Signal(range(w + 1))
    rshift = Signal(range(mb + 3))
    lz = leading_zeros(m, mag) if lzc else None   # before the If chain below (it adds its own Ifs)
    with m.If(d < 0):
        m.d.comb += [lshift.eq(0), rshift.eq(Mux(-d > mb + 2, mb + 2, -d))]
    if lz is not None:
        with m.Elif(d < lz):
            m.d.comb += [lshift.eq(d), rshift.eq(0)]
        with m.Else():
            m.d.comb += [lshift.eq(lz), rshift.eq(0)]
    else:
        with m.Else():
            m.d.comb += [lshift.eq(Mux((d > 0) & ~mag[w - 1], 1, 0)), rshift.eq(0)]
    ebase = Signal(len(d))
    m.d.comb += ebase.eq(Mux(d < 0, 0, d - lshift))

    r = mb + 2                              # right-shift room: anything further is all sticky
    norm = Signal(w)
    m.d.comb += norm.eq(mag << lshift)
    ext = Signal(w + r)
    m.d.comb += ext.eq(Cat(Const(0, r), norm) >> rshift)
    top = w + r
    n_trunc = ext[top - mb - 1: top]
    guard = ext[top - mb - 2]
    sticky = ext[: top - mb - 2].any()
    round_up = guard & (sticky | n_trunc[0])
    field = Signal(len(d) + mb + 2)
    m.d.comb += field.eq((ebase << mb) + n_trunc + round_up)
    over = Signal()
    m.d.comb += over.eq(field > fmt.max_finite_field)
    return pack_result(m, fmt, field, over, zero, sign, special, special_bits)
