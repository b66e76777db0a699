"""remote_calls.run_user and interrupt in this process: the gate, remembered keys, async def.

What runs on a Dask worker, run here on plain threads (no cluster needed for
these properties): an interrupt raises ``Cancelled`` only while user code
runs, never once ``run_user`` has returned, whenever it comes.
"""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import threading
import time
from typing import Any

import pytest

import pyferry
from pyferry import calls
from pyferry.backends.remote_calls import Ran, interrupt, run_user


def in_thread(func: Any, *args: Any) -> Any:
    """``func(*args)`` on a fresh thread (as a Dask executor's); what it returned or raised."""
    out: list[Any] = []

    def body() -> None:
        try:
            out.append(("ok", func(*args)))
        except BaseException as exc:  # an escape is the failure these tests look for
            out.append(("raised", exc))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    kind, value = out[0]
    assert kind == "ok", f"escaped run_user: {value!r}"
    return value


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def test_interrupts_at_random_moments_never_escape_run_user() -> None:
    rng = random.Random(17)
    # Tiny calls and nothing that waits (a wait hands the GIL over inside user
    # code): the threads switch at any bytecode, many of them with the gate shut.
    targets = [(spin, 200), (spin, 5), (sum, range(30)), (int, "5"), (spin, 1)]
    current = [""]
    done = threading.Event()

    def interrupter() -> None:
        while not done.is_set():
            time.sleep(rng.random() * 0.0005)
            interrupt(current[0])

    def loop() -> list[str]:
        seen = []
        for i in range(20_000):
            key = current[0] = f"stress-{i}"
            func, arg = targets[i % len(targets)]
            ran = run_user(key, func, [arg])
            seen.append("cancelled" if isinstance(ran.error, pyferry.Cancelled) else "ran")
            assert ran.error is None or isinstance(ran.error, pyferry.Cancelled), ran.error
            spin(100)  # bytecodes after run_user: a raise still pending would land here
        return seen

    helper = threading.Thread(target=interrupter)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the threads take turns at many more bytecodes
    # An exception due while a gc callback runs is dropped by CPython ("Exception ignored",
    # docs/reliability.md), which pytest fails on. Hypothesis leaves one installed in this
    # process; what is tested here is the gate, so none runs during the loop.
    callbacks = gc.callbacks[:]
    gc.callbacks.clear()
    helper.start()
    try:
        seen = in_thread(loop)
    finally:
        done.set()
        helper.join()
        sys.setswitchinterval(interval)
        gc.callbacks.extend(callbacks)
    assert "cancelled" in seen
    assert "ran" in seen


def test_a_key_interrupted_before_it_runs_never_calls_user_code() -> None:
    called: list[int] = []
    assert interrupt("early-key") is False  # nothing runs it yet
    ran = in_thread(run_user, "early-key", called.append, [1])
    assert isinstance(ran.error, pyferry.Cancelled)
    assert "was cancelled by the client" in str(ran.error)
    assert called == []
    again = in_thread(run_user, "early-key", called.append, [2])  # a later step: the same
    assert isinstance(again.error, pyferry.Cancelled)
    assert called == []


def _interrupt_once_started(key: str, started: threading.Event) -> threading.Thread:
    """Interrupt ``key`` once its user code has said it runs."""

    def later() -> None:
        assert started.wait(30)
        time.sleep(0.02)
        interrupt(key)

    thread = threading.Thread(target=later)
    thread.start()
    return thread


def test_a_c_call_runs_to_its_end_then_cancelled_is_raised() -> None:
    started = threading.Event()

    def nap() -> None:
        started.set()
        time.sleep(0.3)  # C: the interrupt waits for its end

    helper = _interrupt_once_started("c-call", started)
    begun = time.monotonic()
    ran: Ran = in_thread(run_user, "c-call", nap)
    helper.join()
    assert time.monotonic() - begun >= 0.3  # time.sleep was not cut short
    assert isinstance(ran.error, pyferry.Cancelled)
    assert ran.error.__traceback__ is not None
    assert ran.error.__traceback__.tb_frame.f_code.co_name == "nap"  # raised in user code


def test_cancelled_is_true_in_user_code_and_false_outside() -> None:
    started = threading.Event()

    def cooperative() -> bool:
        started.set()
        try:
            while True:
                spin(1000)
        except pyferry.Cancelled:
            return pyferry.cancelled()

    helper = _interrupt_once_started("coop", started)
    ran = in_thread(run_user, "coop", cooperative)
    helper.join()
    assert ran.value is True
    assert ran.error is None
    assert in_thread(run_user, "other", pyferry.cancelled).value is False
    assert calls.context_call() is None  # run_user left this thread's context alone


async def sleeper(seconds: float, value: Any) -> Any:
    await asyncio.sleep(seconds)
    return value


async def failing() -> None:
    await asyncio.sleep(0)
    raise ValueError("async boom")


def test_an_awaitable_result_is_awaited_and_an_interrupt_cancels_it() -> None:
    assert in_thread(run_user, "aw-1", sleeper, [0.01, "woke"]).value == "woke"
    error = in_thread(run_user, "aw-2", failing).error
    assert isinstance(error, ValueError)
    assert error.__traceback__ is not None
    assert error.__traceback__.tb_frame.f_code.co_name == "failing"  # our frames cut off
    started = threading.Event()

    async def waiter() -> str:
        started.set()
        await asyncio.sleep(30)
        return "late"

    helper = _interrupt_once_started("aw-3", started)
    begun = time.monotonic()
    ran = in_thread(run_user, "aw-3", waiter)
    helper.join()
    assert isinstance(ran.error, pyferry.Cancelled)
    assert time.monotonic() - begun < 10


@pytest.mark.parametrize("sent", [0, 4])
def test_progress_not_asked_for_sends_nothing_and_counts_on(sent: int) -> None:
    def call() -> Ran:
        return run_user(f"p-{sent}", pyferry.progress, [1, 2], progress_sent=sent)

    ran = in_thread(call)
    assert ran.error is None
    assert ran.progress == sent
