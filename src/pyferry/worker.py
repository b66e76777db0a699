"""The worker's serve loop: handshake, dispatch, results and errors, shutdown.

Threads::

    protocol fd --> whoever reads -----(CALLs)----> job queue --> main thread
                     |   (pyferry.inbox: the main            runs calls and sync
                     |   thread while it waits, the reader   stream steps, one at
                     |   thread while it is busy); decodes   a time; a call waiting
                     |-- CANCEL: mark the call, SIGUSR1 /        for a JS callback runs
                     |   Task.cancel() / close its stream        the jobs that arrive
                     |-- RELEASE: drop handles at once           meanwhile (nested)
                     |-- CALLBACK_RESULT/ERROR: wake the waiter       |
                     |-- STREAM_CREDIT/CLOSE: the stream              | awaitables, async
                     +-- protocol errors (ERROR id 0), EOF            v iterators
                                                              asyncio thread (lazy):
    flusher thread (lazy): sends a stream's batch once        tasks, async streams
    its oldest item has waited 2 ms

    every thread writes whole frames under the channel's write lock

Frames are read by the main thread while it waits and by the reader thread
once it has been busy for a tick (2 ms), so CANCEL, RELEASE, credit and
callback answers never wait long for the running call. Calls start on the main
thread in arrival order; one whose target returns an awaitable continues as
a task on the event loop and one that streams continues as a stream, each
after a DETACHED, so the main thread is free for the next call. A call the
client sent ahead (CALL option ``ahead``) never runs nested in a callback
wait: it is deferred until the outer call has answered, and until it starts
the client may take it back with WITHDRAW (protocol section 3.7). EOF on the
protocol channel means the client is gone: the worker exits, at once if
anything is still running.

The process's start-up, before the handshake, is in :mod:`pyferry.startup`;
the error info of an ERROR message is made by :mod:`pyferry.errorinfo`.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import platform
import sys
import threading
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyferry import __version__, calls, cancel, forks
from pyferry.aio import EventLoopThread
from pyferry.callbacks import JSFunction, Waiter, cancelled_wait, js_error
from pyferry.calls import MAIN, STREAM, TASK, Call
from pyferry.codec import AsHandle, TargetHandle, decode, encode, qualname
from pyferry.errorinfo import describe_briefly, describe_exception
from pyferry.errors import (
    Cancelled,
    DecodeError,
    EncodeError,
    HandleError,
    ProtocolError,
    SerializationError,
    TargetError,
    VersionMismatchError,
)
from pyferry.handles import HandleTable
from pyferry.inbox import SPIN, Inbox
from pyferry.protocol import (
    CALL,
    CALLBACK,
    CALLBACK_ERROR,
    CALLBACK_RESULT,
    CANCEL,
    DETACHED,
    ERROR,
    HELLO,
    KIND_NAMES,
    PROGRESS,
    PROTOCOL_VERSION,
    RELEASE,
    RESULT,
    STREAM_CLOSE,
    STREAM_CREDIT,
    STREAM_END,
    STREAM_ITEMS,
    WITHDRAW,
    WITHDRAWN,
    Limits,
)
from pyferry.targets import Resolver
from pyferry.transport import Channel

if TYPE_CHECKING:
    # Only the event loop's thread uses asyncio, and pyferry.aio imports it as
    # the loop starts: a worker whose calls return no awaitable never loads it.
    import asyncio

    # pyferry.streams is imported by the first call that streams (_start_stream):
    # a worker pays for its code only if it is used.
    from pyferry.streams import Flusher, Stream

__all__ = ["Worker", "hello_info"]

# Main-thread jobs besides Call and Stream objects: the end, and "look again".
_STOP = object()
_WAKE = object()


def hello_info() -> dict[str, Any]:
    """What the worker says about itself in its HELLO message."""
    numpy_version = _installed_version("numpy")
    return {
        "protocol": PROTOCOL_VERSION,
        "pyferry": __version__,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "numpy": numpy_version,
        "pid": os.getpid(),
    }


def _installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, without importing it.

    Reads the ``<name>-<version>.dist-info`` (or ``.egg-info``) directory
    names on ``sys.path``, in path order as the import system would find
    them: ``importlib.metadata`` does the same but costs ~15 ms of imports at
    every worker start.
    """
    module = sys.modules.get(name)
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return str(module.__version__)
    prefix = f"{name}-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for item in names:
            if item.startswith(prefix) and item.endswith((".dist-info", ".egg-info")):
                version = item[len(prefix) :].rsplit(".", 1)[0]
                return version.split("-py", 1)[0]  # egg-info names may end in -pyX.Y
    return None


