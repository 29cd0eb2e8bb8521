"""The spec layer and its plug-in registries (lmul.arith): entries resolve to the right layer,
widths match the golden models, errors name the parameter, design names encode every netlist
parameter, and a new product kind plugs in with one golden function, one RTL builder and one
registration (checked bit-exactly through MacPE in the Amaranth simulator)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from lmul.arith import (
    ACCUMULATORS,
    PRODUCT_KINDS,
    ProductKind,
    accumulator,
    fp_product_bits,
    lmul_constant,
    product_kind,
)
from lmul.designs import DESIGNS, DesignParams, module_name
from lmul.errors import ParameterError, check_int
from lmul.formats import E2M1, E4M3, E5M2, FP32, NAMED_FORMATS, FormatError, get_format
from lmul.rtl.float_layout import FloatLayout
from lmul.rtl.mac_pe import MacPE
from lmul.rtl.products import ExactProduct
from lmul.sim.fp_multiplier import FixedProducts, fp_product
from lmul.sim.mac_pe import dot

ROOT = Path(__file__).resolve().parent.parent


def test_entries_resolve_into_their_layers() -> None:
    for entry in [*PRODUCT_KINDS, *ACCUMULATORS]:
        assert entry.golden_ref.startswith("lmul.sim."), entry.name
        assert entry.rtl_ref.startswith("lmul.rtl."), entry.name
        assert callable(entry.golden()) and callable(entry.rtl())


@pytest.mark.parametrize("kind", PRODUCT_KINDS.names())
@pytest.mark.parametrize("name", ["e4m3", "e5m2", "e2m1", "e3m4", "e4m3fnuz", "e2m3"])
def test_product_bits_are_tight(kind: str, name: str) -> None:
    """The width the RTL sizes its datapath by is exactly the largest golden product's."""
    fmt = get_format(name)
    codes = np.arange(1 << fmt.width)
    x, y = (g.ravel() for g in np.meshgrid(codes, codes))
    p = product_kind(kind).golden()(fmt, x, y)
    assert int(np.abs(p.value).max()).bit_length() == product_kind(kind).bits(fmt) == p.bits


def test_fp_product_bits_wide_formats() -> None:
    for name in ("bf16", "fp16", "fp32"):
        fmt = NAMED_FORMATS[name]
        mx = np.array([fmt.max_finite_field])
        assert int(np.abs(fp_product(fmt, mx, mx).value).max()).bit_length() == fp_product_bits(fmt)


def test_lmul_constant_matches_spec() -> None:
    assert lmul_constant(E4M3) == (1 << 0) - (7 << 3)      # m = 3: l = 3, C = 2**0 - bias * 2**3
    assert lmul_constant(get_format("e3m4")) == (1 << 1) - (3 << 4)   # m = 4: l = 3


def test_registry_errors_name_the_parameter() -> None:
    with pytest.raises(ParameterError, match=r"kind must be one of exact, lmul; got 'approx'"):
        product_kind("approx")
    with pytest.raises(TypeError, match="kind must be a str"):
        product_kind(3)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"acc must be one of kulisch; got 'fp99'"):
        accumulator("fp99")
    with pytest.raises(ParameterError, match="acc options"):
        accumulator("kulisch:rne")
    with pytest.raises(TypeError, match="acc must be a str"):
        accumulator(None)  # type: ignore[arg-type]
    assert accumulator("KULISCH").name == "kulisch"
    assert isinstance(ParameterError("x"), FormatError) and isinstance(ParameterError("x"), ValueError)


def test_check_int() -> None:
    assert check_int("n", 3, 1, 4) == 3
    with pytest.raises(ParameterError, match=r"n must be in 1\.\.4, got 5"):
        check_int("n", 5, 1, 4)
    with pytest.raises(ParameterError, match="n must be >= 1, got 0"):
        check_int("n", 0, 1)
    for bad in (True, 2.0, "2", None):
        with pytest.raises(TypeError, match="n must be an int"):
            check_int("n", bad, 1)


