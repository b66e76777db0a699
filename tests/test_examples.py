"""examples/cluster.mjs, as `make demo` runs it: it prints the job's result and leaves no process.

The example starts a LocalCluster (``python -m pyferry.backends.dask_cluster``),
prints the cluster's worker pids, runs the spectrum job on it and stops it.
Whether it ends by itself or is killed, every process of the cluster must go.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from os_support import HAS_PROC, KILL

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cluster.mjs"

pytest.importorskip("distributed")


def _run(**popen: object) -> subprocess.Popen[str]:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    assert (ROOT / "node_modules" / "pyferry").exists(), "run `make setup` (node_modules/pyferry)"
    env = {**os.environ, "PYFERRY_PYTHON": os.environ.get("PYFERRY_PYTHON", sys.executable)}
    return subprocess.Popen(
        [node, str(EXAMPLE)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[arg-type]
    )


def _pids(first_line: str) -> list[int]:
    """The cluster's process and its worker processes, from the example's first line."""
    assert first_line.startswith("Dask cluster at tcp://127.0.0.1:"), first_line
    cluster = first_line.split("process ", 1)[1].split(",", 1)[0]
    workers = first_line.rsplit("workers ", 1)[1]
    return [int(cluster), *(int(p) for p in workers.split(", "))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    if not HAS_PROC:
        return True  # kill(pid, 0) found it; without /proc a zombie cannot be told apart
    with open(f"/proc/{pid}/stat") as f:  # a zombie has ended: only its parent must reap it
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def _gone(pids: list[int], timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def test_the_example_prints_the_tones_and_stops_its_cluster() -> None:
    proc = _run()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-4000:]
    lines = out.splitlines()
    assert "Found every tone: 50, 120, 440 Hz" in lines
    assert lines[-1] == "Cluster stopped"
    assert _gone(_pids(lines[0])) == []


def test_a_killed_example_leaves_no_cluster_behind() -> None:
    proc = _run()
    try:
        assert proc.stdout is not None
        pids = _pids(proc.stdout.readline())
        os.kill(proc.pid, KILL)  # no finally runs: the cluster sees its stdin close
        proc.wait(timeout=30)
        assert _gone(pids) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
