"""The floating-point accumulator plug-in, ``acc="<format>[:rne|:rtz]"`` (golden twin:
``lmul.sim.fp_accumulator``, whose docstring is the specification).

Two components, like ``rtl/kulisch.py``: ``FloatAccumulator`` keeps the running sum of a PE as
one value of the accumulator format A and adds one exact product per cycle, rounding once per
step (a fused add: the product is never rounded on its own); ``FloatConverter`` (the finisher)
converts a finished A value to the output format (RNE), or passes it through when the formats
agree. ``product_sig_bits`` bounds the significant bits of a product, which sets the adder width.

The datapath is also available as functions, so other units reuse the very same step
(``rtl/dot_unit.py``: its exact mode, its FP32 promotion): ``normalise_operand`` (stage 1: an
addend's leading-zero count and left shift into an MSB-aligned significand and exponent),
``accumulate_step`` (stage 2: ``round_A(acc + addend)``, combinational), sized by ``StepShape``;
``round_sum`` (normalise and round, optionally from below A's normal range).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lmul.arith import (
    FLOAT_ACC,
    Accumulator,
    ProductKind,
    accumulator,
    check_float_acc,
    float_acc_format,
    product_kind,
)
from lmul.errors import ParameterError, check_int
from lmul.formats import FloatFormat, encode
from lmul.rtl.float_layout import FloatLayout, classify, pack_result
from lmul.rtl.products import ProductLayout
from lmul.rtl.rounding import round_to_format, signed_width

__all__ = ["CONVERTER_CUTS", "ROUND_CUTS", "FloatAccumulator", "FloatConverter", "StepShape", "accumulate_step",
           "check_pipeline", "finish_stream", "leading_zeros_tree", "normalise_operand", "pipe", "product_sig_bits",
           "round_staged", "round_sum", "start_bits"]


def check_pipeline(owner: str, pipeline: object, most: int | None = None) -> int:
    """``pipeline`` (extra register stages) if it is an int in ``0..most`` (``most`` None: no
    bound); ``TypeError`` for a non-int, ``ParameterError`` naming ``{owner} pipeline`` otherwise."""
    return check_int(f"{owner} pipeline", pipeline, 0, most)


def pipe(m: Module, en: Value, on: bool, name: str, **values: Value | int) -> dict[str, Value | int]:
    """The ``values`` one ``en``-gated register stage later when ``on`` (registers named
    ``{name}_{key}``, reset to zero, holding while ``en`` is low), unchanged otherwise. Python ints
    (elaboration-time constants) pass through as they are."""
    if not on:
        return dict(values)
    out: dict[str, Value | int] = {}
    for key, v in values.items():
        if isinstance(v, int):
            out[key] = v
            continue
        r = Signal(v.shape(), name=f"{name}_{key}")
        with m.If(en):
            m.d.sync += r.eq(v)
        out[key] = r
    return out


def finish_stream(m: Module, adv: Value, done: Value, fin: wiring.Component, stages: int, o: object) -> None:
    """The result end of a stream unit (``MacPE``, ``DotUnit``): the finisher ``fin`` with ``stages``
    register stages advances with ``adv`` and ``done`` travels beside them; an output register then
    holds ``fin.o`` on ``o`` (a ``stream`` interface) until it is taken."""
    if stages:
        m.d.comb += fin.en.eq(adv)
        for k in range(stages):
            done = pipe(m, adv, True, f"fin_done{k}", done=done)["done"]
    with m.If(o.valid & o.ready):
        m.d.sync += o.valid.eq(0)
    with m.If(adv & done):
        m.d.sync += [o.payload.eq(fin.o), o.valid.eq(1)]


def product_sig_bits(fmt: FloatFormat, kind: str | ProductKind) -> int:
    """Bits from the leading to the lowest set bit that any product ``mag`` of ``kind`` can span:
    the kind's RTL builder states it (``sig_bits``), bounded by the full product width."""
    kind = product_kind(kind)
    return min(kind.rtl()(fmt).sig_bits, kind.bits(fmt))


