"""Fused n-term dot-product datapath cell (no stream handshake): n products per beat, their sum
added to the accumulator with one rounding per cycle. Shared by ``DotUnit`` (stream ports +
finisher) and the dot-unit PEs of ``SystolicArray`` (``n`` K-steps per beat), as ``MacCell`` is
for ``MacPE``. Golden semantics: ``lmul.sim.dot_unit.dot_unit`` (its docstring is the
specification)."""

from __future__ import annotations

import math
from functools import partial

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lmul.arith import (
    FLOAT_ACC,
    Accumulator,
    ProductKind,
    check_dot_unit,
    check_float_acc,
    float_acc_format,
    kulisch_bits,
    product_kind,
)
from lmul.errors import check_int
from lmul.formats import FP32, FloatFormat, encode, get_format
from lmul.rtl.float_layout import FloatLayout, classify
from lmul.rtl.fp_accumulator import (
    FloatConverter,
    StepShape,
    accumulate_step,
    check_pipeline,
    leading_zeros_tree,
    normalise_operand,
    pipe,
    product_sig_bits,
    round_sum,
    start_bits,
)
from lmul.rtl.kulisch import KulischRounder, KulischState
from lmul.rtl.products import ProductLayout
from lmul.rtl.rounding import signed_width

__all__ = ["DotCell"]


def _reg(m: Module, en: Value, value: Value, shape: object, name: str) -> Signal:
    r = Signal(shape, name=name)           # type: ignore[arg-type]
    with m.If(en):
        m.d.sync += r.eq(value)
    return r


def _accumulator_register(m: Module, adv: Value, ctl: dict, fmt: FloatFormat, acc: Value,
                          res: Value) -> tuple[dict, Value]:
    """The update of a float accumulator register ``acc`` with its step result ``res``: on a
    ``last`` group the result is held in ``result`` (``done`` for one ``adv`` cycle) and ``acc``
    restarts at ``start_bits``; otherwise ``acc <- res``. Registers move only when ``adv``."""
    result = Signal(FloatLayout(fmt), name="result")
    done = Signal(name="done")
    with m.If(adv):
        m.d.sync += done.eq(0)
        with m.If(ctl["valid"]):
            with m.If(ctl["last"]):
                m.d.sync += [result.eq(res), done.eq(1), acc.eq(start_bits(fmt))]
            with m.Else():
                m.d.sync += acc.eq(res)
    return {"done": done}, result


