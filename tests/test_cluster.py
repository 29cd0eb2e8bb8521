"""``--scheduler``: synthesis tool runs on a Dask distributed cluster (a local one, started here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from distributed import LocalCluster

from lmul.cli import main
from lmul.scripts.synth import DesignPoint, synthesize


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """One worker process with its own build folder, so the test can tell where the tools ran."""
    worker_build = tmp_path_factory.mktemp("worker-build")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={"LMUL_BUILD": str(worker_build)}) as c:
        yield c, worker_build


def _synth(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict, str]:
    rc = main(["synth", "--design", "lmul_pe", "--format", "e2m1", *args])
    out, err = capsys.readouterr()
    return rc, json.loads(out) if rc in (0, 1) and out.strip() else {}, err


def test_synth_runs_on_the_cluster_with_the_same_cache_and_results(
        cluster: tuple[LocalCluster, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    c, worker_build = cluster
    monkeypatch.setenv("LMUL_BUILD", str(tmp_path / "client"))
    rc, res, err = _synth(capsys, "--target", "generic", "--target", "ice40", "--scheduler", c.scheduler_address)
    assert rc == 0, err
    # the tools ran in the worker's build folder; the client holds only the cache
    assert (worker_build / "synth").is_dir()
    client_synth = tmp_path / "client" / "synth"
    assert sorted(p.name for p in client_synth.iterdir()) == ["cache"]
    cached = sorted((client_synth / "cache").glob("*.json"))
    assert len(cached) == 2
    # same results as a local run of the same jobs (keys are the same hash of the same Verilog)
    monkeypatch.setenv("LMUL_BUILD", str(tmp_path / "local"))
    point = DesignPoint("lmul_pe", "e2m1")
    for target in ("generic", "ice40"):
        local = synthesize(point, target)
        remote = res[f"{point.name} {target}"]
        drop = {"seconds"}
        assert {k: v for k, v in remote.items() if k not in drop} == {k: v for k, v in local.items() if k not in drop}
        assert (client_synth / "cache" / f"{local['key']}.json").exists()
    # a second cluster run is served from the client's cache: nothing new in the cache, same figures
    monkeypatch.setenv("LMUL_BUILD", str(tmp_path / "client"))
    stamps = {p: p.stat().st_mtime_ns for p in cached}
    rc2, res2, _ = _synth(capsys, "--target", "generic", "--target", "ice40", "--scheduler", c.scheduler_address)
    assert rc2 == 0 and res2 == res
    assert {p: p.stat().st_mtime_ns for p in cached} == stamps


def test_unreachable_scheduler_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("LMUL_BUILD", str(tmp_path))
    rc = main(["report", "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("lmul: error: scheduler: cannot connect to Dask scheduler 'tcp://127.0.0.1:9'")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "r" / "report.md").exists()


def test_bad_scheduler_address_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--design", "lmul_pe", "--scheduler", "not an address"])
    assert exc.value.code == 2
    assert "expected a Dask scheduler address" in capsys.readouterr().err