def leading_zeros_tree(m: Module, v: Value, name: str = "lz") -> Signal:
    """Leading-zero count of ``v`` (``len(v)`` for zero) as a log-depth tree: each level picks
    the upper half's count, or the lower half's plus half the width when the upper half is zero
    (``lmul.rtl.rounding.leading_zeros`` is the linear priority-chain form)."""
    w = len(v)
    top = 1 << max(w - 1, 1).bit_length()
    padded = Cat(Const((1 << (top - w)) - 1, top - w), v) if top > w else v   # ones below: lz(0) = w

    def tree(x: Value) -> tuple[Value, Value]:               # (all zero, count)
        if len(x) == 1:
            return ~x[0], Const(0, 0)
        h = len(x) // 2
        z_hi, c_hi = tree(x[h:])
        z_lo, c_lo = tree(x[:h])
        return z_hi & z_lo, Mux(z_hi, Cat(c_lo, Const(1, 1)), Cat(c_hi, Const(0, 1)))

    zero, count = tree(padded)
    lz = Signal(range(w + 1), name=name)
    m.d.comb += lz.eq(count if top > w else Mux(zero, w, count))
    return lz


def _const_bits(fmt: FloatFormat, value: float) -> int:
    return int(encode(fmt, np.array([value]))[0])


def round_sum(m: Module, fmt: FloatFormat, mode: str, mag: Value, d: Value, zero: Value, sign: Value,
              special: Value, special_bits: Value, *, below_min: bool = False) -> Signal:
    """Round ``mag`` (an unsigned integer whose top bit has biased exponent ``d + 1`` in ``fmt``,
    ``d >= 0``) to ``fmt`` with ``mode`` (``rne``/``rtz``) and pack it (``pack_result``).

    ``round_to_format``'s normalising path with a rounding mode: shift left by ``min(lz, d)``
    (the exponent stops at the subnormal binade), take ``m + 1`` bits, guard and sticky; ``rne``
    adds ``guard & (sticky | lsb)``, ``rtz`` nothing and clamps an overflowing field to the
    largest finite one (``rne`` overflows per the format's policy). Needs ``len(mag) >= m + 3``.

    ``below_min=True`` also takes ``d < 0`` (``mag`` entirely below the smallest normal binade):
    then ``mag`` is shifted right by ``min(-d, m + 2)`` onto the subnormal grid, the bits shifted
    out joining the sticky bit (``round_to_format``'s denormalising path).
    """
    mb, w = fmt.man_bits, len(mag)
    assert w >= mb + 3, "round_sum needs a guard bit and a sticky bit below the significand"
    lz = leading_zeros_tree(m, mag, "sum_lz")
    lshift = Signal(range(w + 1), name="sum_lshift")
    ebase = Signal(len(d), name="sum_ebase")
    norm = Signal(w, name="sum_norm")
    if not below_min:
        m.d.comb += lshift.eq(Mux(d < lz, d, lz))
        m.d.comb += ebase.eq(d - lshift)
        m.d.comb += norm.eq(mag << lshift)
        n_trunc = norm[w - mb - 1:]
        guard, sticky = norm[w - mb - 2], norm[:w - mb - 2].any()
    else:
        r = mb + 2                                  # right-shift room: anything further is all sticky
        rshift = Signal(range(r + 1), name="sum_rshift")
        with m.If(d < 0):
            m.d.comb += [lshift.eq(0), rshift.eq(Mux(-d > r, r, -d)), ebase.eq(0)]
        with m.Else():
            m.d.comb += [lshift.eq(Mux(d < lz, d, lz)), rshift.eq(0), ebase.eq(d - lshift)]
        m.d.comb += norm.eq(mag << lshift)
        ext = Signal(w + r, name="sum_ext")
        m.d.comb += ext.eq(Cat(Const(0, r), norm) >> rshift)
        top = w + r
        n_trunc = ext[top - mb - 1:]
        guard, sticky = ext[top - mb - 2], ext[:top - mb - 2].any()
    round_up = guard & (sticky | n_trunc[0]) if mode == "rne" else Const(0)
    field = Signal(len(d) + mb + 2, name="sum_field")
    m.d.comb += field.eq((ebase << mb) + n_trunc + round_up)
    over = Signal(name="sum_over")
    if mode == "rne":
        m.d.comb += over.eq(field > fmt.max_finite_field)
        return pack_result(m, fmt, field, over, zero, sign, special, special_bits)
    clamped = Signal(len(field), name="sum_field_rtz")
    m.d.comb += clamped.eq(Mux(field > fmt.max_finite_field, fmt.max_finite_field, field))
    return pack_result(m, fmt, clamped, over, zero, sign, special, special_bits)