class Worker:
    """Serves calls on a channel until it reaches EOF.

    Args:
        channel: the framed protocol channel to the client.
        limits: bounds on frames, applied to what the worker sends as well.
        allow: glob patterns of the targets that may be called; empty for any public one.
        spin: seconds the main thread polls for the next call before it sleeps (see
            :mod:`pyferry.inbox`); 0 for never.
    """

    def __init__(
        self, channel: Channel, limits: Limits, allow: Sequence[str] = (), spin: float = SPIN
    ) -> None:
        self._channel = channel
        self._limit = limits.max_message_bytes
        self._inbox = Inbox(channel, self._dispatch, self._at_end, spin)
        self._resolver = Resolver(allow=allow)
        self._handles = HandleTable()
        # Calls taken and not yet answered, by id: what a CANCEL can reach.
        self._live: dict[int, Call] = {}
        # Calls taken and not yet started. Whoever pops a call from here owns its
        # start: the main thread runs it, a CANCEL or WITHDRAW answers it. Keyed by
        # the Call, not its id: a withdrawn call may come back with the same id
        # while its old Call still waits in the job queue.
        self._unstarted: dict[Call, bool] = {}
        # Calls sent ahead that arrived while a callback wait ran calls nested:
        # they run after the waiting call, in arrival order (section 3.7).
        self._deferred: collections.deque[Call] = collections.deque()
        # CALLBACKs waiting for their answer, by cid.
        self._waiters: dict[int, Waiter] = {}
        self._cids = itertools.count(1)
        # JSFunctions made while decoding the current CALL (under the reading role).
        self._new_callbacks: list[JSFunction] = []
        # Orders a call's PROGRESS frames before its answer (calls that asked only).
        self._progress_lock = threading.Lock()
        self._loop = EventLoopThread()
        self._flusher: Flusher | None = None
        self._main = threading.main_thread().ident  # serve() says which thread it is

    # -- sending ----------------------------------------------------------------------

    def _send(self, message: list[Any]) -> None:
        """Encode and write a message of plain values (HELLO, errors, control messages)."""
        header, buffers = encode(message, limit=self._limit)
        self._channel.write_frame(header, buffers)

    def _send_error(self, call_id: int, exc: BaseException, skip_frames: int = 0) -> None:
        self._channel.write_frame(*self._error_frame(call_id, exc, skip_frames))

    def _error_frame(
        self, call_id: int, exc: BaseException, skip_frames: int = 0
    ) -> tuple[bytes, list[memoryview]]:
        try:
            info = describe_exception(exc, skip_frames=skip_frames)
            return encode([ERROR, call_id, info], limit=self._limit)
        except BaseException:
            # A traceback larger than the client's frame limit, no memory left for
            # it, ...: the error must still settle its call, with what can be sent.
            return encode([ERROR, call_id, describe_briefly(exc)], limit=self._limit)

    def _finish(self, call: Call) -> None:
        """Mark ``call`` answered (its callbacks expire, its PROGRESS stops) before the answer."""
        if call.progress:
            with self._progress_lock:
                call.answered = True
        else:
            call.answered = True
        self._live.pop(call.id, None)
        # A JSFunction kept by user code keeps the call: not its arguments.
        call.target, call.args, call.kwargs = None, _NO_ARGS, _NO_KWARGS

    def _answer_value(self, call: Call, value: Any) -> None:
        mode = call.result
        try:
            header, buffers = encode(
                [RESULT, call.id, AsHandle(value) if mode == "handle" else value],
                "result",
                self._handles,
                by_value=mode == "value",
                limit=self._limit,
                field=2,
            )
        except EncodeError as exc:
            # A whole-message problem (too large, too many arrays) has no path: it
            # is about the result as a whole.
            self._answer_error(call, exc if exc.path else EncodeError(exc.reason, "result"))
            return
        except MemoryError:
            self._answer_error(call, _out_of_memory("the result", value))
            return
        self._finish(call)
        self._channel.write_frame(header, buffers)

    def _answer_error(self, call: Call, exc: BaseException, skip_frames: int = 0) -> None:
        frame = self._error_frame(call.id, exc, skip_frames)
        self._finish(call)
        self._channel.write_frame(*frame)

    # -- Runtime, for pyferry.calls ----------------------------------------------------

    def send_progress(self, call: Call, report: list[Any]) -> None:
        """PROGRESS for ``call``, unless it has been answered already."""
        header, buffers = encode([PROGRESS, call.id, report], limit=self._limit)
        with self._progress_lock:
            if call.answered:
                return
            self._channel.write_frame(header, buffers)
        if threading.get_ident() == self._main and calls.main_calls[-1:] == [call]:
            cancel.raise_if_cancelled(call)  # a cancel signal that came while we wrote

    def stats(self) -> dict[str, int]:
        live = list(self._live.values())
        return {
            "handles": len(self._handles),
            "tasks": sum(1 for call in live if call.where == TASK),
            "streams": sum(1 for call in live if call.where == STREAM),
        }

    def call_js(self, call: Call, callback_id: int, args: tuple[Any, ...]) -> Any:
        """Call JS function ``callback_id`` of ``call`` and wait for its answer (section 3.3)."""
        main = threading.get_ident() == self._main
        if main:
            running = calls.main_calls[-1] if calls.main_calls else None
        else:
            running = calls._current.get()
        cid = next(self._cids)
        try:
            header, buffers = encode(
                [CALLBACK, cid, callback_id, list(args)],
                "args",
                self._handles,
                limit=self._limit,
                field=3,
            )
        except EncodeError as exc:
            raise (exc if exc.path else EncodeError(exc.reason, "args")) from None
        waiter = Waiter(running, main)
        self._waiters[cid] = waiter
        try:
            self._channel.write_frame(header, buffers)
            if main:
                self._run_jobs(waiter)
            else:
                waiter.wait()
        finally:
            self._waiters.pop(cid, None)
        if main:
            cancel.raise_if_cancelled(running)  # cancelled as the answer came
        return waiter.outcome()

    # -- Peer, for decode (under the reading role) ------------------------------------------------

    def handle(self, handle_id: int) -> Any:
        return self._handles.handle(handle_id)

    def callback(self, callback_id: int, call_id: int) -> JSFunction:
        function = JSFunction(callback_id)
        self._new_callbacks.append(function)  # bound to its Call once that exists
        return function

    # -- StreamHost, for pyferry.streams ---------------------------------------------------

    def encode_items(self, call: Call, items: list[Any]) -> tuple[bytes, list[memoryview]]:
        mode = call.result
        try:
            return encode(
                [
                    STREAM_ITEMS,
                    call.id,
                    [AsHandle(x) for x in items] if mode == "handle" else items,
                ],
                "",
                self._handles,
                by_value=mode == "value",
                limit=self._limit,
                field=2,
            )
        except MemoryError:
            raise _out_of_memory("stream items", items) from None

    @property
    def flusher(self) -> Flusher:
        """The streams' flusher, made (and pyferry.streams imported) by the first stream."""
        flusher = self._flusher
        if flusher is None:
            from pyferry.streams import Flusher

            flusher = self._flusher = Flusher()  # its thread starts with the first batch
        return flusher

    def write(self, header: bytes, buffers: list[memoryview]) -> None:
        self._channel.write_frame(header, buffers)

    def finish_stream(self, stream: Stream, error: BaseException | None, skip: int) -> None:
        call = stream.call
        if error is not None:
            self._answer_error(call, error, skip)
            return
        header, buffers = encode([STREAM_END, call.id, None])
        self._finish(call)
        self._channel.write_frame(header, buffers)

    def requeue(self, stream: Stream) -> None:
        self._inbox.post(stream)

    def jobs_waiting(self) -> bool:
        return self._inbox.jobs_waiting()

    def call_soon(self, func: Any, *args: Any) -> None:
        self._loop.call_soon(func, *args)

    # -- handshake and the main thread ---------------------------------------------------

    def handshake(self) -> None:
        """Send HELLO, then read and check the client's HELLO.

        Raises:
            EOFError: the client closed the channel first.
            VersionMismatchError: the client speaks another protocol version.
            ProtocolError: the first frame is not a HELLO.
        """
        self._send([HELLO, 0, hello_info()])
        frame = self._channel.read_frame()
        if frame is None:
            raise EOFError("channel closed before the client's HELLO")
        message = decode(*frame)
        if not (isinstance(message, list) and len(message) >= 3 and message[0] == HELLO):
            raise ProtocolError(f"expected the client's HELLO first, got {message!r:.80}")
        info = message[2] if isinstance(message[2], dict) else {}
        theirs = info.get("protocol")
        if theirs != PROTOCOL_VERSION:
            raise VersionMismatchError(
                f"client speaks protocol version {theirs!r}, "
                f"this worker (pyferry {__version__}) speaks {PROTOCOL_VERSION}"
            )

    def serve(self) -> None:
        """Run calls until the channel reaches EOF; protocol failures end the worker."""
        if threading.current_thread() is threading.main_thread():
            cancel.install()
        self._main = threading.get_ident()  # the thread that runs calls
        forks.install(self._channel.fds)
        calls.set_runtime(self)
        self._inbox.start()
        try:
            self._run_jobs(None)
        except OSError:
            return  # a reply could not be written: the client is gone

    def _run_jobs(self, until: Waiter | None) -> None:
        """Run main-thread jobs until STOP, or (nested, in a callback wait) until ``until`` is done.

        A nested loop ends with ``Cancelled`` when the call whose code waits is
        cancelled, checked between jobs: after a nested call returns, say.
        """
        inbox = self._inbox
        stop = None
        if until is not None:
            running = until.running

            def stop() -> bool:
                return until.done or cancel.pending(running)

        deferred = self._deferred
        while True:
            if until is not None:
                if until.done:
                    return
                cancel.raise_if_cancelled(running)
            elif deferred:
                self._run_call(deferred.popleft())
                continue
            job = inbox.next_job(stop)
            if job is None:
                continue  # ``until`` is done or its call cancelled: see above
            if type(job) is Call:
                if job.ahead and until is not None:
                    deferred.append(job)  # not nested: it waits for the waiting call
                else:
                    self._run_call(job)
            elif job is _STOP:
                if until is None:
                    return
            elif job is not _WAKE:  # _WAKE: look at ``until`` again
                self._run_step(job)  # the only other job: a Stream's next step

    def _run_call(self, call: Call) -> None:
        if not self._unstarted.pop(call, False):
            return  # answered already: cancelled or withdrawn before it started
        call.where = MAIN
        stack = calls.main_calls
        stack.append(call)
        token = calls._current.set(call)
        failure: BaseException | None = None
        try:
            value = _call_user(self._resolver, call)
        except BaseException as exc:
            failure = exc
        finally:
            calls._current.reset(token)
            stack.pop()
        forks.leave_if_child(failure)
        if failure is not None:
            self._answer_error(call, failure, skip_frames=2)
        elif call.window:
            if not call.op_get and _is_awaitable(value) and not _is_iterable(value):
                self._start_task(call, value)  # streams what the awaitable gives
            else:
                self._start_stream(call, value)
        elif not call.op_get and _is_awaitable(value):
            self._start_task(call, value)
        else:
            self._answer_value(call, value)

    def _run_step(self, stream: Stream) -> None:
        if stream.finished:
            return
        stack = calls.main_calls
        stack.append(stream.call)
        token = calls._current.set(stream.call)
        try:
            stream.step()
        finally:
            calls._current.reset(token)
            stack.pop()
        forks.leave_if_child()

    # -- tasks and streams -----------------------------------------------------------------

    def _start_task(self, call: Call, awaitable: Any) -> None:
        """Run ``awaitable`` as a task on the event loop; the main thread is free (DETACHED)."""
        call.where = TASK
        self._send([DETACHED, call.id, None])
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

        calls._current.set(call)
        try:
            try:
                value = await awaitable
            except asyncio.CancelledError as exc:
                self._answer_error(call, _task_cancelled(call, exc), skip_frames=1)
                return
            except BaseException as exc:
                forks.leave_if_child(exc)
                self._answer_error(call, exc, skip_frames=1)
                return
            forks.leave_if_child()
            if call.window:
                self._start_stream(call, value, detached=True)
            else:
                self._answer_value(call, value)
        except OSError:
            pass  # the client is gone; reading its EOF ends the worker

    def _task_done(self, call: Call, awaitable: Any, task: asyncio.Task[None]) -> None:
        """Answer a task cancelled before it ran (its body never started); tidy up."""
        if isinstance(awaitable, types.CoroutineType):  # inspect.iscoroutine
            awaitable.close()  # never awaited if the task was cancelled first: no warning
        if task.cancelled():
            if not call.answered and call.where == TASK:
                with contextlib.suppress(OSError):
                    self._answer_error(
                        call, Cancelled(f"call {call.id} was cancelled by the client")
                    )
        elif task.exception() is not None:  # a bug here: say so instead of losing it
            with contextlib.suppress(OSError):
                if not call.answered:
                    self._answer_error(call, task.exception())  # type: ignore[arg-type]

    def _cancel_task(self, call: Call) -> None:
        if call.task is not None:
            call.task.cancel()

    def _start_stream(self, call: Call, value: Any, *, detached: bool = False) -> None:
        """Stream the items of ``value`` (section 3.4), after a DETACHED."""
        try:
            if hasattr(type(value), "__aiter__"):
                iterator, is_async = aiter(value), True
            else:
                iterator, is_async = iter(value), False
        except TypeError:
            self._answer_error(
                call,
                TargetError(
                    f"call {call.id} asked for a stream, but its answer, a "
                    f"{qualname(type(value))}, is neither iterable nor async iterable"
                ),
            )
            return
        except BaseException as exc:
            self._answer_error(call, exc)
            return
        from pyferry.streams import Stream

        stream = Stream(self, call, iterator, is_async)
        call.stream = stream
        call.where = STREAM
        if not detached:
            self._send([DETACHED, call.id, None])
        if is_async:
            self._loop.call_soon(stream.start_async)
        else:
            stream.queued = True
            self._inbox.post(stream)

    # -- frames, from whoever reads them (pyferry.inbox) ---------------------------------------

    def _at_end(self, error: BaseException | None) -> None:
        if error is not None:
            # The stream can no longer be trusted: say why, then stop serving.
            with contextlib.suppress(BaseException):
                self._send_error(0, error)
            self._exit(2)
        self._exit(0)

    def _exit(self, status: int) -> None:
        if self._live or self._waiters or status:
            # The client is gone (or the stream is broken) while calls run, or a
            # thread waits for a JS answer: nobody can receive the answers or send
            # one, so end the process now.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
        self._inbox.post(_STOP)

    def _dispatch(self, header: bytes, buffers: list[Any]) -> None:
        if self._new_callbacks:
            self._new_callbacks.clear()  # those of a CALL that was refused
        try:
            message = decode(header, buffers, self)
        except (DecodeError, HandleError) as exc:
            self._undecodable(header, exc)
            return
        if not isinstance(message, list) or len(message) < 2:
            raise ProtocolError(f"a message must be an array [kind, id, ...], got {message!r:.80}")
        kind = message[0]
        if type(kind) is not int:
            raise ProtocolError(f"message kind must be an integer, got {kind!r:.80}")
        if kind == CALL:
            self._take_call(message)
        elif kind == CANCEL:
            self._cancel(_positive_id(message, "CANCEL"))
        elif kind == RELEASE:
            self._release(message)
        elif kind in (CALLBACK_RESULT, CALLBACK_ERROR):
            self._callback_answer(message)
        elif kind == STREAM_CREDIT:
            self._credit(message)
        elif kind == STREAM_CLOSE:
            self._stream_close(_positive_id(message, "STREAM_CLOSE"))
        elif kind == WITHDRAW:
            self._withdraw(_positive_id(message, "WITHDRAW"))
        else:
            name = KIND_NAMES.get(kind)
            shown = f"{kind} ({name})" if name else repr(kind)
            raise ProtocolError(f"unexpected message kind {shown} from the client")

    def _undecodable(self, header: bytes, exc: DecodeError | HandleError) -> None:
        """A header that does not decode: fail its call or callback if the envelope says which."""
        kind, ident = _peek_envelope(header)
        if kind == CALL and ident:
            if isinstance(exc, DecodeError):
                exc = DecodeError(f"the call cannot be decoded: {exc.reason}")
            self._send_error(ident, exc)
        elif kind in (CALLBACK_RESULT, CALLBACK_ERROR) and ident:
            # The JS function's answer cannot be read: the Python call raises why.
            self._wake(self._waiters.pop(ident, None), error=exc)
        else:
            raise ProtocolError(f"undecodable frame: {exc}") from exc

    def _take_call(self, message: list[Any]) -> None:
        call_id = message[1]
        if len(message) not in (5, 6) or type(call_id) is not int or call_id <= 0:
            raise ProtocolError(f"malformed CALL message {message!r:.80}")
        target, args, kwargs = message[2], message[3], message[4]
        if not isinstance(args, list) or not isinstance(kwargs, (dict, type(None))):
            self._send_error(call_id, DecodeError("CALL args must be an array, kwargs a map"))
            return
        if kwargs and not all(isinstance(k, str) for k in kwargs):
            self._send_error(call_id, DecodeError("keyword argument names must be strings"))
            return
        call = Call(self, call_id, target, args, kwargs or _NO_KWARGS)
        if len(message) == 6 and message[5] is not None:
            try:
                _set_options(call, message[5])
            except SerializationError as exc:
                self._send_error(call_id, exc)
                return
        if self._new_callbacks:
            for function in self._new_callbacks:
                function._call = call
            self._new_callbacks.clear()
        self._live[call_id] = call
        self._unstarted[call] = True
        self._inbox.post(call)

    def _cancel(self, call_id: int) -> None:
        """Cancel a call: not started, it is answered without running; running, stopped.

        A CANCEL for a call that has been answered is ignored: it crossed the reply.
        The flag goes first, then the call's state is read: a call that moves on
        meanwhile (queue -> main thread -> task or stream) checks the flag itself.
        """
        call = self._live.get(call_id)
        if call is None:
            return
        call.cancel_requested = True
        if self._unstarted.pop(call, False):
            self._answer_error(call, Cancelled("the call was cancelled before it started"))
            return
        where = call.where
        if where == TASK:
            self._loop.call_soon(self._cancel_task, call)
        elif where == STREAM:
            from pyferry.streams import CANCEL  # loaded: the call streams

            call.stream.close(CANCEL)  # between steps (or an async one)
        if where == MAIN or (where == STREAM and not call.stream.is_async):
            cancel.interrupt(call)  # running its code (a sync stream: in a step)
            self._inbox.post(_WAKE)  # waiting for a callback on the main thread: look again
        for waiter in list(self._waiters.values()):
            if waiter.running is call and not waiter.main:
                waiter.finish(error=cancelled_wait(call))

    def _withdraw(self, call_id: int) -> None:
        """Give a call back to the client if it has not started; else its answer will come."""
        call = self._live.get(call_id)
        if call is None or not self._unstarted.pop(call, False):
            return
        self._finish(call)
        self._send([WITHDRAWN, call_id, None])

    def _release(self, message: list[Any]) -> None:
        ids = message[2] if len(message) >= 3 else None
        if not isinstance(ids, list) or not all(type(i) is int and i > 0 for i in ids):
            raise ProtocolError(
                f"RELEASE must be [5, 0, [handle-id, ...]] with positive integer ids, "
                f"got {message!r:.80}"
            )
        self._handles.discard(ids)

    def _callback_answer(self, message: list[Any]) -> None:
        cid = _positive_id(message, KIND_NAMES[message[0]])
        if len(message) < 3:
            raise ProtocolError(f"malformed {KIND_NAMES[message[0]]} message {message!r:.80}")
        waiter = self._waiters.pop(cid, None)
        if message[0] == CALLBACK_RESULT:
            self._wake(waiter, value=message[2])
        else:
            self._wake(waiter, error=js_error(message[2]))

    def _wake(
        self, waiter: Waiter | None, value: Any = None, error: BaseException | None = None
    ) -> None:
        if waiter is None:
            return  # nobody waits: its call was cancelled, or the cid is unknown
        waiter.finish(value, error)
        if waiter.main:
            self._inbox.post(_WAKE)

    def _credit(self, message: list[Any]) -> None:
        call_id = _positive_id(message, "STREAM_CREDIT")
        n = message[2] if len(message) >= 3 else None
        if type(n) is not int or n <= 0:
            raise ProtocolError(f"STREAM_CREDIT n must be a positive integer, got {n!r:.80}")
        call = self._live.get(call_id)
        if call is not None and call.stream is not None:
            call.stream.add_credit(n)

    def _stream_close(self, call_id: int) -> None:
        call = self._live.get(call_id)
        if call is None:
            return
        if call.stream is not None:
            from pyferry.streams import CLOSE  # loaded: the call streams

            call.stream.close(CLOSE)
        else:
            call.close_requested = True  # not streaming yet: the stream closes as it starts


