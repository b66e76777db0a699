"""A Dask gateway's handles and streams: the objects stay on the Dask worker that made them.

A result that cannot cross by value stays in its Dask worker's store
(:mod:`pyferry.backends.remote_store`); the outcome names it by store id. The
gateway puts a :class:`DaskObject` for it in its own handle table, so the
client sees an ordinary handle of the gateway, and sends whatever concerns it
to that Dask worker's actor (one per gateway and Dask worker, made when the
first object of that worker arrives, with ``workers=[address]``)::

    client --CALL naming handles--> gateway: owner_of(call) -- two owners: MixedHandlesError
                                       |       a lost owner: HandleInvalidatedError
                                       v
                  StoreActor on the owner: call(), pull(), close(), release()
                                       |       its worker lost: the actor call fails at
                                       v       once -> HandleInvalidatedError
    client <--RESULT / STREAM_ITEMS-- gateway: HANDLEs of the store -> DaskObjects

A stream's items are pulled in batches, never more than the client's credit
allows; STREAM_CLOSE and CANCEL close the remote iterator. A DaskObject that
the handle table and every call let go of is released on its worker (batched,
on the event loop). The actors end with the gateway's Dask client, and each
takes its store with it. Everything here but ``owner_of``, ``released`` and a
stream's ``add_credit``/``close`` runs on the gateway's event loop thread.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyferry.aio import EventLoopThread
from pyferry.backends.dask_watch import while_listed
from pyferry.backends.remote_actor import StoreActor
from pyferry.backends.remote_store import StoreRef
from pyferry.backends.remote_streams import PULL_ITEMS
from pyferry.calls import STREAM, Call
from pyferry.codec import decode
from pyferry.errors import (
    Cancelled,
    HandleInvalidatedError,
    MixedHandlesError,
    WorkerCrashedError,
)
from pyferry.refs import HandleRef, RemoteObject, TargetHandle
from pyferry.replies import Replies

if TYPE_CHECKING:
    import asyncio

__all__ = ["DaskObject", "DaskObjects", "DaskStream"]

# Seconds an actor may take to start on its Dask worker (a task pinned to a lost
# worker never starts: this bounds the wait).
ACTOR_TIMEOUT = 10.0

Answer = Callable[[Call, Callable[[], None]], None]


class DaskObject(RemoteObject):
    """A gateway handle's object: object ``id`` in the store of Dask worker ``owner``."""

    __slots__ = ("_objects",)

    def __init__(
        self, objects: DaskObjects, owner: str, remote_id: int, type_name: str, text: str
    ) -> None:
        super().__init__(owner, remote_id, type_name, text)
        self._objects = objects

    def __del__(self) -> None:
        with contextlib.suppress(BaseException):  # at interpreter exit, say
            self._objects.released(self.owner, self.id)


