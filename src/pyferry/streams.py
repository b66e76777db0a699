"""Streams: a call's answer sent as items, with batching and credit (protocol section 3.4).

A CALL with option ``stream: window`` answers with STREAM_ITEMS frames and a
STREAM_END (or an ERROR). The worker may send ``window`` items plus the
credit the client has returned; with none left it stops advancing the
iterator. Items are batched: a batch goes out when it holds 256 items, when
its oldest item has waited 2 ms (the :class:`Flusher` thread sees to that
while the producer is busy in a slow step), when the credit is used up, and
when the iterator ends or fails.

A sync iterator advances on the main thread, in steps that the worker
interleaves with other calls (:meth:`Stream.step`); an async iterator
advances on the event loop (:meth:`Stream.produce`). STREAM_CLOSE and
CANCEL close the iterator (``close()``/``aclose()``, so a generator's
``finally`` runs).

Locking: ``Stream.lock`` guards the batch, the counts and the flags, and is
held while a batch is written, so that batches, the end and the flusher's
writes never interleave out of order.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pyferry import calls, forks
from pyferry.calls import Call
from pyferry.cancel import user_code_boundary
from pyferry.errors import Cancelled, EncodeError, TargetError
from pyferry.refs import qualname

if TYPE_CHECKING:
    import asyncio  # the async parts run on the event loop, which imports it (pyferry.aio)

    from pyferry.replies import Replies

__all__ = ["BATCH_ITEMS", "MAX_AGE", "Flusher", "Stream", "start_stream"]

BATCH_ITEMS = 256
MAX_AGE = 0.002  # seconds an item may wait in a batch
_SLICE = 0.01  # seconds a sync stream may hold the main thread per step job
_INDEX = r"^\[(\d+)\](.*)$"  # compiled (and cached by re) on first use: errors only

CLOSE = "close"
CANCEL = "cancel"


class StreamHost(Protocol):
    """What a stream needs from the backend that runs it."""

    @property
    def flusher(self) -> Flusher:
        """The flusher thread's queue (made when the first stream needs it)."""
        ...

    @property
    def replies(self) -> Replies:
        """Where the stream's items and answer go."""
        ...

    def requeue(self, stream: Stream) -> None:
        """Put a sync stream's next step on the main thread's queue."""
        ...

    def jobs_waiting(self) -> bool: ...

    def call_soon(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` on the event loop."""
        ...


def start_stream(host: StreamHost, call: Call, value: Any, *, detached: bool = False) -> None:
    """Stream the items of ``value``, the answer of ``call``, after a DETACHED (section 3.4).

    Args:
        host: the backend that runs the call.
        call: a call that asked for a stream.
        value: what its target returned (or its awaitable gave).
        detached: DETACHED was sent already (the call ran as a task).
    """
    try:
        if hasattr(type(value), "__aiter__"):
            iterator, is_async = aiter(value), True
        else:
            iterator, is_async = iter(value), False
    except TypeError:
        host.replies.error(
            call,
            TargetError(
                f"call {call.id} asked for a stream, but its answer, a "
                f"{qualname(type(value))}, is neither iterable nor async iterable"
            ),
        )
        return
    except BaseException as exc:
        host.replies.error(call, exc)
        return
    stream = Stream(host, call, iterator, is_async)
    call.stream = stream
    call.where = calls.STREAM
    if not detached:
        host.replies.detached(call)
    if is_async:
        host.call_soon(stream.start_async)
    else:
        stream.queued = True
        host.requeue(stream)


@user_code_boundary
def _advance(iterator: Any) -> Any:
    return next(iterator)


class Stream:
    """The state of one streaming call."""

    __slots__ = (
        "allowance",
        "batch",
        "call",
        "closing",
        "credit",
        "failure",
        "finished",
        "host",
        "is_async",
        "iterator",
        "lock",
        "oldest",
        "produced",
        "queued",
        "sent",
        "started",
        "task",
    )

    def __init__(self, host: StreamHost, call: Call, iterator: Any, is_async: bool) -> None:
        self.host = host
        self.call = call
        self.iterator = iterator
        self.is_async = is_async
        self.lock = threading.Lock()
        self.batch: list[Any] = []
        self.oldest = 0.0
        self.allowance = call.window
        self.produced = 0
        self.sent = 0
        self.closing: str | None = None
        self.failure: BaseException | None = None  # an item that could not be sent
        self.finished = False
        self.queued = False  # sync: a step is queued or running
        self.started = False  # async: the producer task runs
        self.task: asyncio.Task[None] | None = None
        self.credit: asyncio.Event | None = None

    # -- from whoever reads frames (pyferry.inbox) ---------------------------------

    def add_credit(self, n: int) -> None:
        """STREAM_CREDIT: ``n`` more items may be sent."""
        with self.lock:
            if self.finished:
                return
            self.allowance += n
            requeue = self._claim_step()
        self._resume(requeue, self._wake)

    def close(self, reason: str) -> None:
        """STREAM_CLOSE (``reason`` CLOSE) or CANCEL: stop at the next step, close the iterator."""
        with self.lock:
            if self.finished or self.closing is not None:
                return
            self.closing = reason
            requeue = self._claim_step()
        self._resume(requeue, self._cancel_producer)

    def _claim_step(self) -> bool:
        """Under ``lock``: whether this caller must queue a sync step (none is queued yet)."""
        if self.is_async or self.queued:
            return False
        self.queued = True
        return True

    def _resume(self, requeue: bool, on_loop: Callable[[], None]) -> None:
        """Out of ``lock``: queue the sync step claimed, or run ``on_loop`` on the event loop."""
        if requeue:
            self.host.requeue(self)
        elif self.is_async:
            self.host.call_soon(on_loop)

    # -- batching -----------------------------------------------------------------

    def _add(self, item: Any) -> None:
        with self.lock:
            batch = self.batch
            batch.append(item)
            self.produced += 1
            if len(batch) == 1:
                self.oldest = time.monotonic()
                self.host.flusher.due(self, self.oldest + MAX_AGE)
            if len(batch) >= BATCH_ITEMS or self.produced >= self.allowance:
                self._flush_locked()

    def flush_due(self, now: float) -> None:
        """Send the batch if its oldest item has waited long enough (the flusher thread)."""
        with self.lock:
            if self.batch and not self.finished and now >= self.oldest + MAX_AGE:
                self._flush_locked()

    def _flush_locked(self) -> None:
        items = self.batch
        if items:
            self.batch = []
            self._send(items)

    def _send(self, items: list[Any]) -> None:
        """Write ``items`` as STREAM_ITEMS; an item that cannot cross fails the stream."""
        if self.failure is not None:
            return
        try:
            header, buffers = self.host.replies.items(self.call, items)
        except EncodeError as exc:
            self._refuse(items, exc)
            return
        except MemoryError as exc:  # the batch did not fit in memory: the stream ends with it
            self.failure = exc
            return
        self.host.replies.write(header, buffers)
        self.sent += len(items)

    def _refuse(self, items: list[Any], exc: EncodeError) -> None:
        """Send the items before the one that cannot cross, then remember the failure."""
        match = re.match(_INDEX, exc.path, re.DOTALL)
        if match is None:  # the batch as a whole is too large: send it in halves
            if len(items) > 1:
                half = len(items) // 2
                self._send(items[:half])
                self._send(items[half:])
            else:
                self.failure = EncodeError(exc.reason, f"result[{self.sent}]")
            return
        index = int(match.group(1))
        if index:
            self._send(items[:index])
        if self.failure is None:
            self.failure = EncodeError(exc.reason, f"result[{self.sent}]{match.group(2)}")

    def _finish(self, error: BaseException | None, *, flush: bool, skip: int = 0) -> None:
        with self.lock:
            if flush:
                self._flush_locked()
            else:
                self.batch = []  # closed: the client drops what comes after its STREAM_CLOSE
            self.finished = True
            if self.failure is not None:
                error, skip = self.failure, 0  # it concerns an earlier item
        self.host.replies.end_stream(self.call, error, skip)

    def _stopping(self) -> bool:
        if self.closing is None:  # cancelled or closed before the stream existed
            if self.call.cancel_requested:
                self.closing = CANCEL
            elif self.call.close_requested:
                self.closing = CLOSE
        return self.closing is not None or self.failure is not None

    # -- a sync iterator, on the main thread -----------------------------------------

    def run(self) -> None:
        """The main-thread job of a sync stream: its next step, in its call's context."""
        if self.finished:
            return
        token = calls.enter(self.call)
        try:
            self.step()
        finally:
            calls.leave(token)
        forks.leave_if_child()

    def step(self) -> None:
        """Advance a sync iterator for a while (in its call's context, see ``run``)."""
        deadline = time.monotonic() + _SLICE
        host = self.host
        while True:
            if self._stopping():
                self._close_sync()
                return
            with self.lock:
                spent = self.produced >= self.allowance
                # A close (or a failed batch) that came since _stopping() looked is seen here,
                # under the lock: it queued no step, this one running, and no STREAM_CREDIT
                # comes after a STREAM_CLOSE to queue one.
                if spent and self.closing is None and self.failure is None:
                    self._flush_locked()
                    self.queued = False  # STREAM_CREDIT queues the next step
                    return
            if spent:
                continue  # closing (or failed) meanwhile: close it, no item past the credit
            try:
                item = _advance(self.iterator)
            except StopIteration:
                self._finish(None, flush=True)
                return
            except BaseException as exc:
                self._finish(exc, flush=True, skip=2)
                return
            self._add(item)
            if host.jobs_waiting() or time.monotonic() >= deadline:
                host.requeue(self)  # let other calls run; ``queued`` stays True
                return

    def _close_sync(self) -> None:
        error: BaseException | None = None
        close = getattr(self.iterator, "close", None)
        if callable(close):
            try:
                close()
            except BaseException as exc:
                error = exc
        self._finish(self._close_error(error), flush=False, skip=1)

    def _close_error(self, error: BaseException | None) -> BaseException | None:
        """The answer after closing: ERROR if closing raised or the call was cancelled."""
        if error is None and self.closing == CANCEL:
            self.call.interrupted = True
            return Cancelled(f"call {self.call.id} was cancelled by the client")
        return error

    # -- an async iterator, on the event loop ----------------------------------------

    def start_async(self) -> None:
        """Create the producer task (on the loop's thread)."""
        import asyncio

        self.task = asyncio.get_running_loop().create_task(self.produce())

    def _wake(self) -> None:
        if self.credit is not None:
            self.credit.set()

    def _cancel_producer(self) -> None:
        # A task cancelled before its first step never runs its body, so a
        # producer that has not started sees ``closing`` when it does instead.
        if self.started and self.task is not None:
            self.task.cancel()

    async def produce(self) -> None:
        """Advance an async iterator while there is credit, until it ends or is closed."""
        import asyncio

        self.started = True
        calls.set_current(self.call)
        self.credit = credit = asyncio.Event()
        iterator = self.iterator
        try:
            while not self._stopping():
                with self.lock:
                    starved = self.produced >= self.allowance
                    if starved:
                        self._flush_locked()
                        credit.clear()
                if starved:
                    await credit.wait()
                    continue
                item = await iterator.__anext__()
                self._add(item)
        except StopAsyncIteration:
            self._finish(None, flush=True)
            return
        except asyncio.CancelledError as exc:
            if self.closing is None:  # not ours: the iterator's own code was cancelled
                self._finish(exc, flush=True, skip=1)
                return
        except BaseException as exc:
            self._finish(exc, flush=True, skip=1)
            return
        error: BaseException | None = None
        aclose = getattr(iterator, "aclose", None)
        if callable(aclose):
            try:
                await aclose()
            except BaseException as exc:
                error = exc
        self._finish(self._close_error(error), flush=False, skip=1)


class Flusher:
    """Sends batches whose oldest item has waited ``MAX_AGE``, from a thread of its own.

    The producer itself sends full batches; this covers a slow producer, whose
    last items would otherwise wait in the batch until its next item.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._due: list[tuple[float, int, Stream]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def due(self, stream: Stream, when: float) -> None:
        """Have ``stream`` checked at ``when`` (``time.monotonic()`` seconds)."""
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pyferry-flusher", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._due, (when, next(self._seq), stream))
            if len(self._due) == 1:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._due:
                    self._cond.wait()
                when, _, stream = self._due[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._due)
            with contextlib.suppress(OSError):  # the client is gone: the reader ends the worker
                stream.flush_due(time.monotonic())
