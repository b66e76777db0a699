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

if TYPE_CHECKING:
    import asyncio

__all__ = ["Call", "current_call", "progress", "worker_stats"]

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


def set_runtime(runtime: Runtime | None) -> None:
    """Say which worker runs in this process (for ``worker_stats``)."""
    global _runtime
    _runtime = runtime


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
