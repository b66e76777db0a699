"""What runs on a Dask worker for a pyferry call: resolve, call, encode, as data.

:func:`run` is submitted by reference (``pyferry.backends.remote.run``, never
a closure), so a Dask worker needs pyferry installed, as the gateway does.
It resolves the dotted name with the gateway's rules (:class:`pyferry.targets.Resolver`
with the same allow-list), calls the target through
:func:`pyferry.backends.remote_calls.run_user` (interruptible, with
``pyferry.cancelled()``, ``pyferry.progress()`` and ``async def``), or gets
it, for ``op: "get"``, and returns a tagged outcome made only of plain data,
with the number of progress events the task sent (``(outcome, sent)``)::

    ("result", header, buffers)            the RESULT frame, encoded here by value
    ("handles", address, header, buffers)  one naming objects kept here (see below)
    ("stream", address, store id)          an iterator kept here, for a stream
    ("error", info)                        the error info (pyferry.errorinfo), built here

Why the frame is encoded here: whether a result can cross by value is known
only where it lives; an object that cannot stays on this Dask worker, in the
gateway's store (:mod:`pyferry.backends.remote_store`), and the gateway never
unpickles a user's object, only bytes.
Why the error is data: a user's exception class is never unpickled in the
gateway, and ``SystemExit``/``KeyboardInterrupt`` never reach Dask's own
code (a bare ``SystemExit`` from a task ends a Dask worker process).

A ``once`` call first asks the scheduler to mark its start, and answers
``WorkerCrashedError`` without calling anything if it had started before
(:mod:`pyferry.backends.dask_delivery`).
"""

from __future__ import annotations

from typing import Any

from pyferry.backends.dask_results import send_result
from pyferry.backends.remote_calls import run_user
from pyferry.backends.remote_store import answer, info, resolver_for

__all__ = ["Outcome", "run"]

Outcome = tuple[Any, ...]


def run(
    call_id: int,
    target: str,
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    op_get: bool,
    allow: tuple[str, ...],
    limit: int,
    token: str,
    task: str,
    mode: str = "auto",
    window: int = 0,
    progress_topic: str | None = None,
    once: bool = False,
    result_topic: str | None = None,
) -> tuple[Outcome, int]:
    """Run one pyferry call on this Dask worker; never raises.

    Args:
        call_id: the call's id, for the RESULT frame's envelope.
        target: the dotted name (checked by the gateway already; checked again here).
        args: positional arguments, as the gateway decoded them.
        kwargs: keyword arguments.
        op_get: answer with the object ``target`` names instead of calling it.
        allow: the gateway worker's allow-list patterns (empty: any public name).
        limit: the most the RESULT frame may hold, in bytes (the client's limit).
        token: the gateway's token: what cannot cross by value stays in its store here.
        task: the task's Dask key, which the gateway interrupts on a cancel.
        mode: the call's result mode (``auto``, ``value`` or ``handle``).
        window: the call's stream window; 0 if it does not stream.
        progress_topic: the Dask event topic for ``pyferry.progress()``, or None.
        once: start the call only if it never started before (a Dask worker that
            started it died): :mod:`pyferry.backends.dask_delivery`.
        result_topic: the gateway's Dask event topic for a small RESULT, sent
            ahead of the task's end (:mod:`pyferry.backends.dask_results`), or None.

    Returns:
        ``(outcome, sent)``: one of the outcomes in the module docstring, and
        how many progress events the task sent.
    """
    if once:
        from pyferry.backends.dask_delivery import begin_once

        refused = begin_once()
        if refused is not None:
            return ("error", info(refused)), 0
    try:
        resolver = resolver_for(allow)
        func = resolver.get(target) if op_get else resolver.resolve(target)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: see the docstring
        return ("error", info(exc, skip_frames=1)), 0
    if op_get:
        outcome = answer(call_id, func, token, mode=mode, window=window, limit=limit)
        send_result(result_topic, task, outcome, 0)
        return outcome, 0
    ran = run_user(task, func, args, kwargs, call_id=call_id, progress_topic=progress_topic)
    if ran.error is not None:
        return ("error", info(ran.error)), ran.progress
    outcome = answer(call_id, ran.value, token, mode=mode, window=window, limit=limit)
    send_result(result_topic, task, outcome, ran.progress)
    return outcome, ran.progress
