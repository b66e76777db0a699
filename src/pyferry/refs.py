"""References: how objects that stay on one side are named on the wire.

A HANDLE (extension 3) names an object kept in the worker's handle table, a
CALLBACK (extension 4) a JS function of the client; both carry a u64 id, and a
HANDLE the object's type and ``repr()`` for the client to show (protocol
sections 5.6 and 5.7). A client holds them as :class:`HandleRef` and
:class:`CallbackRef`; the worker meets them through the :class:`HandleSink`
(its handle table, when encoding) and the :class:`Peer` (when decoding).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any, Protocol

from pyferry.errors import DecodeError
from pyferry.protocol import EXT_CALLBACK, EXT_HANDLE

__all__ = [
    "REF_ID",
    "AsHandle",
    "CallbackRef",
    "HandleRef",
    "HandleSink",
    "Peer",
    "RemoteObject",
    "TargetHandle",
    "handle_payload",
    "qualname",
    "reference_id",
]


def qualname(tp: type) -> str:
    """The importable name of a type, ``builtins.`` prefix included."""
    return f"{tp.__module__}.{tp.__qualname__}"


REF_ID = struct.Struct("<Q")
_REPR_MAX = 1000


class HandleRef:
    """A HANDLE as a client holds it: the id, and the type and ``repr()`` the worker gave.

    Plain ``encode`` writes it back as a HANDLE of that id (the 8 id bytes only).
    """

    __slots__ = ("id", "repr", "type")

    def __init__(self, handle_id: int, type_name: str = "", text: str = "") -> None:
        self.id = handle_id
        self.type = type_name
        self.repr = text

    def __repr__(self) -> str:
        return f"HandleRef({self.id}, {self.type!r}, {self.repr!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HandleRef) and other.id == self.id

    def __hash__(self) -> int:
        return hash((HandleRef, self.id))


class CallbackRef:
    """A CALLBACK as a client writes it: the id of one of its functions."""

    __slots__ = ("id",)

    def __init__(self, callback_id: int) -> None:
        self.id = callback_id

    def __repr__(self) -> str:
        return f"CallbackRef({self.id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CallbackRef) and other.id == self.id

    def __hash__(self) -> int:
        return hash((CallbackRef, self.id))


class AsHandle:
    """Wraps an object so that the worker's ``encode`` sends it as one HANDLE, whatever it is."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj


class RemoteObject:
    """A stand-in for an object kept in another process (a Dask worker's store).

    A Dask gateway keeps these in its handle table; one crosses to the client
    as a HANDLE labelled with the type and ``repr()`` its owner gave, so the
    client sees the object itself, not the stand-in (:mod:`pyferry.backends.dask_handles`).
    """

    __slots__ = ("__weakref__", "id", "owner", "repr", "type")

    def __init__(self, owner: str, remote_id: int, type_name: str, text: str) -> None:
        self.owner = owner
        self.id = remote_id
        self.type = type_name
        self.repr = text

    def __repr__(self) -> str:
        return f"<RemoteObject {self.id} of {self.owner}: {self.type}>"


class TargetHandle:
    """The object of a HANDLE met in a CALL's target, so the worker can tell it from a value."""

    __slots__ = ("id", "obj")

    def __init__(self, obj: Any, handle_id: int) -> None:
        self.obj = obj
        self.id = handle_id


class HandleSink(Protocol):
    """Where the worker's ``encode`` puts the objects it sends as handles (its handle table)."""

    def add(self, obj: Any) -> int:
        """Store ``obj``; return its new handle id."""
        ...

    def discard(self, ids: Iterable[int]) -> None:
        """Drop ids (those of a message that could not be sent after all)."""
        ...


class Peer(Protocol):
    """What the worker's ``decode`` turns HANDLE and CALLBACK extensions into."""

    def handle(self, handle_id: int) -> Any:
        """The object behind ``handle_id``; raises HandleError when it is not in the table."""
        ...

    def callback(self, callback_id: int, call_id: int) -> Any:
        """A callable for JS function ``callback_id``, bound to call ``call_id``."""
        ...


def handle_payload(handle_id: int, obj: Any) -> bytes:
    """u64 id, then the type's qualified name, a line feed and ``repr()`` (protocol 5.6)."""
    if isinstance(obj, RemoteObject):  # labelled by the process that holds the object
        label = f"{obj.type}\n{obj.repr}".encode("utf-8", "backslashreplace")
        return REF_ID.pack(handle_id) + label
    try:
        text = repr(obj)
    except MemoryError:
        raise
    except BaseException:  # even SystemExit: a handle's label is not worth a call
        text = "<unrepresentable>"
    if not isinstance(text, str):  # a __repr__ that returns something else
        text = "<unrepresentable>"
    name = qualname(type(obj))
    label = f"{name}\n{text[:_REPR_MAX]}".encode("utf-8", "backslashreplace")
    return REF_ID.pack(handle_id) + label


def reference_id(code: int, data: bytes) -> int:
    """The id in a HANDLE or CALLBACK payload; DecodeError if the payload is malformed."""
    name = "handle" if code == EXT_HANDLE else "callback"
    if len(data) < REF_ID.size or (code == EXT_CALLBACK and len(data) != REF_ID.size):
        raise DecodeError(f"{name} extension of {len(data)} bytes, expected 8")
    (ident,) = REF_ID.unpack_from(data)
    if ident == 0:
        raise DecodeError(f"{name} id 0: ids start at 1")
    return int(ident)
