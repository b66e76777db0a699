"""Objects that stay on a Dask worker: the store, its actor, and the outcomes naming them.

A result that cannot cross by value does not leave the Dask worker that made
it: it goes into this process's store of the gateway that asked (keyed by the
gateway's token) and the outcome names it by store id, with its type and
``repr()``, in the HANDLE extensions of an encoded frame. The gateway
(:mod:`pyferry.backends.dask_handles`) makes handles of its own that stand for
them, and sends what concerns them to this worker's :class:`StoreActor`, one
per gateway and Dask worker::

    task (remote.run, any thread)  --answer()-->  Store[token]  <--  StoreActor(token)
       an object: ("handles", address, header, buffers)                 call(), pull(),
       an iterator, for a stream: ("stream", address, store id)         close(), release()

Outcomes are plain data, as :mod:`pyferry.backends.remote`'s are: the gateway
never unpickles a user's object. A store lives as long as its actor: Dask
drops an actor when its client (the gateway) goes, and the actor's finalizer
drops the store with it. User code runs only through :func:`run_user_code`.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any, NamedTuple

from pyferry.codec import encode
from pyferry.errorinfo import describe_briefly, describe_exception
from pyferry.errors import EncodeError, HandleInvalidatedError, TargetError
from pyferry.protocol import RESULT, STREAM_ITEMS
from pyferry.refs import AsHandle, qualname
from pyferry.targets import Resolver

__all__ = [
    "Outcome",
    "StoreActor",
    "StoreRef",
    "answer",
    "resolver_for",
    "run_user_code",
    "store_of",
]

Outcome = tuple[Any, ...]
# Items a pull gathers at most, and how long it keeps gathering once it has some.
PULL_ITEMS = 1024
PULL_SECONDS = 0.005


class StoreRef(NamedTuple):
    """An argument that is an object of the store: the gateway sends this for its handle."""

    id: int


class Store:
    """One gateway's objects on this Dask worker, by store id (a HandleSink for ``encode``)."""

    def __init__(self) -> None:
        self._objects: dict[int, Any] = {}
        self._ids = itertools.count(1)
        self._loop: Any = None  # the event loop async streams advance on, made by the first

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

    def loop(self) -> Any:
        """An event loop of this store's own, for async iterators (actor calls: one thread)."""
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop

    def clear(self) -> None:
        self._objects.clear()
        if self._loop is not None:
            self._loop.close()
            self._loop = None


_stores: dict[str, Store] = {}
_resolvers: dict[tuple[str, ...], Resolver] = {}
_lock = threading.Lock()


def store_of(token: str) -> Store:
    """The store of gateway ``token`` in this process, made by the first that needs it."""
    with _lock:
        store = _stores.get(token)
        if store is None:
            store = _stores[token] = Store()
        return store


def _drop_store(token: str) -> None:
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
    """Call user code: the one place this module does (a handle's method, a stream's step)."""
    return func(*args, **kwargs)


def info(exc: BaseException, skip_frames: int = 0) -> dict[str, Any]:
    """The error info of ``exc``, as data (see pyferry.errorinfo)."""
    try:
        return describe_exception(exc, skip_frames=skip_frames)
    except BaseException:
        return describe_briefly(exc)


def _address() -> str:
    from distributed import get_worker

    return str(get_worker().address)


def _arrays(buffers: list[memoryview]) -> list[Any]:
    if not buffers:
        return []
    import numpy as np  # only arrays have buffers: numpy is loaded

    # As uint8 arrays, which Dask sends out of band without a copy (bytes would copy).
    return [np.frombuffer(b, np.uint8) for b in buffers]


class _Recorder:
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
            return _stream(call_id, value, store, address or _address())
        sink = _Recorder(store)
        header, buffers = encode(
            [RESULT, call_id, AsHandle(value) if mode == "handle" else value],
            "result",
            sink,
            by_value=mode == "value",
            limit=limit,
            field=2,
        )
        if sink.added:
            return ("handles", address or _address(), header, _arrays(buffers))
        return ("result", header, _arrays(buffers))
    except EncodeError as exc:
        # A whole-message problem (too large, too many arrays) concerns the result.
        return ("error", info(exc if exc.path else EncodeError(exc.reason, "result")))
    except BaseException as exc:  # a __repr__ of the user's that raised, MemoryError
        return ("error", info(exc))


def _stream(call_id: int, value: Any, store: Store, address: str) -> Outcome:
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
    return ("stream", address, store.add(iterator))


def _refs_to_objects(value: Any, store: Store) -> Any:
    """``value`` (arguments as the gateway sent them) with each StoreRef its object."""
    kind = type(value)
    if kind is StoreRef:
        return store.get(value.id)
    if kind is list:
        return [_refs_to_objects(item, store) for item in value]
    if kind is dict:
        return {key: _refs_to_objects(item, store) for key, item in value.items()}
    return value


_INDEX = re.compile(r"^\[(\d+)\](.*)$")


def _count(failure: EncodeError, sent: int) -> int:
    """How many items went before the one ``failure`` names (its path is ``result[i]...``)."""
    match = re.match(r"^result\[(\d+)\]", failure.path)
    return int(match.group(1)) - sent if match else 0


