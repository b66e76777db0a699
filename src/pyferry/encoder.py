"""The packer: Python values to a MessagePack header plus out-of-band buffers.

:class:`Encoder` wraps a ``msgpack.Packer`` whose ``default`` hook turns what
MessagePack has no type for into pyferry's extensions: arrays
(:mod:`pyferry.ndarray`), complex numbers, tables (:mod:`pyferry.arrow`) and,
for the worker, handles (:mod:`pyferry.refs`). :func:`pyferry.codec.encode`
drives it; :mod:`pyferry.explain` reuses it to find what failed.
"""

from __future__ import annotations

import datetime as _dt
import re
import struct
import sys
import threading
from collections.abc import Iterable
from typing import Any, Final

import msgpack

from pyferry import arrow
from pyferry.errors import EncodeError
from pyferry.ndarray import (
    SCALARS,
    encode_array,
    plain_array,
    scalar_types,
    time_scalar,
    wire_dtype,
)
from pyferry.protocol import EXT_ARROW, EXT_CALLBACK, EXT_COMPLEX, EXT_HANDLE, EXT_NDARRAY
from pyferry.refs import (
    REF_ID,
    AsHandle,
    CallbackRef,
    HandleRef,
    HandleSink,
    handle_payload,
    qualname,
)

__all__ = ["DRY_RUN", "EXT_MARKER", "TWO_F64", "Encoder", "count_exts", "local"]

TWO_F64 = struct.Struct("<dd")  # a complex number: real, then imaginary part
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


class _DryRun:
    """A HandleSink that stores nothing: ``explain`` uses it to see what would cross."""

    def add(self, obj: Any) -> int:
        return 1

    def discard(self, ids: Iterable[int]) -> None:
        pass


DRY_RUN = _DryRun()
# Types whose values cross by value: one of them that reaches ``default`` has a
# value that cannot (an int beyond 64 bits, ...), which stays an error instead
# of becoming a handle. msgpack.ExtType never reaches ``default``; see encode().
_VALUE_TYPES: Final = (
    int, float, str, bytes, bytearray, memoryview, list, tuple, dict, complex, _dt.datetime,
    msgpack.ExtType, msgpack.Timestamp, type(None),
)  # fmt: skip