def test_module_names_encode_every_netlist_parameter() -> None:
    base = DesignParams()
    variants = {"latency": 1, "kind": "exact", "k_max": 4096, "out_fmt": "bf16", "rows": 2, "cols": 8,
                "n": 8, "align": "block", "promote": 8, "w": 20}    # w: only with align="block" (below)
    for name, design in DESIGNS.items():
        ref = module_name(name, E4M3, base)
        assert module_name(name, E5M2, base) != ref
        for field, value in variants.items():
            changed = DesignParams(**{**base.__dict__, field: value})
            used = field in design.uses or (field in ("rows", "cols") and "size" in design.uses)
            assert (module_name(name, E4M3, changed) != ref) == used, (name, field)
    assert module_name("mac_pe", E4M3, base) == "mac_pe_lmul_e4m3_kulisch_k256_fp32"
    assert module_name("systolic_array", E4M3, DesignParams(kind="exact")) == \
        "systolic_array_exact_e4m3_kulisch_k256_fp32_4x4"
    assert module_name("lmul_pe", get_format("e4m3:sat"), base) == "lmul_pe_e4m3_sat_l0"
    with pytest.raises(ParameterError, match="design must be one of"):
        module_name("mac", E4M3, base)


def test_dot_unit_names_and_checks() -> None:
    """The dot unit's name has n and the alignment, w only with block alignment, p only when
    promote > 0; n/align/w/promote change no other design's name; bad values are refused."""
    fp32 = DesignParams(acc="fp32")
    block = DesignParams(acc="fp32", align="block")
    assert module_name("dot_unit", E4M3, block) == "dot_unit_lmul_e4m3_float_fp32_rne_k256_fp32_n4_block_w14"
    assert module_name("dot_unit", E4M3, fp32) == "dot_unit_lmul_e4m3_float_fp32_rne_k256_fp32_n4_exact"
    assert module_name("dot_unit", E4M3, DesignParams(acc="fp32", n=8, promote=16)) == \
        "dot_unit_lmul_e4m3_float_fp32_rne_k256_fp32_n8_exact_p16"
    assert module_name("dot_unit", E4M3, DesignParams(acc="fp32", w=20)) == module_name("dot_unit", E4M3, fp32)
    assert module_name("dot_unit", E4M3, DesignParams(acc="fp32", align="block", w=20)).endswith("_n4_block_w20")
    names = {module_name("dot_unit", E4M3, DesignParams(acc="fp32", n=n, align=a, w=w, promote=p))
             for n in (4, 8) for a in ("exact", "block") for w in (8, 14) for p in (0, 8)}
    assert len(names) == 2 * (1 + 2) * 2                     # w counts only for block alignment
    for name in DESIGNS:
        if name not in ("dot_unit", "systolic_array"):   # the array: dot-unit PEs (test_mac_amaranth.py)
            for changed in (DesignParams(acc="fp32", n=8), block, DesignParams(acc="fp32", promote=8),
                            DesignParams(acc="fp32", align="block", w=3)):
                assert module_name(name, E4M3, changed) == module_name(name, E4M3, fp32), name
    array = module_name("systolic_array", E4M3, fp32)
    assert module_name("systolic_array", E4M3, DesignParams(acc="fp32", n=1)) == array
    assert module_name("systolic_array", E4M3, DesignParams(acc="fp32", n=8)).endswith("_4x4_n8_exact")
    from lmul.designs import build_design, check_params
    check_params("dot_unit", block)
    check_params("dot_unit", DesignParams(acc="fp32", n=8, promote=16))
    for bad, msg in ((DesignParams(acc="fp32", n=3), "n must be one of"),
                     (DesignParams(align="block"), "needs a float accumulator"),          # kulisch
                     (DesignParams(acc="fp32", align="block", w=0), "w must be in 1..64"),
                     (DesignParams(acc="fp32", promote=6), "multiple of n"),
                     (DesignParams(acc="fp32", align="diagonal"), "align must be one of")):
        with pytest.raises(ParameterError, match=msg):
            check_params("dot_unit", bad)
    check_params("mac_pe", DesignParams(n=3))                # only the dot unit uses n
    unit = build_design("dot_unit", E2M1, DesignParams(acc="fp16", n=2, align="block", w=6, promote=4))
    assert (unit.n, unit.align, unit.w, unit.promote) == (2, "block", 6, 4)
    assert build_design("dot_unit", E2M1, DesignParams(acc="fp16", n=2)).w is None    # w: block only


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_layers() -> None:
    """Gateware never imports golden models; the spec layer imports neither side."""
    for f in (ROOT / "rtl").glob("*.py"):
        bad = {m for m in _imports(f) if m.startswith("lmul.sim")}
        assert not bad, f"{f.name} imports {bad}"
    for f in (ROOT / "lmul" / "arith.py", ROOT / "lmul" / "errors.py", ROOT / "lmul" / "formats.py"):
        bad = {m for m in _imports(f) if m.startswith(("lmul.sim", "lmul.rtl", "lmul.boards", "lmul.scripts"))}
        assert not bad, f"{f.name} imports {bad}"


