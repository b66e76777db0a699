"""The calls a worker has taken, and which one is running where: ``progress()`` and stats.

A :class:`Call` lives from the frame that brought it until its answer (RESULT,
ERROR or STREAM_END). Code running in a call finds it through a context
variable, set on the main thread for each call (nested ones included), in
each asyncio task and around each step of a stream; the main thread also
keeps its calls on a stack, innermost last, which is what a cancel signal
checks (see ``pyferry.cancel``).
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any, Protocol

from pyferry.errors import SerializationError

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "Call",
    "context_call",
    "current_call",
    "enter",
    "leave",
    "progress",
    "set_current",
    "set_options",
    "worker_stats",
]

# Where a call is: in the worker's queue, on the main thread, an asyncio task, a stream.
QUEUED = 0
MAIN = 1
TASK = 2
STREAM = 3


class Runtime(Protocol):
    """What calls need from the worker that runs them."""

    def send_progress(self, call: Call, report: list[Any]) -> None: ...

    def call_js(self, call: Call, callback_id: int, args: tuple[Any, ...]) -> Any: ...

    def stats(self) -> dict[str, int]: ...


class Call:
    """One CALL from its arrival to its answer.

    ``cancel_requested`` is set (by whoever reads the CANCEL) when a CANCEL for it
    arrives (``close_requested`` for a STREAM_CLOSE before its stream exists),
    ``interrupted`` once ``Cancelled`` has been raised in its code, ``answered``
    when its answer is on its way (its callbacks expire then).
    """

    __slots__ = (
        "ahead",
        "answered",
        "args",
        "cancel_requested",
        "close_requested",
        "id",
        "interrupted",
        "kwargs",
        "once",
        "op_get",
        "progress",
        "result",
        "runtime",
        "stream",
        "target",
        "task",
        "where",
        "window",
    )

    def __init__(
        self,
        runtime: Runtime,
        call_id: int,
        target: Any,
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> None:
        self.runtime = runtime
        self.id = call_id
        self.target = target
        self.args = args
        self.kwargs = kwargs
        # The options (protocol section 3), defaults until the worker sets them.
        self.op_get = False
        self.result = "auto"
        self.window = 0
        self.progress = False
        self.ahead = False
        self.once = False
        self.where = QUEUED
        self.cancel_requested = False
        self.close_requested = False
        self.interrupted = False
        self.answered = False
        self.task: asyncio.Task[Any] | None = None
        self.stream: Any = None

    def __repr__(self) -> str:
        return f"<Call {self.id}>"


_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("pyferry_call", default=None)
# The calls running on the main thread, innermost last (only the main thread changes it).
main_calls: list[Call] = []
_runtime: Runtime | None = None


def enter(call: Call) -> contextvars.Token[Call | None]:
    """``call`` starts running on the main thread (a call, or a step of its stream).

    Pair it with ``leave``: nested calls (a JS callback's) enter and leave in turn.
    """
    main_calls.append(call)
    return _current.set(call)


def leave(token: contextvars.Token[Call | None]) -> None:
    """The main thread's innermost call stops running (see ``enter``)."""
    _current.reset(token)
    main_calls.pop()


def set_current(call: Call) -> None:
    """Make ``call`` the current call of this context (an asyncio task's, for its life)."""
    _current.set(call)


def set_runtime(runtime: Runtime | None) -> None:
    """Say which worker runs in this process (for ``worker_stats``)."""
    global _runtime
    _runtime = runtime


def context_call() -> Call | None:
    """The call of the calling context only (an asyncio task's, or None in a plain thread)."""
    return _current.get()


def current_call() -> Call | None:
    """The call the calling code runs in: its context's, else the main thread's innermost.

    The fallback keeps ``cancelled()`` working in threads a call started
    without copying its context, as it did before calls could nest.
    """
    call = _current.get()
    if call is None and main_calls:
        return main_calls[-1]
    return call


def progress(done: float | None, total: float | None = None, message: str | None = None) -> None:
    """Report the progress of the running call to the client (protocol section 3.5).

    Does nothing unless the call asked for progress (the JS ``onProgress``
    option), and outside any call. Threads a call starts report only if they
    run in a copy of its context (``contextvars.copy_context().run``).

    Args:
        done: how much is done, a number or None.
        total: out of how much, a number or None.
        message: what is going on, or None.

    Raises:
        TypeError: an argument of the wrong type.
    """
    report = [_number(done, "done"), _number(total, "total"), message]
    if message is not None and not isinstance(message, str):
        raise TypeError(f"progress message must be a str or None, not {type(message).__name__}")
    call = _current.get()
    if call is not None and call.progress:
        call.runtime.send_progress(call, report)


def _number(value: Any, name: str) -> int | float | None:
    if value is None:
        return None
    import numbers  # here, not at start-up: only calls that report progress need it

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"progress {name} must be a number or None, not {type(value).__name__}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def worker_stats() -> dict[str, int]:
    """What the worker holds: ``handles`` (table size), ``tasks`` and ``streams`` running.

    A normal call target: clients use it to check that released handles are gone.
    Outside a worker, every count is 0.
    """
    if _runtime is None:
        return {"handles": 0, "tasks": 0, "streams": 0}
    return _runtime.stats()


_OPS = {"call": False, "get": True}
_RESULTS = ("auto", "value", "handle")
_AHEAD_ONLY = {"ahead": True}


def set_options(call: Call, options: Any) -> None:
    """Check a CALL's options and set them on ``call``.

    A nil value for an option means its default, as an absent key does.

    Raises:
        SerializationError: options not a map, or a known option with a bad value.
    """
    if options == _AHEAD_ONLY and options["ahead"] is True:  # most calls sent ahead (not 1)
        call.ahead = True
        return
    if not isinstance(options, dict):
        raise SerializationError(f"CALL options must be a map or nil, got {options!r:.100}")
    op = options.get("op")
    if op is not None and op not in _OPS:
        raise SerializationError(f'option "op" must be "call" or "get", got {op!r:.100}')
    result = options.get("result")
    if result is not None and result not in _RESULTS:
        raise SerializationError(
            f'option "result" must be "auto", "value" or "handle", got {result!r:.100}'
        )
    window = options.get("stream")
    if window is not None and (type(window) is not int or window < 1):
        raise SerializationError(
            f'option "stream" must be an integer of at least 1 (the window), got {window!r:.100}'
        )
    progress = options.get("progress")
    if progress is not None and type(progress) is not bool:
        raise SerializationError(f'option "progress" must be true or false, got {progress!r:.100}')
    ahead = options.get("ahead")
    if ahead is not None and type(ahead) is not bool:
        raise SerializationError(f'option "ahead" must be true or false, got {ahead!r:.100}')
    once = options.get("once")
    if once is not None and type(once) is not bool:
        raise SerializationError(f'option "once" must be true or false, got {once!r:.100}')
    if op == "get" and (call.args or call.kwargs):
        raise SerializationError('option "op": "get" takes no args and no kwargs')
    call.op_get = op == "get"
    call.result = result or "auto"
    call.window = window or 0
    call.progress = bool(progress)
    call.ahead = bool(ahead)
    call.once = bool(once)  # the Dask backend's (dask_delivery); locally a call never runs twice
