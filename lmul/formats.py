"""Minifloat format descriptions: the single source of truth for golden models, RTL, tests, reports.

A :class:`FloatFormat` names a binary floating-point encoding ``sign | exponent | mantissa``
(1 + ``exp_bits`` + ``man_bits`` bits) with a ``bias``, a special-value policy
(:class:`Specials`), subnormal support and an overflow policy (:class:`Overflow`).

Encodings (``E`` = exponent field, ``M`` = mantissa field, ``m`` = ``man_bits``):

* ``E == 0``: zero (``M == 0``) or subnormal ``M * 2**(1 - bias - m)``.
* otherwise normal ``(2**m + M) * 2**(E - bias - m)``, except the special patterns:

  - ``IEEE``:   ``E`` all ones: ``M == 0`` is ±Inf, ``M != 0`` NaN (quiet when the top mantissa bit is 1).
  - ``FN``:     no Inf; only ``S.1…1.1…1`` is NaN (one NaN per sign) — OCP E4M3.
  - ``FNUZ``:   no Inf, no −0; the single NaN is the negative-zero pattern ``1.0…0.0…0``.
  - ``FINITE``: no Inf, no NaN; every pattern is a number — OCP MX FP6/FP4.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace

import numpy as np

from lmul.errors import FormatError

__all__ = [
    "BF16",
    "E2M1",
    "E2M3",
    "E3M2",
    "E3M4",
    "E4M3",
    "E4M3B11FNUZ",
    "E4M3FNUZ",
    "E4M3_IEEE",
    "E5M2",
    "E5M2FNUZ",
    "FP16",
    "FP32",
    "NAMED_FORMATS",
    "FloatFormat",
    "FormatError",
    "Overflow",
    "Specials",
    "get_format",
    "twin_dtype",
]


class Specials(enum.Enum):
    """Special-value policy of a format (see module docstring)."""

    IEEE = "ieee"
    FN = "fn"
    FNUZ = "fnuz"
    FINITE = "finite"


class Overflow(enum.Enum):
    """What a result too large for the format becomes.

    ``DEFAULT``: as the format does — ±Inf for ``IEEE``, NaN for ``FN``/``FNUZ``, and
    saturation to ±max for ``FINITE`` (which has neither). ``SATURATE``: ±max finite
    (±Inf operands of an ``IEEE`` format still give ±Inf: only finite results saturate).
    """

    DEFAULT = "default"
    SATURATE = "saturate"


@dataclass(frozen=True)
class FloatFormat:
    """A sign/exponent/mantissa minifloat format. Immutable and hashable.

    ``subnormals=False`` means subnormal operands are read as ±0 (DAZ) and a result that
    rounds to a subnormal encoding is flushed to ±0 (FTZ).
    """

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    specials: Specials = Specials.IEEE
    subnormals: bool = True
    overflow: Overflow = Overflow.DEFAULT

    def __post_init__(self) -> None:
        for attr in ("exp_bits", "man_bits", "bias"):
            value = getattr(self, attr)
            if not isinstance(value, int) or isinstance(value, bool):
                raise FormatError(f"{self.name}: {attr} must be an int, got {value!r}")
        if not isinstance(self.specials, Specials):
            raise FormatError(f"{self.name}: specials must be a Specials, got {self.specials!r}")
        if not isinstance(self.overflow, Overflow):
            raise FormatError(f"{self.name}: overflow must be an Overflow, got {self.overflow!r}")
        if not 1 <= self.exp_bits <= 8:
            raise FormatError(f"{self.name}: exp_bits must be in 1..8, got {self.exp_bits}")
        if not 0 <= self.man_bits <= 23:
            raise FormatError(f"{self.name}: man_bits must be in 0..23, got {self.man_bits}")
        if self.specials is Specials.IEEE and self.exp_bits < 2:
            raise FormatError(f"{self.name}: an IEEE-style format needs exp_bits >= 2")
        if self.specials is Specials.IEEE and self.man_bits < 1:
            raise FormatError(f"{self.name}: an IEEE-style format needs man_bits >= 1 (NaN encoding)")
        if self.specials is Specials.FN and self.exp_bits + self.man_bits < 2:
            raise FormatError(f"{self.name}: an FN format needs at least 2 exponent+mantissa bits")
        if not -(1 << 8) <= self.bias <= (1 << 8):
            raise FormatError(f"{self.name}: bias {self.bias} out of the supported range -256..256")
        if self.max_exp_field < 1:
            raise FormatError(f"{self.name}: no normal numbers in this format")

    # --- widths --------------------------------------------------------------------------
    @property
    def width(self) -> int:
        """Total bits: sign + exponent + mantissa."""
        return 1 + self.exp_bits + self.man_bits

    @property
    def field_bits(self) -> int:
        """Bits of the exponent+mantissa field (the magnitude ``F = E << m | M``)."""
        return self.exp_bits + self.man_bits

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        """Smallest numpy unsigned dtype that holds one encoding."""
        for dt in (np.uint8, np.uint16, np.uint32):
            if self.width <= np.dtype(dt).itemsize * 8:
                return dt
        raise FormatError(f"{self.name}: {self.width} bits do not fit 32")  # pragma: no cover

    @property
    def sign_mask(self) -> int:
        return 1 << self.field_bits

    @property
    def field_mask(self) -> int:
        return (1 << self.field_bits) - 1

    @property
    def man_mask(self) -> int:
        return (1 << self.man_bits) - 1

    # --- ranges --------------------------------------------------------------------------
    @property
    def max_exp_field(self) -> int:
        """Largest exponent field holding a finite normal number."""
        top = (1 << self.exp_bits) - 1
        if self.specials is Specials.IEEE:
            return top - 1
        if self.specials is Specials.FN and self.man_bits == 0:
            return top - 1
        return top

    @property
    def emin(self) -> int:
        """Unbiased exponent of the smallest normal number."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        """Unbiased exponent of the largest finite number."""
        return self.max_exp_field - self.bias

    @property
    def quantum_exp(self) -> int:
        """Exponent of the smallest subnormal: every finite value is an integer times 2**this."""
        return self.emin - self.man_bits

    @property
    def max_finite_field(self) -> int:
        """Exponent+mantissa field of the largest finite number (fields are monotonic)."""
        if self.specials is Specials.IEEE:
            return ((self.max_exp_field + 1) << self.man_bits) - 1
        if self.specials is Specials.FN:
            return self.field_mask - 1
        return self.field_mask

    @property
    def max_value(self) -> float:
        return float(decode(self, np.array([self.max_finite_field], dtype=self.dtype))[0])

    @property
    def min_normal(self) -> float:
        return float(np.ldexp(1.0, self.emin))

    @property
    def min_subnormal(self) -> float:
        return float(np.ldexp(1.0, self.quantum_exp))

    @property
    def has_inf(self) -> bool:
        return self.specials is Specials.IEEE

    @property
    def has_nan(self) -> bool:
        return self.specials is not Specials.FINITE

    @property
    def has_neg_zero(self) -> bool:
        return self.specials is not Specials.FNUZ

    @property
    def saturates(self) -> bool:
        """True when a finite overflow gives ±max (policy, or a format with no Inf/NaN)."""
        return self.overflow is Overflow.SATURATE or self.specials is Specials.FINITE

    def inf_bits(self, sign: int = 0) -> int:
        if not self.has_inf:
            raise FormatError(f"{self.name} has no infinity")
        return (sign << self.field_bits) | (((1 << self.exp_bits) - 1) << self.man_bits)

    def nan_bits(self, sign: int = 0) -> int:
        """The canonical (quiet) NaN with the given sign (FNUZ has a single NaN)."""
        if self.specials is Specials.IEEE:
            return self.inf_bits(sign) | (1 << (self.man_bits - 1))
        if self.specials is Specials.FN:
            return (sign << self.field_bits) | self.field_mask
        if self.specials is Specials.FNUZ:
            return self.sign_mask
        raise FormatError(f"{self.name} has no NaN")

    def with_(self, **changes: object) -> FloatFormat:
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.name

    @property
    def spec(self) -> str:
        """A ``get_format`` spec that rebuilds exactly these parameters (name aside)."""
        spec = f"e{self.exp_bits}m{self.man_bits}:{self.specials.value}:bias={self.bias}"
        return spec + (":sat" if self.overflow is Overflow.SATURATE else "") + ("" if self.subnormals else ":ftz")

    def same_as(self, other: FloatFormat) -> bool:
        """Same parameters (the name is ignored)."""
        return replace(self, name=other.name) == other

    def describe(self) -> str:
        ovf = "saturate" if self.saturates else ("inf" if self.has_inf else "nan")
        return (f"{self.name}: E{self.exp_bits}M{self.man_bits} bias={self.bias} "
                f"specials={self.specials.value} subnormals={'yes' if self.subnormals else 'no'} "
                f"overflow={ovf} max={self.max_value:g} min_normal={self.min_normal:g} "
                f"min_subnormal={self.min_subnormal:g}")

    # --- field helpers (numpy, vectorised) ------------------------------------------------
    def check_bits(self, bits: np.ndarray | int, what: str = "operand") -> np.ndarray:
        """Return ``bits`` as an int64 array, rejecting values that are not encodings."""
        arr = np.asarray(bits)
        if arr.dtype.kind not in "ui":
            raise FormatError(f"{self.name} {what}: expected integer bit patterns, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >> self.width):
            raise FormatError(f"{self.name} {what}: bit patterns must be in 0..{(1 << self.width) - 1}")
        return arr

    def unpack(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sign, exponent field, mantissa field) of int64 bit patterns."""
        return (bits >> self.field_bits) & 1, (bits >> self.man_bits) & ((1 << self.exp_bits) - 1), \
            bits & self.man_mask

    def classify(self, bits: np.ndarray) -> dict[str, np.ndarray]:
        """Boolean masks ``nan``, ``inf``, ``zero`` (including DAZ subnormals), ``sub``, ``sign``."""
        s, e, m = self.unpack(bits)
        mag = bits & self.field_mask
        if self.specials is Specials.IEEE:
            top = e == (1 << self.exp_bits) - 1
            nan, inf = top & (m != 0), top & (m == 0)
        elif self.specials is Specials.FN:
            nan, inf = mag == self.field_mask, np.zeros(bits.shape, bool)
        elif self.specials is Specials.FNUZ:
            nan, inf = bits == self.sign_mask, np.zeros(bits.shape, bool)
        else:
            nan = inf = np.zeros(bits.shape, bool)
        sub = (e == 0) & (m != 0)
        zero = (mag == 0) & ~nan
        if not self.subnormals:
            zero = zero | sub
            sub = np.zeros(bits.shape, bool)
        return {"nan": nan, "inf": inf, "zero": zero, "sub": sub, "sign": s.astype(bool)}