#: Cut points of ``round_staged``: ``"lzc"`` after the leading-zero count, ``"shift"`` after
#: the normalising shift, ``"sticky"`` after the guard/sticky reduction (the round-up bit),
#: ``"round"`` after the RNE increment (before the overflow compare).
ROUND_CUTS = ("lzc", "shift", "sticky", "round")


def round_staged(m: Module, fmt: FloatFormat, mag: Value, d: Value | int, zero: Value, sign: Value,
                 special: Value, special_bits: Value, *, lzc: bool = True, cuts: Collection[str] = (),
                 en: Value | int = 1, name: str = "rnd") -> Value:
    """RNE-round ``mag`` into ``fmt`` and pack it: ``lmul.rtl.rounding.round_to_format``'s
    arithmetic (same arguments, same result bits), with a log-depth leading-zero count
    (``leading_zeros_tree``) and an ``en``-gated register stage at each of the ``cuts`` (a subset
    of ``ROUND_CUTS``; none: combinational). ``d`` may be a Python int (the exponent of a
    fixed-point sum's top bit), which removes the subnormal right shift when ``d >= 0``.

    Stages: leading-zero count | shift amount, normalising left (or subnormal right) shift |
    guard, sticky, round-up bit | RNE increment (its carry ripples into the exponent) | overflow
    compare, pack."""
    if not set(cuts) <= set(ROUND_CUTS):
        raise ParameterError(f"round_staged cuts must be among {ROUND_CUTS}, got {tuple(cuts)}")
    mb, w = fmt.man_bits, len(mag)
    # stage 1: leading-zero count
    lz = leading_zeros_tree(m, mag, f"{name}_lz") if lzc else None
    s = pipe(m, en, "lzc" in cuts, f"{name}_p1", mag=mag, d=d, zero=zero, sign=sign, special=special,
             special_bits=special_bits, **({"lz": lz} if lz is not None else {}))
    mag, d, lz = s["mag"], s["d"], s.get("lz")
    # stage 2: normalise (left, at most to the subnormal binade) or denormalise (right)
    r = mb + 2                                      # right-shift room: anything further is all sticky
    if isinstance(d, int):
        ebase = Signal(range(max(d, 0) + 1), name=f"{name}_ebase")
        lshift = Signal(range(w + 1), name=f"{name}_lshift")
        if d < 0:
            rshift: Value | int = min(-d, r)
            m.d.comb += [lshift.eq(0), ebase.eq(0)]
        else:
            rshift = 0
            amount = lz if lz is not None else Mux((d > 0) & ~mag[w - 1], 1, 0)
            m.d.comb += lshift.eq(Mux(amount > d, d, amount) if d < w else amount)
            m.d.comb += ebase.eq(d - lshift)
    else:
        ebase = Signal(len(d), name=f"{name}_ebase")
        lshift = Signal(range(w + 1), name=f"{name}_lshift")
        rshift = Signal(range(r + 1), name=f"{name}_rshift")
        with m.If(d < 0):
            m.d.comb += [lshift.eq(0), rshift.eq(Mux(-d > r, r, -d))]
        with m.Else():
            amount = lz if lz is not None else Mux((d > 0) & ~mag[w - 1], 1, 0)
            m.d.comb += [lshift.eq(Mux(d < amount, d, amount)), rshift.eq(0)]
        m.d.comb += ebase.eq(Mux(d < 0, 0, d - lshift))
    norm = Signal(w, name=f"{name}_norm")
    m.d.comb += norm.eq(mag << lshift)
    ext = Signal(w + r, name=f"{name}_ext")
    m.d.comb += ext.eq(Cat(Const(0, r), norm) >> rshift)
    s = pipe(m, en, "shift" in cuts, f"{name}_p2", ext=ext, ebase=ebase, zero=s["zero"], sign=s["sign"],
             special=s["special"], special_bits=s["special_bits"])
    # stage 3: guard, sticky, round half to even
    ext, top = s["ext"], w + r
    n_trunc = ext[top - mb - 1:top]
    round_up = Signal(name=f"{name}_round_up")
    m.d.comb += round_up.eq(ext[top - mb - 2] & (ext[:top - mb - 2].any() | n_trunc[0]))
    s = pipe(m, en, "sticky" in cuts, f"{name}_p3s", n_trunc=n_trunc, round_up=round_up, ebase=s["ebase"],
             zero=s["zero"], sign=s["sign"], special=s["special"], special_bits=s["special_bits"])
    # stage 4: the increment (its carry ripples into the exponent field)
    field = Signal(len(s["ebase"]) + mb + 2, name=f"{name}_field")
    m.d.comb += field.eq((s["ebase"] << mb) + s["n_trunc"] + s["round_up"])
    s = pipe(m, en, "round" in cuts, f"{name}_p3", field=field, zero=s["zero"], sign=s["sign"],
             special=s["special"], special_bits=s["special_bits"])
    # stage 5: overflow, pack
    over = Signal(name=f"{name}_over")
    m.d.comb += over.eq(s["field"] > fmt.max_finite_field)
    return pack_result(m, fmt, s["field"], over, s["zero"], s["sign"], s["special"], s["special_bits"])


