"""JS functions on the Python side: :class:`JSFunction` and the wait for their answers.

A CALLBACK extension in a call's arguments becomes a :class:`JSFunction`
bound to that call. Calling it sends CALLBACK ``[6, cid, callback-id, args]``
and blocks until the client answers with CALLBACK_RESULT or CALLBACK_ERROR
(protocol section 3.3). On the main thread the wait runs the calls that
arrive meanwhile (those the JS function makes), each to its end; on any other
thread (an asyncio task, a user thread) it just waits. Once its call is
answered the function has expired.
"""

from __future__ import annotations

import threading
from typing import Any

from pyferry.calls import Call
from pyferry.errors import CallbackExpiredError, Cancelled, JSError

__all__ = ["JSFunction", "Waiter", "cancelled_wait", "js_error"]


class JSFunction:
    """A JS function the client passed in a call's arguments; call it like a Python function.

    ``fn(*args)`` sends the arguments to JS (by value, or as handles), waits
    for the function (a promise is awaited on the JS side) and returns what it
    returned. It raises :class:`~pyferry.JSError` if the JS function threw,
    ``TypeError`` for keyword arguments, and
    :class:`~pyferry.errors.CallbackExpiredError` once the call that received
    it has been answered.
    """

    __slots__ = ("__weakref__", "_call", "_id")

    def __init__(self, callback_id: int, call: Call | None = None) -> None:
        self._id = callback_id
        self._call = call

    @property
    def callback_id(self) -> int:
        """The id the client gave this function."""
        return self._id

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(
                f"a JS function takes positional arguments only, got keyword "
                f"arguments {sorted(kwargs)}"
            )
        call = self._call
        if call is None or call.answered:
            owner = f"call {call.id}" if call is not None else "its call"
            raise CallbackExpiredError(
                f"JS callback {self._id} has expired: {owner} was answered, and a "
                "callback is valid only until then"
            )
        return call.runtime.call_js(call, self._id, args)

    def __repr__(self) -> str:
        owner = f" of call {self._call.id}" if self._call is not None else ""
        return f"<JSFunction {self._id}{owner}>"


class Waiter:
    """One CALLBACK waiting for its answer.

    ``running`` is the call whose code waits (its cancel ends the wait);
    ``main`` says whether the main thread waits (and runs calls meanwhile) or
    another thread (which sleeps on ``event``).
    """

    __slots__ = ("done", "error", "event", "main", "running", "value")

    def __init__(self, running: Call | None, main: bool) -> None:
        self.running = running
        self.main = main
        self.event = None if main else threading.Event()
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None

    def finish(self, value: Any = None, error: BaseException | None = None) -> None:
        """Record the answer (from whoever reads the frame); the caller wakes the waiting thread."""
        self.value = value
        self.error = error
        self.done = True
        if self.event is not None:
            self.event.set()

    def wait(self) -> None:
        """Sleep until the answer, or the cancel of the running call (another thread)."""
        assert self.event is not None
        self.event.wait()

    def outcome(self) -> Any:
        """The JS function's return value, or raise what it came to."""
        if self.error is not None:
            raise self.error
        return self.value


def js_error(info: Any) -> BaseException:
    """The exception a CALLBACK_ERROR's error-info stands for."""
    if not isinstance(info, dict):
        return JSError("Error", f"the client sent an error-info that is not a map: {info!r:.200}")
    js_type = _text(info.get("type"), "Error")
    message = _text(info.get("message"), "")
    if info.get("code") == CallbackExpiredError.code:
        # The client no longer knows the function: its call was answered meanwhile.
        return CallbackExpiredError(message or "the JS callback has expired")
    return JSError(js_type, message, _text(info.get("traceback"), ""))


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) else default


def cancelled_wait(call: Call) -> BaseException:
    """The exception that ends a wait whose call was cancelled."""
    call.interrupted = True
    return Cancelled(f"call {call.id} was cancelled by the client")
