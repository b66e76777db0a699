"""User code of a pyferry task on a Dask worker: cancel, interrupt, progress, ``async def``.

:func:`run_user` is the one function through which a task calls user code on
a Dask worker. It registers the task (its Dask key, its thread, whether it
was cancelled) in a table of this process, makes the task's call the current
one (so ``pyferry.cancelled()`` and ``pyferry.progress()`` work there, also in
threads started in a copy of its context), and awaits an awaitable result
(an ``async def`` target) on a private event loop in the task's own thread.

When the client cancels a call, its gateway runs :func:`interrupt` on the
Dask workers (``Client.run``, which calls it on each worker's event loop: it
never blocks)::

    Dask executor thread                        Dask worker's event loop thread
    run_user(key, func, args, kwargs)           interrupt(key)  <- the gateway's Client.run
      register key -> task                        task.call.cancel_requested = True
      gate open (under task.guard)                under task.guard, once per task:
      func(*args, **kwargs)  <--------------------  if the gate is open: PyThreadState_SetAsyncExc
      gate shut, an undelivered raise cleared       (Cancelled, between two bytecodes)
      an awaitable: its own event loop; <---------  else if an awaitable runs: Task.cancel()
      unregister, return a Ran

The gate is open only while the call's own code runs, so ``Cancelled`` never
lands in Dask's code, nor in pyferry's encoding of the result. It lands
between bytecodes: a pure-Python loop stops at once, a C call (``time.sleep``,
a BLAS routine, ``numpy`` itself) runs to its end first, and code may poll
``pyferry.cancelled()``. A Dask worker is never killed or restarted to stop
a task. A key interrupted before its task starts (the cancel and the task
race to the worker) is remembered, and no user code of that key runs on
this Dask worker afterwards (a stream's later steps included).
"""

from __future__ import annotations

import contextvars
import ctypes
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyferry import calls
from pyferry.calls import TASK, Call
from pyferry.errors import Cancelled

if TYPE_CHECKING:
    import asyncio

__all__ = ["Ran", "interrupt", "run_user"]

# Keys interrupted on this Dask worker, oldest first (a key is one call's): the last ones.
_REMEMBERED = 10_000
_interrupted: OrderedDict[str, None] = OrderedDict()
_running: dict[str, _Task] = {}
_table_lock = threading.Lock()


@dataclass
class Ran:
    """What :func:`run_user` did: a value, or the error that ended the user code.

    ``error`` carries the traceback from the user's frame down (pyferry's own
    frames are cut off); a cancel is a :class:`~pyferry.errors.Cancelled`.
    ``progress`` is how many progress events the task sent (see :func:`run_user`).
    """

    value: Any
    error: BaseException | None
    progress: int


def run_user(
    key: str,
    func: Callable[..., Any],
    args: list[Any] | tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    call_id: int = 0,
    progress_topic: str | None = None,
    progress_sent: int = 0,
) -> Ran:
    """Call ``func(*args, **kwargs)`` as the user code of Dask task ``key``; never raises.

    For every piece of user code a pyferry task runs on a Dask worker (a call,
    a method call, a stream's step): while it runs, :func:`interrupt` of ``key``
    stops it, ``pyferry.cancelled()`` says whether it was, and
    ``pyferry.progress()`` sends events. An awaitable result is awaited on a
    private event loop in this thread (an interrupt cancels its task), and its
    value is the value. Run it in the task's own thread (a Dask executor's),
    one at a time per key; a call that runs several pieces of user code
    (stream steps) runs each through here with the call's key.

    Args:
        key: the Dask key of the task (unique per call): what :func:`interrupt` names.
        func: the user's callable, resolved already (resolving, which may
            import, is never interrupted).
        args: positional arguments.
        kwargs: keyword arguments.
        call_id: the gateway's call id, for error messages.
        progress_topic: the Dask event topic that ``pyferry.progress()`` logs
            ``[key, seq, [done, total, message]]`` to (seq from 1, in order),
            or None if the call did not ask for progress.
        progress_sent: events sent under ``key`` before (by earlier pieces of
            the same call): seq goes on from there.

    Returns:
        A :class:`Ran`; ``Ran.progress`` counts the events sent under ``key``
        so far (``progress_sent`` included). Reports made after user code
        returned (from a thread it left) are not sent.
    """
    task = _Task(key, call_id, progress_topic, progress_sent)
    with _table_lock:
        task.call.cancel_requested = key in _interrupted
        _running[key] = task
    try:
        ok, value = contextvars.copy_context().run(_in_context, task, func, args, kwargs or {})
    finally:
        with _table_lock:
            _running.pop(key, None)
        sent = task.close()
    if ok:
        return Ran(value, None, sent)
    error: BaseException = value
    if isinstance(error, Cancelled) and task.call.cancel_requested:
        error = Cancelled(f"call {call_id} was cancelled by the client").with_traceback(
            error.__traceback__
        )
    return Ran(None, error, sent)


def interrupt(key: str) -> bool:
    """Cancel the task ``key`` on this Dask worker; True if it runs here.

    Sets its ``pyferry.cancelled()``; if its user code runs, raises
    ``Cancelled`` in its thread at the next bytecode (once), or cancels its
    asyncio task. A key with no task here yet is remembered, so a task that
    starts later never calls user code, and neither does any later
    :func:`run_user` of ``key`` here. Quick and non-blocking: the gateway
    calls it through ``Client.run``, on the Dask worker's event loop.
    """
    with _table_lock:
        _interrupted[key] = None
        while len(_interrupted) > _REMEMBERED:
            _interrupted.popitem(last=False)
        task = _running.get(key)
    if task is None:
        return False
    task.interrupt()
    return True


