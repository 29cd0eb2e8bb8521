"""Specification layer: what golden models (``lmul.sim``) and gateware (``lmul.rtl``) both need.

Neutral: imports only ``lmul.formats`` and ``lmul.errors``, never a golden model or gateware,
so both sides can import it without import cycles.

* The L-Mul constants: the offset exponent ``l(m)`` and the adder's constant operand
  ``C = 2**(m - l(m)) - bias * 2**m`` (``docs/lmul-spec.md``).
* Product widths: magnitude bits of the largest exact / unbounded L-Mul product on the
  fixed-point grid ``2**(2 * quantum_exp)``, and the width of an exact sum of ``k`` of them.
* Two plug-in registries. ``PRODUCT_KINDS`` (``kind=``): how a MAC forms its exact product
  (``exact``, ``lmul``). ``ACCUMULATORS`` (``acc=``): how it sums them (``kulisch``; ``float``:
  ``acc="<format>[:rne|:rtz]"``, any spec whose base is not a family name). Each entry
  names its golden function and its RTL builder as ``"module:attribute"`` strings, resolved on
  first use (``golden()``, ``rtl()``): the golden side never loads gateware and the gateware
  never loads golden models. Adding a variant is one golden function, one RTL builder, one
  ``register`` call here and its tests (README, "Adding a product or accumulator kind").

Interfaces the entries name:

* product kind, golden: ``fn(fmt, x, y) -> FixedProducts`` (``lmul.sim.fp_multiplier``);
  RTL: a class built as ``cls(fmt)`` with ``operand_layout`` (the ``b`` operand as it travels
  through an array), ``prepare(m, b, name)`` (once per operand at the array edge) and
  ``build(m, a, b_prepared) -> ProductLayout view`` (combinational; ``lmul.rtl.products``).
* accumulator, golden: ``fn(acc, out_fmt, products, axis) -> bit patterns`` (sum along ``axis``);
  RTL: a ``wiring.Component`` built as ``cls(fmt, kind, k_max, acc)`` with a ``state_layout``,
  a ``latency`` and ``finisher(out_fmt)`` (state -> ``out_fmt`` component).
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from lmul.errors import ParameterError, check_choice, check_int
from lmul.formats import NAMED_FORMATS, FloatFormat, FormatError, Overflow, get_format

__all__ = [
    "ACCUMULATORS",
    "ALIGNS",
    "N_CHOICES",
    "PRODUCT_KINDS",
    "W_MAX",
    "AccKind",
    "Accumulator",
    "ProductKind",
    "Registry",
    "accumulator",
    "check_dot_unit",
    "check_lmul_format",
    "fp_product_bits",
    "kulisch_bits",
    "lmul_constant",
    "lmul_l",
    "lmul_product_bits",
    "product_kind",
    "sum_bits",
]


# --- L-Mul ---------------------------------------------------------------------------------------

def lmul_l(m: int) -> int:
    """The paper's offset exponent l(m): m (m <= 3), 3 (m = 4), 4 (m > 4)."""
    return m if m <= 3 else (3 if m == 4 else 4)


def check_lmul_format(fmt: FloatFormat) -> None:
    """L-Mul needs a mantissa field (``FormatError`` otherwise)."""
    if fmt.man_bits < 1:
        raise FormatError(f"L-Mul needs at least 1 mantissa bit; {fmt.name} has {fmt.man_bits}")


def lmul_constant(fmt: FloatFormat) -> int:
    """``C = 2**(m - l(m)) - bias * 2**m``: the offset and the bias removal, folded together."""
    check_lmul_format(fmt)
    m = fmt.man_bits
    return (1 << (m - lmul_l(m))) - (fmt.bias << m)


# --- product and sum widths ------------------------------------------------------------------------

def fp_product_bits(fmt: FloatFormat) -> int:
    """Magnitude bits of the largest exact product at ``2 * quantum_exp``."""
    e, man = fmt.max_finite_field >> fmt.man_bits, fmt.max_finite_field & fmt.man_mask
    xmax = ((1 << fmt.man_bits) + man) << (e - 1)        # max_exp_field >= 1: a normal number
    return (xmax * xmax).bit_length()


def lmul_product_bits(fmt: FloatFormat) -> int:
    """Magnitude bits of the largest unbounded L-Mul product at ``2 * quantum_exp``:
    ``(2**m + S mod 2**m) << ((S >> m) + bias + m - 2)`` for the largest adder sum ``S``."""
    s = 2 * fmt.max_finite_field + lmul_constant(fmt)
    m = fmt.man_bits
    return ((1 << m) + (s & fmt.man_mask)).bit_length() + (s >> m) + fmt.bias + m - 2


