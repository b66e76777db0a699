"""The local backend: a call runs in the worker process itself.

A call starts on the main thread (:meth:`LocalBackend.start`): its target is
resolved and called there. What it returns decides the rest:

- a value: RESULT (or the ERROR of why it cannot cross);
- an awaitable (an ``async def`` target): DETACHED, then it runs as an asyncio
  task on the worker's event loop thread, freeing the main thread;
- anything, for a call that asked for a stream: DETACHED, then its items are
  streamed (:mod:`pyferry.streams`): a sync iterator in steps on the main
  thread between other calls, an async one on the event loop.

A cancel interrupts the main thread's call (a per-OS kick, see
:mod:`pyferry.cancel`), cancels the task, or closes the stream.
"""

from __future__ import annotations

import contextlib
import types
from typing import TYPE_CHECKING, Any

from pyferry import calls, cancel, forks
from pyferry.aio import EventLoopThread
from pyferry.calls import MAIN, STREAM, TASK, Call
from pyferry.errors import Cancelled, TargetError
from pyferry.inbox import Inbox
from pyferry.refs import TargetHandle, qualname
from pyferry.replies import Replies
from pyferry.targets import Resolver

if TYPE_CHECKING:
    import asyncio  # only the event loop's thread uses it, and pyferry.aio imports it

    # Imported by the first call that streams: a worker pays for its code only if used.
    from pyferry.streams import Flusher, Stream

__all__ = ["LocalBackend"]


class LocalBackend:
    """Runs calls on the worker's main thread, its event loop and its streams.

    Args:
        replies: where answers go.
        resolver: turns a call's target into the object to call (allow-list included).
        inbox: the main thread's job queue (stream steps go there).
        loop: the worker's event loop thread, started by the first task.
    """

    def __init__(
        self, replies: Replies, resolver: Resolver, inbox: Inbox, loop: EventLoopThread
    ) -> None:
        self._replies = replies
        self._resolver = resolver
        self._inbox = inbox
        self._loop = loop
        self._flusher: Flusher | None = None

    # -- Backend --------------------------------------------------------------------

    def start(self, call: Call) -> None:
        call.where = MAIN
        token = calls.enter(call)
        try:
            value = _call_user(self._resolver, call)
        except BaseException as exc:
            calls.leave(token)
            forks.leave_if_child(exc)
            self._replies.error(call, exc, skip_frames=2)
            return
        calls.leave(token)
        forks.leave_if_child()
        if call.window:
            if not call.op_get and _is_awaitable(value) and not _is_iterable(value):
                self._start_task(call, value)  # streams what the awaitable gives
            else:
                self._start_stream(call, value)
        elif not call.op_get and _is_awaitable(value):
            self._start_task(call, value)
        else:
            self._replies.value(call, value)

    def cancel(self, call: Call) -> None:
        where = call.where
        if where == TASK:
            self._loop.call_soon(_cancel_task, call)
        elif where == STREAM:
            from pyferry.streams import CANCEL  # loaded: the call streams

            call.stream.close(CANCEL)  # between steps (or an async one)
        if where == MAIN or (where == STREAM and not call.stream.is_async):
            cancel.interrupt(call)  # running its code (a sync stream: in a step)

    # -- asyncio tasks ----------------------------------------------------------------

    def _start_task(self, call: Call, awaitable: Any) -> None:
        """Run ``awaitable`` as a task on the event loop; the main thread is free (DETACHED)."""
        call.where = TASK
        self._replies.detached(call)
        self._loop.call_soon(self._spawn, call, awaitable)

    def _spawn(self, call: Call, awaitable: Any) -> None:
        import asyncio  # on the loop's thread: loaded already

        task = asyncio.get_running_loop().create_task(self._task(call, awaitable))
        call.task = task
        task.add_done_callback(lambda done: self._task_done(call, awaitable, done))
        if call.cancel_requested:
            task.cancel()

    async def _task(self, call: Call, awaitable: Any) -> None:
        import asyncio  # on the loop's thread: loaded already

        calls.set_current(call)
        try:
            try:
                value = await awaitable
            except asyncio.CancelledError as exc:
                self._replies.error(call, _task_cancelled(call, exc), skip_frames=1)
                return
            except BaseException as exc:
                forks.leave_if_child(exc)
                self._replies.error(call, exc, skip_frames=1)
                return
            forks.leave_if_child()
            if call.window:
                self._start_stream(call, value, detached=True)
            else:
                self._replies.value(call, value)
        except OSError:
            pass  # the client is gone; reading its EOF ends the worker

    def _task_done(self, call: Call, awaitable: Any, task: asyncio.Task[None]) -> None:
        """Answer a task cancelled before it ran (its body never started); tidy up."""
        if isinstance(awaitable, types.CoroutineType):  # inspect.iscoroutine
            awaitable.close()  # never awaited if the task was cancelled first: no warning
        if task.cancelled():
            if not call.answered and call.where == TASK:
                with contextlib.suppress(OSError):
                    self._replies.error(
                        call, Cancelled(f"call {call.id} was cancelled by the client")
                    )
        elif task.exception() is not None:  # a bug here: say so instead of losing it
            with contextlib.suppress(OSError):
                if not call.answered:
                    self._replies.error(call, task.exception())  # type: ignore[arg-type]

    # -- streams ------------------------------------------------------------------------

    def _start_stream(self, call: Call, value: Any, *, detached: bool = False) -> None:
        from pyferry.streams import start_stream

        start_stream(self, call, value, detached=detached)

    # StreamHost, for pyferry.streams

    @property
    def flusher(self) -> Flusher:
        """The streams' flusher, made (and pyferry.streams imported) by the first stream."""
        flusher = self._flusher
        if flusher is None:
            from pyferry.streams import Flusher

            flusher = self._flusher = Flusher()  # its thread starts with the first batch
        return flusher

    @property
    def replies(self) -> Replies:
        return self._replies

    def requeue(self, stream: Stream) -> None:
        self._inbox.post(stream)

    def jobs_waiting(self) -> bool:
        return self._inbox.jobs_waiting()

    def call_soon(self, func: Any, *args: Any) -> None:
        self._loop.call_soon(func, *args)


