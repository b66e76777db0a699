"""A STREAM_CLOSE that lands while a sync stream's step runs, in the window the step has
already looked for one: the step must still close the iterator rather than wait for credit
that a closed stream never gets (a ``break`` out of ``for await`` then hung).

The Stream is the real one; its host (the backend: replies, the flusher, the job queue) is
a recorder, so the interleaving can be forced exactly where it once went wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from pyferry.streams import CANCEL, CLOSE, Stream


class Host:
    """What a Stream needs of its backend, recording what it is asked."""

    def __init__(self) -> None:
        self.sent: list[list[Any]] = []
        self.ended: list[BaseException | None] = []
        self.requeued = 0
        self.flusher = SimpleNamespace(due=lambda stream, when: None)
        self.replies = SimpleNamespace(
            items=lambda call, items: (items, []),
            write=lambda header, buffers: self.sent.append(header),
            end_stream=lambda call, error, skip: self.ended.append(error),
        )

    def requeue(self, stream: Stream) -> None:
        self.requeued += 1

    def jobs_waiting(self) -> bool:
        return False

    def call_soon(self, func: Any, *args: Any) -> None:  # pragma: no cover - sync streams only
        raise AssertionError("a sync stream never uses the event loop")


def _call(window: int) -> Any:
    return SimpleNamespace(
        id=7, window=window, cancel_requested=False, close_requested=False, interrupted=False
    )


def _counting(closed: list[bool]) -> Iterator[int]:
    i = 0
    try:
        while True:
            yield i
            i += 1
    finally:
        closed.append(True)


@pytest.mark.parametrize("reason", [CLOSE, CANCEL])
def test_a_close_just_after_the_step_looked_still_closes_the_iterator(
    monkeypatch: pytest.MonkeyPatch, reason: str
) -> None:
    host = Host()
    closed: list[bool] = []
    stream = Stream(host, _call(window=3), _counting(closed), is_async=False)  # type: ignore[arg-type]
    stream.queued = True  # as start_stream leaves it: this step is the queued one
    looked = Stream._stopping

    def stopping_then_close(self: Stream) -> bool:
        answer = looked(self)
        if self.produced == self.allowance and self.closing is None:
            self.close(reason)  # the reader thread's STREAM_CLOSE, right after the look
        return answer

    monkeypatch.setattr(Stream, "_stopping", stopping_then_close)
    stream.step()
    assert host.requeued == 0, "the running step was the one to close it: nothing was queued"
    assert closed == [True], "the generator was closed (its finally ran)"
    assert stream.finished
    assert len(host.ended) == 1
    assert sum(len(batch) for batch in host.sent) == 3


def test_without_a_close_a_step_at_its_allowance_waits_for_credit() -> None:
    host = Host()
    closed: list[bool] = []
    stream = Stream(host, _call(window=3), _counting(closed), is_async=False)  # type: ignore[arg-type]
    stream.queued = True
    stream.step()
    assert (stream.finished, stream.queued, closed, host.ended) == (False, False, [], [])
    stream.add_credit(2)  # STREAM_CREDIT queues the next step
    assert host.requeued == 1
    assert stream.queued
