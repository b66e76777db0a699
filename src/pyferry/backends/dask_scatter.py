"""Large arguments go to a Dask worker directly, not through the scheduler.

An argument submitted inline travels inside the task's graph: the gateway
sends it to the scheduler, which holds it in its memory (and warns "Sending
large graph") until a worker fetches the task. Above :data:`SCATTER_BYTES`
the gateway instead scatters each large array or byte string straight to a
worker (``scatter(direct=True, hash=False)``) and submits the task with the
future in its place; the task then runs where its data already is::

    gateway --- large value ----------------------> Dask worker (holds it)
       \\--- task with a future, a few bytes ---> scheduler ---> that worker

The futures are the call's: :func:`release` drops them when the call ends,
and the cluster forgets the data. The threshold was measured (bench/README.md,
"Dask"): below it scattering costs an extra round trip and saves nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCATTER_BYTES", "release", "scatter_large"]

# Arguments of more bytes than this are scattered (measured: see the module docstring).
SCATTER_BYTES = 4 * 2**20
_MAX_DEPTH = 100  # the decoder bounds nesting already


def _size(value: Any) -> int:
    """The bytes ``value`` holds if it is an array or a byte string, else 0."""
    if type(value) is bytes or type(value) is bytearray:
        return len(value)
    if type(value) is memoryview:
        return value.nbytes
    nbytes = getattr(value, "nbytes", None)  # an ndarray: numpy is loaded if there is one
    if type(nbytes) is int and type(value).__name__ == "ndarray":
        return nbytes
    return 0


def _collect(value: Any, found: dict[int, Any], depth: int = 0) -> None:
    if _size(value) > SCATTER_BYTES:
        found[id(value)] = value
    elif depth < _MAX_DEPTH:
        if type(value) is list or type(value) is tuple:
            for item in value:
                _collect(item, found, depth + 1)
        elif type(value) is dict:
            for item in value.values():
                _collect(item, found, depth + 1)


def _replace(value: Any, futures: dict[int, Any], depth: int = 0) -> Any:
    future = futures.get(id(value))
    if future is not None:
        return future
    if depth >= _MAX_DEPTH:
        return value
    if type(value) is list:
        return [_replace(item, futures, depth + 1) for item in value]
    if type(value) is tuple:
        return tuple(_replace(item, futures, depth + 1) for item in value)
    if type(value) is dict:
        return {key: _replace(item, futures, depth + 1) for key, item in value.items()}
    return value


async def scatter_large(
    client: Any, args: list[Any], kwargs: dict[str, Any], scattered: list[Any]
) -> tuple[list[Any], dict[str, Any]]:
    """``args`` and ``kwargs`` with every large value replaced by a future of it on a worker.

    Args:
        client: the gateway's asynchronous ``distributed.Client``.
        args: the call's positional arguments, as decoded.
        kwargs: its keyword arguments.
        scattered: receives the futures made, for :func:`release` when the call ends.

    Returns:
        The arguments to submit: the same objects when nothing is large.
    """
    found: dict[int, Any] = {}
    _collect(args, found)
    _collect(kwargs, found)
    if not found:
        return args, kwargs
    values = list(found.values())
    made = await client.scatter(values, direct=True, hash=False)
    scattered.extend(made)
    futures = dict(zip(found, made, strict=True))
    return _replace(args, futures), _replace(kwargs, futures)


def release(scattered: list[Any]) -> None:
    """Drop the call's scattered futures: the cluster forgets their data."""
    for future in scattered:
        future.release()
    scattered.clear()