class DaskObjects:
    """The gateway's side of the objects its calls left on Dask workers.

    Args:
        loop: the gateway's event loop thread.
        replies: where answers and stream items go.
        answer: the backend's once-only answer (``answer(call, send)``).
        allow: the gateway's allow-list, which the actors apply too.
        limit: the most a message may hold, in bytes.
    """

    def __init__(
        self,
        loop: EventLoopThread,
        replies: Replies,
        answer: Answer,
        allow: tuple[str, ...],
        limit: int,
    ) -> None:
        self.token = uuid.uuid4().hex
        self._loop = loop
        self._replies = replies
        self._answer = answer
        self._allow = allow
        self._limit = limit
        # The loop thread's: the client the actors belong to, and per Dask worker address
        # its actor (with the future that keeps it alive) or the task making it.
        self._client: Any = None
        self._actors: dict[str, tuple[Any, Any]] = {}
        self._making: dict[str, asyncio.Task[Any]] = {}
        # Addresses of Dask workers found lost (a set: read from any thread).
        self._lost: set[str] = set()
        self._release_lock = threading.Lock()
        self._releases: dict[str, list[int]] = {}

    # -- any thread --------------------------------------------------------------------

    def owner_of(self, call: Call) -> str | None:
        """The Dask worker whose objects ``call`` names, or None if it names none.

        Raises:
            MixedHandlesError: objects of two Dask workers in one call.
            HandleInvalidatedError: the objects' Dask worker was lost.
        """
        owners: set[str] = set()
        target = call.target
        if type(target) is list and target and type(target[0]) is TargetHandle:
            _owners(target[0].obj, owners)
        _owners(call.args, owners)
        _owners(call.kwargs, owners)
        if len(owners) > 1:
            first, second = sorted(owners)[:2]
            raise MixedHandlesError(
                f"the call names objects of two Dask workers ({first} and {second}); "
                "a call runs where its handles' objects are: pass handles of one Dask worker"
            )
        owner = next(iter(owners), None)
        if owner is not None and owner in self._lost:
            raise _invalidated(owner)
        return owner

    def released(self, owner: str, remote_id: int) -> None:
        """A DaskObject was let go of: release its object on its worker, soon."""
        if owner in self._lost:
            return
        with self._release_lock:
            first = not self._releases
            self._releases.setdefault(owner, []).append(remote_id)
        if first:
            self._loop.call_soon(self._send_releases)

    # -- on the event loop thread ----------------------------------------------------------

    async def run(
        self, client: Any, owner: str, call: Call, *, task: str, progress_topic: str | None
    ) -> Any:
        """Run ``call``, which names objects of ``owner``, on its actor.

        Returns ``(outcome, progress events sent)``, as ``remote.run`` does;
        ``task`` is the call's key (what a cancel interrupts).
        """
        actor = await self._actor(client, owner)
        target = call.target
        if type(target) is list:  # [TargetHandle, name, ...]: checked by owner_of
            target = (target[0].obj.id, target[1:], target[0].id)
        try:
            return await while_listed(
                client,
                owner,
                actor.call(
                    call.id,
                    target,
                    _refs(call.args),
                    _refs(call.kwargs),
                    op_get=call.op_get,
                    mode=call.result,
                    window=call.window,
                    allow=self._allow,
                    limit=self._limit,
                    task=task,
                    progress_topic=progress_topic,
                ),
            )
        except (OSError, RuntimeError) as exc:
            raise self._lose(owner, exc) from exc

    async def take(self, client: Any, call: Call, outcome: Any) -> bool:
        """Answer ``call`` if ``outcome`` names objects or a stream; False for other outcomes."""
        if type(outcome) is not tuple or not outcome or outcome[0] not in ("handles", "stream"):
            return False
        kind, owner = outcome[0], outcome[1]
        try:
            # The store lives as long as its actor: the actor exists before any handle does.
            actor = await self._actor(client, owner)
        except HandleInvalidatedError as exc:
            lost = exc
            self._answer(call, lambda: self._replies.error(call, lost))
            return True
        if kind == "handles":
            _, _, header, buffers = outcome
            message = decode(header, [memoryview(b) for b in buffers])
            value = self._adopt(owner, message[2])
            self._answer(call, lambda: self._replies.value(call, value))
            return True
        stream = DaskStream(self, client, call, actor, owner=owner, stream_id=outcome[2])
        call.stream = stream
        call.where = STREAM
        await stream.run()
        return True

    def _adopt(self, owner: str, value: Any) -> Any:
        """``value`` as decoded, with each HANDLE of ``owner``'s store a DaskObject."""
        kind = type(value)
        if kind is HandleRef:
            return DaskObject(self, owner, value.id, value.type, value.repr)
        if kind is list:
            return [self._adopt(owner, item) for item in value]
        if kind is dict:
            return {self._adopt(owner, k): self._adopt(owner, v) for k, v in value.items()}
        return value

    async def _actor(self, client: Any, owner: str) -> Any:
        """The actor of ``owner`` for this gateway, made by the first caller that needs it."""
        import asyncio

        if client is not self._client:
            # A new connection: the old client's actors (and stores) are gone with it.
            self._lost.update(self._actors)
            self._actors.clear()
            self._making.clear()
            self._client = client
        if owner in self._lost:
            raise _invalidated(owner)
        held = self._actors.get(owner)
        if held is not None:
            return held[0]
        making = self._making.get(owner)
        if making is None:
            making = asyncio.get_running_loop().create_task(self._make(client, owner))
            self._making[owner] = making
        return await asyncio.shield(making)

    async def _make(self, client: Any, owner: str) -> Any:
        import asyncio

        future = client.submit(
            StoreActor,
            self.token,
            actor=True,
            workers=[owner],
            allow_other_workers=False,
            key=f"pyferry-store-{self.token}-{uuid.uuid4().hex}",
            pure=False,
        )
        try:
            await asyncio.wait_for(future, ACTOR_TIMEOUT)
        except Exception as exc:
            with contextlib.suppress(BaseException):
                await client.cancel([future])
            raise self._lose(owner, exc) from exc
        finally:
            if self._making.get(owner) is asyncio.current_task():
                del self._making[owner]
        from distributed import Actor

        # The Actor the future gives is bound to the default client, which a gateway's
        # is not: one made while this client is current is bound to it.
        with client.as_current():
            actor = Actor(StoreActor, owner, future.key)  # type: ignore[no-untyped-call]
        self._actors[owner] = (actor, future)
        return actor

    def _lose(self, owner: str, exc: BaseException) -> HandleInvalidatedError:
        """``owner`` is lost: every object there is invalid from now on."""
        self._lost.add(owner)
        self._actors.pop(owner, None)
        with self._release_lock:
            self._releases.pop(owner, None)
        return _invalidated(owner, exc)

    def _send_releases(self) -> None:
        import asyncio

        with self._release_lock:
            releases, self._releases = self._releases, {}
        for owner, ids in releases.items():
            held = self._actors.get(owner)
            if held is not None and owner not in self._lost:
                task = asyncio.get_running_loop().create_task(_release(held[0], ids))
                _background.add(task)
                task.add_done_callback(_background.discard)

    # -- for DaskStream ----------------------------------------------------------------------

    def write_items(
        self, call: Call, owner: str, header: bytes, buffers: list[Any], handles: bool
    ) -> None:
        """Send one STREAM_ITEMS frame of a remote stream (re-encoded if it names objects)."""
        if handles:
            message = decode(header, [memoryview(b) for b in buffers])
            items = self._adopt(owner, message[2])
            self._replies.write(*self._replies.items(call, items))
        else:
            self._replies.write(header, [memoryview(b) for b in buffers])


