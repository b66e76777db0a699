"""The worker's asyncio event loop: one loop, on a daemon thread started on first use.

Calls whose target returns an awaitable run there as tasks (protocol section
3.6), and so do streams of async iterables (section 3.4). Other threads hand
it work with ``call_soon``, which is thread-safe.

asyncio is imported with the loop, not with this module: it costs ~20 ms of
imports (inspect, concurrent.futures, ssl, subprocess, ...) that a worker whose
calls never return an awaitable should not pay at start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

__all__ = ["EventLoopThread"]


class EventLoopThread:
    """An asyncio loop running forever on its own daemon thread, started lazily."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether the loop exists (something has used it)."""
        return self._loop is not None

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started on the first call."""
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._loop is None:
                import asyncio

                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(loop, ready), name="pyferry-asyncio", daemon=True
                )
                thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        import asyncio

        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def call_soon(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` on the loop's thread, soon (from any thread)."""
        self.loop().call_soon_threadsafe(func, *args)
