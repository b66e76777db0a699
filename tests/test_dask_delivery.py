"""Delivery on Dask when a Dask worker dies mid-call: at-least-once by default, ``once`` on request.

The module's own LocalCluster (worker processes under nannies, which restart
a worker that died), apart from test_dask.py's: these tests kill Dask
workers. Its scheduler allows one failure (``allowed-failures: 1``, Dask's
default is 3) so that ``KilledWorker`` takes two deaths, not four.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dask_helpers import ENV, error_of, gateway_fixture, start_cluster, stop
from pyferry.protocol import RESULT

from conftest import WorkerProcess

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, Any]]:
    proc, info = start_cluster(env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"})
    try:
        yield info
    finally:
        stop(proc)


dask_worker = gateway_fixture("module")


def wait_for_marks(address: str, wanted: int) -> int | None:
    """The scheduler plugin's count of started ``once`` keys once it is ``wanted`` (or after 20 s).

    Asked by a child process (distributed is never imported here); None: no plugin.
    """
    code = (
        "import json, sys, time\n"
        "from distributed import Client\n"
        "from pyferry.backends.dask_delivery import PLUGIN_NAME\n"
        "def count(dask_scheduler):\n"
        "    plugin = dask_scheduler.plugins.get(PLUGIN_NAME)\n"
        "    return None if plugin is None else plugin.started\n"
        "with Client(sys.argv[1], timeout=10) as c:\n"
        "    deadline = time.monotonic() + 20\n"
        "    while (n := c.run_on_scheduler(count)) != int(sys.argv[2]):\n"
        "        if time.monotonic() > deadline:\n"
        "            break\n"
        "        time.sleep(0.05)\n"
        "print(json.dumps(n))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, address, str(wanted)],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    result: int | None = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def runs(counter: Path) -> int:
    return len(counter.read_text())


def test_without_once_a_call_whose_worker_died_runs_again(
    dask_worker: WorkerProcess, tmp_path: Path
) -> None:
    counter = tmp_path / "runs"
    reply, _ = dask_worker.answer(dask_worker.start("workmod.bump_then_exit", [str(counter)]))
    # At-least-once: the first run ended its Dask worker, and Dask ran the call again.
    assert reply[0] == RESULT, reply
    assert reply[2] == 2
    assert runs(counter) == 2


def test_without_once_deaths_past_allowed_failures_are_worker_crashed(
    dask_worker: WorkerProcess, tmp_path: Path
) -> None:
    counter = tmp_path / "runs"
    info = error_of(dask_worker, "workmod.bump_then_exit", [str(counter), 10])
    assert info["code"] == "PYFERRY_WORKER_CRASHED", info
    assert "KilledWorker" in info["message"]
    assert runs(counter) == 2  # the first run and the one allowed failure's rerun


def test_with_once_a_call_whose_worker_died_is_worker_crashed_and_never_runs_again(
    dask_worker: WorkerProcess, tmp_path: Path
) -> None:
    counter = tmp_path / "runs"
    info = error_of(dask_worker, "workmod.bump_then_exit", [str(counter)], once=True)
    assert info["code"] == "PYFERRY_WORKER_CRASHED", info
    assert info["type"] == "pyferry.errors.WorkerCrashedError"
    assert "once: true" in info["message"]
    assert runs(counter) == 1
    assert dask_worker.result("numpy.sum", [[1, 2]]) == 3  # the gateway serves on


def test_a_once_key_is_marked_while_its_call_runs_and_forgotten_after(
    cluster: dict[str, Any], dask_worker: WorkerProcess, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    call_id = dask_worker.start("workmod.wait_for_file", [str(release), 60], options={"once": True})
    assert wait_for_marks(cluster["address"], 1) == 1
    release.touch()
    reply, _ = dask_worker.answer(call_id)
    assert reply[0] == RESULT, reply
    assert reply[2] is True
    assert wait_for_marks(cluster["address"], 0) == 0


def test_once_must_be_a_boolean(dask_worker: WorkerProcess, worker: WorkerProcess) -> None:
    for w in (dask_worker, worker):
        info = error_of(w, "numpy.sum", [[1]], once="yes")
        assert info["code"] == "PYFERRY_SERIALIZATION"
        assert 'option "once" must be true or false' in info["message"]


def test_once_on_the_local_backend_changes_nothing(worker: WorkerProcess) -> None:
    # A local worker never starts a call twice: once: true is what it does anyway.
    assert worker.result("numpy.sum", [[1, 2]], options={"once": True}) == 3