_background: set[asyncio.Task[Any]] = set()


async def _release(actor: Any, ids: list[int]) -> None:
    with contextlib.suppress(BaseException):  # a lost worker took its objects with it
        await actor.release(ids)


def _invalidated(owner: str, exc: BaseException | None = None) -> HandleInvalidatedError:
    why = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    return HandleInvalidatedError(
        f"the Dask worker {owner} that held this object was lost{why}; its objects are gone"
    )


def _owners(value: Any, owners: set[str], depth: int = 0) -> None:
    """Add the owner of every DaskObject in ``value`` (arguments as decoded) to ``owners``."""
    kind = type(value)
    if kind is DaskObject:
        owners.add(value.owner)
    elif depth > 100:
        return  # the decoder bounds nesting already
    elif kind is list:
        for item in value:
            _owners(item, owners, depth + 1)
    elif kind is dict:
        for key, item in value.items():
            _owners(key, owners, depth + 1)
            _owners(item, owners, depth + 1)


def _refs(value: Any) -> Any:
    """``value`` with each DaskObject the StoreRef its actor reads as the object."""
    kind = type(value)
    if kind is DaskObject:
        return StoreRef(value.id)
    if kind is list:
        return [_refs(item) for item in value]
    if kind is dict:
        return {_refs(key): _refs(item) for key, item in value.items()}
    return value