def start_bits(fmt: FloatFormat) -> int:
    """The accumulator's start value: -0 (+0 in FNUZ formats, which have no -0)."""
    return fmt.sign_mask if fmt.has_neg_zero else 0


@dataclass(frozen=True)
class StepShape:
    """Sizes of one accumulate step into A (``accumulate_step``) for an addend normalised by
    ``normalise_operand``: ``sig`` = S, the significand width of both operands (the addend's
    ``W`` kept bits or A's ``man_bits + 1``, the larger); ``e_low`` the exponent given to a zero
    addend (below everything); ``e_hi`` the largest exponent either operand can have; all
    exponents biased in A."""

    sig: int
    e_low: int
    e_hi: int

    @classmethod
    def of(cls, a_fmt: FloatFormat, lo: int, hi: int, w: int) -> StepShape:
        """For addends whose leading bit has a biased-A exponent in ``lo..hi``, ``w`` bits kept."""
        return cls(max(w, a_fmt.man_bits + 1), min(1, lo) - 1, max((1 << a_fmt.exp_bits) - 1, hi))

    @property
    def eshape(self) -> Shape:
        return signed(signed_width(self.e_low, self.e_hi))


def normalise_operand(m: Module, mag: Value, top_exp: int | Value, shape: StepShape, w: int,
                      name: str, *, lz: Value | None = None) -> tuple[Signal, Signal]:
    """Combinational: an unsigned addend ``mag`` whose bit ``len(mag) - 1`` has biased-A exponent
    ``top_exp`` -> (``shape.sig``-bit significand, MSB-aligned: its top bit set unless zero, with
    the top ``w`` bits of the normalised ``mag`` (the addend may span no more); exponent of that
    top bit, ``shape.e_low`` for zero). Leading-zero count and left shift; ``lz`` given (the
    ``leading_zeros_tree`` count of ``mag``, e.g. computed a pipeline stage earlier): the shift
    only."""
    width = len(mag)
    if lz is None:
        lz = leading_zeros_tree(m, mag, f"{name}_lz")
    zero = Signal(name=f"{name}_zero")
    norm = Signal(width, name=f"{name}_norm")
    m.d.comb += [zero.eq(mag == 0), norm.eq(mag << lz)]
    sig = Signal(shape.sig, name=f"{name}_sig")
    exp = Signal(shape.eshape, name=f"{name}_exp")
    m.d.comb += [sig.eq(Cat(Const(0, shape.sig - w), norm[width - w:])), exp.eq(Mux(zero, shape.e_low, top_exp - lz))]
    return sig, exp