def decode(fmt: FloatFormat | str, bits: np.ndarray | int) -> np.ndarray:
    """Bit patterns -> float64 values (NaN/±Inf/±0 as encoded; DAZ when subnormals are off).
    ``fmt``: a ``FloatFormat`` or a ``get_format`` spec (``"e4m3"``)."""
    fmt = get_format(fmt)
    b = fmt.check_bits(bits)
    s, e, m = fmt.unpack(b)
    sig = np.where(e > 0, m + (1 << fmt.man_bits), m).astype(np.float64)
    val = np.ldexp(sig, np.maximum(e, 1) - fmt.bias - fmt.man_bits)
    cls = fmt.classify(b)
    val = np.where(cls["zero"], 0.0, val)
    val = np.where(cls["inf"], np.inf, val)
    val = np.where(cls["nan"], np.nan, val)
    return np.where(s.astype(bool), -val, val)


def round_fields(fmt: FloatFormat, value: np.ndarray) -> np.ndarray:
    """|value| (finite float64) -> exponent+mantissa field, rounded to nearest even.

    Unbounded above: a result beyond ``max_finite_field`` means overflow (callers apply the
    policy). Uses an integer significand of ``man_bits + 1`` bits, so the only rounding is here.
    """
    a = np.abs(value)
    _, k = np.frexp(a)                      # a = f * 2**k, f in [0.5, 1)
    e = np.where(a == 0, fmt.emin, np.maximum(k - 1, fmt.emin))  # exponent, clamped at subnormals
    n = np.rint(np.ldexp(a, fmt.man_bits - e))  # exact scaling by a power of two, then RNE
    return ((e + fmt.bias - 1).astype(np.int64) << fmt.man_bits) + n.astype(np.int64)


