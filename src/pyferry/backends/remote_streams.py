"""A stream's iterator on a Dask worker: advanced by a thread of its own, within the credit.

The gateway pulls items through the actor (:mod:`pyferry.backends.remote_actor`).
Each pull lets the :class:`Producer` run ahead to ``sent + n`` items in all,
where ``n`` is what the client's credit still allows, so the iterator never
gets further ahead than the client allows::

    gateway --pull(n, sent)--> actor thread: take()  -- waits up to WAIT for a
                                   ^    |               first item, then up to
                                   |    v               PULL_SECONDS for more
                          producer thread: next(iterator) while produced < limit

A slow step therefore never holds back the items before it (the pull answers
without waiting for it), and a pull that finds nothing in WAIT answers empty,
so the actor thread serves the gateway's other calls meanwhile. ``close``
stops the thread after its current step and closes the iterator there (a
generator's ``finally`` runs); an async iterator advances on an event loop of
the thread's own.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pyferry.backends.remote_store import Held, info, run_user_code

__all__ = ["PULL_ITEMS", "PULL_SECONDS", "WAIT", "Producer"]

PULL_ITEMS = 1024  # items a pull takes at most
PULL_SECONDS = 0.005  # how long a pull keeps gathering once it has an item
WAIT = 0.1  # how long a pull waits for a first item before it answers empty


class Producer(Held):
    """Advances one stream's iterator on its own thread, no further than it is allowed.

    Args:
        iterator: the stream's iterator (sync or async).
    """

    def __init__(self, iterator: Any) -> None:
        self._iterator = iterator
        self._is_async = hasattr(type(iterator), "__anext__")
        self._cond = threading.Condition(threading.Lock())
        self._items: list[Any] = []  # produced, not yet taken
        self._limit = 0  # items it may produce in all
        self._produced = 0
        self._end: Any = None  # "end", or the error info, once the iterator is done
        self._closing = False
        self._close_info: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None

    def take(self, n: int, sent: int) -> tuple[list[Any], Any]:
        """Allow ``sent + n`` items in all; return the items ready and the end (None if more).

        Waits up to ``WAIT`` for a first item, then up to ``PULL_SECONDS`` for more.
        """
        cond = self._cond
        with cond:
            self._limit = max(self._limit, sent + n)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pyferry-dask-stream", daemon=True
                )
                self._thread.start()
            cond.notify_all()
            self._wait(lambda: bool(self._items) or self._end is not None, WAIT)
            if self._items:
                self._wait(
                    lambda: (
                        self._end is not None
                        or len(self._items) >= n
                        or self._produced >= self._limit
                    ),
                    PULL_SECONDS,
                )
            items, self._items = self._items, []
            return items, self._end

    def _wait(self, ready: Any, seconds: float) -> None:
        """Under the lock: wait until ``ready()`` or ``seconds`` have passed."""
        deadline = time.monotonic() + seconds
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

    def close(self) -> dict[str, Any] | None:
        """Stop after the current step and close the iterator; the error info of closing."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return self._close_iterator(None)
        thread.join()
        return self._close_info

    def abandon(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def _run(self) -> None:
        loop = None
        if self._is_async:
            import asyncio

            loop = asyncio.new_event_loop()
        cond = self._cond
        try:
            while True:
                with cond:
                    while not self._closing and self._produced >= self._limit:
                        cond.wait()
                    if self._closing:
                        break
                try:
                    if loop is not None:
                        item = run_user_code(loop.run_until_complete, self._iterator.__anext__())
                    else:
                        item = run_user_code(next, self._iterator)
                except (StopIteration, StopAsyncIteration):
                    self._finish("end")
                    return
                except BaseException as exc:  # SystemExit too: it must not end the Dask worker
                    self._finish(info(exc, skip_frames=2))
                    return
                with cond:
                    self._items.append(item)
                    self._produced += 1
                    cond.notify_all()
            self._close_info = self._close_iterator(loop)
        finally:
            if loop is not None:
                loop.close()

    def _finish(self, end: Any) -> None:
        with self._cond:
            self._end = end
            self._cond.notify_all()

    def _close_iterator(self, loop: Any) -> dict[str, Any] | None:
        iterator = self._iterator
        try:
            aclose = getattr(iterator, "aclose", None)
            if callable(aclose):
                if loop is None:
                    import asyncio

                    run_user_code(asyncio.run, aclose())
                else:
                    run_user_code(loop.run_until_complete, aclose())
            else:
                close = getattr(iterator, "close", None)
                if callable(close):
                    run_user_code(close)
        except BaseException as exc:
            return info(exc, skip_frames=1)
        return None
