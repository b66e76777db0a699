"""Dask tasks as calls: ``async def``, progress, cancel and interrupt, on a one-worker cluster.

One Dask worker with one thread, so "the Dask worker is free again" is
measured by the next call: it can only run once the interrupted task has
let go of that thread. The calls in ``cancelmod`` say through a file that
they run and how they ended (their answer never reaches the client after a
cancel). The helpers are test_dask.py's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dask_helpers import ENV, cluster_state, gateway, start_cluster, stop
from pyferry.protocol import CANCEL, DETACHED, ERROR, PROGRESS, RESULT

from conftest import WorkerProcess

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def single() -> Iterator[dict[str, Any]]:
    proc, info = start_cluster(workers=1)
    try:
        yield info
    finally:
        stop(proc)


@pytest.fixture
def remote(single: dict[str, Any]) -> Iterator[WorkerProcess]:
    w = gateway(single["address"])
    try:
        assert w.result("numpy.sum", [[1]]) == 1  # connected, the Dask worker joined
        yield w
    finally:
        w.close()


@pytest.fixture
def local() -> Iterator[WorkerProcess]:
    w = WorkerProcess(env=ENV)
    try:
        yield w
    finally:
        w.close()


def outcome(w: WorkerProcess, target: str, args: list[Any], **options: Any) -> list[Any]:
    """What the call's messages say, ids and DETACHED left out; an error as type and message."""
    reply, before = w.answer(w.start(target, args, options=options or None))
    said: list[Any] = [[m[0], m[2]] for m in before if m[0] != DETACHED]
    if reply[0] == ERROR:
        return [*said, [ERROR, reply[2]["type"], reply[2]["message"]]]
    return [*said, [reply[0], reply[2]]]


def wait_for_text(path: Path, unlike: str = "", timeout: float = 30) -> str:
    """The file's text once it exists and differs from ``unlike``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text()
            if text and text != unlike:
                return text
        time.sleep(0.005)
    raise AssertionError(f"{path} did not change from {unlike!r} within {timeout} s")


def cancel(w: WorkerProcess, call_id: int) -> float:
    """Send CANCEL; check the answer is Cancelled; return when it was sent (monotonic)."""
    sent = time.monotonic()
    w.send([CANCEL, call_id, None])
    reply, _ = w.answer(call_id)
    assert reply[0] == ERROR, reply
    assert reply[2]["type"] == "pyferry.errors.Cancelled"
    return sent


# -- the same through Dask as locally -----------------------------------------------------


@pytest.mark.parametrize(
    ("target", "args"),
    [
        ("asyncmod.sleep", [0.01, "woke"]),
        ("asyncmod.returns_awaitable", [7]),
        ("asyncmod.fail", []),
        ("asyncmod.self_cancel", []),
        ("asyncmod.cancelled_after", [0.01]),
    ],
)
def test_an_async_def_gives_what_the_local_backend_gives(
    remote: WorkerProcess, local: WorkerProcess, target: str, args: list[Any]
) -> None:
    assert outcome(remote, target, args) == outcome(local, target, args)


def test_an_async_def_error_keeps_the_users_traceback(remote: WorkerProcess) -> None:
    reply, _ = remote.answer(remote.start("asyncmod.fail"))
    assert "asyncmod.py" in reply[2]["traceback"]
    assert "pyferry/backends" not in reply[2]["traceback"]


@pytest.mark.parametrize(
    ("target", "args"),
    [
        ("progmod.work", [3]),
        ("progmod.odd_numbers", []),
        ("progmod.in_threads", []),
        ("asyncmod.report", [2]),
        ("progmod.bad", ["done"]),
        ("progmod.bad", ["message"]),
        ("progmod.bad", ["bool"]),
    ],
)
def test_progress_gives_what_the_local_backend_gives(
    remote: WorkerProcess, local: WorkerProcess, target: str, args: list[Any]
) -> None:
    asked = outcome(remote, target, args, progress=True)
    assert asked == outcome(local, target, args, progress=True)
    assert outcome(remote, target, args) == outcome(local, target, args)  # did not ask: none


def test_500_reports_arrive_in_order_before_the_answer(remote: WorkerProcess) -> None:
    said = outcome(remote, "progmod.work", [500], progress=True)
    assert said[:-1] == [[PROGRESS, [i, 500, f"step {i}"]] for i in range(1, 501)]
    assert said[-1] == [RESULT, "done"]


# -- cancel and interrupt ---------------------------------------------------------------------


def test_a_cancel_interrupts_a_python_loop_and_the_dask_worker_is_free_within_1_s(
    remote: WorkerProcess, tmp_path: Path
) -> None:
    started = time.monotonic()
    assert remote.result("numpy.sum", [[1, 2]]) == 3
    cost = time.monotonic() - started  # of one small call, on this machine now
    path = tmp_path / "spin"
    call_id = remote.start("cancelmod.spin", [str(path), 30])
    assert wait_for_text(path) == "started"
    sent = cancel(remote, call_id)
    assert time.monotonic() - sent < 0.5  # settled at its deadline, not at the task's end
    assert remote.result("numpy.sum", [[4]]) == 4  # the one Dask thread ran it
    took = time.monotonic() - sent
    assert took < 1.0 + 2 * cost, f"the next call came {took:.2f} s after the cancel"
    # Raised in the call's own code: its finally saw pyferry's Cancelled.
    assert path.read_text() == "pyferry.errors.Cancelled"


def test_pyferry_cancelled_is_true_in_the_task_after_a_cancel(
    remote: WorkerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "coop"
    call_id = remote.start("cancelmod.cooperative", [str(path), 30])
    assert wait_for_text(path) == "started"
    cancel(remote, call_id)
    assert wait_for_text(path, unlike="started") == "noticed"


def test_a_cancelled_async_def_task_is_cancelled_on_the_dask_worker(
    remote: WorkerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "async"
    call_id = remote.start("cancelmod.wait_forever", [str(path)])
    assert wait_for_text(path) == "started"
    cancel(remote, call_id)
    assert wait_for_text(path, unlike="started") == "cleaned"
    assert remote.result("numpy.sum", [[5]]) == 5


def test_a_call_cancelled_while_queued_on_the_cluster_never_runs(
    remote: WorkerProcess, tmp_path: Path
) -> None:
    spin = tmp_path / "spin"
    counter = tmp_path / "runs"
    running = remote.start("cancelmod.spin", [str(spin), 30])
    assert wait_for_text(spin) == "started"
    queued = remote.start("workmod.bump_then_sleep", [str(counter), 0])  # the thread is busy
    cancel(remote, queued)
    cancel(remote, running)
    # Submitted after it, on the same single thread: had the queued one run, it ran first.
    assert remote.result("workmod.bump_then_sleep", [str(tmp_path / "other"), 0]) == 1
    assert not counter.exists()


def test_a_call_cancelled_before_it_is_submitted_never_reaches_the_cluster(
    single: dict[str, Any], tmp_path: Path
) -> None:
    fresh = gateway(single["address"])  # connects at its first call: that takes a while
    try:
        before = cluster_state(single["address"])["transitions"]
        call_id = fresh.start("workmod.bump_then_sleep", [str(tmp_path / "runs"), 0])
        cancel(fresh, call_id)
    finally:
        fresh.close()  # whatever it would have submitted, it has by now
    assert cluster_state(single["address"])["transitions"] == before  # no task at all
    assert not (tmp_path / "runs").exists()