def accumulate_step(m: Module, a_fmt: FloatFormat, mode: str, acc: data.View, shape: StepShape, sig: Value,
                    exp: Value, sign: Value, nan_in: Value, inf_in: Value) -> Signal:
    """Combinational: ``round_A(acc + addend)``, one float-accumulator step (golden
    ``lmul.sim.fp_accumulator.step``) of the A value ``acc`` (a ``FloatLayout(A)`` view) and an
    addend given as ``normalise_operand``'s (``sig``, ``exp``) with ``sign`` and NaN/±Inf flags
    (the sign of a zero addend is ignored). Returns the A bit pattern.

    Decode ``acc``, compare exponents, swap, shift the smaller operand right into an ``S + 3``-bit
    window (guard, round, sticky), add or subtract (``S + 5``-bit two's complement), absolute
    value, leading-zero count and left shift (stopping at A's subnormal binade), round (``rne`` or
    ``rtz``; carry into the exponent), overflow and special mux."""
    A, S = a_fmt, shape.sig
    mA = A.man_bits
    eshape = shape.eshape
    ca = classify(m, A, acc, "acc")
    hidden = ~ca.exp_zero
    a_sig = Signal(S, name="a_sig")
    m.d.comb += a_sig.eq(Cat(Const(0, S - mA - 1), acc.man, hidden))
    if not A.subnormals:                            # never held (FTZ), but read as zero (DAZ)
        with m.If(ca.exp_zero):
            m.d.comb += a_sig.eq(0)
    a_exp = Signal(eshape, name="a_exp")
    m.d.comb += a_exp.eq(Mux(ca.exp_zero, 1, acc.exp))

    a_big = Signal(name="a_big")
    m.d.comb += a_big.eq(a_exp >= exp)
    e_big = Signal(eshape, name="e_big")
    diff = Signal(range(shape.e_hi - shape.e_low + 1), name="diff")
    big, small = Signal(S, name="big_sig"), Signal(S, name="small_sig")
    m.d.comb += [
        e_big.eq(Mux(a_big, a_exp, exp)),
        diff.eq(Mux(a_big, a_exp - exp, exp - a_exp)),
        big.eq(Mux(a_big, a_sig, sig)), small.eq(Mux(a_big, sig, a_sig)),
    ]
    sign_big = Mux(a_big, acc.sign, sign)
    eff_sub = acc.sign ^ sign
    win = S + 3                                     # significand, guard, round, sticky
    dsh = Signal(range(win + 1), name="align")
    m.d.comb += dsh.eq(Mux(diff > win, win, diff))
    ext = Signal(2 * win, name="align_ext")
    m.d.comb += ext.eq(Cat(Const(0, win), Const(0, 3), small) >> dsh)
    small_w = Signal(win, name="small_win")
    m.d.comb += small_w.eq(ext[win:] | ext[:win].any())
    big_w = Cat(Const(0, 3), big)
    small_x = Signal(win + 2, name="small_x")      # ones' complement when subtracting, +1 below
    m.d.comb += small_x.eq(Mux(eff_sub, ~Cat(small_w, Const(0, 2)), small_w))
    total = Signal(signed(win + 2), name="sum")
    m.d.comb += total.eq(big_w + small_x + eff_sub)
    neg = total[-1]
    mag = Signal(win + 1, name="sum_mag")
    m.d.comb += mag.eq(Mux(neg, -total, total))
    zero = Signal(name="sum_zero")
    m.d.comb += zero.eq(mag == 0)

    nan = Signal(name="res_nan")
    inf = Signal(name="res_inf")
    m.d.comb += [nan.eq(ca.nan | nan_in | (ca.inf & inf_in & (acc.sign ^ sign))),
                 inf.eq((ca.inf | inf_in) & ~nan)]
    nan_bits = A.nan_bits(0) if A.has_nan else 0
    p_inf_bits = Mux(sign, _const_bits(A, -np.inf), _const_bits(A, np.inf))   # encode(A, ±inf)
    special_bits = Mux(nan, nan_bits, Mux(ca.inf, acc.as_value(), p_inf_bits))
    # mag's top bit (index win) sits one above the big operand's leading bit: exponent e_big + 1
    return round_sum(m, A, mode, mag, e_big, zero, (sign_big ^ neg) & ~zero, nan | inf, special_bits)