def _cancel_task(call: Call) -> None:
    if call.task is not None:
        call.task.cancel()


# Types seen without ``__await__`` (numpy's scalars, say), starting with the plain ones.
_NOT_AWAITABLE: set[type] = {int, float, str, bytes, list, dict, tuple, bool, type(None)}
_MAX_KNOWN_TYPES = 256
# inspect.CO_ITERABLE_COROUTINE: the code flag of a generator made with @types.coroutine.
_CO_ITERABLE_COROUTINE = 0x100


def _is_awaitable(value: Any) -> bool:
    """``inspect.isawaitable``, quicker for the common answers (numbers, arrays, ...).

    Without importing inspect or asyncio, which a worker loads only once a
    call returns an awaitable (see pyferry.aio).
    """
    kind = type(value)
    if kind in _NOT_AWAITABLE:
        return False
    if hasattr(kind, "__await__"):
        return True
    if kind is types.GeneratorType:
        return bool(value.gi_code.co_flags & _CO_ITERABLE_COROUTINE)
    if len(_NOT_AWAITABLE) < _MAX_KNOWN_TYPES:
        _NOT_AWAITABLE.add(kind)  # as the ABCs' negative cache: a class rarely gains __await__
    return False


def _is_iterable(value: Any) -> bool:
    return hasattr(type(value), "__aiter__") or hasattr(type(value), "__iter__")


def _task_cancelled(call: Call, exc: asyncio.CancelledError) -> BaseException:
    """What a task that ended in CancelledError is answered with."""
    if call.cancel_requested:
        call.interrupted = True
        return Cancelled(f"call {call.id} was cancelled by the client").with_traceback(
            exc.__traceback__
        )
    return exc  # cancelled by its own code, not by the client: a Python error


@cancel.user_code_boundary
def _call_user(resolver: Resolver, call: Call) -> Any:
    """Resolve ``call``'s target and call it (or get it): where a cancel interrupts the call.

    Resolving may import a slow module: a cancel meanwhile (which never stops
    an import half way) raises once it is resolved.
    """
    if call.cancel_requested:  # cancelled between leaving the queue and this point
        call.interrupted = True
        raise Cancelled(f"call {call.id} was cancelled by the client")
    target = call.target
    if type(target) is str:
        func = resolver.get(target) if call.op_get else resolver.resolve(target)
    elif isinstance(target, list) and target and isinstance(target[0], TargetHandle):
        head = target[0]
        label = f"handle {head.id} ({qualname(type(head.obj))})"
        func = resolver.resolve_in(head.obj, target[1:], label, get=call.op_get)
    elif isinstance(target, list):
        raise TargetError(
            f"a call target array must be [handle, name, ...] with a HANDLE first, "
            f"got {target!r:.100}"
        )
    else:
        func = resolver.resolve(target)  # refuses it, naming what it got
    if call.cancel_requested:  # a cancel that came while the target was resolved (an import)
        cancel.raise_if_cancelled(call)
    if call.op_get:
        return func
    kwargs = call.kwargs
    return func(*call.args, **kwargs) if kwargs else func(*call.args)
