"""The worker's serve loop: dispatch, the order in which calls start, the main thread, shutdown.

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

How a started call runs is its backend's business (:mod:`pyferry.backends`;
here :mod:`pyferry.backends.local`); answers go through :mod:`pyferry.replies`.
The process's start-up is in :mod:`pyferry.startup`, the handshake in
:mod:`pyferry.hello`.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyferry import calls, cancel, forks, hello
from pyferry.aio import EventLoopThread
from pyferry.backends import Backend
from pyferry.backends.local import LocalBackend
from pyferry.callbacks import JSFunction, Waiter, cancelled_wait, js_error
from pyferry.calls import MAIN, STREAM, TASK, Call
from pyferry.codec import decode, peek_envelope
from pyferry.errors import (
    Cancelled,
    DecodeError,
    HandleError,
    ProtocolError,
    SerializationError,
)
from pyferry.handles import HandleTable
from pyferry.inbox import SPIN, Inbox
from pyferry.protocol import (
    CALL,
    CALLBACK_ERROR,
    CALLBACK_RESULT,
    CANCEL,
    KIND_NAMES,
    RELEASE,
    STREAM_CLOSE,
    STREAM_CREDIT,
    WITHDRAW,
    WITHDRAWN,
    Limits,
)
from pyferry.replies import Replies
from pyferry.targets import Resolver
from pyferry.transport import Channel

if TYPE_CHECKING:
    from pyferry.backends.dask import DaskOptions

__all__ = ["Worker"]

# Main-thread jobs besides Call and Stream objects: the end, and "look again".
_STOP = object()
_WAKE = object()


class Worker:
    """Serves calls on a channel until it reaches EOF.

    Args:
        channel: the framed protocol channel to the client.
        limits: bounds on frames, applied to what the worker sends as well.
        allow: glob patterns of the targets that may be called; empty for any public one.
        spin: seconds the main thread polls for the next call before it sleeps (see
            :mod:`pyferry.inbox`); 0 for never.
        dask: submit calls to this Dask scheduler (:mod:`pyferry.backends.dask`)
            instead of running them here; None for the local backend.

    Raises:
        ImportError: ``dask`` is given and distributed is not installed.
    """

    def __init__(
        self,
        channel: Channel,
        limits: Limits,
        allow: Sequence[str] = (),
        spin: float = SPIN,
        dask: DaskOptions | None = None,
    ) -> None:
        self._channel = channel
        self._limit = limits.max_message_bytes
        self._inbox = Inbox(channel, self._dispatch, self._at_end, spin)
        self._handles = HandleTable()
        # Calls taken and not yet answered, by id: what a CANCEL can reach.
        self._live: dict[int, Call] = {}
        self._replies = Replies(channel, self._handles, self._limit, self._live)
        self._loop = EventLoopThread()
        self._backend: Backend
        if dask is None:
            self._backend = LocalBackend(
                self._replies, Resolver(allow=allow), self._inbox, self._loop
            )
        else:
            from pyferry.backends.dask import DaskBackend  # distributed: at the first call

            self._backend = DaskBackend(
                self._replies, Resolver(allow=allow), self._loop, dask, self._limit
            )
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
        self._main = threading.main_thread().ident  # serve() says which thread it is

    # -- Runtime, for pyferry.calls ----------------------------------------------------

    def send_progress(self, call: Call, report: list[Any]) -> None:
        """PROGRESS for ``call``, unless it has been answered already."""
        self._replies.progress(call, report)
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
            running = calls.context_call()
        cid = next(self._cids)
        frame = self._replies.callback(cid, callback_id, args)  # raises what cannot cross
        waiter = Waiter(running, main)
        self._waiters[cid] = waiter
        try:
            self._replies.write(*frame)
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

    # -- handshake and the main thread ---------------------------------------------------

    def handshake(self) -> None:
        """Send HELLO, then read and check the client's (see :func:`pyferry.hello.handshake`)."""
        hello.handshake(self._channel, self._limit)

    def send_error(self, call_id: int, exc: BaseException) -> None:
        """ERROR for ``call_id`` (0: the worker as a whole), outside any Call."""
        self._replies.send_error(call_id, exc)

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
                job.run()  # the only other job: a stream's next step

    def _run_call(self, call: Call) -> None:
        if self._unstarted.pop(call, False):  # else answered already: cancelled or withdrawn
            self._backend.start(call)

    # -- frames, from whoever reads them (pyferry.inbox) ---------------------------------------

    def _at_end(self, error: BaseException | None) -> None:
        if error is not None:
            # The stream can no longer be trusted: say why, then stop serving.
            with contextlib.suppress(BaseException):
                self._replies.send_error(0, error)
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

    def _dispatch(self, header: bytes, buffers: list[Any]) -> Call | None:
        """Act on one frame from the client; a CALL taken is returned, the main thread's job."""
        if self._new_callbacks:
            self._new_callbacks.clear()  # those of a CALL that was refused
        try:
            message = decode(header, buffers, self)
        except (DecodeError, HandleError) as exc:
            self._undecodable(header, exc)
            return None
        if type(message) is not list or len(message) < 2:
            raise ProtocolError(f"a message must be an array [kind, id, ...], got {message!r:.80}")
        kind = message[0]
        if kind == CALL and type(kind) is int:  # most frames (and True == 1: the type too)
            return self._take_call(message)
        if type(kind) is not int:
            raise ProtocolError(f"message kind must be an integer, got {kind!r:.80}")
        if kind == CANCEL:
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
        return None

    def _undecodable(self, header: bytes, exc: DecodeError | HandleError) -> None:
        """A header that does not decode: fail its call or callback if the envelope says which."""
        kind, ident = peek_envelope(header)
        if kind == CALL and ident:
            if isinstance(exc, DecodeError):
                exc = DecodeError(f"the call cannot be decoded: {exc.reason}")
            self._replies.send_error(ident, exc)
        elif kind in (CALLBACK_RESULT, CALLBACK_ERROR) and ident:
            # The JS function's answer cannot be read: the Python call raises why.
            self._wake(self._waiters.pop(ident, None), error=exc)
        else:
            raise ProtocolError(f"undecodable frame: {exc}") from exc

    def _take_call(self, message: list[Any]) -> Call | None:
        """The Call of a CALL, taken and not started (None if it was answered with an ERROR)."""
        size = len(message)
        call_id = message[1]
        if size not in (5, 6) or type(call_id) is not int or call_id <= 0:
            raise ProtocolError(f"malformed CALL message {message!r:.80}")
        target, args, kwargs = message[2], message[3], message[4]
        send_error = self._replies.send_error
        # Decoded MessagePack: an array is exactly a list, a map a dict, a string a str.
        if type(args) is not list or (kwargs is not None and type(kwargs) is not dict):
            send_error(call_id, DecodeError("CALL args must be an array, kwargs a map"))
            return None
        if kwargs and not all(type(k) is str for k in kwargs):
            send_error(call_id, DecodeError("keyword argument names must be strings"))
            return None
        call = Call(self, call_id, target, args, kwargs or _NO_KWARGS)
        options = message[5] if size == 6 else None
        if options is not None:
            try:
                calls.set_options(call, options)
            except SerializationError as exc:
                send_error(call_id, exc)
                return None
        if self._new_callbacks:
            for function in self._new_callbacks:
                function._call = call
            self._new_callbacks.clear()
        self._live[call_id] = call
        self._unstarted[call] = True
        return call  # the main thread's job (pyferry.inbox runs it next or posts it)

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
            self._replies.error(call, Cancelled("the call was cancelled before it started"))
            return
        self._backend.cancel(call)
        if call.where in (MAIN, STREAM):
            self._inbox.post(_WAKE)  # waiting for a callback on the main thread: look again
        for waiter in list(self._waiters.values()):
            if waiter.running is call and not waiter.main:
                waiter.finish(error=cancelled_wait(call))

    def _withdraw(self, call_id: int) -> None:
        """Give a call back to the client if it has not started; else its answer will come."""
        call = self._live.get(call_id)
        if call is None or not self._unstarted.pop(call, False):
            return
        self._replies.finish(call)
        self._replies.send([WITHDRAWN, call_id, None])

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


_NO_KWARGS: dict[str, Any] = {}


def _positive_id(message: list[Any], name: str) -> int:
    ident = message[1]
    if type(ident) is not int or ident <= 0:
        raise ProtocolError(f"malformed {name} message {message!r:.80}: the id must be positive")
    return ident