# --- a new product kind, added the documented way --------------------------------------------------

TRUNC = 3   # low bits dropped from every exact product: a deliberately lossy toy kind


def truncated_product(fmt, x, y) -> FixedProducts:
    """Golden: the exact product with its magnitude's low TRUNC bits cleared."""
    p = fp_product(fmt, x, y)
    mag = np.abs(p.value) >> TRUNC << TRUNC
    return FixedProducts(np.where(p.value < 0, -mag, mag), p.lsb_exp, p.nan, p.inf, p.bits)


class TruncatedProduct(ExactProduct):
    """RTL builder: the exact product, low TRUNC bits cleared."""

    def build(self, m: Module, a, b):
        p = super().build(m, a, b)
        m.d.comb += p.mag[:TRUNC].eq(0)
        return p


@pytest.fixture
def trunc_kind():
    entry = PRODUCT_KINDS.register(ProductKind("trunc", "toy: exact product, low bits truncated", fp_product_bits,
                                               f"{__name__}:truncated_product", f"{__name__}:TruncatedProduct"))
    yield entry
    PRODUCT_KINDS.unregister("trunc")


def test_new_product_kind_plugs_in(trunc_kind: ProductKind) -> None:
    fmt, k = E2M1, 5
    rng = np.random.default_rng(3)
    a = rng.integers(0, 1 << fmt.width, (40, k))
    b = rng.integers(0, 1 << fmt.width, (40, k))
    gold = dot(fmt, a, b, FP32, "trunc")
    assert not np.array_equal(gold, dot(fmt, a, b, FP32, "exact"))     # the toy kind really differs
    dut = MacPE(fmt, "trunc", FP32, k_max=k)
    assert dut.kind is trunc_kind
    fl = FloatLayout(fmt)
    got: list[int] = []

    async def tb(ctx) -> None:
        ctx.set(dut.o.ready, 1)
        for row_a, row_b in zip(a, b, strict=True):
            for i in range(k):
                ctx.set(dut.i.payload, dut.i.payload.shape().const(
                    {"a": fl.from_bits(int(row_a[i])), "b": fl.from_bits(int(row_b[i])), "last": int(i == k - 1)}))
                ctx.set(dut.i.valid, 1)
                await ctx.tick()
                if ctx.get(dut.o.valid):
                    got.append(ctx.get(dut.o.payload.as_value()))
        ctx.set(dut.i.valid, 0)
        for _ in range(dut.latency + 1):
            await ctx.tick()
            if ctx.get(dut.o.valid):
                got.append(ctx.get(dut.o.payload.as_value()))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert got == [int(v) for v in gold]