class FloatAccumulator(wiring.Component):
    """Floating-point accumulation of exact products: every step ``acc <- round_A(acc + p)``
    (fused, one rounding per product) in the accumulator format A, rounding ``rne`` or ``rtz``;
    golden ``lmul.sim.fp_accumulator`` (the specification: specials, overflow, zeros).

    Parameters
    ----------
    fmt : FloatFormat
        Operand format (sets the product's fixed-point LSB ``2**(2*quantum_exp)``).
    kind : str or ProductKind
        Product kind feeding it (sets the product width ``kind.bits(fmt)`` and the significand
        width ``product_sig_bits(fmt, kind)``).
    k_max : int
        Longest dot product (>= 1). The state does not grow with K, so it only sets the contract.
    acc : str or Accumulator
        A float accumulator spec: ``"fp32"``, ``"fp16"``, ``"bf16:rtz"``, ``"e8m13:rtz"``, ...
        A must have a NaN when ``fmt`` has NaN or Inf (``FormatError`` otherwise).
    pipeline : int
        Extra register stages in front of the loop, ``0..2`` (default 0): 1 registers the
        incoming product (``p``, ``valid``, ``last``); 2 also splits the product normalisation
        between its leading-zero count and its shift. ``ParameterError`` otherwise.

    Attributes
    ----------
    en : In(1)
        Advance: every register moves only when high (the whole PE stalls when low).
    valid, last : In(1)
        ``p`` holds a product; it is the final one of its dot product.
    p : In(ProductLayout(kind.bits(fmt)))
        The exact product (sign-magnitude, NaN/Inf flags; the sign of a zero product is ignored).
    done : Out(1)
        ``result`` holds a newly finished sum (high for one ``en`` cycle).
    result : Out(FloatLayout(A))
        The last finished sum, a value of A (NaN/Inf encoded in it), held until the next one.
    a_fmt, mode : FloatFormat, str
        Accumulator format and rounding mode.
    state_layout : FloatLayout(A)
        ``result``'s layout (A.width bits, what an array drains).
    latency : int
        ``2 + pipeline`` ``en`` cycles from a ``last`` product to ``done``.

    Datapath. Stage 1 (registered): the product is normalised (leading-zero count over its
    ``kind.bits(fmt)`` bits, left shift) into an ``S``-bit significand, ``S = max(product_sig_bits,
    A.man_bits + 1)``, and a biased-A exponent. Stage 2, the accumulate loop (one cycle): decode
    the accumulator register (A bits; its start value is -0), compare exponents, swap, shift the
    smaller operand right into an ``S + 3``-bit window (guard, round, sticky), add or subtract
    (``S + 5``-bit two's complement), absolute value, leading-zero count and left shift (stopping
    at A's subnormal binade), round (RNE or RTZ; carry into the exponent), overflow and special
    mux; the register takes the result, or -0 again after a ``last`` product (whose result goes
    to ``result``). Throughput one product per cycle, dot products back to back; bubbles
    (``valid`` low) leave the sum unchanged.

    The loop (exponent compare -> align shift -> adder -> absolute value -> LZC -> normalise
    shift -> round -> overflow compare -> pack -> register) is a single-cycle recurrence and the
    critical path: a whole FP adder. Measured (``MacPE`` E4M3 L-Mul, FP32 accumulator and output,
    Yosys generic ``cmos3`` flow): logic depth 120 vs 84 for ``kulisch``, 13,832 vs 11,988
    transistors; iCE40 UP5K 7.1 vs 10.8 MHz (E5M2: 14,084 vs 20,448 transistors). Registers alone
    cannot pipeline a recurrence; the known ways out (interleaved partial sums, a far/near-path
    adder with leading-zero anticipation, rounding merged into the adder) change either the
    summation order (the results) or the adder's structure, and are not done here.

    What limits Fmax, therefore: that loop, at every depth. ``pipeline`` only takes the product
    side (the product logic upstream, the normalising leading-zero count and shift) out of
    the loop's cycle, and ``FloatConverter``'s ``pipeline`` the output conversion; with both, the
    loop alone sets the clock (``README.md``, "Pipelining", has the figures).
    """

    #: Most extra register stages ``pipeline`` takes.
    max_pipeline = 2
    #: Latency at the default depth (instances: ``2 + pipeline``).
    latency = 2
    #: ``MacCell`` splits the product builder before pipelining this accumulator (registering the
    #: product's magnitude would keep synthesis from folding its leading-zero count).
    builder_stage_first = True

    def __init__(self, fmt: FloatFormat, kind: str | ProductKind, k_max: int,
                 acc: str | Accumulator = "fp32", *, pipeline: int = 0) -> None:
        self.pipeline = check_pipeline("FloatAccumulator", pipeline, self.max_pipeline)
        self.latency = 2 + self.pipeline
        self.fmt, self.kind, self.acc = fmt, product_kind(kind), accumulator(acc)
        if self.acc.kind.name != FLOAT_ACC:
            raise ParameterError(f"FloatAccumulator needs a float accumulator (acc=fp32, bf16:rtz, ...), "
                                 f"got {self.acc.name!r}")
        self.k_max = check_int("k_max", k_max, 1)
        self.a_fmt, self.mode = float_acc_format(self.acc)
        check_float_acc(fmt, self.a_fmt)
        self.prod_bits = self.kind.bits(fmt)
        self.sig_bits = product_sig_bits(fmt, self.kind)
        self.state_layout = FloatLayout(self.a_fmt)
        super().__init__({"en": In(1), "valid": In(1), "last": In(1), "p": In(ProductLayout(self.prod_bits)),
                          "done": Out(1), "result": Out(self.state_layout)})

    @staticmethod
    def finisher_max_pipeline(acc: Accumulator, out_fmt: FloatFormat) -> int:
        """``max_pipeline`` of the finisher to ``out_fmt``, known before building one."""
        return FloatConverter.pipeline_room(float_acc_format(acc)[0], out_fmt)

    def finisher(self, out_fmt: FloatFormat, *, pipeline: int = 0) -> FloatConverter:
        """The component converting this accumulator's ``result`` to ``out_fmt`` (with ``pipeline``
        register stages, ``FloatConverter``)."""
        check_float_acc(self.fmt, self.a_fmt, out_fmt)
        return FloatConverter(self.a_fmt, out_fmt, pipeline=pipeline)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fmt, A, p = self.fmt, self.a_fmt, self.p
        P, W = self.prod_bits, self.sig_bits
        lp = 2 * fmt.quantum_exp                        # exponent of the product's LSB
        shape = StepShape.of(A, lp + A.bias, lp + P - 1 + A.bias, W)

        # --- stage 0 (pipeline >= 1): the incoming product, registered; (pipeline 2) its LZC ------
        q = pipe(m, self.en, self.pipeline >= 1, "s0", p=p, valid=self.valid, last=self.last)
        p, valid, last = q["p"], q["valid"], q["last"]
        lz = None
        if self.pipeline >= 2:
            lz = leading_zeros_tree(m, p.mag, "p_lz")
            q = pipe(m, self.en, True, "s0b", p=p, valid=valid, last=last, lz=lz)
            p, valid, last, lz = q["p"], q["valid"], q["last"], q["lz"]

        # --- stage 1: normalise the product ------------------------------------------------------
        sig, exp = normalise_operand(m, p.mag, lp + P - 1 + A.bias, shape, W, "p", lz=lz)
        s1 = {n: Signal(name=f"s1_{n}") for n in ("valid", "last", "sign", "nan", "inf")}
        s1_sig = Signal(shape.sig, name="s1_sig")       # MSB-aligned (bit S-1 set unless zero)
        s1_exp = Signal(shape.eshape, name="s1_exp")    # biased-A exponent of bit S-1
        with m.If(self.en):
            m.d.sync += [
                s1["valid"].eq(valid), s1["last"].eq(valid & last),
                s1["sign"].eq(p.sign), s1["nan"].eq(p.nan), s1["inf"].eq(p.inf),
                s1_sig.eq(sig), s1_exp.eq(exp),
            ]

        # --- stage 2: the accumulate loop -------------------------------------------------------
        start = start_bits(A)                           # -0 (FNUZ: +0)
        acc = Signal(self.state_layout, init=self.state_layout.from_bits(start), name="acc")
        res = accumulate_step(m, A, self.mode, acc, shape, s1_sig, s1_exp, s1["sign"], s1["nan"], s1["inf"])

        with m.If(self.en):
            m.d.sync += self.done.eq(0)
            with m.If(s1["valid"]):
                with m.If(s1["last"]):
                    m.d.sync += [self.result.eq(res), self.done.eq(1), acc.eq(start)]
                with m.Else():
                    m.d.sync += acc.eq(res)
        return m


