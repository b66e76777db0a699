"""JS callbacks (protocol section 3.3), with the test playing the JS side.

A ``CallbackRef(id)`` in a call's arguments is a JS function; the worker's
CALLBACK frames are answered with ``WorkerProcess.serve_callback``.
"""

from __future__ import annotations

import select
from pathlib import Path
from typing import Any

from pyferry.protocol import CALL, CALLBACK, CALLBACK_ERROR, CALLBACK_RESULT, CANCEL, ERROR, RESULT
from pyferry.refs import CallbackRef, HandleRef

from conftest import WorkerProcess


def wait_started(worker: WorkerProcess) -> None:
    """Wait for a fixture's "started" line on the worker's stdout."""
    assert worker.proc.stdout is not None
    ready, _, _ = select.select([worker.proc.stdout], [], [], 30)
    assert ready, "the call did not start within 30 s"
    assert worker.proc.stdout.readline() == b"started\n"


def assert_cancelled(reply: list[Any], call_id: int) -> None:
    assert reply[:2] == [ERROR, call_id]
    assert reply[2]["code"] == "PYFERRY_CANCELLED"


def test_a_js_function_is_called_with_its_arguments(worker: WorkerProcess) -> None:
    call = worker.start("callbackmod.apply", [CallbackRef(7), 2, 3])
    message = worker.serve_callback(lambda fid, a, b: a * 10 + b)
    kind, cid, callback_id, args = message
    assert (kind, callback_id, args) == (CALLBACK, 7, [2, 3])
    assert cid >= 1
    assert worker.answer(call)[0] == [RESULT, call, 23]


def test_it_is_a_jsfunction_until_its_call_is_answered(worker: WorkerProcess) -> None:
    described = worker.result("callbackmod.describe", [CallbackRef(5)])
    assert described == ["pyferry.callbacks.JSFunction", 5, True]


def test_each_callback_gets_its_own_cid(worker: WorkerProcess) -> None:
    call = worker.start("callbackmod.apply_both", [CallbackRef(1), CallbackRef(2), 10])
    first = worker.serve_callback(lambda fid, x: f"{fid}:{x}")
    second = worker.serve_callback(lambda fid, x: f"{fid}:{x}")
    assert first[1] != second[1]
    assert (first[2], second[2]) == (1, 2)
    assert worker.answer(call)[0][2] == ["1:10", "2:10"]


def test_values_and_handles_cross_both_ways(worker: WorkerProcess) -> None:
    call = worker.start("callbackmod.send_box", [CallbackRef(3)])
    message = worker.serve_callback(lambda fid, box: box)  # JS gives the handle back
    (box,) = message[3]
    assert isinstance(box, HandleRef)
    assert box.type == "callbackmod.Box"
    assert worker.answer(call)[0] == [RESULT, call, True]


def test_a_call_sent_while_python_waits_runs_nested(worker: WorkerProcess) -> None:
    outer = worker.start("callbackmod.apply", [CallbackRef(1), 5])
    callback = worker.wait_for(lambda m: m[0] == CALLBACK)
    # The JS function calls Python on the same worker, which is waiting for it.
    nested = worker.start("callbackmod.add", [callback[3][0], 100])
    assert worker.answer(nested)[0] == [RESULT, nested, 105]
    worker.send([CALLBACK_RESULT, callback[1], 105 * 2])
    assert worker.answer(outer)[0] == [RESULT, outer, 210]


def test_nesting_goes_deeper(worker: WorkerProcess) -> None:
    outer = worker.start("callbackmod.apply", [CallbackRef(1), 1])
    first = worker.wait_for(lambda m: m[0] == CALLBACK)
    nested = worker.start("callbackmod.apply", [CallbackRef(2), 2])
    second = worker.wait_for(lambda m: m[0] == CALLBACK)
    assert (first[2], second[2]) == (1, 2)
    innermost = worker.start("callbackmod.add", [3, 4])
    assert worker.answer(innermost)[0] == [RESULT, innermost, 7]
    worker.send([CALLBACK_RESULT, second[1], "inner"])
    assert worker.answer(nested)[0] == [RESULT, nested, "inner"]
    worker.send([CALLBACK_RESULT, first[1], "outer"])
    assert worker.answer(outer)[0] == [RESULT, outer, "outer"]


