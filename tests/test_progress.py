"""PROGRESS (protocol section 3.5): pyferry.progress() reports for calls that ask."""

from __future__ import annotations

import pytest

import pyferry
from pyferry.protocol import CALLBACK, CALLBACK_RESULT, DETACHED, PROGRESS, RESULT
from pyferry.refs import CallbackRef

from conftest import WorkerProcess


def test_reports_arrive_in_order_before_the_answer(worker: WorkerProcess) -> None:
    call = worker.start("progmod.work", [3], None, {"progress": True})
    reply, before = worker.answer(call)
    assert before == [[PROGRESS, call, [i, 3, f"step {i}"]] for i in (1, 2, 3)]
    assert reply == [RESULT, call, "done"]


def test_without_the_option_nothing_is_sent(worker: WorkerProcess) -> None:
    for options in (None, {"progress": False}, {"progress": None}):
        reply, before = worker.answer(worker.start("progmod.work", [3], None, options))
        assert (before, reply[2]) == ([], "done")


def test_numbers_of_any_kind_and_nil(worker: WorkerProcess) -> None:
    call = worker.start("progmod.odd_numbers", options={"progress": True})
    _, before = worker.answer(call)
    assert [m[2] for m in before] == [[1, 2.5, None], [None, None, None], [0.5, None, None]]


@pytest.mark.parametrize("kind", ["done", "message", "bool"])
def test_bad_arguments_raise_type_error(worker: WorkerProcess, kind: str) -> None:
    reply, _ = worker.answer(worker.start("progmod.bad", [kind], None, {"progress": True}))
    assert reply[2]["type"] == "builtins.TypeError"


def test_outside_a_call_it_does_nothing() -> None:
    pyferry.progress(1, 2, "nobody listens")
    with pytest.raises(TypeError):
        pyferry.progress("x")  # type: ignore[arg-type]


def test_threads_report_only_in_a_copy_of_the_context(worker: WorkerProcess) -> None:
    call = worker.start("progmod.in_threads", options={"progress": True})
    _, before = worker.answer(call)
    assert before == [[PROGRESS, call, [1, 2, "copied"]]]


def test_nothing_is_sent_after_the_answer(worker: WorkerProcess) -> None:
    call = worker.start("progmod.report_later", options={"progress": True})
    assert worker.answer(call)[0] == [RESULT, call, "returned"]
    release = worker.start("progmod.release_later")
    # The thread reported 50 times after its call was answered: none of it was sent.
    assert worker.receive() == [RESULT, release, "joined"]


def test_a_task_reports(worker: WorkerProcess) -> None:
    call = worker.start("asyncmod.report", [2], None, {"progress": True})
    reply, before = worker.answer(call)
    assert before == [
        [DETACHED, call, None],
        [PROGRESS, call, [1, 2, "step 1"]],
        [PROGRESS, call, [2, 2, "step 2"]],
    ]
    assert reply == [RESULT, call, "done"]


def test_nested_calls_report_for_themselves(worker: WorkerProcess) -> None:
    outer = worker.start("progmod.nested_outer", [CallbackRef(1)], None, {"progress": True})
    callback = worker.wait_for(lambda m: m[0] == CALLBACK)
    inner = worker.start("progmod.nested_inner")  # did not ask: reports nothing
    assert worker.answer(inner) == ([RESULT, inner, "inner done"], [])
    asked = worker.start("progmod.nested_inner", options={"progress": True})
    assert worker.answer(asked) == (
        [RESULT, asked, "inner done"],
        [[PROGRESS, asked, [1, None, "inner"]]],
    )
    worker.send([CALLBACK_RESULT, callback[1], None])
    reply, before = worker.answer(outer)
    assert reply == [RESULT, outer, "outer done"]
    assert before == [[PROGRESS, outer, [1, None, "outer"]], [PROGRESS, outer, [2, None, "outer"]]]
