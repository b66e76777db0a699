"""Calls sent ahead (option ``ahead``) to a busy worker, and WITHDRAW (protocol section 3.7)."""

from __future__ import annotations

from pathlib import Path

from pyferry.protocol import CALL, CALLBACK, CALLBACK_RESULT, RESULT, WITHDRAW, WITHDRAWN
from pyferry.refs import CallbackRef

from conftest import WorkerProcess

AHEAD = {"ahead": True}


def test_a_call_not_started_is_withdrawn_at_once(worker: WorkerProcess, tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    busy = worker.start("workmod.sleep", [0.5])
    ahead = worker.start("workmod.bump_then_sleep", [str(counter), 0], options=AHEAD)
    worker.send([WITHDRAW, ahead])
    assert worker.receive() == [WITHDRAWN, ahead, None]  # while the first call still sleeps
    assert worker.receive() == [RESULT, busy, "slept"]
    assert worker.call("workmod.describe", 1) == ["int", "1"]
    assert not counter.exists()


def test_a_withdrawn_call_sent_again_with_its_id_runs_once(worker: WorkerProcess) -> None:
    # The client re-sends a withdrawn call under the same id, maybe to the same
    # worker, while the old copy still waits in that worker's job queue.
    busy = worker.start("workmod.sleep", [0.3])
    ahead = worker.start("workmod.describe", [1], options=AHEAD)
    worker.send([WITHDRAW, ahead])
    assert worker.receive() == [WITHDRAWN, ahead, None]
    worker.send([CALL, ahead, "workmod.describe", [2], None, AHEAD])
    assert worker.receive() == [RESULT, busy, "slept"]
    assert worker.receive() == [RESULT, ahead, ["int", "2"]]
    assert worker.call("workmod.describe", 3) == ["int", "3"]
    assert worker.backlog == []


def test_a_withdraw_after_the_start_is_ignored(worker: WorkerProcess) -> None:
    call = worker.start("workmod.sleep", [0.2], options=AHEAD)
    assert worker.proc.stdout is not None
    assert worker.proc.stdout.readline() == b"started\n"
    worker.send([WITHDRAW, call])
    assert worker.receive() == [RESULT, call, "slept"]
    worker.send([WITHDRAW, call])  # answered: unknown now
    assert worker.call("workmod.describe", 2) == ["int", "2"]
    assert worker.backlog == []


def test_an_ahead_call_never_runs_inside_a_callback_wait(worker: WorkerProcess) -> None:
    outer = worker.start("callbackmod.apply", [CallbackRef(1), 5])
    callback = worker.wait_for(lambda m: m[0] == CALLBACK)
    ahead = worker.start("callbackmod.add", [1, 2], options=AHEAD)
    nested = worker.start("callbackmod.add", [3, 4])  # made by the JS function: runs nested
    assert worker.receive() == [RESULT, nested, 7]
    worker.send([CALLBACK_RESULT, callback[1], 50])
    # The ahead call waited for the call that was waiting, then ran.
    assert worker.receive() == [RESULT, outer, 50]
    assert worker.receive() == [RESULT, ahead, 3]


def test_ahead_calls_run_in_arrival_order_after_the_wait(worker: WorkerProcess) -> None:
    outer = worker.start("callbackmod.apply", [CallbackRef(1), 5])
    callback = worker.wait_for(lambda m: m[0] == CALLBACK)
    ahead = [worker.start("workmod.describe", [i], options=AHEAD) for i in range(20)]
    worker.send([CALLBACK_RESULT, callback[1], "done"])
    assert worker.receive() == [RESULT, outer, "done"]
    assert [worker.receive() for _ in ahead] == [
        [RESULT, call, ["int", str(i)]] for i, call in enumerate(ahead)
    ]


def test_a_bad_ahead_option_is_refused(worker: WorkerProcess) -> None:
    call = worker.start("workmod.describe", [1], options={"ahead": 1})
    reply = worker.answer(call)[0]
    assert reply[2]["code"] == "PYFERRY_SERIALIZATION"
    assert 'option "ahead" must be true or false' in reply[2]["message"]
