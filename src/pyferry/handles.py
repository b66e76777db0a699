"""The worker's handle table: handle id -> object, for objects that cannot cross by value.

An object that the encoder cannot send by value (or any answer of a call with
``result: "handle"``) is stored here and crosses as a HANDLE holding a new id.
Ids count up from 1 per worker process and are never reused, so the same
object sent twice has two ids, each released on its own (protocol section 3.2).

The main thread and the event loop thread add entries while whoever reads frames
looks them up and releases them; each operation is one dict or counter step,
atomic under the GIL, so the table needs no lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from pyferry.errors import HandleError

__all__ = ["HandleTable"]


class HandleTable:
    """Objects the client holds handles to, by handle id."""

    __slots__ = ("_ids", "_objects")

    def __init__(self) -> None:
        self._objects: dict[int, Any] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._objects)

    def add(self, obj: Any) -> int:
        """Store ``obj`` under a new id and return the id."""
        handle_id = next(self._ids)
        self._objects[handle_id] = obj
        return handle_id

    def handle(self, handle_id: int) -> Any:
        """The object behind ``handle_id``.

        Raises:
            HandleError: the id is not in the table (released, or never sent by this worker).
        """
        try:
            return self._objects[handle_id]
        except KeyError:
            raise HandleError(
                f"handle {handle_id} is not in this worker's table: it was released "
                "(or never sent by this worker)"
            ) from None

    def discard(self, ids: Iterable[int]) -> None:
        """Drop these ids; unknown ones are ignored, so releasing twice is harmless."""
        objects = self._objects
        for handle_id in ids:
            objects.pop(handle_id, None)
