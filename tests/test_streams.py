"""Streams (protocol section 3.4): items in batches, credit, STREAM_CLOSE, errors after items.

The test plays the JS client: it returns credit in steps of half the window,
as the consumer takes items.
"""

from __future__ import annotations

import select
import time
from typing import Any

import pytest

from pyferry.protocol import (
    CALLBACK,
    CALLBACK_RESULT,
    CANCEL,
    DETACHED,
    ERROR,
    RESULT,
    STREAM_CLOSE,
    STREAM_CREDIT,
    STREAM_END,
    STREAM_ITEMS,
)
from pyferry.refs import CallbackRef, HandleRef

from conftest import WorkerProcess


def stream(worker: WorkerProcess, target: Any, args: list[Any], window: int, **options: Any) -> int:
    call = worker.start(target, args, None, {"stream": window, **options})
    assert worker.wait_for(lambda m: m[1] == call)[:2] == [DETACHED, call]
    return call


def consume(
    worker: WorkerProcess, call: int, window: int, limit: int | None = None
) -> tuple[list[Any], int, list[Any]]:
    """Take items as a JS consumer would, returning credit in steps of window // 2.

    Stops at the stream's end, or once ``limit`` items have arrived. Returns the
    items, the number of STREAM_ITEMS frames and the last message (END or ERROR,
    or the last STREAM_ITEMS when stopped at ``limit``).
    """
    items: list[Any] = []
    frames = 0
    owed = 0
    step = max(window // 2, 1)
    while True:
        message = worker.wait_for(lambda m: m[1] == call)
        if message[0] != STREAM_ITEMS:
            return items, frames, message
        frames += 1
        items.extend(message[2])
        owed += len(message[2])
        if limit is not None and len(items) >= limit:
            return items, frames, message
        while owed >= step:
            worker.send([STREAM_CREDIT, call, step])
            owed -= step


def test_many_small_items_arrive_complete_in_few_frames(worker: WorkerProcess) -> None:
    call = stream(worker, "streammod.count", [100_000], 1024)
    items, frames, end = consume(worker, call, 1024)
    assert end == [STREAM_END, call, None]
    assert items == list(range(100_000))
    assert frames <= 100_000 // 50, f"{frames} frames for 100,000 items"


def test_credit_bounds_what_the_worker_produces_ahead(worker: WorkerProcess) -> None:
    worker.result("streammod.reset")
    call = stream(worker, "streammod.counted", [10**9], 8)
    items, _, _ = consume(worker, call, 0, limit=8)  # window 0: no credit returned
    assert items == list(range(8))
    # The main thread is free between steps: ask the worker how far the generator went.
    assert worker.result("streammod.produced") == 8
    worker.send([STREAM_CREDIT, call, 4])
    more, _, _ = consume(worker, call, 0, limit=4)
    assert more == [8, 9, 10, 11]
    assert worker.result("streammod.produced") == 12
    worker.send([STREAM_CLOSE, call])
    assert worker.wait_for(lambda m: m[1] == call) == [STREAM_END, call, None]


@pytest.mark.parametrize("target", ["streammod.guarded", "streammod.aguarded"])
def test_stream_close_after_3_items_runs_finally(worker: WorkerProcess, target: str) -> None:
    worker.result("streammod.reset")
    call = stream(worker, target, [], 3)
    items, _, _ = consume(worker, call, 0, limit=3)
    assert items == [0, 1, 2]
    assert worker.result("streammod.closed") is False
    worker.send([STREAM_CLOSE, call])
    assert worker.wait_for(lambda m: m[1] == call) == [STREAM_END, call, None]
    assert worker.result("streammod.closed") is True
    assert worker.result("streammod.produced") == 3
    worker.send([STREAM_CLOSE, call])  # over: ignored
    worker.send([STREAM_CREDIT, call, 5])
    assert worker.result("sum", [[1]]) == 1


@pytest.mark.parametrize("target", ["streammod.fail_after", "streammod.afail_after"])
def test_an_error_after_5_items_comes_after_them(worker: WorkerProcess, target: str) -> None:
    call = stream(worker, target, [5], 100)
    items, _, end = consume(worker, call, 100)
    assert items == [0, 1, 2, 3, 4]
    assert end[:2] == [ERROR, call]
    info = end[2]
    assert (info["type"], info["message"]) == ("builtins.ValueError", "failed after 5 items")
    assert "streammod.py" in info["traceback"]
    assert "pyferry/" not in info["traceback"]


def test_an_async_generator_streams_with_credit(worker: WorkerProcess) -> None:
    call = stream(worker, "streammod.acount", [5000], 64)
    items, frames, end = consume(worker, call, 64)
    assert end == [STREAM_END, call, None]
    assert items == list(range(5000))
    assert frames < 5000


def test_an_awaitable_answer_is_awaited_then_streamed(worker: WorkerProcess) -> None:
    call = stream(worker, "streammod.later_list", [300], 1000)
    items, _, end = consume(worker, call, 1000)
    assert (items, end[0]) == (list(range(300)), STREAM_END)


def test_any_iterable_streams(worker: WorkerProcess) -> None:
    call = stream(worker, "streammod.a_list", [10], 4)
    items, _, end = consume(worker, call, 4)
    assert (items, end[0]) == (list(range(10)), STREAM_END)


def test_a_slow_producer_does_not_hold_an_item_back(worker: WorkerProcess) -> None:
    call = stream(worker, "streammod.slow_second", [2.0], 10)
    started = time.monotonic()
    first = worker.wait_for(lambda m: m[1] == call)
    # The batch is sent 2 ms after its item arrived, not when the next item comes.
    assert first == [STREAM_ITEMS, call, ["first"]]
    assert time.monotonic() - started < 1.0
    items, _, end = consume(worker, call, 10)
    assert (items, end[0]) == (["second"], STREAM_END)


def test_not_an_iterable_is_a_target_error(worker: WorkerProcess) -> None:
    call = worker.start("streammod.not_iterable", [], None, {"stream": 8})
    reply, before = worker.answer(call)
    assert before == []  # no DETACHED: there is no stream
    assert reply[2]["code"] == "PYFERRY_TARGET"
    assert "neither iterable nor async iterable" in reply[2]["message"]


def test_items_cross_as_results_do(worker: WorkerProcess) -> None:
    call = stream(worker, "streammod.objects", [4], 10)
    items, _, end = consume(worker, call, 10)
    assert end[0] == STREAM_END
    assert items[0::2] == [0, 2]
    assert all(isinstance(h, HandleRef) and h.type == "builtins.object" for h in items[1::2])
    # result "handle": every item a handle
    call = stream(worker, "streammod.count", [3], 10, result="handle")
    items, _, _ = consume(worker, call, 10)
    assert [h.repr for h in items] == ["0", "1", "2"]
    # result "value": the items before the one that cannot cross, then the error
    call = stream(worker, "streammod.objects", [4], 10, result="value")
    items, _, end = consume(worker, call, 10)
    assert items == [0]
    assert (end[0], end[2]["code"], end[2]["path"]) == (ERROR, "PYFERRY_SERIALIZATION", "result[1]")


def test_a_handle_streams_the_object_itself(worker: WorkerProcess) -> None:
    numbers = worker.result("handlemod.numbers", [5])
    call = stream(worker, [numbers], [], 10, op="get")
    items, _, end = consume(worker, call, 10)
    assert (items, end[0]) == ([0, 1, 2, 3, 4], STREAM_END)


def test_callbacks_stay_valid_until_the_stream_ends(worker: WorkerProcess) -> None:
    call = stream(worker, "streammod.ask_js", [CallbackRef(1), 3], 10)
    for _ in range(3):
        worker.serve_callback(lambda fid, i: i * 100)
    items, _, end = consume(worker, call, 10)
    assert (items, end[0]) == ([0, 100, 200], STREAM_END)


def test_cancel_between_steps_closes_the_generator(worker: WorkerProcess) -> None:
    worker.result("streammod.reset")
    call = stream(worker, "streammod.guarded", [], 2)
    consume(worker, call, 0, limit=2)
    worker.send([CANCEL, call])
    end = worker.wait_for(lambda m: m[1] == call)
    assert (end[0], end[2]["code"]) == (ERROR, "PYFERRY_CANCELLED")
    assert worker.result("streammod.closed") is True


def test_cancel_inside_a_step_interrupts_it(worker: WorkerProcess) -> None:
    worker.result("streammod.reset")
    call = stream(worker, "streammod.sleepy", [30], 10)
    assert worker.proc.stdout is not None
    ready, _, _ = select.select([worker.proc.stdout], [], [], 30)
    assert ready
    assert worker.proc.stdout.readline() == b"started\n"
    sent = time.monotonic()
    worker.send([CANCEL, call])
    items, _, end = consume(worker, call, 10)
    assert items == ["first"]
    assert (end[0], end[2]["code"]) == (ERROR, "PYFERRY_CANCELLED")
    assert time.monotonic() - sent < 5
    assert worker.result("streammod.closed") is True


def test_cancel_of_an_async_stream(worker: WorkerProcess) -> None:
    worker.result("streammod.reset")
    call = stream(worker, "streammod.aslow", [3600], 10)
    assert consume(worker, call, 10, limit=1)[0] == ["first"]
    worker.send([CANCEL, call])
    end = worker.wait_for(lambda m: m[1] == call)
    assert (end[0], end[2]["code"]) == (ERROR, "PYFERRY_CANCELLED")
    assert worker.result("streammod.closed") is True


def test_other_calls_run_between_steps(worker: WorkerProcess) -> None:
    call = stream(worker, "streammod.count", [10**9], 1 << 30)  # never starved
    other = worker.start("sum", [[1, 2, 3]])
    assert worker.answer(other)[0] == [RESULT, other, 6]
    stats = worker.result("pyferry.worker_stats")
    assert stats["streams"] == 1
    worker.send([STREAM_CLOSE, call])
    while (message := worker.wait_for(lambda m: m[1] == call))[0] == STREAM_ITEMS:
        pass
    assert message == [STREAM_END, call, None]
    assert worker.result("pyferry.worker_stats")["streams"] == 0


def test_eof_ends_a_worker_with_an_open_stream(worker: WorkerProcess) -> None:
    stream(worker, "streammod.guarded", [], 4)
    assert worker.close() == 0


def test_cancel_while_a_step_waits_for_js(worker: WorkerProcess) -> None:
    worker.result("streammod.reset")
    call = stream(worker, "streammod.ask_js_guarded", [CallbackRef(1)], 10)
    message = worker.wait_for(lambda m: m[0] == CALLBACK)
    worker.send([CANCEL, call])
    end = worker.wait_for(lambda m: m[1] == call)
    assert (end[0], end[2]["code"]) == (ERROR, "PYFERRY_CANCELLED")
    assert worker.result("streammod.closed") is True
    worker.send([CALLBACK_RESULT, message[1], "too late"])
    assert worker.result("sum", [[1]]) == 1


def test_a_late_cancel_never_lands_on_a_later_stream(worker: WorkerProcess) -> None:
    for i in range(200):
        first = worker.start("streammod.count", [i % 7], None, {"stream": 4})
        worker.send([CANCEL, first])
        second = worker.start("streammod.count", [3], None, {"stream": 4})
        end = worker.answer(first)[0]
        assert end[0] == STREAM_END or end[2]["code"] == "PYFERRY_CANCELLED"
        reply, before = worker.answer(second)
        assert reply == [STREAM_END, second, None]
        assert [x for m in before if m[0] == STREAM_ITEMS for x in m[2]] == [0, 1, 2]
    assert worker.result("pyferry.worker_stats")["streams"] == 0
