"""Waiting on a Dask worker that may be gone: a call to its actor never hangs.

An actor call to a Dask worker that died fails at once while the gateway
still holds a connection to it; but a call that must connect afresh (the
dead worker's port refuses) is retried by distributed until its connect
timeout, 30 s by default. :func:`while_listed` waits for such a call and,
every half second it is still waiting, asks the scheduler whether the
worker is still one of its own: when it is not, the wait ends at once.
A long call to a live worker costs one small scheduler request per half
second; a short one costs nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["CHECK_EVERY", "while_listed"]

T = TypeVar("T")
CHECK_EVERY = 0.5  # seconds between two asks to the scheduler


async def while_listed(client: Any, address: str, awaitable: Awaitable[T]) -> T:
    """``await awaitable``, unless the scheduler stops listing worker ``address`` first.

    Raises:
        OSError: the scheduler no longer lists the worker (what a broken
            connection to it raises too).
    """
    import asyncio

    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=CHECK_EVERY)
            if done:
                return task.result()
            try:
                identity = await client.scheduler.identity()
            except Exception:  # the scheduler's own trouble: the call fails by itself
                continue
            if address not in identity.get("workers", {}):
                raise OSError(f"the Dask worker {address} is no longer in the cluster")
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
