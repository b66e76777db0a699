"""What the Dask test files share: clusters on 127.0.0.1, gateways, and asking a cluster.

A gateway is a real ``python -m pyferry worker --backend dask`` driven by the
test client of conftest.py, with tests/fixtures on its ``PYTHONPATH`` (given
in its environment: this process's own is never changed). distributed is never
imported in this process (its warnings would be errors here): what a test asks
the cluster itself (worker pids, the scheduler's transition count) a child
process asks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pyferry.protocol import ERROR

from conftest import FIXTURES, WorkerProcess

__all__ = [
    "ENV",
    "cluster_state",
    "dask_cli",
    "end",
    "error_of",
    "free_port",
    "gateway",
    "gateway_fixture",
    "start_cluster",
    "stop",
]

ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")]),
}


def start_cluster(
    workers: int = 2, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """A LocalCluster (``python -m pyferry.backends.dask_cluster``) and the line it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyferry.backends.dask_cluster", "--workers", str(workers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**ENV, **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the cluster printed no address"
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a cluster of :func:`start_cluster` (killed if it does not close within 30 s)."""
    assert proc.stdin is not None
    proc.stdin.close()  # the module's signal to close its cluster
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def cluster_state(address: str) -> dict[str, Any]:
    """The cluster's worker pids and its scheduler's transition count, asked by a child."""
    code = (
        "import json, os, sys\n"
        "from distributed import Client\n"
        "with Client(sys.argv[1], timeout=10) as c:\n"
        "    pids = sorted(c.run(os.getpid).values())\n"
        "    n = c.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)\n"
        "print(json.dumps({'pids': pids, 'transitions': n}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, address], capture_output=True, text=True, check=True, env=ENV
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def gateway(address: str, *extra: str) -> WorkerProcess:
    """A gateway to the scheduler at ``address``, tests/fixtures on its path."""
    return WorkerProcess("--backend", "dask", "--scheduler", address, *extra, env=ENV)


def gateway_fixture(scope: str = "function") -> Callable[..., Iterator[WorkerProcess]]:
    """A ``dask_worker`` fixture of ``scope``: a gateway to the file's ``cluster`` fixture."""

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def dask_worker(cluster: dict[str, Any]) -> Iterator[WorkerProcess]:
        w = gateway(cluster["address"])
        try:
            yield w
        finally:
            w.close()

    fixture: Callable[..., Iterator[WorkerProcess]] = dask_worker
    return fixture


def error_of(w: WorkerProcess, target: Any, args: list[Any], **options: Any) -> dict[str, Any]:
    """The error info of a call that must fail."""
    reply, _ = w.answer(w.start(target, args, options=options or None))
    assert reply[0] == ERROR, reply
    info: dict[str, Any] = reply[2]
    return info


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def dask_cli(*args: str) -> subprocess.Popen[bytes]:
    """The ``dask`` command of this interpreter's environment, run with ``args``."""
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    return subprocess.Popen(
        [dask, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
    )


def end(procs: list[subprocess.Popen[bytes]]) -> None:
    """Kill what still runs of ``procs`` and reap them all."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