def apply_overflow_and_sign(fmt: FloatFormat, field: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Combine a (possibly out-of-range) magnitude field with a sign: overflow policy,
    FTZ when subnormals are off, and FNUZ's unsigned zero. Returns int64 bit patterns."""
    field = np.asarray(field, dtype=np.int64)
    sign = np.asarray(sign).astype(np.int64)
    over = field > fmt.max_finite_field
    if fmt.saturates:
        over_bits = fmt.max_finite_field
    elif fmt.has_inf:
        over_bits = fmt.inf_bits(0)
    else:
        over_bits = fmt.nan_bits(0) & fmt.field_mask
    mag = np.where(over, over_bits, field)
    if not fmt.subnormals:
        mag = np.where(mag < (1 << fmt.man_bits), 0, mag)
    out = (sign << fmt.field_bits) | mag
    if fmt.specials is Specials.FNUZ:
        out = np.where(mag == 0, 0, out)                       # no negative zero
        out = np.where(over & ~fmt.saturates, fmt.nan_bits(), out)  # the single NaN
    return out


def encode(fmt: FloatFormat | str, values: np.ndarray | float) -> np.ndarray:
    """float64 values -> bit patterns of ``fmt`` (dtype ``fmt.dtype``), one RNE rounding; ``fmt``:
    a ``FloatFormat`` or a ``get_format`` spec (``"e4m3"``).

    NaN -> canonical NaN (sign kept where the format has signed NaNs); ±Inf -> ±Inf, or the
    format's NaN (FN/FNUZ, non-saturating), or ±max (FINITE or saturating). Converting NaN to
    a FINITE format raises :class:`FormatError`.
    """
    fmt = get_format(fmt)
    v = np.asarray(values, dtype=np.float64)
    sign = np.signbit(v).astype(np.int64)
    nan = np.isnan(v)
    if nan.any() and not fmt.has_nan:
        raise FormatError(f"{fmt.name} cannot represent NaN")
    finite = np.isfinite(v)
    field = round_fields(fmt, np.where(finite, v, 0.0))
    big = fmt.max_finite_field + 1           # any field beyond max: overflow
    field = np.where(np.isinf(v), big, field)
    if fmt.has_inf and fmt.saturates:          # IEEE + saturate: Inf stays Inf
        out = apply_overflow_and_sign(fmt, field, sign)
        out = np.where(np.isinf(v), (sign << fmt.field_bits) | fmt.inf_bits(0), out)
    else:
        out = apply_overflow_and_sign(fmt, field, sign)
    if fmt.has_nan:
        nan_pos, nan_neg = fmt.nan_bits(0), fmt.nan_bits(1)
        out = np.where(nan, np.where(sign == 1, nan_neg, nan_pos), out)
    return out.astype(fmt.dtype)


# --- named formats ----------------------------------------------------------------------------
E4M3 = FloatFormat("e4m3", 4, 3, 7, Specials.FN)            # OCP FP8 E4M3 (ml_dtypes float8_e4m3fn)
E5M2 = FloatFormat("e5m2", 5, 2, 15, Specials.IEEE)         # OCP FP8 E5M2 (float8_e5m2)
E4M3_IEEE = FloatFormat("e4m3_ieee", 4, 3, 7, Specials.IEEE)  # IEEE-style (float8_e4m3)
E3M4 = FloatFormat("e3m4", 3, 4, 3, Specials.IEEE)          # float8_e3m4
E4M3FNUZ = FloatFormat("e4m3fnuz", 4, 3, 8, Specials.FNUZ)  # float8_e4m3fnuz
E5M2FNUZ = FloatFormat("e5m2fnuz", 5, 2, 16, Specials.FNUZ)  # float8_e5m2fnuz
E4M3B11FNUZ = FloatFormat("e4m3b11fnuz", 4, 3, 11, Specials.FNUZ)  # float8_e4m3b11fnuz
E2M3 = FloatFormat("e2m3", 2, 3, 1, Specials.FINITE)        # OCP MX FP6 E2M3 (float6_e2m3fn)
E3M2 = FloatFormat("e3m2", 3, 2, 3, Specials.FINITE)        # OCP MX FP6 E3M2 (float6_e3m2fn)
E2M1 = FloatFormat("e2m1", 2, 1, 1, Specials.FINITE)        # OCP MX FP4 E2M1 (float4_e2m1fn)
BF16 = FloatFormat("bf16", 8, 7, 127, Specials.IEEE)        # bfloat16
FP16 = FloatFormat("fp16", 5, 10, 15, Specials.IEEE)        # IEEE binary16
FP32 = FloatFormat("fp32", 8, 23, 127, Specials.IEEE)       # IEEE binary32 (accumulator output)

NAMED_FORMATS: dict[str, FloatFormat] = {f.name: f for f in (
    E4M3, E5M2, E4M3_IEEE, E3M4, E4M3FNUZ, E5M2FNUZ, E4M3B11FNUZ, E2M3, E3M2, E2M1, BF16, FP16, FP32)}


def twin_dtype(fmt: FloatFormat) -> np.dtype | None:
    """The numpy / ml_dtypes dtype storing exactly ``fmt``'s encodings (``float8_e4m3fn`` for E4M3,
    ``float16`` for FP16, ...), or None; formats match by encoding (``same_as``), not by name."""
    import ml_dtypes

    twins = {"e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2, "e4m3_ieee": ml_dtypes.float8_e4m3,
             "e3m4": ml_dtypes.float8_e3m4, "e4m3fnuz": ml_dtypes.float8_e4m3fnuz,
             "e5m2fnuz": ml_dtypes.float8_e5m2fnuz, "e4m3b11fnuz": ml_dtypes.float8_e4m3b11fnuz,
             "e2m3": ml_dtypes.float6_e2m3fn, "e3m2": ml_dtypes.float6_e3m2fn, "e2m1": ml_dtypes.float4_e2m1fn,
             "bf16": ml_dtypes.bfloat16, "fp16": np.float16, "fp32": np.float32}
    return next((np.dtype(t) for name, t in twins.items() if NAMED_FORMATS[name].same_as(fmt)), None)


def get_format(spec: str | FloatFormat) -> FloatFormat:
    """A named format, or ``ExMy`` (IEEE-style, bias 2**(x-1)-1), optionally with suffixes
    ``:fn`` ``:fnuz`` ``:finite`` ``:ieee`` ``:sat`` ``:ftz`` ``:bias=N`` (e.g. ``e6m1:fn:sat``).

    A ``FloatFormat`` is returned as it is. Options override the named base (``e4m3:ieee``); each
    parameter may be set once: two specials options (``e4m3:fn:ieee``), two biases or a repeated
    option (``:sat:sat``) raise ``FormatError`` naming both options."""
    if isinstance(spec, FloatFormat):
        return spec
    if not isinstance(spec, str) or not spec:
        raise FormatError(f"unknown format {spec!r}")
    base, *opts = spec.lower().split(":")
    params: dict[str, object]
    if base in NAMED_FORMATS:
        named = NAMED_FORMATS[base]
        params = {"exp_bits": named.exp_bits, "man_bits": named.man_bits, "bias": named.bias,
                  "specials": named.specials, "subnormals": named.subnormals, "overflow": named.overflow}
    else:
        mt = re.fullmatch(r"e(\d+)m(\d+)", base)
        if not mt:
            known = ", ".join(NAMED_FORMATS)
            raise FormatError(f"unknown format {spec!r} (named: {known}; "
                              "or ExMy[:fn|:fnuz|:finite][:sat][:ftz][:bias=N])")
        e, m = int(mt[1]), int(mt[2])
        params = {"exp_bits": e, "man_bits": m, "bias": (1 << (e - 1)) - 1 if e >= 1 else 0,
                  "specials": Specials.IEEE}
    changes: dict[str, object] = {}
    given: dict[str, str] = {}              # parameter -> the option that set it (conflicts name both)
    for opt in opts:
        if opt in ("fn", "fnuz", "finite", "ieee"):
            key, val = "specials", Specials(opt)
        elif opt == "sat":
            key, val = "overflow", Overflow.SATURATE
        elif opt == "ftz":
            key, val = "subnormals", False
        elif opt.startswith("bias="):
            try:
                key, val = "bias", int(opt[5:])
            except ValueError:
                raise FormatError(f"bad bias in format {spec!r}") from None
        else:
            raise FormatError(f"unknown format option {opt!r} in {spec!r}")
        if key in given:
            if given[key] == opt:
                raise FormatError(f"format option {opt!r} given twice in {spec!r}")
            raise FormatError(f"conflicting format options {given[key]!r} and {opt!r} in {spec!r} "
                              f"(both set the {key}; give one)")
        given[key] = opt
        changes[key] = val
    if base in NAMED_FORMATS and not changes:
        return NAMED_FORMATS[base]
    # one construction with every option applied, so validation sees the final parameters
    return FloatFormat(spec.lower(), **{**params, **changes})  # type: ignore[arg-type]