#: The converter's cut points (``round_staged``) in the order its ``pipeline`` registers are
#: placed; without subnormals in A there is no leading-zero count and no ``"lzc"`` cut.
CONVERTER_CUTS = ("shift", "round", "sticky", "lzc")


class FloatConverter(wiring.Component):
    """A value of the accumulator format A -> ``out_fmt``, ``encode(out_fmt, decode(A, bits))``
    (one RNE rounding; NaN keeps its sign where ``out_fmt`` has signed NaNs, ±Inf gives
    ``encode(out_fmt, ±inf)``, zeros keep their sign); the bits pass through unchanged when
    ``out_fmt`` has A's parameters. Combinational by default, pipelined on request.

    Parameters
    ----------
    a_fmt, out_fmt : FloatFormat
        Accumulator and output formats.
    pipeline : int
        Extra register stages, ``0..pipeline_room(a_fmt, out_fmt)`` (default 0): registers at
        the first ``pipeline`` cut points of ``CONVERTER_CUTS`` (``round_staged``: after the
        normalising shift, after the RNE increment, after the round-up bit, after the
        leading-zero count when A has subnormals); 0 only when the formats agree (nothing to cut). ``ParameterError``
        otherwise.

    Attributes
    ----------
    en : In(1, init=1)
        Advance: the pipeline registers move only when high (unused at ``pipeline=0``; left
        undriven it is 1).
    i : In(FloatLayout(a_fmt))
    o : Out(FloatLayout(out_fmt))
    latency : int
        ``pipeline``: ``o`` converts ``i`` as it was ``latency`` ``en`` cycles earlier (0: wires
        when the formats agree; else decode, leading-zero count when A has subnormals, shift, RNE
        increment, pack). Throughput one value per cycle.
    """

    #: Latency at the default depth (instances: ``pipeline``).
    latency = 0

    @staticmethod
    def pipeline_room(a_fmt: FloatFormat, out_fmt: FloatFormat) -> int:
        """Largest ``pipeline`` of a converter from ``a_fmt`` to ``out_fmt``."""
        if out_fmt.same_as(a_fmt):
            return 0
        return len(CONVERTER_CUTS) if a_fmt.subnormals else len(CONVERTER_CUTS) - 1

    def __init__(self, a_fmt: FloatFormat, out_fmt: FloatFormat, *, pipeline: int = 0) -> None:
        self.a_fmt, self.out_fmt = a_fmt, out_fmt
        self.max_pipeline = self.pipeline_room(a_fmt, out_fmt)
        self.pipeline = check_pipeline("FloatConverter", pipeline, self.max_pipeline)
        self.latency = self.pipeline
        super().__init__({"en": In(1, init=1), "i": In(FloatLayout(a_fmt)), "o": Out(FloatLayout(out_fmt))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        A, out = self.a_fmt, self.out_fmt
        if out.same_as(A):
            m.d.comb += self.o.as_value().eq(self.i.as_value())
            return m
        c = classify(m, A, self.i, "conv")
        sig = Signal(A.man_bits + 1, name="conv_sig")
        m.d.comb += sig.eq(Cat(self.i.man, ~c.exp_zero))
        # sig's top bit has unbiased exponent max(E, 1) - bias_A: biased exponent d + 1 in out
        d = Signal(signed(signed_width(1 - A.bias + out.bias - 1, (1 << A.exp_bits) - 1 - A.bias + out.bias - 1)),
                   name="conv_d")
        m.d.comb += d.eq(Mux(c.exp_zero, 1, self.i.exp) - A.bias + out.bias - 1)
        sign = self.i.sign

        def bits(v: float) -> int:
            return _const_bits(out, v) if not (np.isnan(v) and not out.has_nan) else 0

        special_bits = Mux(c.nan, Mux(sign, bits(-np.nan), bits(np.nan)),
                           Mux(sign, bits(-np.inf), bits(np.inf)))
        if not self.pipeline:       # combinational: today's netlist (round_to_format)
            res = round_to_format(m, out, sig, d, c.zero, sign, c.nan | c.inf, special_bits, lzc=A.subnormals)
            m.d.comb += self.o.as_value().eq(res)
            return m
        order = CONVERTER_CUTS if A.subnormals else tuple(c for c in CONVERTER_CUTS if c != "lzc")
        cuts = order[:self.pipeline]
        res = round_staged(m, out, sig, d, c.zero, sign, c.nan | c.inf, special_bits, lzc=A.subnormals,
                           cuts=cuts, en=self.en, name="conv")
        m.d.comb += self.o.as_value().eq(res)
        return m
