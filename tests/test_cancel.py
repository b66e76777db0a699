"""Cancellation inside a real worker: CANCEL interrupts the running call, never a later one."""

from __future__ import annotations

import select
import time
from pathlib import Path

from pyferry.protocol import CALL, CANCEL, ERROR, RESULT

from conftest import WorkerProcess


def start(worker: WorkerProcess, target: str, *args: object) -> int:
    call_id = worker.next_id
    worker.next_id += 1
    worker.send([CALL, call_id, target, list(args), None])
    return call_id


def cancel_when_started(worker: WorkerProcess, call_id: int) -> float:
    """Wait for the call's "started" line on the worker's stdout, then send CANCEL."""
    assert worker.proc.stdout is not None
    ready, _, _ = select.select([worker.proc.stdout], [], [], 30)
    assert ready, "the call did not start within 30 s"
    assert worker.proc.stdout.readline() == b"started\n"
    sent = time.monotonic()
    worker.send([CANCEL, call_id])
    return sent


def assert_cancelled(reply: list[object], call_id: int) -> None:
    assert reply[:2] == [ERROR, call_id]
    info = reply[2]
    assert isinstance(info, dict)
    assert info["code"] == "PYFERRY_CANCELLED"
    assert info["type"] == "pyferry.errors.Cancelled"


def test_cancel_interrupts_a_pure_python_loop(worker: WorkerProcess) -> None:
    call_id = start(worker, "workmod.spin", 30)
    sent = cancel_when_started(worker, call_id)
    reply = worker.receive()
    assert time.monotonic() - sent < 1
    assert_cancelled(reply, call_id)
    assert "spin" in reply[2]["traceback"]  # type: ignore[index]
    assert worker.call("sum", [1, 2, 3]) == 6


def test_cancel_interrupts_a_sleep(worker: WorkerProcess) -> None:
    call_id = start(worker, "workmod.sleep", 30)
    sent = cancel_when_started(worker, call_id)
    assert_cancelled(worker.receive(), call_id)
    assert time.monotonic() - sent < 1


def test_a_queued_call_cancelled_never_runs(worker: WorkerProcess, tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    first = start(worker, "workmod.sleep", 0.5)
    second = start(worker, "workmod.bump_then_sleep", str(counter), 0)
    worker.send([CANCEL, second])
    # Answered at once: a queued call's cancel does not wait for the running call.
    assert_cancelled(worker.receive(), second)
    assert worker.receive() == [RESULT, first, "slept"]
    assert not counter.exists()


def test_cleanup_runs_and_the_cancel_is_reported(worker: WorkerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    call_id = start(worker, "workmod.cleanup_then_reraise", str(marker))
    cancel_when_started(worker, call_id)
    assert_cancelled(worker.receive(), call_id)
    assert marker.read_text() == "cleaned"


def test_cooperative_code_polls_cancelled(worker: WorkerProcess) -> None:
    call_id = start(worker, "workmod.cooperative", 30)
    cancel_when_started(worker, call_id)
    assert worker.receive() == [RESULT, call_id, "noticed"]
    assert worker.call("workmod.cooperative", 0.05) == "finished"


def test_a_late_cancel_never_lands_on_a_later_call(worker: WorkerProcess) -> None:
    # Cancel each short call right after sending it, and keep a second call behind
    # it: whatever the timing, only the call named by the CANCEL may be interrupted.
    for i in range(200):
        first = start(worker, "workmod.spin", (i % 7) / 2000)
        worker.send([CANCEL, first])
        second = start(worker, "workmod.spin", 0.001)
        reply = worker.receive()
        assert reply[1] == first
        assert reply[0] == RESULT or reply[2]["code"] == "PYFERRY_CANCELLED"
        assert worker.receive()[:2] == [RESULT, second]
    assert worker.proc.poll() is None


def test_a_cancel_during_an_import_waits_for_its_end(worker: WorkerProcess) -> None:
    # Stopped half way, the package would lack the names its __init__ binds last.
    call = start(worker, "slowimport.get")
    cancel_when_started(worker, call)
    assert_cancelled(worker.answer(call)[0], call)
    assert worker.call("slowimport.get") == 7
    assert worker.proc.stdout is not None
    assert worker.proc.stdout.readline() == b"imported\n"  # once, and complete


def test_a_cancel_for_an_unknown_call_is_ignored(worker: WorkerProcess) -> None:
    worker.send([CANCEL, 12345])
    assert worker.call("sum", [1, 2]) == 3
