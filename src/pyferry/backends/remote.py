"""What runs on a Dask worker for a pyferry call: resolve, call, encode, as data.

:func:`run` is submitted by reference (``pyferry.backends.remote.run``, never
a closure), so a Dask worker needs pyferry installed, as the gateway does.
It resolves the dotted name with the gateway's rules (:class:`pyferry.targets.Resolver`
with the same allow-list), calls the target (or gets it, for ``op: "get"``)
and returns a tagged outcome made only of plain data::

    ("result", header, buffers)   the RESULT frame, encoded here by value
    ("error", info)               the error info (pyferry.errorinfo), built here

Why the frame is encoded here: whether a result can cross by value is known
only where it lives; a result that cannot (a handle's worth) is an ERROR
made here, and the gateway then never unpickles a user's object, only bytes.
Why the error is data: a user's exception class is never unpickled in the
gateway, and ``SystemExit``/``KeyboardInterrupt`` never reach Dask's own
code (a bare ``SystemExit`` from a task ends a Dask worker process).

A ``once`` call first asks the scheduler to mark its start, and answers
``WorkerCrashedError`` without calling anything if it had started before
(:mod:`pyferry.backends.dask_delivery`).
"""

from __future__ import annotations

import threading
from typing import Any

from pyferry.codec import encode
from pyferry.errorinfo import describe_briefly, describe_exception
from pyferry.errors import EncodeError
from pyferry.protocol import RESULT
from pyferry.targets import Resolver

__all__ = ["Outcome", "run"]

Outcome = tuple[Any, ...]

# One Resolver per allow-list in this Dask worker process: its cache outlives a task.
_resolvers: dict[tuple[str, ...], Resolver] = {}
_lock = threading.Lock()


def _resolver(allow: tuple[str, ...]) -> Resolver:
    with _lock:
        resolver = _resolvers.get(allow)
        if resolver is None:
            resolver = _resolvers[allow] = Resolver(allow=allow)
        return resolver


def run(
    call_id: int,
    target: str,
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    op_get: bool,
    allow: tuple[str, ...],
    limit: int,
    once: bool = False,
) -> Outcome:
    """Run one pyferry call on this Dask worker; never raises.

    Args:
        call_id: the call's id, for the RESULT frame's envelope.
        target: the dotted name (checked by the gateway already; checked again here).
        args: positional arguments, as the gateway decoded them.
        kwargs: keyword arguments.
        op_get: answer with the object ``target`` names instead of calling it.
        allow: the gateway worker's allow-list patterns (empty: any public name).
        limit: the most the RESULT frame may hold, in bytes (the client's limit).
        once: start the call only if it never started before (a Dask worker that
            started it died): :mod:`pyferry.backends.dask_delivery`.

    Returns:
        ``("result", header, buffers)`` with the RESULT frame, or ``("error", info)``.
    """
    if once:
        from pyferry.backends.dask_delivery import begin_once

        refused = begin_once()
        if refused is not None:
            return ("error", _info(refused))
    try:
        resolver = _resolver(allow)
        value = resolver.get(target) if op_get else resolver.resolve(target)(*args, **kwargs)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: see the docstring
        return ("error", _info(exc, skip_frames=1))
    try:
        header, buffers = encode(
            [RESULT, call_id, value], "result", by_value=True, limit=limit, field=2
        )
    except EncodeError as exc:
        # Only an object that cannot cross by value would have been a handle
        # locally; a message too large is the same error as locally.
        return ("error", _info(_no_handles(exc) if exc.path else EncodeError(exc.reason, "result")))
    except BaseException as exc:  # a __repr__ or tzinfo of the user's that raised, MemoryError
        return ("error", _info(exc))
    if buffers:  # only arrays have buffers: numpy is loaded
        import numpy as np

        # As uint8 arrays, which Dask sends out of band without a copy (bytes would copy).
        return ("result", header, [np.frombuffer(b, np.uint8) for b in buffers])
    return ("result", header, [])


def _no_handles(exc: EncodeError) -> EncodeError:
    """``exc`` saying why the local backend would have sent a handle instead."""
    return EncodeError(f"{exc.reason} (handles are not supported on Dask yet)", exc.path)


def _info(exc: BaseException, skip_frames: int = 0) -> dict[str, Any]:
    try:
        return describe_exception(exc, skip_frames=skip_frames)
    except BaseException:
        return describe_briefly(exc)
