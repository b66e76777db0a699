"""Backends: where a worker's calls run (DESIGN decision 12).

The worker reads a CALL, decodes it, checks its options and decides when it
starts: in arrival order, never nested in a callback wait if it was sent
ahead, and not at all if the client withdraws or cancels it first. From its
start to its answer the call belongs to a :class:`Backend`, which runs it and
answers it through :class:`pyferry.replies.Replies` (RESULT, ERROR, stream
items, PROGRESS), and stops it when the client cancels it::

    frames -> Worker (dispatch, order of starts) --start(call)--> Backend
                         |                                           | runs the call:
                         +---cancel(call), after its start---------->| main thread, a
                                                                     | task, a cluster
    frames <- Replies <---- its answer, items, progress --------------+

Dispatch, the codec and the transport do not know which backend runs a
call. :mod:`pyferry.backends.local` runs calls in the worker process itself:
on its main thread, as asyncio tasks, or as stream steps.
"""

from __future__ import annotations

from typing import Protocol

from pyferry.calls import Call

__all__ = ["Backend"]


class Backend(Protocol):
    """Runs the calls a worker has started, until each is answered."""

    def start(self, call: Call) -> None:
        """Run ``call`` (decoded, its options set, live in the worker) and, in time, answer it.

        Called on the worker's main thread. It may run the call there to its
        end (the worker starts its next call afterwards), or hand it on and
        return; a call handed on sends DETACHED, so the client can send the
        worker's next call meanwhile.
        """
        ...

    def cancel(self, call: Call) -> None:
        """Stop ``call``, which the client cancelled after its start; its answer still follows.

        Called from whichever thread read the CANCEL, with ``call.cancel_requested``
        already set. The answer is ``Cancelled`` if the call stopped, or its own
        answer if it ended first.
        """
        ...
