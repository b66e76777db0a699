"""Who reads frames: the main thread while it waits, the reader thread while it is busy."""

from __future__ import annotations

import os
import select
import time

from pyferry.codec import CallbackRef
from pyferry.protocol import CALL, CALLBACK, CALLBACK_RESULT, DETACHED, RESULT

from conftest import WorkerProcess


def wake_ups(pid: int) -> int:
    """Context switches of all the worker's threads so far."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    return total


def test_a_tasks_callback_answer_arrives_while_a_sync_call_holds_the_main_thread(
    worker: WorkerProcess,
) -> None:
    task = worker.start("asyncmod.call_js", [CallbackRef(3), 4])
    callback = worker.wait_for(lambda m: m[0] == CALLBACK)
    busy = worker.start("workmod.sleep", [1.0])
    assert worker.proc.stdout is not None
    ready, _, _ = select.select([worker.proc.stdout], [], [], 30)
    assert ready, "the call did not start within 30 s"
    assert worker.proc.stdout.readline() == b"started\n"
    worker.send([CALLBACK_RESULT, callback[1], 16])
    # The main thread sleeps: the reader thread reads the answer, and the task
    # answers long before the sleep ends.
    first = worker.wait_for(lambda m: m[0] == RESULT)
    assert first == [RESULT, task, 16]
    assert worker.answer(busy)[0] == [RESULT, busy, "slept"]


def test_calls_sent_together_run_in_order(worker: WorkerProcess) -> None:
    ids = [worker.next_id + i for i in range(200)]
    worker.next_id += len(ids)
    for i in ids:  # one write each, read by whichever thread holds the channel
        worker.send([CALL, i, "workmod.describe", [i], None])
    got = [worker.receive() for _ in ids]
    assert [m[1] for m in got] == ids
    assert all(m[0] == RESULT and m[2][1] == repr(m[1]) for m in got)


def test_an_idle_worker_sleeps(worker: WorkerProcess) -> None:
    task = worker.start("asyncmod.sleep", [0])  # every thread started: main, reader, event loop
    assert worker.answer(task) == ([RESULT, task, None], [[DETACHED, task, None]])
    # The reader thread stops ticking 25 ticks (50 ms) after the last call; on a loaded
    # machine ticks run late, so wait for a 100 ms stretch without wake-ups (up to 10 s).
    before = wake_ups(worker.proc.pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = wake_ups(worker.proc.pid)
        if now == before:
            break
        before = now
    time.sleep(1.0)
    woke = wake_ups(worker.proc.pid) - before
    # A reader thread that kept ticking every 2 ms would wake about 500 times.
    assert woke <= 5, f"an idle worker's threads woke {woke} times in 1 s"