class _Task:
    """One running task: its call, its gate and its progress count.

    ``guard`` is held only for a few bytecodes at a time (by the task's thread
    to open or shut the gate, by :func:`interrupt` to look and raise), never
    while user code runs, so an interrupt never waits for the task.
    """

    def __init__(self, key: str, call_id: int, topic: str | None, sent: int) -> None:
        self.key = key
        self.thread = threading.get_ident()
        self.guard = threading.Lock()
        self.gate_open = False
        self.raised = False  # Cancelled was raised in the thread: at most once per task
        self.loop: asyncio.AbstractEventLoop | None = None
        self.aio: asyncio.Task[Any] | None = None
        self.reporter = _Reporter(key, topic, sent)
        self.call = Call(self.reporter, call_id, key, [], {})
        self.call.where = TASK
        self.call.progress = topic is not None

    def interrupt(self) -> None:
        with self.guard:
            self.call.cancel_requested = True
            if self.gate_open and not self.raised:
                self.raised = True
                _set_async_exc(self.thread, Cancelled)
            elif self.aio is not None and self.loop is not None:
                self.loop.call_soon_threadsafe(self.aio.cancel)

    def open_gate(self) -> None:
        with self.guard:
            if self.call.cancel_requested:
                raise Cancelled()
            self.gate_open = True

    def shut_gate(self) -> None:
        with self.guard:
            self.gate_open = False
            if self.raised:
                _set_async_exc(self.thread, None)  # not delivered yet: it never will be

    def close(self) -> int:
        return self.reporter.close()


def _in_context(
    task: _Task, func: Callable[..., Any], args: Any, kwargs: dict[str, Any]
) -> tuple[bool, Any]:
    calls.set_current(task.call)  # this context is a copy: the thread's own is untouched
    ok, value = _call_gated(task, func, args, kwargs)
    if ok and _is_awaitable(value):
        ok, value = _await(task, value)
    return ok, value


def _call_gated(
    task: _Task, func: Callable[..., Any], args: Any, kwargs: dict[str, Any]
) -> tuple[bool, Any]:
    """``func(*args, **kwargs)`` with the gate open; ``(True, value)`` or ``(False, error)``.

    Cancelled is raised at most once per task, and only while the gate is
    open: every instruction between opening and shutting it sits in a try,
    and the handler that caught it cannot be hit again. Python checks for an
    asynchronous exception at calls and backward jumps only, and there is
    neither between the two ``try`` blocks.
    """
    result: tuple[bool, Any]
    try:
        task.open_gate()
        result = (True, func(*args, **kwargs))
    except BaseException as exc:
        result = (False, exc)  # nothing called here: the handler must not be hit itself
    try:
        task.shut_gate()
    except BaseException as exc:  # the raise landed after user code returned, before the shut
        task.shut_gate()
        if result[0]:
            result = (False, exc)
    return result if result[0] else (False, _cut(result[1]))


def _await(task: _Task, awaitable: Any) -> tuple[bool, Any]:
    """Await ``awaitable`` on a private event loop in this thread (as ``asyncio.run`` does)."""
    import asyncio

    async def main() -> tuple[bool, Any]:
        with task.guard:
            cancelled = task.call.cancel_requested
            if not cancelled:
                task.loop, task.aio = asyncio.get_running_loop(), asyncio.current_task()
        if cancelled:
            _close(awaitable)
            return False, Cancelled()
        try:
            return True, await awaitable
        except asyncio.CancelledError as exc:
            if task.call.cancel_requested:
                return False, Cancelled().with_traceback(_cut(exc).__traceback__)
            return False, _cut(exc)  # cancelled by its own code: a Python error
        except BaseException as exc:
            return False, _cut(exc)
        finally:
            with task.guard:
                task.loop = task.aio = None

    try:
        with asyncio.Runner() as runner:  # closes what the coroutine left running
            return runner.run(main())
    except BaseException as exc:  # the loop itself failed (no memory, ...)
        _close(awaitable)
        return False, exc


class _Reporter:
    """The task's ``calls.Runtime``: ``pyferry.progress()`` becomes a Dask event."""

    def __init__(self, key: str, topic: str | None, sent: int) -> None:
        self._key = key
        self._topic = topic
        self._lock = threading.Lock()  # orders the events of threads that report at once
        self._sent = sent
        self._closed = False
        self._worker: Any = None
        if topic is not None:
            from distributed import get_worker

            try:
                self._worker = get_worker()
            except ValueError:  # not in a Dask task: progress goes nowhere
                self._worker = None

    def send_progress(self, call: Call, report: list[Any]) -> None:
        with self._lock:
            if self._closed or self._worker is None:
                return
            self._sent += 1
            self._worker.log_event(self._topic, [self._key, self._sent, report])

    def call_js(self, call: Call, callback_id: int, args: tuple[Any, ...]) -> Any:
        raise TypeError("a JS callback cannot be called from a Dask worker")

    def stats(self) -> dict[str, int]:
        return {"handles": 0, "tasks": 0, "streams": 0}

    def close(self) -> int:
        """No more events (the user code returned); how many were sent under the key."""
        with self._lock:
            self._closed = True
            return self._sent


def _set_async_exc(thread: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in ``thread`` at its next bytecode check; None withdraws one not raised yet."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread), None if exc is None else ctypes.py_object(exc)
    )


def _cut(exc: BaseException) -> BaseException:
    """``exc`` with its traceback starting below the pyferry frame that caught it."""
    tb = exc.__traceback__
    if tb is not None:
        exc.with_traceback(tb.tb_next)
    return exc


def _is_awaitable(value: Any) -> bool:
    import inspect

    return inspect.isawaitable(value)


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)  # a coroutine never awaited: no warning
    if callable(close):
        close()
