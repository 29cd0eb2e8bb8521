"""``export_design`` / ``lmul export`` write a port map beside each Verilog file: ``<module>.json``
and ``<module>.md`` with every port's direction and width, the fields (name, bit offset, width) of
packed struct/array ports, the component's latency and the parameters it was built with."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from amaranth.hdl import Fragment

from lmul.designs import DesignParams, build_design, export_design
from lmul.formats import get_format
from lmul.rtl.matmul_engine import Op


def verilog_ports(v: Path, module: str) -> dict[str, tuple[str, int]]:
    """``name -> (input|output, width)`` of the top module, read from the Verilog independently."""
    text = v.read_text()
    body = text[text.index(f"module {module}("):]
    body = body[:body.index("endmodule")]
    return {mt[3]: (mt[1], int(mt[2] or 0) + 1)
            for mt in re.finditer(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", body, re.M)}


def pack(fields: list[dict], values: dict[str, int]) -> int:
    """A packed port word from field values, using only the port map's offsets and widths."""
    word = 0
    for f in fields:
        v = values[f["name"]]
        assert 0 <= v < 1 << f["width"]
        word |= v << f["offset"]
    return word


ENGINE = DesignParams(rows=2, cols=3, k_max=64, kind="lmul")


@pytest.fixture(scope="module")
def engine_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    v = export_design("matmul_engine", "e4m3", ENGINE, tmp_path_factory.mktemp("engine"))
    return v, json.loads(v.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def engine() -> object:
    """The same component, built independently (and elaborated, so Amaranth does not warn it was unused)."""
    comp = build_design("matmul_engine", get_format("e4m3"), ENGINE)
    Fragment.get(comp, None)
    return comp


def test_engine_cmd_payload_fields_reproduce_the_layout(engine_export: tuple[Path, dict], engine: object) -> None:
    v, pm = engine_export
    assert v.suffix == ".v" and v.with_suffix(".md").is_file()
    ports = {p["name"]: p for p in pm["ports"]}
    cmd = ports["cmd__payload"]
    assert cmd["direction"] == "in"
    assert [f["name"] for f in cmd["fields"]] == ["m", "k", "n", "op"]
    # offsets/widths tile the port and packing with them equals the RTL layout's own constant
    layout = engine.signature.members["cmd"].signature.members["payload"].shape  # type: ignore[attr-defined]
    assert sum(f["width"] for f in cmd["fields"]) == cmd["width"] == layout.size
    for f in cmd["fields"]:
        assert (f["offset"], f["width"]) == (layout[f["name"]].offset, layout[f["name"]].width)
    assert cmd["fields"][-1]["enum"] == {"FULL": 0, "WEIGHTS": 1, "RUN": 2}
    values = {"m": 5, "k": 37, "n": 11, "op": Op.RUN.value}
    want = layout.const({"m": 5, "k": 37, "n": 11, "op": Op.RUN}).as_bits()
    assert pack(cmd["fields"], values) == want


def test_engine_result_port_nested_fields_and_widths(engine_export: tuple[Path, dict], engine: object) -> None:
    v, pm = engine_export
    ports = {p["name"]: p for p in pm["ports"]}
    res = ports["res__payload"]
    names = [f["name"] for f in res["fields"]]
    assert names == [f"c[{j}].{x}" for j in range(3) for x in ("man", "exp", "sign")] + ["i", "j0", "last"]
    assert [f["offset"] for f in res["fields"][:4]] == [0, 23, 31, 32]          # FP32 = man 23 | exp 8 | sign 1
    assert res["fields"][-1] == {"name": "last", "offset": res["width"] - 1, "width": 1, "signed": False}
    # every port of the Verilog is listed, with the Verilog's own direction and width
    want = verilog_ports(v, pm["module"])
    assert {p["name"]: ({"in": "input", "out": "output"}[p["direction"]], p["width"]) for p in pm["ports"]} == want
    assert {"clk", "rst", "busy", "error", "cmd__valid", "cmd__ready", "data__payload", "res__valid"} <= set(ports)
    # latency and the parameters it was built with
    latency = engine.latency  # type: ignore[attr-defined]
    assert isinstance(latency, int) and pm["latency"] == latency
    assert pm["design"] == "matmul_engine" and pm["format"] == {"name": "e4m3", "spec": "e4m3:fn:bias=7"}
    assert pm["params"]["rows"] == 2 and pm["params"]["cols"] == 3 and pm["params"]["k_max"] == 64
    assert pm["params"]["kind"] == "lmul" and pm["params"]["acc"] == "kulisch"
    md = v.with_suffix(".md").read_text()
    for text in ("`res__payload` | out | " + str(res["width"]), "`c[2].sign`", "`op` (FULL=0, WEIGHTS=1, RUN=2)",
                 f"Latency: {latency} cycles", "size=2x3"):
        assert text in md, text


def test_mac_pe_export_has_latency_3_and_its_stream_fields(tmp_path: Path) -> None:
    v = export_design("mac_pe", "e5m2", DesignParams(kind="exact", k_max=32, out_fmt="bf16"), tmp_path)
    pm = json.loads(v.with_suffix(".json").read_text())
    assert pm["latency"] == 3
    ports = {p["name"]: p for p in pm["ports"]}
    assert [(f["name"], f["offset"], f["width"]) for f in ports["i__payload"]["fields"]] == [
        ("a.man", 0, 2), ("a.exp", 2, 5), ("a.sign", 7, 1), ("b.man", 8, 2), ("b.exp", 10, 5), ("b.sign", 15, 1),
        ("last", 16, 1)]
    assert [(f["name"], f["offset"], f["width"]) for f in ports["o__payload"]["fields"]] == [
        ("man", 0, 7), ("exp", 7, 8), ("sign", 15, 1)]                      # BF16 results
    assert ports["o__ready"]["direction"] == "in" and ports["o__valid"]["direction"] == "out"
    assert pm["params"]["out_fmt"] == "bf16" and pm["uses"] == ["kind", "acc", "k_max", "out_fmt", "pipeline"]


def test_multiplier_export_without_clock(tmp_path: Path) -> None:
    v = export_design("lmul_pe", get_format("e4m3"), DesignParams(), tmp_path)
    pm = json.loads(v.with_suffix(".json").read_text())
    assert pm["latency"] == 0 and [p["name"] for p in pm["ports"]] == ["a", "b", "o"]
    assert all(p["width"] == 8 and [f["name"] for f in p["fields"]] == ["man", "exp", "sign"] for p in pm["ports"])


def test_pipelined_array_export_names_its_replicas(tmp_path: Path) -> None:
    """A pipelined array's per-PE valid/last copies are marked in the Verilog, and the sidecars say
    how to keep them (one flip-flop per copy) in the user's own flow; a depth-0 array has none."""
    v = export_design("systolic_array", "e4m3", DesignParams(rows=2, cols=3, k_max=16, pipeline=2), tmp_path)
    pm = json.loads(v.with_suffix(".json").read_text())
    assert pm["replica_attr"] == "lmul_replica" and "(* lmul_replica" in v.read_text()
    assert "setattr -set keep 1 a:lmul_replica" in v.with_suffix(".md").read_text()
    flat = export_design("systolic_array", "e4m3", DesignParams(rows=2, cols=3, k_max=16), tmp_path)
    assert json.loads(flat.with_suffix(".json").read_text())["replica_attr"] is None
    assert "lmul_replica" not in flat.with_suffix(".md").read_text()