def test_a_js_error_raises_jserror_with_the_js_message(worker: WorkerProcess) -> None:
    def boom(fid: int) -> Any:
        raise TypeError("boom")

    call = worker.start("callbackmod.catch_js", [CallbackRef(1)])
    worker.serve_callback(boom)
    js_type, message, stack, text = worker.answer(call)[0][2]
    assert (js_type, message, text) == ("TypeError", "boom", "TypeError: boom")
    assert "test.js:1:1" in stack
    # Uncaught, it crosses back as a Python error that keeps the JS message.
    call = worker.start("callbackmod.apply", [CallbackRef(1)])
    worker.serve_callback(boom)
    reply = worker.answer(call)[0]
    info = reply[2]
    assert (reply[0], info["type"], info["code"]) == (
        ERROR,
        "pyferry.errors.JSError",
        "PYFERRY_PYTHON",
    )
    assert info["message"] == "TypeError: boom"


def test_an_expired_callback_raises_without_sending(worker: WorkerProcess) -> None:
    assert worker.result("callbackmod.keep", [CallbackRef(9)]) == "kept"
    call = worker.start("callbackmod.call_kept", [1])
    reply = worker.receive()  # no CALLBACK frame first
    assert reply[:2] == [ERROR, call]
    info = reply[2]
    assert (info["type"], info["code"]) == (
        "pyferry.errors.CallbackExpiredError",
        "PYFERRY_CALLBACK",
    )
    assert "JS callback 9 has expired" in info["message"]


def test_a_client_that_no_longer_knows_the_function(worker: WorkerProcess) -> None:
    call = worker.start("callbackmod.apply", [CallbackRef(4)])
    message = worker.wait_for(lambda m: m[0] == CALLBACK)
    info = {
        "type": "Error",
        "message": "unknown callback 4",
        "traceback": "",
        "code": "PYFERRY_CALLBACK",
    }
    worker.send([CALLBACK_ERROR, message[1], info])
    reply = worker.answer(call)[0]
    assert reply[2]["type"] == "pyferry.errors.CallbackExpiredError"


def test_keyword_arguments_are_refused_before_sending(worker: WorkerProcess) -> None:
    call = worker.start("callbackmod.with_keywords", [CallbackRef(1)])
    reply = worker.receive()
    assert reply[:2] == [ERROR, call]
    assert reply[2]["type"] == "builtins.TypeError"
    assert "positional arguments only" in reply[2]["message"]


def test_a_callback_from_another_thread_waits_there(worker: WorkerProcess) -> None:
    call = worker.start("callbackmod.apply_in_thread", [CallbackRef(2), 20])
    worker.serve_callback(lambda fid, x: x + 1)
    assert worker.answer(call)[0] == [RESULT, call, 21]


def test_an_answer_that_cannot_be_decoded_fails_the_callback(worker: WorkerProcess) -> None:
    call = worker.start("callbackmod.apply", [CallbackRef(1)])
    worker.serve_callback(lambda fid: CallbackRef(99))  # a function is no valid answer
    info = worker.answer(call)[0][2]
    assert (info["code"], info["type"]) == ("PYFERRY_SERIALIZATION", "pyferry.errors.DecodeError")
    call = worker.start("callbackmod.apply", [CallbackRef(1)])
    worker.serve_callback(lambda fid: HandleRef(123456))  # released, or never sent
    assert worker.answer(call)[0][2]["code"] == "PYFERRY_HANDLE"


def test_answers_nobody_waits_for_are_ignored(worker: WorkerProcess) -> None:
    worker.send([CALLBACK_RESULT, 777, "late"])
    worker.send([CALLBACK_ERROR, 778, {"type": "Error", "message": "late", "traceback": ""}])
    assert worker.result("sum", [[1, 2]]) == 3


