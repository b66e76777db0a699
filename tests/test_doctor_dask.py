"""``pyferry doctor --backend dask --scheduler ADDR`` against a real loopback cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dask_helpers import ENV, start_cluster, stop
from pyferry import __version__


def _doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyferry", "doctor", "--json", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )


def test_the_scheduler_its_workers_and_what_they_import() -> None:
    proc, info = start_cluster(workers=2)
    try:
        done = _doctor("--backend", "dask", "--scheduler", info["address"])
    finally:
        stop(proc)
    assert done.returncode == 0, done.stdout + done.stderr
    dask = json.loads(done.stdout)["dask"]
    assert dask["scheduler"] == info["address"]
    assert len(dask["workers"]) == 2
    for seen in dask["workers"].values():
        assert seen["pyferry"] == __version__
        assert seen["numpy"]
        assert Path(seen["executable"]).name.startswith("python")
    assert dask["problems"] == []


def test_an_unreachable_scheduler_is_a_problem_with_its_fix() -> None:
    # Dask retries a refused connection until its timeout: a short one keeps the test short.
    done = _doctor(
        "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout-ms", "500"
    )
    assert done.returncode == 1
    found = json.loads(done.stdout)
    assert found["ok"] is False
    (problem,) = found["dask"]["problems"]
    assert "tcp://127.0.0.1:9 cannot be reached" in problem["problem"]
    assert problem["problem"].endswith("after 0.5 s")
    assert "dask_cluster" in problem["fix"]


def test_a_remote_address_is_refused_unless_insecure() -> None:
    done = _doctor("--backend", "dask", "--scheduler", "tcp://192.0.2.1:8786")
    assert done.returncode == 1
    assert "insecure" in json.loads(done.stdout)["problems"][-1]["fix"]
    half = subprocess.run(
        [sys.executable, "-m", "pyferry", "doctor", "--backend", "dask"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert half.returncode == 2
    assert "--backend dask and --scheduler go together" in half.stderr
    bad = _doctor(
        "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout-ms", "0"
    )
    assert bad.returncode == 2
    assert (
        "--scheduler-timeout-ms: expected a positive number of milliseconds, got '0'" in bad.stderr
    )