_NO_ARGS: list[Any] = []
_NO_KWARGS: dict[str, Any] = {}
_PLAIN_TYPES = frozenset({int, float, str, bytes, list, dict, tuple, bool, type(None)})
# inspect.CO_ITERABLE_COROUTINE: the code flag of a generator made with @types.coroutine.
_CO_ITERABLE_COROUTINE = 0x100


def _is_awaitable(value: Any) -> bool:
    """``inspect.isawaitable``, quicker for the common answers (numbers, arrays, ...).

    Without importing inspect or asyncio, which a worker loads only once a
    call returns an awaitable (see pyferry.aio).
    """
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return False
    if hasattr(kind, "__await__"):
        return True
    return kind is types.GeneratorType and bool(value.gi_code.co_flags & _CO_ITERABLE_COROUTINE)


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
    cancel.raise_if_cancelled(call)
    if call.op_get:
        return func
    return func(*call.args, **call.kwargs)


_OPS = {"call": False, "get": True}
_RESULTS = ("auto", "value", "handle")


def _set_options(call: Call, options: Any) -> None:
    """Check a CALL's options and set them on ``call``.

    A nil value for an option means its default, as an absent key does.

    Raises:
        SerializationError: options not a map, or a known option with a bad value.
    """
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
    if op == "get" and (call.args or call.kwargs):
        raise SerializationError('option "op": "get" takes no args and no kwargs')
    call.op_get = op == "get"
    call.result = result or "auto"
    call.window = window or 0
    call.progress = bool(progress)
    call.ahead = bool(ahead)


def _positive_id(message: list[Any], name: str) -> int:
    ident = message[1]
    if type(ident) is not int or ident <= 0:
        raise ProtocolError(f"malformed {name} message {message!r:.80}: the id must be positive")
    return ident


def _out_of_memory(what: str, value: Any) -> MemoryError:
    """The MemoryError a call is answered with when its answer did not fit in memory."""
    return MemoryError(f"out of memory while encoding {what} (a {qualname(type(value))})")


def _peek_envelope(header: bytes) -> tuple[int | None, int | None]:
    """The kind and id of a message whose body could not be decoded, if its envelope is intact."""
    import msgpack

    try:
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(header), 1))
        unpacker.feed(header)
        if unpacker.read_array_header() < 2:
            return None, None
        kind = unpacker.unpack()
        ident = unpacker.unpack()
    except Exception:
        return None, None
    if type(kind) is not int or type(ident) is not int or ident <= 0:
        return None, None
    return kind, ident