class Encoder:
    """Packs messages, collecting the buffers their EXT_NDARRAY extensions point to.

    A Packer is costly to build compared with packing a small message, so each
    thread keeps one encoder (``local``) and resets ``buffers`` per message.
    ``table`` (the worker's handle table, or None) and ``by_value`` are set per
    message too; ``exts`` counts the extensions ``default`` made (``_ext``) and
    ``added`` the handle ids, so that a failed message can take them back.
    """

    __slots__ = ("added", "buffers", "busy", "by_value", "exts", "packer", "table")

    def __init__(self, table: HandleSink | None = None) -> None:
        self.buffers: list[memoryview] = []
        self.table = table
        self.by_value = False
        self.exts = 0
        self.added: list[int] | None = None
        self.busy = False
        self.packer = msgpack.Packer(default=self.default, use_bin_type=True, datetime=True)

    def _ext(self, code: int, data: bytes) -> msgpack.ExtType:
        """One of our extensions, counted: ``encode`` refuses those it did not make."""
        self.exts += 1
        return msgpack.ExtType(code, data)

    def _export(self, obj: Any) -> msgpack.ExtType:
        """Put ``obj`` in the handle table and return its EXT_HANDLE."""
        assert self.table is not None
        handle_id = self.table.add(obj)
        if self.added is None:
            self.added = [handle_id]
        else:
            self.added.append(handle_id)
        return self._ext(EXT_HANDLE, handle_payload(handle_id, obj))

    def _not_a_value(self, obj: Any) -> Any:
        """An object of no wire type: a handle, a client's reference, or an error."""
        table = self.table
        if table is None:
            # A client's view: references go back as they came.
            if isinstance(obj, HandleRef):
                return self._ext(EXT_HANDLE, REF_ID.pack(obj.id))
            if isinstance(obj, CallbackRef):
                return self._ext(EXT_CALLBACK, REF_ID.pack(obj.id))
        elif isinstance(obj, AsHandle):
            return self._export(obj.obj)
        elif not self.by_value and not isinstance(obj, _VALUE_TYPES):
            return self._export(obj)
        raise EncodeError(f"{qualname(type(obj))} cannot cross by value")

    def default(self, obj: Any) -> Any:
        np = sys.modules.get("numpy")
        if np is not None:
            convert = (SCALARS or scalar_types(np)).get(type(obj))
            if convert is not None:
                return convert(obj)  # a numpy bool, int or float: what .item() gives, quicker
            if isinstance(obj, (np.ndarray, np.generic)):
                if isinstance(obj, np.ndarray):
                    if type(obj) is not np.ndarray:
                        obj = plain_array(obj)
                    if obj.ndim:
                        payload, buffer = encode_array(obj, len(self.buffers))
                        self.buffers.append(buffer)
                        return self._ext(EXT_NDARRAY, payload)
                if obj.dtype.kind in "Mm":
                    return time_scalar(obj)
                # numpy scalars and 0-d arrays go as the Python value they hold.
                wire_dtype(obj.dtype)  # refuses a dtype that cannot cross
                obj = obj.item()
                if not isinstance(obj, complex):
                    return obj
        if isinstance(obj, complex):
            return self._ext(EXT_COMPLEX, TWO_F64.pack(obj.real, obj.imag))
        if isinstance(obj, _dt.datetime):
            return _datetime_subclass(obj)
        table = arrow.table_of(obj)
        if table is not None:
            payload, buffer = arrow.encode_table(table, len(self.buffers))
            self.buffers.append(buffer)
            return self._ext(EXT_ARROW, payload)
        return self._not_a_value(obj)


local = threading.local()
_KEEP_PACKER_BELOW = 1 << 20
# numpy's bool, int and float scalar types of the dtypes that cross -> bool, int or
# float, which give the same value as ``.item()`` in a fraction of its time (a numpy
# scalar is the answer of many calls). Complex ones take the general path (ext 2).
# Filled when ``default`` first meets numpy loaded.
_SCALARS: dict[type, type] = {}


def _datetime_subclass(value: _dt.datetime) -> Any:
    """An aware datetime of a subclass (pandas.Timestamp) as a timestamp; naive ones are refused.

    msgpack packs the datetime class itself and hands subclasses to ``default``.
    """
    if type(value).__name__ == "NaTType":  # pandas.NaT is a datetime too
        return None
    if value.utcoffset() is None:
        raise EncodeError("naive datetime cannot cross: give it a tzinfo (e.g. UTC)")
    plain = _dt.datetime(
        value.year, value.month, value.day, value.hour, value.minute, value.second,
        value.microsecond, value.tzinfo, fold=value.fold,
    )  # fmt: skip
    delta = plain - _EPOCH
    nanos = delta.microseconds * 1000 + getattr(value, "nanosecond", 0)
    return msgpack.Timestamp(delta.days * 86400 + delta.seconds, nanos)


# Bytes that start a MessagePack ext (fixext 1-16, ext 8/16/32). A header
# without any holds no extension; one with some is counted exactly (rarely).
EXT_MARKER = re.compile(rb"[\xc7-\xc9\xd4-\xd8]")


class _ExtCounter:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, code: int, data: bytes) -> None:
        self.count += 1


def count_exts(header: bytes) -> int:
    """How many extensions other than timestamps ``header`` holds (-1 if it does not read)."""
    counter = _ExtCounter()
    try:
        msgpack.unpackb(
            header, ext_hook=counter, raw=True, strict_map_key=False, timestamp=0, use_list=False
        )
    except Exception:
        return -1
    return counter.count
