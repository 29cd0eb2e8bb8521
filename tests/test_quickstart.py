"""docs/quickstart.md runs as written: every ```python block is executed, each in a fresh namespace
(the page says each block is self-contained), in an empty working folder. A block whose first line is
``# file: NAME`` is a file the reader saves (a cocotb test module): it is written into that folder
before the blocks run, not executed.

The synthesis and cocotb blocks use ``lmul.build_root()``: ``LMUL_BUILD`` points at the suite's
own build folder, so Yosys results and the Verilator build are cached across runs (cold: ~30 s
each; warm: about a second).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lmul import build_root

DOC = Path(__file__).resolve().parent.parent / "docs" / "quickstart.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FILE = re.compile(r"\A# file: (\S+)\n")


def blocks() -> list[tuple[str, str]]:
    """``(section heading, code)`` of every ```python block, in page order."""
    text = DOC.read_text()
    out = []
    for mt in BLOCK.finditer(text):
        heads = re.findall(r"^###? (.+)$", text[:mt.start()], re.M)
        out.append((heads[-1] if heads else "top", mt[1]))
    return out


CODE = [(head, code) for head, code in blocks() if not FILE.match(code)]
FILES = {FILE.match(code)[1]: code for _, code in blocks() if FILE.match(code)}


def test_the_page_has_every_part() -> None:
    """Golden model, Amaranth simulation of LMulPE and MacPE, cocotb, synthesis: each has a block."""
    text = "\n".join(code for _, code in CODE)
    for needle in ("from lmul.sim import", "LMulPE(", ".as_value()", "from_bits(", "MacPE(", "CocotbBench(",
                   "synthesize(DesignPoint(\"lmul_pe\", \"e4m3\"), \"generic\")", "export_design("):
        assert needle in text, needle
    assert "tb_lmul_quick.py" in FILES


@pytest.mark.parametrize(("head", "code"), CODE, ids=[f"{i}-{h.split('.')[0]}" for i, (h, _) in enumerate(CODE)])
def test_quickstart_block_runs(head: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LMUL_BUILD", str(build_root()))    # the suite's build folder: shared caches
    monkeypatch.chdir(tmp_path)
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    exec(compile(code, f"{DOC.name}: {head}", "exec"), {"__name__": "__quickstart__"})
    assert capsys.readouterr().out.strip()                # every block shows its result