def sum_bits(product_bits: int, k: int) -> int:
    """Two's-complement bits of any sum of ``k`` signed values of ``product_bits`` magnitude bits:
    ``|sum| <= k * (2**P - 1) < 2**(P + ceil(log2 k))``."""
    return product_bits + math.ceil(math.log2(k)) + 1


# --- registries ----------------------------------------------------------------------------------

def _resolve(ref: str) -> object:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


T = TypeVar("T")


class Registry(Generic[T]):
    """Named plug-ins for one parameter (``kind``, ``acc``); ``get`` names the parameter and the
    allowed values in its error."""

    def __init__(self, param: str) -> None:
        self.param = param
        self._entries: dict[str, T] = {}

    def register(self, entry: T) -> T:
        name = entry.name  # type: ignore[attr-defined]
        if name in self._entries:
            raise ValueError(f"{self.param} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove an entry (tests that register a temporary plug-in clean up with this)."""
        del self._entries[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: object) -> T:
        if not isinstance(name, str):
            raise TypeError(f"{self.param} must be a str, got {type(name).__name__} {name!r}")
        if name not in self._entries:
            raise ParameterError(f"{self.param} must be one of {', '.join(self._entries)}; got {name!r}")
        return self._entries[name]


@dataclass(frozen=True)
class ProductKind:
    """How a MAC forms each exact product.

    ``bits(fmt)``: magnitude bits of its largest product at ``2 * quantum_exp``;
    ``check(fmt)``: raises ``FormatError`` for formats the kind cannot handle;
    ``golden`` / ``rtl_builder``: ``"module:attribute"`` references (module docstring).
    """

    name: str
    doc: str
    bits: Callable[[FloatFormat], int]
    golden_ref: str
    rtl_ref: str
    check: Callable[[FloatFormat], None] = lambda fmt: None

    def golden(self) -> Callable:
        return _resolve(self.golden_ref)  # type: ignore[return-value]

    def rtl(self) -> type:
        return _resolve(self.rtl_ref)  # type: ignore[return-value]

    def __str__(self) -> str:
        return self.name


PRODUCT_KINDS: Registry[ProductKind] = Registry("kind")
PRODUCT_KINDS.register(ProductKind(
    "exact", "exact FP multiplier, unrounded product", fp_product_bits,
    "lmul.sim.fp_multiplier:fp_product", "lmul.rtl.products:ExactProduct"))
PRODUCT_KINDS.register(ProductKind(
    "lmul", "L-Mul adder result, unbounded (adder reading, DAZ)", lmul_product_bits,
    "lmul.sim.lmul_pe:lmul_product", "lmul.rtl.products:LMulProduct", check_lmul_format))


def product_kind(kind: str | ProductKind) -> ProductKind:
    """The registry entry of ``kind`` (a name or an entry)."""
    return kind if isinstance(kind, ProductKind) else PRODUCT_KINDS.get(kind)


@dataclass(frozen=True)
class AccKind:
    """A family of accumulators (``kulisch``; later floating-point ones with options).

    ``parse(options)``: the option strings after ``name:`` -> a params tuple (``ParameterError``
    for options the family does not take); ``state_bits(fmt, kind, k_max, params)``: bits of the
    running state a PE keeps per output (what an array drains);
    ``golden`` / ``rtl``: ``"module:attribute"`` references (module docstring).
    """

    name: str
    doc: str
    golden_ref: str
    rtl_ref: str
    state_bits: Callable[[FloatFormat, ProductKind, int, tuple], int]
    parse: Callable[[list[str]], tuple] = field(default=lambda opts: _no_options(opts))

    def golden(self) -> Callable:
        return _resolve(self.golden_ref)  # type: ignore[return-value]

    def rtl(self) -> type:
        return _resolve(self.rtl_ref)  # type: ignore[return-value]


def _no_options(opts: list[str]) -> tuple:
    if opts:
        raise ParameterError(f"acc options {':'.join(opts)!r} not accepted by this accumulator")
    return ()


@dataclass(frozen=True)
class Accumulator:
    """A resolved ``acc=`` value: the family plus its parameters. ``name`` is the canonical spec
    string (``kulisch``), used in design and file names."""

    kind: AccKind
    params: tuple = ()

    @property
    def name(self) -> str:
        return ":".join([self.kind.name, *map(str, self.params)])

    def state_bits(self, fmt: FloatFormat, kind: str | ProductKind, k_max: int) -> int:
        return self.kind.state_bits(fmt, product_kind(kind), check_int("k_max", k_max, 1), self.params)

    def golden(self) -> Callable:
        return self.kind.golden()

    def rtl(self) -> type:
        return self.kind.rtl()

    def __str__(self) -> str:
        return self.name


def kulisch_bits(fmt: FloatFormat, kind: str | ProductKind, k_max: int) -> int:
    """Width of the exact (Kulisch) accumulator: cannot overflow for ``k_max`` products of ``kind``."""
    return sum_bits(product_kind(kind).bits(fmt), check_int("k_max", k_max, 1))


ACCUMULATORS: Registry[AccKind] = Registry("acc")
ACCUMULATORS.register(AccKind(
    "kulisch", "exact two's-complement fixed-point sum, one RNE rounding at the end",
    "lmul.sim.kulisch:kulisch_accumulate", "lmul.rtl.kulisch:KulischAccumulator",
    lambda fmt, kind, k_max, params: kulisch_bits(fmt, kind, k_max)))


def accumulator(acc: str | Accumulator) -> Accumulator:
    """Parse an ``acc=`` spec (``kulisch``; a float format ``fp32``, ``bf16:rtz``) into an ``Accumulator``."""
    if isinstance(acc, Accumulator):
        return acc
    if not isinstance(acc, str):
        raise TypeError(f"acc must be a str, got {type(acc).__name__} {acc!r}")
    base, *opts = acc.lower().split(":")
    if base not in ACCUMULATORS:         # a float format spec (the ``float`` entry, end of file)
        return _float_accumulator(acc)
    entry = ACCUMULATORS.get(base)
    return Accumulator(entry, entry.parse(opts))


# --- floating-point accumulators: acc="<format>[:rne|:rtz]" -----------------------------------------
#
# ``acc="fp32"``, ``"bf16:rtz"``, ``"e8m13:ftz:rne"``, ``"float:fp16"``: every step
# ``acc <- round_A(acc + p)`` in the accumulator format A (golden ``lmul.sim.fp_accumulator``,
# RTL ``lmul.rtl.fp_accumulator``). ``accumulator()`` sends any spec whose base is not a family
# name here (the ``float`` entry); params are ``(canonical format spec, rounding mode)``, so
# ``Accumulator.name`` is ``float:<format>:<mode>`` (``float:fp32:rne``), itself a valid ``acc=``.

FLOAT_ACC = "float"
FLOAT_ROUNDING = ("rne", "rtz")


def float_format_spec(fmt: FloatFormat) -> str:
    """The shortest ``get_format`` spec of ``fmt``'s parameters: a named format if one matches
    (``e8m23`` -> ``fp32``), else ``ExMy`` or a named base plus only the options that differ."""
    e, m = fmt.exp_bits, fmt.man_bits
    bases = [(n, f) for n, f in NAMED_FORMATS.items() if (f.exp_bits, f.man_bits) == (e, m)]
    try:
        bases.append((f"e{e}m{m}", get_format(f"e{e}m{m}")))
    except FormatError:                             # no IEEE-style ExMy (e.g. e2m0): fmt.spec below
        pass
    best: tuple[int, int, str] | None = None
    for rank, (name, base) in enumerate(bases):
        if (base.overflow is Overflow.SATURATE and fmt.overflow is not Overflow.SATURATE) or \
                (not base.subnormals and fmt.subnormals):
            continue                                # options cannot undo these
        opts = [fmt.specials.value] if fmt.specials is not base.specials else []
        opts += ["sat"] if fmt.overflow is not base.overflow else []
        opts += ["ftz"] if fmt.subnormals != base.subnormals else []
        opts += [f"bias={fmt.bias}"] if fmt.bias != base.bias else []
        spec = ":".join([name, *opts])
        if get_format(spec).same_as(fmt) and (best is None or (len(opts), rank) < best[:2]):
            best = (len(opts), rank, spec)
    return best[2] if best is not None else fmt.spec


def parse_float_acc(opts: list[str]) -> tuple[str, str]:
    """``[format spec parts..., optional rne|rtz]`` -> ``(canonical format spec, mode)``."""
    modes = [o for o in opts[1:] if o in FLOAT_ROUNDING]
    spec = ":".join(opts[:1] + [o for o in opts[1:] if o not in FLOAT_ROUNDING])
    if not spec:
        raise ParameterError("acc 'float' needs a format: float:<format>[:rne|:rtz], or just <format>[:rne|:rtz]")
    if len(modes) > 1:
        raise ParameterError(f"acc {':'.join(opts)!r}: give at most one rounding mode (rne or rtz)")
    try:
        fmt = get_format(spec)
    except FormatError as e:
        raise ParameterError(f"acc {':'.join(opts)!r}: {e}; a float accumulator is <format>[:rne|:rtz]") from None
    return float_format_spec(fmt), (modes[0] if modes else "rne")


def float_acc_format(acc: Accumulator) -> tuple[FloatFormat, str]:
    """(accumulator format A, rounding mode) of a ``float`` accumulator."""
    return get_format(acc.params[0]), acc.params[1]


def _float_state_bits(params: tuple) -> int:
    """The running state is one value of A (its NaN/Inf encodings hold the specials): A.width bits."""
    return get_format(params[0]).width


def check_float_acc(fmt: FloatFormat, a_fmt: FloatFormat, out_fmt: FloatFormat | None = None) -> None:
    """``FormatError`` unless A can hold the NaN a ``fmt`` dot product can give, and ``out_fmt``
    (if given) can hold the NaN A can hold: from NaN/Inf operands, or a NaN-on-overflow A (FN/FNUZ)."""
    if (fmt.has_nan or fmt.has_inf) and not a_fmt.has_nan:
        raise FormatError(f"accumulator format {a_fmt.name} cannot hold the NaN a {fmt.name} dot product can give")
    nan_on_overflow = a_fmt.has_nan and not a_fmt.has_inf and not a_fmt.saturates
    if out_fmt is not None and (fmt.has_nan or fmt.has_inf or nan_on_overflow) and not out_fmt.has_nan:
        raise FormatError(f"output format {out_fmt.name} cannot hold the NaN a {fmt.name} dot product "
                          f"accumulated in {a_fmt.name} can give")


def _float_accumulator(acc: str) -> Accumulator:
    """``accumulator()`` for a spec whose base is not a family name: a float format, or an error."""
    base, *opts = acc.lower().split(":")
    if base not in NAMED_FORMATS and not re.fullmatch(r"e\d+m\d+", base):
        names = ", ".join(n for n in ACCUMULATORS.names() if n != FLOAT_ACC)
        raise ParameterError(f"acc must be one of {names}; got {acc!r} (or a float format spec with an "
                             "optional rounding mode rne|rtz, e.g. fp32, fp16, bf16:rtz, e8m13)")
    entry = ACCUMULATORS.get(FLOAT_ACC)
    return Accumulator(entry, entry.parse([base, *opts]))


ACCUMULATORS.register(AccKind(
    FLOAT_ACC, "floating-point accumulator: acc <- round(acc + exact product) in a format, RNE or RTZ",
    "lmul.sim.fp_accumulator:fp_accumulate", "lmul.rtl.fp_accumulator:FloatAccumulator",
    lambda fmt, kind, k_max, params: _float_state_bits(params), parse_float_acc))


# --- fused N-term dot-product unit parameters (lmul.sim.dot_unit, lmul.rtl.dot_unit) ----------------

N_CHOICES = (1, 2, 4, 8, 16, 32)
ALIGNS = ("exact", "block")
W_MAX = 64


def check_dot_unit(n: object, acc: str | Accumulator, align: object, w: object, promote: object) -> Accumulator:
    """Validate the ``DotUnit`` / ``dot_unit`` parameters (spec: ``lmul.sim.dot_unit``); returns the
    parsed accumulator. ``TypeError`` for values of the wrong type, ``ParameterError`` naming the
    parameter and its allowed values otherwise. Shared by the golden model and the RTL."""
    check_choice("n", check_int("n", n), N_CHOICES)
    if not isinstance(align, str):
        raise TypeError(f"align must be a str, got {type(align).__name__} {align!r}")
    check_choice("align", align, ALIGNS)
    a = accumulator(acc)
    is_float = a.kind.name == FLOAT_ACC
    if align == "block":
        if not is_float:
            raise ParameterError(f"align='block' needs a float accumulator (acc=fp32, bf16, ...), got acc={a.name!r}")
        if w is None:
            raise ParameterError(f"align='block' needs w, the window width in bits: an int in 1..{W_MAX}")
        check_int("w", w, 1, W_MAX)
    elif w is not None:
        raise ParameterError(f"w is the block window width, only for align='block'; got w={w!r} with align='exact'")
    if promote is not None:
        check_int("promote", promote, 1)
        if not is_float:
            raise ParameterError(f"promote needs a float accumulator (acc=fp32, bf16, ...), got acc={a.name!r}")
        if promote % n:       # type: ignore[operator]
            raise ParameterError(f"promote must be a positive multiple of n = {n}, got {promote}")
    return a
