"""Cancellation of the running call: the state the worker keeps and ``pyferry.cancelled()``.

A worker runs one call at a time on its main thread. When the client cancels
that call (a timeout or an AbortSignal in Node), the worker's reader thread
records the request here and sends the main thread ``SIGUSR1``. The signal's
handler raises :class:`~pyferry.errors.Cancelled` in the main thread, but only
if the call it was meant for is still the one running; a request that arrives
after its call ended does nothing, so it can never interrupt a later call.

Python runs signal handlers between bytecodes and when a blocking system call
(``time.sleep``, ``select``, a lock) is interrupted, so pure-Python loops and
sleeps stop promptly. A long C call that holds the thread (a BLAS routine, a
C extension's loop) does not; code that loops in a way Python cannot
interrupt, or in other threads, can poll :func:`cancelled` instead. What
neither reaches, the client ends by killing the worker after its grace period.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from pyferry.errors import Cancelled

__all__ = ["CallState", "cancelled"]

SIGNAL = signal.SIGUSR1


class CallState:
    """Which call runs on the main thread, and which one the client asked to cancel.

    Both are call ids, 0 for none. Only the main thread writes ``current``;
    only the reader thread writes ``requested``. Comparing the two (one
    attribute read each, under the GIL) is what decides whether a request
    applies, so neither needs a lock.
    """

    def __init__(self) -> None:
        self.current = 0
        self.requested = 0
        self._main = threading.main_thread().ident

    def request(self, call_id: int) -> bool:
        """Ask to cancel ``call_id``; interrupt it if it is running, and return whether it was.

        The request is recorded even when the call is not running yet: taken off
        the queue but not started, it sees the request as it starts. Ids only
        grow, so a late request for an older call never replaces a newer one.
        """
        self.requested = max(self.requested, call_id)
        if call_id == 0 or call_id != self.current:
            return False
        if self._main is not None:
            signal.pthread_kill(self._main, SIGNAL)
        return True

    def cancelled(self) -> bool:
        """Whether the client asked to cancel the call that is running now."""
        current = self.current
        return current != 0 and self.requested == current

    def install(self) -> None:
        """Install the SIGUSR1 handler that raises ``Cancelled`` (from the main thread only)."""
        signal.signal(SIGNAL, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.cancelled():
            raise Cancelled(f"call {self.current} was cancelled by the client")


_state = CallState()


def cancelled() -> bool:
    """Return True once the client has cancelled the call that is running.

    For cooperative checks in long loops, including loops in threads the call
    started; outside a worker, or between calls, it is False.
    """
    return _state.cancelled()