class DaskStream:
    """A stream whose iterator lives on a Dask worker: pulled in batches, within the credit.

    The worker's reader thread calls ``add_credit`` and ``close`` (STREAM_CREDIT,
    STREAM_CLOSE; the backend's cancel); the rest runs on the event loop.
    """

    def __init__(
        self,
        objects: DaskObjects,
        client: Any,
        call: Call,
        actor: Any,
        *,
        owner: str,
        stream_id: int,
    ) -> None:
        self._objects = objects
        self._client = client
        self.call = call
        self._actor = actor
        self._owner = owner
        self._id = stream_id
        self.allowance = call.window
        self.produced = 0
        self.closing: str | None = None
        self._wake: asyncio.Event | None = None

    def add_credit(self, n: int) -> None:
        """STREAM_CREDIT: ``n`` more items may be sent."""
        self._objects._loop.call_soon(self._credit, n)

    def close(self, reason: str) -> None:
        """STREAM_CLOSE (``"close"``) or a cancel (``"cancel"``): close the remote iterator."""
        self._objects._loop.call_soon(self._close, reason)

    def _credit(self, n: int) -> None:
        self.allowance += n
        if self._wake is not None:
            self._wake.set()

    def _close(self, reason: str) -> None:
        if self.closing is None:
            self.closing = reason
        if self._wake is not None:
            self._wake.set()

    def _stopping(self) -> bool:
        call = self.call
        if self.closing is None:
            if call.cancel_requested:
                self.closing = "cancel"
            elif call.close_requested:
                self.closing = "close"
        return self.closing is not None

    async def run(self) -> None:
        """Pull and send items until the iterator ends, fails or is closed; then answer."""
        import asyncio

        objects, call = self._objects, self.call
        self._wake = wake = asyncio.Event()
        try:
            while not self._stopping():
                room = self.allowance - self.produced
                if room <= 0:
                    wake.clear()
                    await wake.wait()
                    continue
                pulled = await while_listed(
                    self._client,
                    self._owner,
                    self._actor.pull(
                        self._id,
                        call.id,
                        n=min(room, PULL_ITEMS),
                        sent=self.produced,
                        mode=call.result,
                        limit=objects._limit,
                    ),
                )
                _, header, buffers, handles, count, end = pulled
                if self._stopping():
                    break  # the client drops what comes after its STREAM_CLOSE
                if header is not None:
                    objects.write_items(call, self._owner, header, buffers, handles)
                    self.produced += count
                if end == "end":
                    objects._answer(call, lambda: objects._replies.end_stream(call, None, 0))
                    return
                if end is not None:
                    objects._answer(call, functools.partial(objects._replies.error_info, call, end))
                    return
        except asyncio.CancelledError:
            self._close_later()
            raise
        except (OSError, RuntimeError) as exc:
            objects._lose(self._owner, exc)
            lost = WorkerCrashedError(
                f"the Dask worker {self._owner} that ran this stream was lost "
                f"({type(exc).__name__}: {exc})"
            )
            objects._answer(call, lambda: objects._replies.error(call, lost))
            return
        await self._finish_closing()

    async def _finish_closing(self) -> None:
        objects, call = self._objects, self.call
        try:
            failure = await self._actor.close(self._id)
        except (OSError, RuntimeError) as exc:
            objects._lose(self._owner, exc)
            failure = None
        if failure is not None:
            objects._answer(call, lambda: objects._replies.error_info(call, failure))
        elif self.closing == "cancel":
            call.interrupted = True
            cancelled = Cancelled(f"call {call.id} was cancelled by the client")
            objects._answer(call, lambda: objects._replies.error(call, cancelled))
        else:
            objects._answer(call, lambda: objects._replies.end_stream(call, None, 0))

    def _close_later(self) -> None:
        """Close the remote iterator in the background (the call was answered already)."""
        import asyncio

        async def close() -> None:
            with contextlib.suppress(BaseException):
                await self._actor.close(self._id)

        task = asyncio.get_running_loop().create_task(close())
        _background.add(task)
        task.add_done_callback(_background.discard)
