"""A small result comes back to its gateway as a Dask event, without a gather.

A Dask future's value is not sent with the task's end: the client hears that
the key is in memory, then asks for the data (a gather through the scheduler,
which fetches it from the worker), a second round trip of every call. For a
RESULT of at most :data:`EVENT_BYTES`, ``remote.run`` also logs the outcome
as an event ``[key, outcome, sent]`` on its gateway's topic,
``pyferry-results-<client id>``, before its task ends; the scheduler forwards
the event to the gateway's client at once, on the same stream and ahead of
the key's end, and the gateway answers from it::

    Dask task --log_event--> scheduler --event--> gateway client -> Results: the answer
        \\--- task-finished --> scheduler --key-in-memory--> (gather: not needed)

The future of a call answered by its event is released with the others of
the next :data:`RELEASE_AFTER` seconds, not at once: each release makes the
scheduler tell the key's worker to free it, on a stream that then holds its
next message for its batching interval (5 ms), and a sequential call's task
following a release to the same worker waited for that.

The task still returns its outcome: whatever comes first answers the call,
and an error, a larger result, or a Dask failure (``KilledWorker``, a lost
scheduler) comes through the future as before. The scheduler keeps the last
``distributed.admin.low-level-log-length`` events of a topic (1000 by
default) until it restarts: at most ~2 MiB a gateway at this threshold.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

__all__ = ["EVENT_BYTES", "RELEASE_AFTER", "Results", "event_fields", "send_result"]

# The most bytes (header and buffers) of a RESULT sent as an event as well.
EVENT_BYTES = 2048
# Seconds the futures of calls answered by their events are kept, to be released together.
RELEASE_AFTER = 0.1


def send_result(topic: str | None, key: str, outcome: tuple[Any, ...], sent: int) -> None:
    """On a Dask worker: log ``outcome`` on ``topic`` if it is a small RESULT; never raises."""
    if topic is None or outcome[0] != "result":
        return
    _, header, buffers = outcome
    size = len(header) + sum(b.nbytes for b in buffers)
    if size > EVENT_BYTES:
        return
    with contextlib.suppress(Exception):  # not in a Dask task, or a closing worker: the future
        from distributed import get_worker

        event = [key, ["result", header, [bytes(b) for b in buffers]], sent]
        get_worker().log_event(topic, event)


class Results:
    """The gateway's side: the outcomes that come as events, each to the call awaiting it.

    All of it runs on the gateway's event loop thread.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._subscribed: str | None = None  # the topic of the client subscribed last
        self._kept: list[Any] = []  # futures of calls answered by their events
        self._flush: asyncio.TimerHandle | None = None

    def topic(self, client: Any) -> str:
        """The topic of ``client``'s results, subscribed to (again for a fresh client)."""
        topic = f"pyferry-results-{client.id}"
        if self._subscribed != topic:
            client.subscribe_topic(topic, self.on_event)
            self._subscribed = topic
        return topic

    def expect(self, key: str) -> None:
        """Wait for the event of task ``key`` (before it is submitted)."""
        import asyncio

        self._waiting[key] = asyncio.get_running_loop().create_future()

    async def first(self, key: str, future: Any) -> Any:
        """``(outcome, sent)`` of task ``key``: its event, or ``future``'s value if first.

        Raises what awaiting ``future`` raises when it ends first with an error.
        """
        import asyncio

        inbox = self._waiting[key]
        gather = asyncio.ensure_future(_value(future))
        try:
            await asyncio.wait((inbox, gather), return_when=asyncio.FIRST_COMPLETED)
            if inbox.done():
                self._keep(future)
                return inbox.result()
            return gather.result()
        finally:
            self._waiting.pop(key, None)
            if not gather.done():
                gather.cancel()
            elif not gather.cancelled():
                gather.exception()  # retrieved: never "exception was never retrieved"

    def _keep(self, future: Any) -> None:
        import asyncio

        self._kept.append(future)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(RELEASE_AFTER, self.release_kept)

    def release_kept(self) -> None:
        """Release the kept futures together (their tasks' results leave the Dask workers)."""
        self._flush = None
        kept, self._kept = self._kept, []
        for future in kept:
            with contextlib.suppress(Exception):  # a client closed meanwhile
                future.release()

    def forget(self, key: str) -> None:
        """Stop waiting for ``key`` (its call failed before it was awaited)."""
        self._waiting.pop(key, None)

    def on_event(self, event: Any) -> None:
        """A Dask event ``(time, [key, outcome, sent])``; anything else is ignored."""
        fields = event_fields(event)
        if fields is None:
            return
        key, outcome, sent = fields
        inbox = self._waiting.get(key) if type(key) is str else None
        if inbox is None or inbox.done() or type(sent) is not int:
            return  # answered already, or a repeat (Dask ran the task again)
        if not (type(outcome) in (list, tuple) and len(outcome) == 3):
            return
        inbox.set_result(((outcome[0], outcome[1], list(outcome[2])), sent))


def event_fields(event: Any) -> tuple[Any, Any, Any] | None:
    """The three fields of a Dask topic event ``(time, [a, b, c])``; None for anything else."""
    msg: Any = event[1] if type(event) is tuple and len(event) == 2 else None
    if not (type(msg) in (list, tuple) and len(msg) == 3):
        return None
    return msg[0], msg[1], msg[2]


async def _value(future: Any) -> Any:
    return await future
