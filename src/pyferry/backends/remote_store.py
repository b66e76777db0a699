"""Objects that stay on a Dask worker: the store, and the outcomes that name them.

A result that cannot cross by value does not leave the Dask worker that made
it: it goes into this process's store of the gateway that asked (keyed by the
gateway's token) and the outcome names it by store id, with its type and
``repr()``, in the HANDLE extensions of an encoded frame. The gateway
(:mod:`pyferry.backends.dask_handles`) makes handles of its own that stand for
them, and sends what concerns them to this worker's actor of that gateway
(:mod:`pyferry.backends.remote_actor`)::

    task (remote.run, any thread)  --answer()-->  Store[token]  <--  StoreActor(token)
       an object: ("handles", address, header, buffers)                 call(), pull(),
       an iterator, for a stream: ("stream", address, store id)         close(), release()

Outcomes are plain data, as :mod:`pyferry.backends.remote`'s are: the gateway
never unpickles a user's object. A store lives as long as its actor: Dask
drops an actor when its client (the gateway) goes, and the actor's finalizer
drops the store with it. Calls run their user code through
:func:`pyferry.backends.remote_calls.run_user` (interruptible); a stream's
steps through :func:`run_user_code` (not interrupted: a cancel closes the
stream once its current step returns).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from typing import Any, NamedTuple

from pyferry.codec import encode
from pyferry.errorinfo import describe_briefly, describe_exception
from pyferry.errors import EncodeError, HandleInvalidatedError, TargetError
from pyferry.protocol import RESULT
from pyferry.refs import AsHandle, qualname
from pyferry.targets import Resolver

__all__ = [
    "Held",
    "Outcome",
    "Recorder",
    "Store",
    "StoreRef",
    "answer",
    "as_arrays",
    "drop_store",
    "expire_unadopted",
    "info",
    "resolver_for",
    "run_user_code",
    "store_of",
    "worker_address",
]

Outcome = tuple[Any, ...]
# Seconds a store that no actor has adopted lives (see expire_unadopted).
UNADOPTED_SECONDS = 60.0


class StoreRef(NamedTuple):
    """An argument that is an object of the store: the gateway sends this for its handle."""

    id: int


class Held:
    """What the store holds for itself (not a user's object), told when the store is dropped."""

    def abandon(self) -> None:
        """The store is dropped (its gateway is gone): stop, without waiting."""


class Store:
    """One gateway's objects on this Dask worker, by store id (a HandleSink for ``encode``)."""

    def __init__(self) -> None:
        self._objects: dict[int, Any] = {}
        self._ids = itertools.count(1)
        self.adopted = False  # its gateway's actor here exists (see expire_unadopted)
        self.expiring = False

    def __len__(self) -> int:
        return len(self._objects)

    def add(self, obj: Any) -> int:
        store_id = next(self._ids)
        self._objects[store_id] = obj
        return store_id

    def discard(self, ids: Iterable[int]) -> None:
        for store_id in ids:
            self._objects.pop(store_id, None)

    def get(self, store_id: int) -> Any:
        """The object ``store_id``; HandleInvalidatedError if this process no longer has it."""
        try:
            return self._objects[store_id]
        except KeyError:
            raise HandleInvalidatedError(
                f"object {store_id} is not on this Dask worker any more (the worker was "
                "restarted, or the object released)"
            ) from None

    def set(self, store_id: int, obj: Any) -> None:
        """Put ``obj`` in place of object ``store_id`` (a stream's iterator, by its producer)."""
        self._objects[store_id] = obj

    def clear(self) -> None:
        """Drop every object; a stream's producer is told to stop."""
        objects = list(self._objects.values())
        self._objects.clear()
        for obj in objects:
            if isinstance(obj, Held):
                obj.abandon()


_stores: dict[str, Store] = {}
_resolvers: dict[tuple[str, ...], Resolver] = {}
_lock = threading.Lock()


def store_of(token: str, *, adopt: bool = False) -> Store:
    """The store of gateway ``token`` in this process, made by the first that needs it.

    ``adopt``: the caller is the gateway's actor here, whose life the store's follows.
    """
    with _lock:
        store = _stores.get(token)
        if store is None:
            store = _stores[token] = Store()
        if adopt:
            store.adopted = True
        return store


def expire_unadopted(token: str, store: Store) -> None:
    """Drop ``store`` in ``UNADOPTED_SECONDS`` unless an actor has adopted it by then.

    A task's objects reach a store before the gateway has made its actor on
    this worker; a gateway that dies meanwhile (or a task that ends after its
    gateway's actor has gone) would otherwise leave them here for good. The
    gateway gives up on an actor after 10 s, so a store still unadopted much
    later is nobody's.
    """
    with _lock:
        if store.adopted or store.expiring:
            return
        store.expiring = True
    timer = threading.Timer(UNADOPTED_SECONDS, _drop_unadopted, (token, store))
    timer.daemon = True
    timer.start()


def _drop_unadopted(token: str, store: Store) -> None:
    with _lock:
        if _stores.get(token) is not store or store.adopted:
            return
        del _stores[token]
    store.clear()


def drop_store(token: str) -> None:
    """Drop gateway ``token``'s store in this process (its actor is gone)."""
    with _lock:
        store = _stores.pop(token, None)
    if store is not None:
        store.clear()


def resolver_for(allow: tuple[str, ...]) -> Resolver:
    """One Resolver per allow-list in this process: its cache outlives a task."""
    with _lock:
        resolver = _resolvers.get(allow)
        if resolver is None:
            resolver = _resolvers[allow] = Resolver(allow=allow)
        return resolver


def run_user_code(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a stream's step (see the module docstring for why not ``run_user``)."""
    return func(*args, **kwargs)


def info(exc: BaseException, skip_frames: int = 0) -> dict[str, Any]:
    """The error info of ``exc``, as data (see pyferry.errorinfo)."""
    try:
        return describe_exception(exc, skip_frames=skip_frames)
    except BaseException:
        return describe_briefly(exc)


def worker_address() -> str:
    """This Dask worker's address."""
    from distributed import get_worker

    return str(get_worker().address)


def as_arrays(buffers: list[memoryview]) -> list[Any]:
    """Buffers of an encoded frame, as Dask sends them best."""
    if not buffers:
        return []
    import numpy as np  # only arrays have buffers: numpy is loaded

    # As uint8 arrays, which Dask sends out of band without a copy (bytes would copy).
    return [np.frombuffer(b, np.uint8) for b in buffers]


class Recorder:
    """A HandleSink over a store that remembers whether the message put anything in it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.added = False

    def add(self, obj: Any) -> int:
        self.added = True
        return self.store.add(obj)

    def discard(self, ids: Iterable[int]) -> None:
        self.store.discard(ids)


def answer(
    call_id: int,
    value: Any,
    token: str,
    *,
    mode: str,
    window: int,
    limit: int,
    address: str | None = None,
) -> Outcome:
    """The outcome of a call that returned ``value`` on this Dask worker; never raises.

    Args:
        call_id: the call's id, for the RESULT frame's envelope.
        value: what the call returned.
        token: the gateway's token: objects that stay here go into its store.
        mode: the call's result mode (``auto``, ``value`` or ``handle``).
        window: the call's stream window; 0 if it does not stream.
        limit: the most the RESULT frame may hold, in bytes (the client's limit).
        address: this Dask worker's address (found if None).

    Returns:
        ``("result", header, buffers)`` for a result by value, ``("handles", address,
        header, buffers)`` for one naming stored objects, ``("stream", address, id)``
        for an iterator kept for a stream, or ``("error", info)``.
    """
    try:
        store = store_of(token)
        if window:
            return _stream(call_id, value, token, store, address or worker_address())
        sink = Recorder(store)
        header, buffers = encode(
            [RESULT, call_id, AsHandle(value) if mode == "handle" else value],
            "result",
            sink,
            by_value=mode == "value",
            limit=limit,
            field=2,
        )
        if sink.added:
            expire_unadopted(token, store)
            return ("handles", address or worker_address(), header, as_arrays(buffers))
        return ("result", header, as_arrays(buffers))
    except EncodeError as exc:
        # A whole-message problem (too large, too many arrays) concerns the result.
        return ("error", info(exc if exc.path else EncodeError(exc.reason, "result")))
    except BaseException as exc:  # a __repr__ of the user's that raised, MemoryError
        return ("error", info(exc))


def _stream(call_id: int, value: Any, token: str, store: Store, address: str) -> Outcome:
    kind = type(value)
    if not hasattr(kind, "__aiter__") and not hasattr(kind, "__iter__"):
        return (
            "error",
            info(
                TargetError(
                    f"call {call_id} asked for a stream, but its answer, a "
                    f"{qualname(kind)}, is neither iterable nor async iterable"
                )
            ),
        )
    iterator = aiter(value) if hasattr(kind, "__aiter__") else iter(value)
    stream_id = store.add(iterator)
    expire_unadopted(token, store)
    return ("stream", address, stream_id)
