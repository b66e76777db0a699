"""Handles and streams through a Dask gateway: the same answers as the local backend gives.

Objects that cannot cross by value stay on the Dask worker that made them;
calls on their handles, releases and stream pulls go there. Most tests use a
one-worker LocalCluster, so that plain calls (``streammod.produced``) run in
the process that holds the objects; the two-worker case and a killed worker
each have a cluster of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dask_helpers import ENV, error_of, gateway, start_cluster, stop
from os_support import KILL
from pyferry.protocol import (
    CANCEL,
    DETACHED,
    ERROR,
    RELEASE,
    RESULT,
    STREAM_CLOSE,
    STREAM_CREDIT,
    STREAM_END,
    STREAM_ITEMS,
)
from pyferry.refs import HandleRef
from test_streams import consume, stream

from conftest import WorkerProcess

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def one_worker() -> Iterator[dict[str, Any]]:
    proc, info = start_cluster(1)
    try:
        yield info
    finally:
        stop(proc)


@pytest.fixture
def dask(one_worker: dict[str, Any]) -> Iterator[WorkerProcess]:
    w = gateway(one_worker["address"])
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(params=["local", "dask"])
def either(request: pytest.FixtureRequest) -> WorkerProcess:
    """The local worker, then a Dask gateway: each test runs on both and expects the same."""
    name = "worker" if request.param == "local" else "dask"
    w: WorkerProcess = request.getfixturevalue(name)
    return w


def _until(check: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


# -- handles ------------------------------------------------------------------------------------


def test_methods_attributes_and_arguments(either: WorkerProcess) -> None:
    handle = either.result("handlemod.make_counter", [3])
    assert isinstance(handle, HandleRef)
    assert (handle.type, handle.repr) == ("handlemod.Counter", "Counter(3)")
    assert either.result([handle, "bump"], [2]) == 5
    assert either.result([handle, "bump"], [], {"by": 10}) == 15
    assert either.result([handle, "n"], options={"op": "get"}) == 15
    assert either.result("handlemod.read", [handle]) == 15
    assert either.result("handlemod.same", [handle], {"b": handle}) is True
    info = error_of(either, [handle, "_secret"], [], op="get")
    assert info["code"] == "PYFERRY_TARGET_FORBIDDEN"


def test_nested_handles_and_result_modes(either: WorkerProcess) -> None:
    mixed = either.result("handlemod.make_mixed")
    assert mixed["plain"] == 5
    assert mixed["items"][1:] == [3.5, "text"]
    assert (mixed["counter"].repr, mixed["items"][0].repr) == ("Counter(1)", "Counter(2)")
    assert either.result([mixed["items"][0], "bump"]) == 3
    counter = either.result("collections.Counter", ["abracadabra"], options={"result": "handle"})
    assert counter.type == "collections.Counter"
    assert either.result([counter, "most_common"], [2]) == [["a", 5], ["b", 2]]
    # value(): the object itself, by value.
    value = either.result([counter], options={"op": "get", "result": "value"})
    assert value == {"a": 5, "b": 2, "r": 2, "c": 1, "d": 1}
    own = mixed["counter"]
    first, second = either.result("handlemod.twice", [own])
    assert len({own.id, first.id, second.id}) == 3
    assert either.result("handlemod.same", [first, second]) is True
    info = error_of(either, "handlemod.make_counter", [], result="value")
    assert info["code"] == "PYFERRY_SERIALIZATION"


def test_release_frees_the_object(either: WorkerProcess) -> None:
    handle = either.result("handlemod.make_tracked")
    assert either.result("handlemod.tracked_alive") == 1
    either.send([RELEASE, 0, [handle.id, handle.id, 999_999]])
    _until(lambda: either.result("handlemod.tracked_alive") == 0)  # Dask: on its worker, soon
    info = error_of(either, "handlemod.same", [handle, handle])
    assert (info["code"], info["type"]) == ("PYFERRY_HANDLE", "pyferry.errors.HandleError")
    assert f"handle {handle.id}" in info["message"]


@pytest.mark.parametrize(
    ("names", "code"),
    [
        (["_secret"], "PYFERRY_TARGET_FORBIDDEN"),
        (["nope"], "PYFERRY_TARGET_NOT_FOUND"),
        (["n"], "PYFERRY_TARGET"),  # an int: not callable
    ],
)
def test_handle_target_names(either: WorkerProcess, names: list[Any], code: str) -> None:
    handle = either.result("handlemod.make_counter")
    info = error_of(either, [handle, *names], [])
    assert info["code"] == code
    assert f"handle {handle.id} (handlemod.Counter)" in info["message"]


def test_a_handle_this_gateway_never_sent(either: WorkerProcess) -> None:
    assert error_of(either, "handlemod.read", [HandleRef(424242)])["code"] == "PYFERRY_HANDLE"
    assert error_of(either, [HandleRef(424242), "bump"], [])["code"] == "PYFERRY_HANDLE"


def test_a_gateway_that_exits_takes_its_objects_with_it(one_worker: dict[str, Any]) -> None:
    first = gateway(one_worker["address"])
    second = gateway(one_worker["address"])
    try:
        first.result("handlemod.make_tracked")
        assert second.result("handlemod.tracked_alive") >= 1
        first.close()  # its Dask client goes, its actors with it, each with its store
        _until(lambda: second.result("handlemod.tracked_alive") == 0)
    finally:
        first.close()
        second.close()


def test_objects_no_actor_adopts_are_dropped(one_worker: dict[str, Any]) -> None:
    # As if the gateway died between a task's result and making its actor there:
    # a child submits remote.run itself and never makes the actor.
    code = (
        "import sys, time\n"
        "from distributed import Client\n"
        "from pyferry.backends import remote, remote_store\n"
        "from pyferry.codec import decode\n"
        "def shorten():\n"
        "    remote_store.UNADOPTED_SECONDS = 0.5\n"
        "def run(c, target):\n"
        "    key = f'orphan-{time.monotonic_ns()}'\n"
        "    return c.submit(remote.run, 1, target, [], {}, op_get=False, allow=(),\n"
        "                    limit=1 << 20, token='orphan', task=key, key=key,\n"
        "                    pure=False).result()[0]\n"
        "with Client(sys.argv[1], timeout=10) as c:\n"
        "    c.run(shorten)\n"
        "    assert run(c, 'handlemod.make_tracked')[0] == 'handles'\n"
        "    alive = lambda: decode(run(c, 'handlemod.tracked_alive')[1], [])[2]\n"
        "    print(alive())\n"
        "    deadline = time.monotonic() + 20\n"
        "    while alive() != 0 and time.monotonic() < deadline:\n"
        "        time.sleep(0.1)\n"
        "    print(alive())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, one_worker["address"]],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "0"]


def test_a_call_holds_its_object_even_if_released_before_it_runs(dask: WorkerProcess) -> None:
    handle = dask.result("handlemod.make_counter", [4])
    uses = dask.start("handlemod.read", [handle])
    dask.send([RELEASE, 0, [handle.id]])  # read with the frame: the call has the object
    assert dask.answer(uses)[0] == [RESULT, uses, 4]


# -- streams ------------------------------------------------------------------------------------


def test_many_items_arrive_complete_in_few_frames(either: WorkerProcess) -> None:
    call = stream(either, "streammod.count", [100_000], 1024)
    items, frames, end = consume(either, call, 1024)
    assert end == [STREAM_END, call, None]
    assert items == list(range(100_000))
    assert frames <= 100_000 // 50, f"{frames} frames for 100,000 items"


def test_credit_bounds_what_the_generator_produces_ahead(either: WorkerProcess) -> None:
    either.result("streammod.reset")
    call = stream(either, "streammod.counted", [10**9], 8)
    items, _, _ = consume(either, call, 0, limit=8)  # no credit returned
    assert items == list(range(8))
    assert either.result("streammod.produced") == 8
    either.send([STREAM_CREDIT, call, 4])
    more, _, _ = consume(either, call, 0, limit=4)
    assert more == [8, 9, 10, 11]
    assert either.result("streammod.produced") == 12
    either.send([STREAM_CLOSE, call])
    assert either.wait_for(lambda m: m[1] == call) == [STREAM_END, call, None]


@pytest.mark.parametrize("target", ["streammod.guarded", "streammod.aguarded"])
def test_a_stream_closed_early_runs_finally(either: WorkerProcess, target: str) -> None:
    either.result("streammod.reset")
    call = stream(either, target, [], 3)
    items, _, _ = consume(either, call, 0, limit=3)
    assert items == [0, 1, 2]
    assert either.result("streammod.closed") is False
    either.send([STREAM_CLOSE, call])
    assert either.wait_for(lambda m: m[1] == call) == [STREAM_END, call, None]
    assert either.result("streammod.closed") is True
    assert either.result("streammod.produced") == 3


def test_a_slow_step_does_not_hold_back_the_item_before_it(either: WorkerProcess) -> None:
    call = stream(either, "streammod.slow_second", [3.0], 10)
    first = either.wait_for(lambda m: m[1] == call)
    first_at = time.monotonic()
    assert first == [STREAM_ITEMS, call, ["first"]]
    items, _, end = consume(either, call, 10)
    assert (items, end[0]) == (["second"], STREAM_END)
    # Held back, "first" would come with "second" after the 3 s step, not the step before it
    # (measured between the two arrivals, so a slow start on a loaded machine does not count).
    assert time.monotonic() - first_at > 2.5


def test_calls_on_objects_run_while_a_stream_step_sleeps(dask: WorkerProcess) -> None:
    handle = dask.result("handlemod.make_counter", [1])
    call = stream(dask, "streammod.slow_second", [3.0], 10)
    started = time.monotonic()
    assert dask.wait_for(lambda m: m[1] == call) == [STREAM_ITEMS, call, ["first"]]
    # The step runs on the stream's own thread: the actor serves the handle meanwhile.
    assert dask.result([handle, "bump"]) == 2
    assert time.monotonic() - started < 2.5
    items, _, end = consume(dask, call, 10)
    assert (items, end[0]) == (["second"], STREAM_END)


def test_an_error_after_5_items_comes_after_them(either: WorkerProcess) -> None:
    call = stream(either, "streammod.fail_after", [5], 100)
    items, _, end = consume(either, call, 100)
    assert items == [0, 1, 2, 3, 4]
    assert end[:2] == [ERROR, call]
    info = end[2]
    assert (info["type"], info["message"]) == ("builtins.ValueError", "failed after 5 items")
    assert "streammod.py" in info["traceback"]
    assert "pyferry/" not in info["traceback"]


def test_a_cancelled_stream_closes_its_generator(either: WorkerProcess) -> None:
    either.result("streammod.reset")
    call = stream(either, "streammod.guarded", [], 2)
    consume(either, call, 0, limit=2)
    either.send([CANCEL, call])
    end = either.wait_for(lambda m: m[1] == call)
    assert (end[0], end[2]["code"]) == (ERROR, "PYFERRY_CANCELLED")
    assert either.result("streammod.closed") is True


def test_streams_of_a_handle_and_items_that_are_handles(either: WorkerProcess) -> None:
    numbers = either.result("handlemod.numbers", [5])
    call = stream(either, [numbers], [], 10, op="get")
    items, _, end = consume(either, call, 10)
    assert (items, end[0]) == ([0, 1, 2, 3, 4], STREAM_END)
    call = stream(either, "streammod.objects", [4], 10)
    items, _, end = consume(either, call, 10)
    assert end[0] == STREAM_END
    assert items[0::2] == [0, 2]
    assert all(isinstance(h, HandleRef) and h.type == "builtins.object" for h in items[1::2])
    call = stream(either, "streammod.count", [3], 10, result="handle")
    handles, _, _ = consume(either, call, 10)
    assert [h.repr for h in handles] == ["0", "1", "2"]
    assert [either.result([h], options={"op": "get"}) for h in handles] == [0, 1, 2]
    # result "value": the items before the one that cannot cross, then the error
    call = stream(either, "streammod.objects", [4], 10, result="value")
    items, _, end = consume(either, call, 10)
    assert items == [0]
    assert (end[0], end[2]["code"], end[2]["path"]) == (ERROR, "PYFERRY_SERIALIZATION", "result[1]")


def test_not_an_iterable_is_a_target_error(either: WorkerProcess) -> None:
    call = either.start("handlemod.make_counter", [], None, {"stream": 4})
    reply, _ = either.answer(call)
    assert (reply[0], reply[2]["code"]) == (ERROR, "PYFERRY_TARGET")
    assert "is neither iterable nor async iterable" in reply[2]["message"]


# -- Dask workers: two of them, and a lost one -------------------------------------------------


def _handles_on_two_workers(w: WorkerProcess) -> tuple[HandleRef, HandleRef]:
    """Two handles whose objects live on different Dask workers (the scheduler spreads them)."""
    by_pid: dict[int, HandleRef] = {}
    for _ in range(40):
        pending = [w.start("handlemod.make_counter") for _ in range(4)]
        for call in pending:
            handle = w.answer(call)[0][2]
            by_pid.setdefault(w.result("handlemod.pid_of", [handle]), handle)
        if len(by_pid) == 2:
            first, second = by_pid.values()
            return first, second
    raise AssertionError("every object landed on one Dask worker")


def test_handles_of_two_dask_workers_in_one_call_are_a_handle_error() -> None:
    proc, info = start_cluster(2)
    try:
        w = gateway(info["address"])
        try:
            a, b = _handles_on_two_workers(w)
            info = error_of(w, "handlemod.same", [a, b])
            assert info["code"] == "PYFERRY_HANDLE_MIXED"
            assert info["type"] == "pyferry.errors.MixedHandlesError"
            assert "two Dask workers" in info["message"]
            assert error_of(w, [a, "bump"], [b])["code"] == "PYFERRY_HANDLE_MIXED"
            assert w.result([a, "bump"]) == 1  # each alone still works
            assert w.result([b, "bump"]) == 1
        finally:
            w.close()
    finally:
        stop(proc)


def test_a_handle_whose_dask_worker_is_killed_is_invalidated_within_2_s() -> None:
    proc, info = start_cluster(1)
    try:
        w = gateway(info["address"])
        try:
            handle = w.result("handlemod.make_counter", [1])
            call = stream(w, "streammod.count", [10], 2)
            consume(w, call, 0, limit=2)  # a stream held open on that worker
            pid = w.result("handlemod.pid_of", [handle])
            assert pid in info["workers"]
            os.kill(pid, KILL)
            started = time.monotonic()
            reply, _ = w.answer(w.start([handle, "bump"]))
            took = time.monotonic() - started
            assert (reply[0], reply[2]["code"]) == (ERROR, "PYFERRY_HANDLE_INVALIDATED"), reply
            assert took < 2.0, f"settled after {took:.2f} s"
            assert "was lost" in reply[2]["message"]
            # Every handle of that worker is invalid now, at once; the stream fails too.
            again = error_of(w, "handlemod.read", [handle])
            assert again["code"] == "PYFERRY_HANDLE_INVALIDATED"
            w.send([STREAM_CREDIT, call, 2])
            end = w.wait_for(lambda m: m[1] == call)
            assert (end[0], end[2]["code"]) == (ERROR, "PYFERRY_WORKER_CRASHED")
            # A new object lands on the restarted worker and works.
            fresh = w.result("handlemod.make_counter", [7])
            assert w.result([fresh, "bump"]) == 8
        finally:
            w.close()
    finally:
        stop(proc)


def test_detached_comes_first_for_a_handle_call(dask: WorkerProcess) -> None:
    handle = dask.result("handlemod.make_counter")
    reply, before = dask.answer(dask.start([handle, "bump"]))
    assert reply[0] == RESULT
    assert [m[0] for m in before] == [DETACHED]