def test_callbacks_outside_args_fail_the_call(worker: WorkerProcess) -> None:
    reply, _ = worker.answer(worker.start("sum", [[1]], None, {"progress": CallbackRef(1)}))
    assert reply[2]["code"] == "PYFERRY_SERIALIZATION"
    reply, _ = worker.answer(worker.start([CallbackRef(1)]))
    assert reply[2]["code"] == "PYFERRY_SERIALIZATION"


# -- cancellation -------------------------------------------------------------------------------


def test_cancel_during_a_callback_wait(worker: WorkerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    call = worker.start("callbackmod.wait_then_report", [CallbackRef(1), str(marker)])
    message = worker.wait_for(lambda m: m[0] == CALLBACK)
    worker.send([CANCEL, call])
    assert_cancelled(worker.answer(call)[0], call)
    assert marker.read_text() == "unwound"
    worker.send([CALLBACK_RESULT, message[1], "too late"])  # ignored
    assert worker.result("sum", [[1, 2]]) == 3


def test_cancel_of_the_outer_call_lands_when_the_nested_one_returns(worker: WorkerProcess) -> None:
    outer = worker.start("callbackmod.apply", [CallbackRef(1)])
    message = worker.wait_for(lambda m: m[0] == CALLBACK)
    nested = worker.start("callbackmod.sleep", [0.3])
    wait_started(worker)
    worker.send([CANCEL, outer])  # the nested call runs on: only the innermost is interrupted
    assert worker.answer(nested)[0] == [RESULT, nested, "slept"]
    assert_cancelled(worker.answer(outer)[0], outer)
    worker.send([CALLBACK_RESULT, message[1], "too late"])
    assert worker.result("sum", [[4]]) == 4


def test_cancel_of_the_nested_call_leaves_the_outer_waiting(worker: WorkerProcess) -> None:
    outer = worker.start("callbackmod.apply", [CallbackRef(1)])
    message = worker.wait_for(lambda m: m[0] == CALLBACK)
    nested = worker.start("callbackmod.sleep", [30])
    wait_started(worker)
    worker.send([CANCEL, nested])
    assert_cancelled(worker.answer(nested)[0], nested)
    worker.send([CALLBACK_RESULT, message[1], "answered"])
    assert worker.answer(outer)[0] == [RESULT, outer, "answered"]


def test_cancel_of_a_callback_wait_in_a_thread(worker: WorkerProcess) -> None:
    call = worker.start("callbackmod.apply_in_thread", [CallbackRef(1), 0])
    worker.wait_for(lambda m: m[0] == CALLBACK)
    worker.send([CANCEL, call])
    # The thread's wait has no call in its context: only the main thread's join is
    # interrupted, by the signal.
    assert_cancelled(worker.answer(call)[0], call)
    # The thread still waits for its answer; the client's EOF ends the worker anyway.
    assert worker.close() == 0


def test_many_nested_rounds_keep_ids_straight(worker: WorkerProcess) -> None:
    for i in range(50):
        outer = worker.start("callbackmod.apply", [CallbackRef(i + 1), i])
        message = worker.wait_for(lambda m: m[0] == CALLBACK)
        nested = worker.start("callbackmod.add", [message[3][0], 1])
        assert worker.answer(nested)[0] == [RESULT, nested, i + 1]
        if i % 2:
            worker.send([CANCEL, outer])
            reply = worker.answer(outer)[0]
            assert reply[0] == RESULT or reply[2]["code"] == "PYFERRY_CANCELLED"
            worker.send([CALLBACK_RESULT, message[1], "late"])
        else:
            worker.send([CALLBACK_RESULT, message[1], i * 2])
            assert worker.answer(outer)[0] == [RESULT, outer, i * 2]
    assert worker.proc.poll() is None
    assert CALL == 1  # the envelope constants the helpers rely on
