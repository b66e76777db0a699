"""Coroutines (protocol section 3.6): tasks on the worker's event loop, DETACHED, CANCEL."""

from __future__ import annotations

import select
import time
from pathlib import Path

from pyferry.protocol import CANCEL, DETACHED, ERROR, RESULT
from pyferry.refs import CallbackRef, HandleRef

from conftest import WorkerProcess


def wait_started(worker: WorkerProcess) -> None:
    assert worker.proc.stdout is not None
    ready, _, _ = select.select([worker.proc.stdout], [], [], 30)
    assert ready, "the call did not start within 30 s"
    assert worker.proc.stdout.readline() == b"started\n"


def test_an_async_def_detaches_then_answers(worker: WorkerProcess) -> None:
    call = worker.start("asyncmod.sleep", [0.01, "woke"])
    reply, before = worker.answer(call)
    assert before == [[DETACHED, call, None]]
    assert reply == [RESULT, call, "woke"]


def test_it_runs_on_the_event_loop_thread(worker: WorkerProcess) -> None:
    assert worker.result("asyncmod.thread_name") == "pyferry-asyncio"


def test_a_function_returning_an_awaitable_is_awaited(worker: WorkerProcess) -> None:
    assert worker.result("asyncmod.returns_awaitable", [7]) == 7


def test_50_sleeps_overlap(worker: WorkerProcess) -> None:
    started = time.monotonic()
    calls = [worker.start("asyncmod.sleep", [0.2, i]) for i in range(50)]
    results = [worker.answer(call)[0] for call in calls]
    elapsed = time.monotonic() - started
    assert results == [[RESULT, call, i] for i, call in enumerate(calls)]
    assert elapsed < 2.0, f"50 overlapping 0.2 s sleeps took {elapsed:.2f} s"


def test_the_main_thread_is_free_while_a_task_runs(worker: WorkerProcess) -> None:
    slow = worker.start("asyncmod.sleep", [0.5, "slow"])
    assert worker.result("sum", [[1, 2]]) == 3
    assert worker.result("pyferry.worker_stats")["tasks"] == 1
    assert worker.answer(slow)[0] == [RESULT, slow, "slow"]
    assert worker.result("pyferry.worker_stats")["tasks"] == 0


def test_an_async_exception_crosses_with_its_traceback(worker: WorkerProcess) -> None:
    reply, _ = worker.answer(worker.start("asyncmod.fail"))
    info = reply[2]
    assert (reply[0], info["type"], info["message"]) == (ERROR, "builtins.ValueError", "async boom")
    assert "asyncmod.py" in info["traceback"]
    assert "pyferry/worker.py" not in info["traceback"]


def test_cancel_of_an_async_call(worker: WorkerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    call = worker.start("asyncmod.wait_forever", [str(marker)])
    wait_started(worker)
    sent = time.monotonic()
    worker.send([CANCEL, call])
    reply, _ = worker.answer(call)
    assert time.monotonic() - sent < 5
    info = reply[2]
    assert (reply[0], info["code"], info["type"]) == (
        ERROR,
        "PYFERRY_CANCELLED",
        "pyferry.errors.Cancelled",
    )
    assert "asyncmod.py" in info["traceback"]  # where the task was waiting
    assert marker.read_text() == "cleaned"
    assert worker.result("sum", [[5]]) == 5


def test_a_task_that_catches_the_cancel_answers_normally(worker: WorkerProcess) -> None:
    call = worker.start("asyncmod.ignore_cancel")
    wait_started(worker)
    worker.send([CANCEL, call])
    assert worker.answer(call)[0] == [RESULT, call, "caught"]


def test_cancelled_in_a_task_is_the_tasks_call(worker: WorkerProcess) -> None:
    call = worker.start("asyncmod.poll_cancelled")
    wait_started(worker)
    other = worker.start("asyncmod.cancelled_after", [0.05])
    worker.send([CANCEL, call])
    assert worker.answer(call)[0] == [RESULT, call, "noticed"]
    assert worker.answer(other)[0] == [RESULT, other, False]


def test_a_cancel_before_the_task_starts(worker: WorkerProcess) -> None:
    for _ in range(20):
        call = worker.start("asyncmod.sleep", [0, "ran"])
        worker.send([CANCEL, call])
        reply, _ = worker.answer(call)
        assert reply == [RESULT, call, "ran"] or reply[2]["code"] == "PYFERRY_CANCELLED"
    assert worker.result("pyferry.worker_stats")["tasks"] == 0


def test_a_cancel_from_inside_is_a_python_error(worker: WorkerProcess) -> None:
    reply, _ = worker.answer(worker.start("asyncmod.self_cancel"))
    assert (reply[2]["type"], reply[2]["code"]) == (
        "asyncio.exceptions.CancelledError",
        "PYFERRY_PYTHON",
    )


def test_results_of_tasks_cross_as_results_do(worker: WorkerProcess) -> None:
    handle = worker.result("asyncmod.make_object")
    assert isinstance(handle, HandleRef)
    reply, _ = worker.answer(worker.start("asyncmod.make_object", options={"result": "value"}))
    assert reply[2]["code"] == "PYFERRY_SERIALIZATION"


def test_a_task_can_call_js(worker: WorkerProcess) -> None:
    call = worker.start("asyncmod.call_js", [CallbackRef(3), 4])
    worker.serve_callback(lambda fid, x: x * x)
    assert worker.answer(call)[0] == [RESULT, call, 16]


def test_eof_ends_a_worker_with_tasks_running(worker: WorkerProcess) -> None:
    call = worker.start("asyncmod.sleep", [3600])
    assert worker.wait_for(lambda m: m[1] == call)[0] == DETACHED
    started = time.monotonic()
    assert worker.close() == 0
    assert time.monotonic() - started < 5


def test_a_late_cancel_never_lands_on_a_later_task(worker: WorkerProcess) -> None:
    for i in range(200):
        first = worker.start("asyncmod.sleep", [(i % 5) / 2000, "first"])
        worker.send([CANCEL, first])
        second = worker.start("asyncmod.sleep", [0, "second"])
        reply = worker.answer(first)[0]
        assert reply == [RESULT, first, "first"] or reply[2]["code"] == "PYFERRY_CANCELLED"
        assert worker.answer(second)[0] == [RESULT, second, "second"]
    assert worker.result("pyferry.worker_stats")["tasks"] == 0
