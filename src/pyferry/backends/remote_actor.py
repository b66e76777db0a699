"""The Dask actor of one gateway on one Dask worker: what its handles and streams do there.

The gateway (:mod:`pyferry.backends.dask_handles`) makes one :class:`StoreActor`
per Dask worker that holds objects of its (``actor=True, workers=[address]``).
Its methods run on the Dask worker's actor thread, one at a time, and work on
the gateway's store (:mod:`pyferry.backends.remote_store`): calls whose target
or arguments are objects there, pulls and closes of streams
(:mod:`pyferry.backends.remote_streams`), releases. Each answers with plain
data and never raises: a failing actor call means its Dask worker is lost.
The actor drops the store when Dask drops it (its gateway's client is gone).
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from pyferry.backends.remote_calls import run_user
from pyferry.backends.remote_store import (
    Outcome,
    Recorder,
    Store,
    StoreRef,
    answer,
    as_arrays,
    drop_store,
    info,
    resolver_for,
    store_of,
    worker_address,
)
from pyferry.backends.remote_streams import Producer
from pyferry.codec import encode
from pyferry.errors import EncodeError, HandleInvalidatedError
from pyferry.protocol import STREAM_ITEMS
from pyferry.refs import AsHandle, qualname

__all__ = ["StoreActor"]


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
        self.address = worker_address()
        self._store = store_of(token, adopt=True)
        weakref.finalize(self, drop_store, token)

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
        task: str,
        progress_topic: str | None = None,
    ) -> tuple[Outcome, int]:
        """Run a call whose target or arguments are objects here; never raises.

        ``target`` is a dotted name, or ``(store id, [name, ...], handle id)`` for
        a handle target (the handle id is the gateway's, for messages); arguments
        hold a :class:`StoreRef` for each object of the store. The user code
        runs as ``remote.run``'s does (:func:`~pyferry.backends.remote_calls.run_user`,
        under the call's key ``task``); returns ``(outcome, progress events sent)``.
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
        except BaseException as exc:  # SystemExit too: it must not end the Dask worker
            return ("error", info(exc, skip_frames=2)), 0
        sent = 0
        if op_get:
            value = func
        else:
            ran = run_user(task, func, args, kwargs, call_id=call_id, progress_topic=progress_topic)
            if ran.error is not None:
                return ("error", info(ran.error)), ran.progress
            value, sent = ran.value, ran.progress
        outcome = answer(
            call_id, value, self.token, mode=mode, window=window, limit=limit, address=self.address
        )
        return outcome, sent

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
            producer = self._producer(stream_id)
        except HandleInvalidatedError as exc:
            return ("items", None, [], False, 0, info(exc))
        items, end = producer.take(n, sent)
        header, buffers, handles, failure = self._encode_items(call_id, items, sent, mode, limit)
        count = len(items) if failure is None else _count(failure, sent)
        if failure is not None:
            closed = self.close(stream_id)
            end = info(failure) if closed is None else closed
        elif end is not None:
            store.discard([stream_id])
        return ("items", header, buffers, handles, count, end)

    def _producer(self, stream_id: int) -> Producer:
        """The producer of stream ``stream_id``, made from its iterator by the first pull."""
        held = self._store.get(stream_id)
        if type(held) is not Producer:
            held = Producer(held)
            self._store.set(stream_id, held)
        return held

    def _encode_items(
        self, call_id: int, items: list[Any], sent: int, mode: str, limit: int
    ) -> tuple[bytes | None, list[Any], bool, EncodeError | None]:
        """The frame of the items that can cross, and the EncodeError of the first that cannot."""
        failure: EncodeError | None = None
        while items:
            sink = Recorder(self._store)
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
            return header, as_arrays(buffers), sink.added, failure
        return None, [], False, failure

    def close(self, stream_id: int) -> dict[str, Any] | None:
        """Close stream ``stream_id``'s iterator (so a generator's ``finally`` runs).

        Returns the error info of what closing raised, or None.
        """
        store = self._store
        try:
            producer = self._producer(stream_id)
        except HandleInvalidatedError:
            return None
        store.discard([stream_id])
        return producer.close()

    def release(self, ids: list[int]) -> None:
        """Drop these objects (their handles were released); unknown ids are ignored."""
        self._store.discard(ids)

    def size(self) -> int:
        """How many objects this gateway keeps on this Dask worker (streams included)."""
        return len(self._store)
