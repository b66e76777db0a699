"""The gateway's side of a running Dask task: its progress, in order, and its interrupt.

Progress. A task whose call asked for it logs each ``pyferry.progress()`` as
a Dask event ``[key, seq, [done, total, message]]`` (seq from 1) on its
gateway's topic, ``pyferry-progress-<client id>`` (not the client's own id
topic, which the scheduler writes to as the client leaves; the scheduler
keeps the last ``distributed.admin.low-level-log-length`` events of a topic,
1000 by default, until it restarts). The scheduler sends the events to the
gateway's client, which hands them to :class:`Progress` on the gateway's
event loop; it forwards them as
PROGRESS for the call, in seq order, dropping repeats (a task Dask ran again)::

    Dask task --log_event--> scheduler --event--> gateway client -> Progress -> PROGRESS
        \\--- outcome, sent --> scheduler --> future ---------------> settle(): the answer

Events and the result travel separate paths, so the task's outcome carries
how many events it sent, and :meth:`Progress.settle` holds the answer until
that many have been forwarded, at most :data:`PROGRESS_WAIT` seconds; events
later than that are dropped (PROGRESS never follows its call's answer).

Interrupt. :func:`stop` runs when the client cancels a submitted call (the
call is answered already): it runs ``remote_calls.interrupt`` on the Dask
workers (``Client.run``) and cancels the future, in the background.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from pyferry.backends.dask_results import event_fields
from pyferry.calls import Call
from pyferry.replies import Replies

if TYPE_CHECKING:
    import asyncio

__all__ = ["PROGRESS_WAIT", "Progress", "stop"]

# Seconds an answer waits for its task's progress events still on their way.
PROGRESS_WAIT = 2.0
# Events that may wait for an earlier one to arrive, per call.
_EARLY_LIMIT = 10_000


class _Track:
    """One call's progress: what has been forwarded, what came early."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.forwarded = 0  # the seq of the last event forwarded
        self.early: dict[int, list[Any]] = {}
        self.want = 0
        self.reached: asyncio.Event | None = None


class Progress:
    """Forwards the progress events of a gateway's tasks to their calls (on the event loop).

    Args:
        replies: where PROGRESS goes.
    """

    def __init__(self, replies: Replies) -> None:
        self._replies = replies
        self._tracks: dict[str, _Track] = {}
        self._subscribed: str | None = None  # the id of the client subscribed last

    def topic(self, client: Any, key: str, call: Call) -> str | None:
        """Track task ``key`` of ``call``; the topic it logs progress on, None if not asked."""
        if not call.progress:
            return None
        topic = f"pyferry-progress-{client.id}"
        if self._subscribed != topic:  # a fresh client after a lost scheduler: subscribe it
            client.subscribe_topic(topic, self.on_event)
            self._subscribed = topic
        self.track(key, call)
        return topic

    def track(self, key: str, call: Call) -> None:
        """Forward the events of task ``key`` to ``call`` until it is settled or forgotten."""
        self._tracks[key] = _Track(call)

    async def settle(self, key: str, raw: Any) -> Any:
        """The outcome of ``raw`` (``remote.run``'s ``(outcome, sent)``), its progress forwarded.

        Waits for the events still on their way, at most PROGRESS_WAIT seconds;
        anything but a pair with an int count is returned whole, for the caller to refuse.
        """
        import asyncio

        if not (type(raw) is tuple and len(raw) == 2 and type(raw[1]) is int):
            self.forget(key)
            return raw
        outcome, sent = raw
        track = self._tracks.get(key)
        if track is not None and track.forwarded < sent:
            track.want = sent
            track.reached = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(track.reached.wait(), PROGRESS_WAIT)
        self.forget(key)
        return outcome

    def forget(self, key: str) -> None:
        """Stop tracking task ``key``: its events from now on are dropped."""
        self._tracks.pop(key, None)

    def on_event(self, event: Any) -> None:
        """A Dask event ``(time, msg)`` on the topic; anything not a task's report is ignored."""
        fields = event_fields(event)
        if fields is None:
            return
        key, seq, report = fields
        track = self._tracks.get(key) if type(key) is str else None
        if track is None or type(seq) is not int or type(report) not in (list, tuple):
            return
        if seq <= track.forwarded:
            return  # a call answered already, or a repeat (Dask ran the task again)
        if seq > track.forwarded + 1:
            if len(track.early) < _EARLY_LIMIT:
                track.early[seq] = list(report)
            return
        self._forward(track, list(report))
        while track.forwarded + 1 in track.early:
            self._forward(track, track.early.pop(track.forwarded + 1))
        if track.reached is not None and track.forwarded >= track.want:
            track.reached.set()

    def _forward(self, track: _Track, report: list[Any]) -> None:
        track.forwarded += 1
        if len(report) != 3:
            return
        # Replies.progress drops it once the call is answered; a gone client ends the worker.
        with contextlib.suppress(Exception):
            self._replies.progress(track.call, report)


def stop(client: Any, key: str, future: Any = None) -> None:
    """Interrupt the user code of call ``key`` where it runs, cancel ``future``; in the background.

    Every Dask worker is asked (the scheduler may not have placed the task
    yet, and a task that starts after the interrupt never calls user code);
    on each, ``remote_calls.interrupt`` runs on its event loop and returns at
    once. ``future`` is None for a call that runs on a handle's actor.
    """
    import asyncio

    from pyferry.backends import remote_calls

    async def interrupt() -> None:
        with contextlib.suppress(BaseException):
            await client.run(remote_calls.interrupt, key, on_error="ignore")

    async def cancel() -> None:
        with contextlib.suppress(BaseException):
            await client.cancel([future])

    loop = asyncio.get_running_loop()
    for job in (interrupt(), cancel()) if future is not None else (interrupt(),):
        task = loop.create_task(job)
        _stopping.add(task)
        task.add_done_callback(_stopping.discard)


_stopping: set[asyncio.Task[None]] = set()
