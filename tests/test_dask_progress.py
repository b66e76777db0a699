"""dask_tasks.Progress in this process: events in seq order, repeats dropped, the bounded wait.

On a real cluster the events of a task come before its result, in order
(test_dask_tasks.py); these feed Progress events as the scheduler could
deliver them (late, out of order, twice, never) and read the PROGRESS
frames that a real Replies writes to a socket.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pyferry.backends import dask_tasks
from pyferry.backends.dask_tasks import Progress
from pyferry.calls import Call
from pyferry.codec import decode
from pyferry.handles import HandleTable
from pyferry.protocol import PROGRESS
from pyferry.replies import Replies
from pyferry.transport import Channel, Limits


class Wire:
    """A Replies writing to one end of a socketpair, and the frames read at the other."""

    def __init__(self) -> None:
        self.mine, self.theirs = socket.socketpair()
        channel = Channel(self.mine.fileno(), self.mine.fileno(), Limits())
        self.live: dict[int, Call] = {}
        self.replies = Replies(channel, HandleTable(), 1 << 20, self.live)
        self.reader = Channel(self.theirs.fileno(), self.theirs.fileno(), Limits())

    def call(self, call_id: int) -> Call:
        call = Call(None, call_id, "t", [], {})  # type: ignore[arg-type]  # reports nothing itself
        call.progress = True
        self.live[call_id] = call
        return call

    def progress(self) -> list[Any]:
        """The PROGRESS frames written so far: their ``done`` values."""
        self.theirs.setblocking(False)
        seen = []
        try:
            while True:
                frame = self.reader.read_frame()
                if frame is None:
                    break
                message = decode(*frame)
                assert message[0] == PROGRESS
                seen.append(message[2][0])
        except BlockingIOError:
            pass
        return seen

    def close(self) -> None:
        self.mine.close()
        self.theirs.close()


@pytest.fixture
def wire() -> Iterator[Wire]:
    w = Wire()
    try:
        yield w
    finally:
        w.close()


def event(key: str, seq: int) -> tuple[float, list[Any]]:
    return (time.time(), [key, seq, [seq, None, None]])


def test_events_are_forwarded_in_seq_order_once(wire: Wire) -> None:
    progress = Progress(wire.replies)
    progress.track("k", wire.call(1))
    for seq in (2, 1, 1, 4, 3, 2):  # out of order, and repeats (a task Dask ran again)
        progress.on_event(event("k", seq))
    progress.on_event((time.time(), {"action": "add-client"}))  # not a report: ignored
    progress.on_event(event("other-key", 1))  # a task not tracked: dropped
    assert wire.progress() == [1, 2, 3, 4]


def test_the_answer_waits_for_events_still_on_their_way(wire: Wire) -> None:
    progress = Progress(wire.replies)
    progress.track("k", wire.call(1))

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, progress.on_event, event("k", 2))
        loop.call_later(0.10, progress.on_event, event("k", 1))
        started = time.monotonic()
        outcome = await progress.settle("k", (("result", b"", []), 2))
        return outcome, time.monotonic() - started

    outcome, waited = asyncio.run(main())
    assert outcome == ("result", b"", [])
    assert 0.08 < waited < dask_tasks.PROGRESS_WAIT
    assert wire.progress() == [1, 2]
    progress.on_event(event("k", 3))  # after the answer: dropped
    assert wire.progress() == []


def test_the_wait_is_bounded_and_what_comes_later_is_dropped(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dask_tasks, "PROGRESS_WAIT", 0.2)
    progress = Progress(wire.replies)
    progress.track("k", wire.call(1))
    progress.on_event(event("k", 1))
    progress.on_event(event("k", 3))  # 2 never comes

    async def main() -> float:
        started = time.monotonic()
        await progress.settle("k", (("error", {}), 3))
        return time.monotonic() - started

    waited = asyncio.run(main())
    assert 0.15 < waited < 2
    assert wire.progress() == [1]
    progress.on_event(event("k", 2))
    assert wire.progress() == []


def test_an_outcome_without_a_count_is_returned_whole(wire: Wire) -> None:
    progress = Progress(wire.replies)
    progress.track("k", wire.call(1))
    assert asyncio.run(progress.settle("k", "odd")) == "odd"
    progress.on_event(event("k", 1))
    assert wire.progress() == []
