"""What runs on a Dask worker for a pyferry call: resolve, call, encode, as data.

:func:`run` is submitted by reference (``pyferry.backends.remote.run``, never
a closure), so a Dask worker needs pyferry installed, as the gateway does.
It resolves the dotted name with the gateway's rules (:class:`pyferry.targets.Resolver`
with the same allow-list), calls the target (or gets it, for ``op: "get"``)
and returns a tagged outcome made only of plain data::

    ("result", header, buffers)            the RESULT frame, encoded here by value
    ("handles", address, header, buffers)  one naming objects kept here (see below)
    ("stream", address, store id)          an iterator kept here, for a stream
    ("error", info)                        the error info (pyferry.errorinfo), built here

Why the frame is encoded here: whether a result can cross by value is known
only where it lives; an object that cannot stays on this Dask worker, in the
gateway's store (:mod:`pyferry.backends.remote_store`), and the gateway never
unpickles a user's object, only bytes.
Why the error is data: a user's exception class is never unpickled in the
gateway, and ``SystemExit``/``KeyboardInterrupt`` never reach Dask's own
code (a bare ``SystemExit`` from a task ends a Dask worker process).
"""

from __future__ import annotations

from typing import Any

from pyferry.backends.remote_store import answer, info, resolver_for

__all__ = ["Outcome", "run"]

Outcome = tuple[Any, ...]


def run(
    call_id: int,
    target: str,
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    op_get: bool,
    allow: tuple[str, ...],
    limit: int,
    token: str,
    mode: str = "auto",
    window: int = 0,
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
        token: the gateway's token: what cannot cross by value stays in its store here.
        mode: the call's result mode (``auto``, ``value`` or ``handle``).
        window: the call's stream window; 0 if it does not stream.

    Returns:
        One of the outcomes in the module docstring.
    """
    try:
        resolver = resolver_for(allow)
        value = resolver.get(target) if op_get else resolver.resolve(target)(*args, **kwargs)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: see the docstring
        return ("error", info(exc, skip_frames=1))
    return answer(call_id, value, token, mode=mode, window=window, limit=limit)