class DotCell(wiring.Component):
    """Datapath of a fused n-term dot-product unit: lane products, group sum (exact or
    block-aligned), accumulator loop, optional FP32 promotion; the finished state of each dot
    product on ``result`` (rounded to an output format by ``finisher(out_fmt)``).

    Parameters
    ----------
    fmt : FloatFormat or str
        Operand format.
    kind : str or ProductKind
        Product kind (``lmul.arith.PRODUCT_KINDS``: ``exact``, ``lmul``); one builder per lane.
    n : int
        Products per beat, one of 1, 2, 4, 8, 16, 32.
    k_max : int
        Longest dot product (>= 1): sets the Kulisch width, only a contract for float accumulators.
    acc : str or Accumulator
        A float accumulator ``"<format>[:rne|:rtz]"`` or ``kulisch`` (``align="exact"`` only, no
        promotion).
    align : str
        ``"exact"`` or ``"block"`` (float accumulators; ``lmul.sim.dot_unit``).
    w : int or None
        Block window width, 1..64 (``align="block"`` only, required there).
    promote : int or None
        Promotion interval P (a multiple of n) into an FP32 accumulator; float accumulators only.
    prebiased : bool
        ``b`` lanes arrive already prepared by the kind's builder (``operand_layout``, e.g.
        L-Mul's ``F_b + C`` computed once at the top of an array column); otherwise each lane
        prepares its own.
    pipeline : int
        Extra register stages before the accumulator loop, ``0..max_pipeline`` (2; default 0):
        1 registers the lane products (after the ``count`` mask) ahead of the group sum, 2 also
        splits each lane's product builder before its alignment shift (the builder's ``stage``
        hook, as in ``MacCell``). Each adds one cycle of ``latency``; no result changes.

    Attributes
    ----------
    en : In(1)
        Advance enable: every register holds while low.
    valid, last : In(1)
        The lanes hold a group; it is the last group of its dot product.
    count : In(range(n + 1))
        Live lanes: lanes ``count .. n-1`` are zero products whatever they hold.
    a : In(ArrayLayout(FloatLayout(fmt), n))
    b : In(ArrayLayout(FloatLayout(fmt), n)) or In(ArrayLayout(builder.operand_layout, n))
    done : Out(1)
        ``result`` holds a newly finished dot product (for one ``en`` cycle).
    result : Out(state_layout)
        Finished state: a value of A (``FloatLayout(A)``), of FP32 with promotion, or
        ``KulischState(acc_bits)`` for ``kulisch``.
    latency : int
        ``en`` cycles from a ``last`` group to ``done``: ``DotUnit.latency - 1`` (exact, float:
        ``T + 2`` with ``T = max(1, ceil(log2(n) / 2))`` adder-tree stages; ``kulisch``: ``T + 1``;
        block: 2; promotion adds 2) plus ``pipeline``.
    a_fmt, mode : FloatFormat, str
        Accumulator format and rounding mode (float accumulators).
    group_bits : int
        Two's-complement width of an exact group sum.
    acc_bits : int
        Kulisch accumulator width (``acc="kulisch"``).

    Throughput one group per ``en`` cycle, dot products back to back; ``valid`` low is a bubble
    (state unchanged).

    Datapath. Lanes: the kind's product builder (sign-magnitude ``ProductLayout``, ``P`` =
    ``kind.bits(fmt)`` bits at ``2**(2 * quantum_exp)``), masked by ``count``; group flags (NaN:
    a NaN product or both +Inf and -Inf; ±Inf). Exact: signed lanes into a binary adder tree
    (exact, ``P + log2 n + 1`` bits, a register after every second level), absolute value,
    leading-zero count and left shift into an ``S``-bit significand, ``S = max(P + log2 n,
    A.man_bits + 1)`` (``product_sig_bits`` for n = 1), then
    ``lmul.rtl.fp_accumulator.accumulate_step`` (the ``FloatAccumulator`` loop). Block: one
    leading-zero count of the OR of the lane magnitudes gives the group's largest exponent E_p
    (all products share the fixed-point grid), every lane is shifted by it and keeps its top
    ``w`` bits (registered: ``w`` bits per lane); the loop decodes the accumulator (with a
    leading-zero count of a subnormal significand), takes E = max(E_p, exponent of acc), shifts
    the lanes right by E - E_p and the accumulator into the same w-bit window (truncation =
    dropping the bits below), sums the n + 1 terms (ones' complement plus carry-ins), takes the
    absolute value and rounds (``round_sum``; below A's normal range too when needed). Kulisch:
    the group sums into a ``kulisch_bits(fmt, kind, max(k_max, n))``-bit two's-complement
    register. Promotion: the partial (a value of A) is normalised into FP32's step and
    accumulated by a second ``accumulate_step`` (FP32, RNE). The accumulate step is a
    single-cycle recurrence (the critical path); in block mode it also holds the lane shifters
    and the (n + 1)-term adder, because the accumulator's exponent takes part in the alignment.
    """

    #: Largest ``pipeline``: the lane-product register and the builder's split.
    max_pipeline = 2

    def __init__(self, fmt: FloatFormat | str, kind: str | ProductKind = "exact", n: int = 4, k_max: int = 4096,
                 acc: str | Accumulator = "fp32", align: str = "exact", w: int | None = None,
                 promote: int | None = None, *, prebiased: bool = False, pipeline: int = 0) -> None:
        self.fmt = get_format(fmt)
        self.acc = check_dot_unit(n, acc, align, w, promote)
        self.kind = product_kind(kind)
        self.kind.check(self.fmt)
        self.n, self.align, self.w, self.promote, self.prebiased = n, align, w, promote, prebiased
        self.k_max = check_int("k_max", k_max, 1)
        self.builder = self.kind.rtl()(self.fmt)
        self.prod_bits = self.kind.bits(self.fmt)
        self.levels = (n - 1).bit_length()                   # log2 n
        self.tree_stages = max(1, -(-self.levels // 2))
        self.group_bits = self.prod_bits + self.levels + 1
        self.is_float = self.acc.kind.name == FLOAT_ACC
        if self.is_float:
            self.a_fmt, self.mode = float_acc_format(self.acc)
            check_float_acc(self.fmt, self.a_fmt)
            self.r_fmt = self.result_format(self.acc, promote)             # format of ``result``
            if promote is not None:
                check_float_acc(self.fmt, FP32)
            state: object = FloatLayout(self.r_fmt)
            self.latency = (2 if align == "block" else self.tree_stages + 2) + (2 if promote is not None else 0)
        else:
            self.acc_bits = kulisch_bits(self.fmt, self.kind, max(self.k_max, n))
            state = KulischState(self.acc_bits)
            self.latency = self.tree_stages + 1
        self.pipeline = check_pipeline("DotCell", pipeline, self.max_pipeline)
        self.latency += self.pipeline
        self.state_layout = state
        b_lane = self.builder.operand_layout if prebiased else FloatLayout(self.fmt)
        super().__init__({"en": In(1), "valid": In(1), "last": In(1), "count": In(range(n + 1)),
                          "a": In(data.ArrayLayout(FloatLayout(self.fmt), n)), "b": In(data.ArrayLayout(b_lane, n)),
                          "done": Out(1), "result": Out(state)})

    @staticmethod
    def result_format(acc: Accumulator, promote: int | None) -> FloatFormat:
        """The format of ``result`` of a cell with the (checked) float accumulator ``acc``: FP32
        with promotion, else the accumulator's own."""
        return FP32 if promote is not None else float_acc_format(acc)[0]

    @staticmethod
    def finisher_room(acc: Accumulator, promote: int | None, out_fmt: FloatFormat | str) -> int:
        """``max_pipeline`` of the ``finisher(out_fmt)`` of a cell with the (checked) accumulator
        ``acc`` and promotion ``promote``, known before building one."""
        if acc.kind.name != FLOAT_ACC:
            return KulischRounder.max_pipeline
        return FloatConverter.pipeline_room(DotCell.result_format(acc, promote), get_format(out_fmt))

    def finisher(self, out_fmt: FloatFormat | str, *, pipeline: int = 0) -> wiring.Component:
        """The combinational component rounding ``result`` to ``out_fmt`` (``FloatConverter`` from
        A, or FP32 with promotion; ``KulischRounder``); ``FormatError`` if ``out_fmt`` cannot hold
        a NaN the dot product can give."""
        out_fmt = get_format(out_fmt)
        if not self.is_float:
            return KulischRounder(self.fmt, out_fmt, self.acc_bits, pipeline=pipeline)
        check_float_acc(self.fmt, self.a_fmt, out_fmt)
        if self.promote is not None:
            check_float_acc(self.fmt, FP32, out_fmt)
        return FloatConverter(self.r_fmt, out_fmt, pipeline=pipeline)

    # --- elaboration -------------------------------------------------------------------------

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n, P = self.n, self.prod_bits
        adv = self.en
        split, reg_prod = self.pipeline >= 2, self.pipeline >= 1

        # lanes: products, masked by count; optionally split inside the builders and registered
        ctl_in = pipe(m, adv, split, "bld", valid=self.valid, last=self.last, count=self.count)
        lanes = []
        for j in range(n):
            lm = Module()
            m.submodules[f"lane{j}"] = lm
            b = self.b[j] if self.prebiased else self.builder.prepare(lm, self.b[j], "b")
            if split:
                p = self.builder.build(lm, self.a[j], b, stage=partial(pipe, lm, adv, True))
            else:
                p = self.builder.build(lm, self.a[j], b)
            live = ctl_in["count"] > j
            q = Signal(ProductLayout(P), name=f"prod{j}")
            m.d.comb += [q.mag.eq(Mux(live, p.mag, 0)), q.sign.eq(p.sign),
                         q.nan.eq(live & p.nan), q.inf.eq(live & p.inf)]
            lanes.append(_reg(m, adv, q, ProductLayout(P), f"prod{j}_r") if reg_prod else q)
        ctl_in = pipe(m, adv, reg_prod, "prod", valid=ctl_in["valid"], last=ctl_in["last"])
        pinf = Cat(*(q.inf & ~q.sign for q in lanes)).any()
        ninf = Cat(*(q.inf & q.sign for q in lanes)).any()
        ctl = {"valid": ctl_in["valid"], "last": ctl_in["valid"] & ctl_in["last"],
               "nan": Cat(*(q.nan for q in lanes)).any() | (pinf & ninf), "pinf": pinf, "ninf": ninf}

        def stage(ctl: dict[str, Value], name: str) -> dict[str, Signal]:
            return {k: _reg(m, adv, v, 1, f"{name}_{k}") for k, v in ctl.items()}

        if self.align == "block":
            ctl, state = self._block(m, adv, lanes, ctl, stage)
        else:
            ctl, total = self._tree(m, adv, lanes, ctl, stage)
            if self.is_float:
                ctl, state = self._exact_float(m, adv, total, ctl, stage)
            else:
                ctl, state = self._kulisch(m, adv, total, ctl)

        if self.promote is not None:
            ctl, state = self._promote(m, adv, ctl, state, stage)
        else:
            ctl, state = self._finish(m, adv, ctl, state)
        m.d.comb += [self.done.eq(ctl["done"]), self.result.eq(state)]
        return m

    def _tree(self, m: Module, adv: Value, lanes: list, ctl: dict, stage) -> tuple[dict, Signal]:
        """Exact group sum: signed lanes, a binary adder tree with a register after every second
        level (and after the last; at least one)."""
        vals: list[Value] = [Mux(q.sign, -q.mag, q.mag) for q in lanes]
        level = 0
        if self.levels == 0:
            vals = [_reg(m, adv, vals[0], signed(self.prod_bits + 1), "gsum")]
            ctl = stage(ctl, "t0")
        while len(vals) > 1:
            vals = [vals[i] + vals[i + 1] for i in range(0, len(vals), 2)]
            level += 1
            if level % 2 == 0 or level == self.levels:
                width = self.prod_bits + level + 1
                vals = [_reg(m, adv, v, signed(width), f"tree{level}_{i}") for i, v in enumerate(vals)]
                ctl = stage(ctl, f"t{level}")
        return ctl, vals[0]

    def _exact_float(self, m: Module, adv: Value, total: Signal, ctl: dict, stage) -> tuple[dict, tuple]:
        """Exact mode into a float accumulator: normalise the group sum, then the float
        accumulator's step (``accumulate_step``)."""
        A, fmt = self.a_fmt, self.fmt
        lp = 2 * fmt.quantum_exp
        qm = self.group_bits - 1                              # magnitude bits of a group sum
        w = product_sig_bits(fmt, self.kind) if self.n == 1 else qm
        top = lp + qm - 1 + A.bias
        shape = StepShape.of(A, lp + A.bias, top, w)
        neg = total[-1]
        mag = Signal(qm, name="gsum_mag")
        m.d.comb += mag.eq(Mux(neg, -total, total))
        sig, exp = normalise_operand(m, mag, top, shape, w, "gsum")
        inf = (ctl["pinf"] | ctl["ninf"]) & ~ctl["nan"]
        s1 = stage({**ctl, "inf": inf, "sign": Mux(inf, ctl["ninf"], neg)}, "s1")
        s1_sig = _reg(m, adv, sig, shape.sig, "s1_sig")
        s1_exp = _reg(m, adv, exp, shape.eshape, "s1_exp")
        lm = Module()
        m.submodules.acc_step = lm
        acc = Signal(FloatLayout(A), init=FloatLayout(A).from_bits(start_bits(A)), name="acc")
        res = accumulate_step(lm, A, self.mode, acc, shape, s1_sig, s1_exp, s1["sign"], s1["nan"], s1["inf"])
        return {"valid": s1["valid"], "last": s1["last"]}, (acc, res)

    def _block(self, m: Module, adv: Value, lanes: list, ctl: dict, stage) -> tuple[dict, tuple]:
        """Block mode: align every lane to the group's largest product exponent (registered, w bits
        per lane), then the loop with the accumulator taking part in the alignment."""
        A, fmt, n, P, w = self.a_fmt, self.fmt, self.n, self.prod_bits, self.w
        assert w is not None
        mA = A.man_bits
        lp = 2 * fmt.quantum_exp
        c = math.ceil(math.log2(n + 1))                       # carries of an (n + 1)-term sum
        top = lp + P - 1 + A.bias                             # biased-A exponent of a product's bit P-1
        # Every accumulator value is a multiple of 2**lp (by induction: sums of products, rounded
        # onto A's grid), so the largest exponent E is never below lp.
        e_lo = lp + A.bias
        e_hi = max(top, (1 << A.exp_bits) - 1)
        eshape = signed(signed_width(min(e_lo, 1 - mA) - 2, e_hi + c + 2))

        # --- stage 1 (feed-forward): the group's largest exponent, lanes aligned to it -----------
        ormag = Signal(P, name="or_mag")                   # its leading one is the largest product's
        or_all: Value = lanes[0].mag
        for q in lanes[1:]:
            or_all = or_all | q.mag
        m.d.comb += ormag.eq(or_all)
        lz = leading_zeros_tree(m, ormag, "or_lz")
        ep = Signal(eshape, name="ep")
        m.d.comb += ep.eq(top - lz)
        s1 = stage({**ctl, "gz": ormag.any()}, "s1")
        s1_ep = _reg(m, adv, ep, eshape, "s1_ep")
        qs, signs = [], []
        for j, q in enumerate(lanes):
            norm = Signal(P, name=f"norm{j}")
            m.d.comb += norm.eq(q.mag << lz)
            win = Cat(Const(0, max(0, w - P)), norm)[-w:]     # bits E_p .. E_p - w + 1
            qs.append(_reg(m, adv, win, w, f"s1_q{j}"))
            signs.append(_reg(m, adv, q.sign, 1, f"s1_s{j}"))

        # --- stage 2: the loop -----------------------------------------------------------------
        lm = Module()
        m.submodules.acc_step = lm
        acc = Signal(FloatLayout(A), init=FloatLayout(A).from_bits(start_bits(A)), name="acc")
        ca = classify(lm, A, acc, "acc")
        acc_nz = Signal(name="acc_nz")
        lm.d.comb += acc_nz.eq(~ca.zero & ~ca.nan & ~ca.inf)
        sig_a = Signal(mA + 1, name="acc_sig")
        lm.d.comb += sig_a.eq(Mux(acc_nz, Cat(acc.man, ~ca.exp_zero), 0))
        ef = Signal(eshape, name="acc_ef")                  # exponent of sig_a's bit mA
        lm.d.comb += ef.eq(Mux(ca.exp_zero, 1, acc.exp))
        ea = Signal(eshape, name="acc_e")                   # exponent of acc's leading bit
        if A.subnormals:
            lm.d.comb += ea.eq(ef - leading_zeros_tree(lm, sig_a, "acc_lz"))
        else:
            lm.d.comb += ea.eq(ef)
        use_acc = Signal(name="use_acc")
        lm.d.comb += use_acc.eq(acc_nz & (~s1["gz"] | (ea > s1_ep)))
        e = Signal(eshape, name="e_max")
        lm.d.comb += e.eq(Mux(use_acc, ea, s1_ep))
        dp = Signal(range(w + 1), name="lane_shift")        # E - E_p, 0 unless the accumulator leads
        lm.d.comb += dp.eq(Mux(use_acc, Mux(ea - s1_ep > w, w, ea - s1_ep), 0))
        lim = w + mA + 1
        sh_raw = Signal(signed(eshape.width + 2), name="acc_shift_raw")
        lm.d.comb += sh_raw.eq(mA + 1 + e - ef)
        sh = Signal(range(lim + 1), name="acc_shift")
        lm.d.comb += sh.eq(Mux((sh_raw > lim) | (sh_raw < 0), lim, sh_raw))
        aw = Signal(w, name="acc_win")
        lm.d.comb += aw.eq((Cat(Const(0, w), sig_a) >> sh)[:w])
        tw = w + c + 1
        terms = [Cat(q >> dp, Const(0, tw - w)) ^ s.replicate(tw) for q, s in zip(qs, signs, strict=True)]
        terms.append(Cat(aw, Const(0, tw - w)) ^ acc.sign.replicate(tw))
        carry_in = Cat(*signs, acc.sign)
        total = Signal(signed(tw), name="block_sum")
        tsum: Value = terms[0]
        for t in terms[1:]:
            tsum = tsum + t
        for k in range(len(carry_in)):
            tsum = tsum + carry_in[k]
        lm.d.comb += total.eq(tsum)
        neg = total[-1]
        mag = Signal(tw - 1, name="block_mag")
        lm.d.comb += mag.eq(Mux(neg, -total, total))
        pad = max(0, mA + 3 - (tw - 1))
        zero = Signal(name="block_zero")
        lm.d.comb += zero.eq(mag == 0)
        d = Signal(eshape, name="block_d")                  # mag's top bit: exponent E + c = d + 1
        lm.d.comb += d.eq(e + (c - 1))
        g_inf = (s1["pinf"] | s1["ninf"]) & ~s1["nan"]
        nan = Signal(name="res_nan")
        inf = Signal(name="res_inf")
        lm.d.comb += [nan.eq(ca.nan | s1["nan"] | (ca.inf & ((s1["pinf"] & acc.sign) | (s1["ninf"] & ~acc.sign)))),
                      inf.eq((ca.inf | g_inf) & ~nan)]
        nan_bits = A.nan_bits(0) if A.has_nan else 0
        g_inf_bits = Mux(s1["ninf"], int(encode(A, -math.inf)), int(encode(A, math.inf)))   # encode(A, ±inf)
        special_bits = Mux(nan, nan_bits, Mux(ca.inf, acc.as_value(), g_inf_bits))
        res = round_sum(lm, A, self.mode, Cat(Const(0, pad), mag), d, zero, neg & ~zero, nan | inf, special_bits,
                        below_min=e_lo + c - 1 < 0)
        return {"valid": s1["valid"], "last": s1["last"]}, (acc, res)

    def _kulisch(self, m: Module, adv: Value, total: Signal, ctl: dict) -> tuple[dict, Signal]:
        """Exact mode into the Kulisch accumulator: the group sums, summed exactly."""
        acc = Signal(signed(self.acc_bits), name="kacc")
        f = {k: Signal(name=f"kacc_{k}") for k in ("nan", "pinf", "ninf")}
        result = Signal(KulischState(self.acc_bits), name="result")
        done = Signal(name="done")
        s = Signal(signed(self.acc_bits), name="kacc_sum")
        m.d.comb += s.eq(acc + Mux(ctl["valid"], total, 0))
        g = {k: ctl["valid"] & ctl[k] for k in f}
        with m.If(adv):
            m.d.sync += done.eq(0)
            with m.If(ctl["last"]):
                m.d.sync += [result.sum.eq(s), *(getattr(result, k).eq(f[k] | g[k]) for k in f), done.eq(1),
                             acc.eq(0), *(f[k].eq(0) for k in f)]
            with m.Else():
                m.d.sync += [acc.eq(s), *(f[k].eq(f[k] | g[k]) for k in f)]
        return {"done": done}, result

    def _finish(self, m: Module, adv: Value, ctl: dict, state) -> tuple[dict, Value]:
        """Float accumulator without promotion: the register update; a ``last`` group's result
        goes to ``result`` and the accumulator restarts."""
        if not self.is_float:
            return ctl, state
        acc, res = state
        return _accumulator_register(m, adv, ctl, self.a_fmt, acc, res)

    def _promote(self, m: Module, adv: Value, ctl: dict, state, stage) -> tuple[dict, Value]:
        """Promotion: every ``promote / n`` groups (and at the end) the partial A goes into the
        FP32 accumulator F (one RNE step) and A restarts at -0."""
        acc, res = state
        A, F = self.a_fmt, FP32
        groups = self.promote // self.n                      # type: ignore[operator]
        cnt = Signal(range(max(groups, 2)), name="interval_count")
        pa = Signal(FloatLayout(A), name="partial")
        pa_valid, pa_last = Signal(name="partial_valid"), Signal(name="partial_last")
        with m.If(adv):
            m.d.sync += pa_valid.eq(0)
            with m.If(ctl["valid"]):
                with m.If(ctl["last"] | (cnt == groups - 1)):
                    m.d.sync += [pa.eq(res), pa_valid.eq(1), pa_last.eq(ctl["last"]), cnt.eq(0),
                                 acc.eq(start_bits(A))]
                with m.Else():
                    m.d.sync += [acc.eq(res), cnt.eq(cnt + 1)]
        # normalise the partial's value into FP32's step
        mA = A.man_bits
        lo = A.quantum_exp + F.bias
        hi = (1 << A.exp_bits) - 1 - A.bias + F.bias
        shape = StepShape.of(F, lo, hi, mA + 1)
        cp = classify(m, A, pa, "partial")
        sig = Signal(mA + 1, name="partial_sig")
        m.d.comb += sig.eq(Cat(pa.man, ~cp.exp_zero))
        if not A.subnormals:
            with m.If(cp.exp_zero):
                m.d.comb += sig.eq(0)
        top = Signal(shape.eshape, name="partial_top")
        m.d.comb += top.eq(Mux(cp.exp_zero, 1, pa.exp) + (F.bias - A.bias))
        psig, pexp = normalise_operand(m, sig, top, shape, mA + 1, "partial")
        f1 = stage({"valid": pa_valid, "last": pa_last, "sign": pa.sign, "nan": cp.nan, "inf": cp.inf}, "f1")
        f1_sig = _reg(m, adv, psig, shape.sig, "f1_sig")
        f1_exp = _reg(m, adv, pexp, shape.eshape, "f1_exp")
        fm = Module()
        m.submodules.promote_step = fm
        facc = Signal(FloatLayout(F), init=FloatLayout(F).from_bits(start_bits(F)), name="facc")
        fres = accumulate_step(fm, F, "rne", facc, shape, f1_sig, f1_exp, f1["sign"], f1["nan"], f1["inf"])
        return _accumulator_register(m, adv, f1, F, facc, fres)