class StoreActor:
    """The Dask actor of one gateway on one Dask worker: what its handles and streams do here.

    Created by the gateway with ``actor=True, workers=[address]``; its methods
    run on the worker's actor thread, one at a time.

    Args:
        token: the gateway's token (its store in this process).
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.address = _address()
        self._store = store_of(token)
        weakref.finalize(self, _drop_store, token)

    def call(
        self,
        call_id: int,
        target: Any,
        args: list[Any],
        kwargs: dict[str, Any],
        *,
        op_get: bool,
        mode: str,
        window: int,
        allow: tuple[str, ...],
        limit: int,
    ) -> Outcome:
        """Run a call whose target or arguments are objects here; never raises.

        ``target`` is a dotted name, or ``(store id, [name, ...], handle id)`` for
        a handle target (the handle id is the gateway's, for messages); arguments
        hold a :class:`StoreRef` for each object of the store.
        """
        store = self._store
        try:
            resolver = resolver_for(allow)
            args = _refs_to_objects(args, store)
            kwargs = _refs_to_objects(kwargs, store)
            if type(target) is str:
                func = resolver.get(target) if op_get else resolver.resolve(target)
            else:
                head, names, handle_id = target
                obj = store.get(head)
                label = f"handle {handle_id} ({qualname(type(obj))})"
                func = resolver.resolve_in(obj, names, label, get=op_get)
            value = func if op_get else run_user_code(func, *args, **kwargs)
        except BaseException as exc:  # SystemExit too: it must not end the Dask worker
            return ("error", info(exc, skip_frames=2))
        return answer(
            call_id, value, self.token, mode=mode, window=window, limit=limit, address=self.address
        )

    def pull(
        self, stream_id: int, call_id: int, *, n: int, sent: int, mode: str, limit: int
    ) -> Outcome:
        """Up to ``n`` more items of stream ``stream_id``, encoded; never raises.

        Returns ``("items", header or None, buffers, handles, count, end)``: the
        STREAM_ITEMS frame (None if no item came), whether it names stored
        objects, how many items it holds, and ``end``: None (more may come),
        ``"end"``, or an error info.
        ``sent`` is how many items went before, for an error's path.
        """
        store = self._store
        try:
            iterator = store.get(stream_id)
        except HandleInvalidatedError as exc:
            return ("items", None, [], False, 0, info(exc))
        is_async = hasattr(type(iterator), "__anext__")
        items: list[Any] = []
        end: Any = None
        first = 0.0
        while len(items) < n:
            try:
                if is_async:
                    item = run_user_code(store.loop().run_until_complete, iterator.__anext__())
                else:
                    item = run_user_code(next, iterator)
            except (StopIteration, StopAsyncIteration):
                end = "end"
                break
            except BaseException as exc:
                end = info(exc, skip_frames=2)
                break
            items.append(item)
            now = time.monotonic()
            if len(items) == 1:
                first = now
            elif now - first >= PULL_SECONDS:
                break
        header, buffers, handles, failure = self._encode_items(call_id, items, sent, mode, limit)
        count = len(items) if failure is None else _count(failure, sent)
        if failure is not None:
            closed = self.close(stream_id)
            end = info(failure) if closed is None else closed
        elif end is not None:
            store.discard([stream_id])
        return ("items", header, buffers, handles, count, end)

    def _encode_items(
        self, call_id: int, items: list[Any], sent: int, mode: str, limit: int
    ) -> tuple[bytes | None, list[Any], bool, EncodeError | None]:
        """The frame of the items that can cross, and the EncodeError of the first that cannot."""
        failure: EncodeError | None = None
        while items:
            sink = _Recorder(self._store)
            try:
                header, buffers = encode(
                    [
                        STREAM_ITEMS,
                        call_id,
                        [AsHandle(x) for x in items] if mode == "handle" else items,
                    ],
                    "",
                    sink,
                    by_value=mode == "value",
                    limit=limit,
                    field=2,
                )
            except EncodeError as exc:
                match = _INDEX.match(exc.path)
                if match is None:  # too large as a whole: not one item's fault
                    return None, [], False, EncodeError(exc.reason, f"result[{sent}]")
                index = int(match.group(1))
                failure = EncodeError(exc.reason, f"result[{sent + index}]{match.group(2)}")
                items = items[:index]
                continue
            return header, _arrays(buffers), sink.added, failure
        return None, [], False, failure

    def close(self, stream_id: int) -> dict[str, Any] | None:
        """Close stream ``stream_id``'s iterator (so a generator's ``finally`` runs).

        Returns the error info of what closing raised, or None.
        """
        store = self._store
        try:
            iterator = store.get(stream_id)
        except HandleInvalidatedError:
            return None
        store.discard([stream_id])
        try:
            aclose = getattr(iterator, "aclose", None)
            if callable(aclose):
                run_user_code(store.loop().run_until_complete, aclose())
            else:
                close = getattr(iterator, "close", None)
                if callable(close):
                    run_user_code(close)
        except BaseException as exc:
            return info(exc, skip_frames=1)
        return None

    def release(self, ids: list[int]) -> None:
        """Drop these objects (their handles were released); unknown ids are ignored."""
        self._store.discard(ids)

    def size(self) -> int:
        """How many objects this gateway keeps on this Dask worker (streams included)."""
        return len(self._store)
