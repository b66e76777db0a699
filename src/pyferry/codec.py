"""Python values <-> wire values: MessagePack plus extension types and out-of-band buffers.

Encoding turns a message (a list) into header bytes and a list of buffers;
decoding does the reverse. Arrays never go through MessagePack: the header
holds a small NDARRAY extension (buffer index, dtype code, shape) and the bytes
travel as a separate buffer, sent from the array's own memory.

==================  ================================  ==========================
Python              wire                              notes
==================  ================================  ==========================
None, bool, str     nil, bool, str
int                 int (up to 64 bits)               larger: EncodeError
float               float 64                          NaN, inf, -0.0 kept
bytes, bytearray    bin
list, tuple         array                             decodes to list
dict                map                               keys of any wire type
complex             ext 2: two f64                    also numpy complex scalars
datetime (aware)    ext -1 (MessagePack timestamp)    decodes as UTC
ndarray             ext 1 + one buffer                0-d arrays go as scalars
datetime64 array    ext 1, dtype 14 + time unit       NaT kept; timedelta64: 15
numpy scalar        its Python value (``.item()``)
datetime64 scalar   ext -1, nanoseconds kept          read as UTC; NaT: None
timedelta64 scalar  float 64: seconds                 NaT: None
DataFrame, Table    ext 5 + one buffer (Arrow IPC)    see pyferry.arrow
any other object    ext 3 HANDLE: u64 id, type, repr  worker side, see below
==================  ================================  ==========================

Handles and callbacks depend on who encodes and decodes. Plain ``encode`` and
``decode`` (a client's view, and the tests') read a HANDLE as a
:class:`HandleRef` and a CALLBACK as a :class:`CallbackRef`, and write those
back as the extensions. The worker passes its handle table to ``encode``, so
that an object that cannot cross by value goes into the table and crosses as
a HANDLE, and a :class:`Peer` to ``decode``, so that a HANDLE becomes the
object in the table and a CALLBACK in a CALL's arguments a callable.

numpy is imported only when an array actually arrives; an array that leaves
implies numpy is already loaded. The same goes for pandas and pyarrow.
"""

from __future__ import annotations

import datetime as _dt
import re
import struct
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol

import msgpack

from pyferry import arrow
from pyferry.errors import DecodeError, EncodeError, HandleError, ProtocolError
from pyferry.protocol import CALL, MAX_BUFFERS, MAX_DEPTH

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CALLBACK",
    "COMPLEX",
    "DTYPES",
    "HANDLE",
    "NDARRAY",
    "AsHandle",
    "CallbackRef",
    "HandleRef",
    "HandleSink",
    "Peer",
    "TargetHandle",
    "decode",
    "encode",
    "explain",
    "peek_envelope",
    "qualname",
]

NDARRAY: Final = 1
COMPLEX: Final = 2
HANDLE: Final = 3
CALLBACK: Final = 4
# -1 is MessagePack's timestamp, which msgpack handles itself.

# dtype code on the wire -> numpy dtype string (always little-endian).
DTYPES: Final = {
    1: "|b1",
    2: "|i1",
    3: "|u1",
    4: "<i2",
    5: "<u2",
    6: "<i4",
    7: "<u4",
    8: "<i8",
    9: "<u8",
    10: "<f4",
    11: "<f8",
    12: "<c8",
    13: "<c16",
}
_CODES: Final = {(s[1], int(s[2:])): code for code, s in DTYPES.items()}
# datetime64 and timedelta64: dtype code 14 or 15 plus a time unit byte.
TIME_DTYPES: Final = {14: "M", 15: "m"}
TIME_UNITS: Final = {
    1: "Y", 2: "M", 3: "W", 4: "D", 5: "h", 6: "m", 7: "s",
    8: "ms", 9: "us", 10: "ns", 11: "ps", 12: "fs", 13: "as",
}  # fmt: skip
_TIME_CODES: Final = {kind: code for code, kind in TIME_DTYPES.items()}
_UNIT_CODES: Final = {unit: code for code, unit in TIME_UNITS.items()}
# Nanoseconds per unit for the units of fixed length; the finer ones divide instead.
_NS_PER_UNIT: Final = {
    "W": 7 * 86400 * 10**9, "D": 86400 * 10**9, "h": 3600 * 10**9, "m": 60 * 10**9,
    "s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1,
}  # fmt: skip
_UNITS_PER_NS: Final = {"ps": 10**3, "fs": 10**6, "as": 10**9}
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_ND_HEAD = struct.Struct("<IBBBx")  # buffer index, dtype code, ndim, time unit
_COMPLEX = struct.Struct("<dd")
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1
_UNSUPPORTED_KINDS = {
    "f": "use float32 or float64",
    "O": "object arrays cannot cross; convert to a numeric dtype or a list",
    "U": "convert string arrays to a list (arr.tolist())",
    "S": "convert bytes arrays to a list (arr.tolist())",
    "V": "structured arrays cannot cross; send each field (arr['name']) or a DataFrame",
}


def qualname(tp: type) -> str:
    """The importable name of a type, ``builtins.`` prefix included."""
    return f"{tp.__module__}.{tp.__qualname__}"


_ID = struct.Struct("<Q")
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


class _DryRun:
    """A HandleSink that stores nothing: ``explain`` uses it to see what would cross."""

    def add(self, obj: Any) -> int:
        return 1

    def discard(self, ids: Iterable[int]) -> None:
        pass


_DRY_RUN = _DryRun()
# Types whose values cross by value: one of them that reaches ``default`` has a
# value that cannot (an int beyond 64 bits, ...), which stays an error instead
# of becoming a handle. msgpack.ExtType never reaches ``default``; see encode().
_VALUE_TYPES: Final = (
    int, float, str, bytes, bytearray, memoryview, list, tuple, dict, complex, _dt.datetime,
    msgpack.ExtType, msgpack.Timestamp, type(None),
)  # fmt: skip


def _handle_payload(handle_id: int, obj: Any) -> bytes:
    """u64 id, then the type's qualified name, a line feed and ``repr()`` (protocol 5.6)."""
    try:
        text = repr(obj)
    except MemoryError:
        raise
    except BaseException:  # even SystemExit: a handle's label is not worth a call
        text = "<unrepresentable>"
    if not isinstance(text, str):  # a __repr__ that returns something else
        text = "<unrepresentable>"
    name = qualname(type(obj))
    return _ID.pack(handle_id) + f"{name}\n{text[:_REPR_MAX]}".encode("utf-8", "backslashreplace")


class _Encoder:
    """Packs messages, collecting the buffers their NDARRAY extensions point to.

    A Packer is costly to build compared with packing a small message, so each
    thread keeps one encoder (``_local``) and resets ``buffers`` per message.
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
        """Put ``obj`` in the handle table and return its HANDLE."""
        assert self.table is not None
        handle_id = self.table.add(obj)
        if self.added is None:
            self.added = [handle_id]
        else:
            self.added.append(handle_id)
        return self._ext(HANDLE, _handle_payload(handle_id, obj))

    def _not_a_value(self, obj: Any) -> Any:
        """An object of no wire type: a handle, a client's reference, or an error."""
        table = self.table
        if table is None:
            # A client's view: references go back as they came.
            if isinstance(obj, HandleRef):
                return self._ext(HANDLE, _ID.pack(obj.id))
            if isinstance(obj, CallbackRef):
                return self._ext(CALLBACK, _ID.pack(obj.id))
        elif isinstance(obj, AsHandle):
            return self._export(obj.obj)
        elif not self.by_value and not isinstance(obj, _VALUE_TYPES):
            return self._export(obj)
        raise EncodeError(f"{qualname(type(obj))} cannot cross by value")

    def default(self, obj: Any) -> Any:
        np = sys.modules.get("numpy")
        if np is not None:
            convert = (_SCALARS or _scalar_types(np)).get(type(obj))
            if convert is not None:
                return convert(obj)  # a numpy bool, int or float: what .item() gives, quicker
            if isinstance(obj, (np.ndarray, np.generic)):
                if isinstance(obj, np.ndarray):
                    if type(obj) is not np.ndarray:
                        obj = _plain_array(obj)
                    if obj.ndim:
                        return self.array(obj)
                if obj.dtype.kind in "Mm":
                    return _time_scalar(obj)
                # numpy scalars and 0-d arrays go as the Python value they hold.
                _dtype_ok(obj.dtype)
                obj = obj.item()
                if not isinstance(obj, complex):
                    return obj
        if isinstance(obj, complex):
            return self._ext(COMPLEX, _COMPLEX.pack(obj.real, obj.imag))
        if isinstance(obj, _dt.datetime):
            return _datetime_subclass(obj)
        table = arrow.table_of(obj)
        if table is not None:
            payload, buffer = arrow.encode_table(table, len(self.buffers))
            self.buffers.append(buffer)
            return self._ext(arrow.ARROW, payload)
        return self._not_a_value(obj)

    def array(self, arr: np.ndarray[Any, Any]) -> msgpack.ExtType:
        import numpy as np

        code, unit = _wire_dtype(arr.dtype)
        if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and sys.byteorder == "big"):
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        # C order: a no-op for contiguous arrays, one copy otherwise.
        arr = np.ascontiguousarray(arr)
        index = len(self.buffers)
        self.buffers.append(memoryview(arr.reshape(-1).view(np.uint8)))  # type: ignore[arg-type]
        shape = struct.pack(f"<{arr.ndim}Q", *arr.shape)
        return self._ext(NDARRAY, _ND_HEAD.pack(index, code, arr.ndim, unit) + shape)


_local = threading.local()
_KEEP_PACKER_BELOW = 1 << 20
# numpy's bool, int and float scalar types of the dtypes that cross -> bool, int or
# float, which give the same value as ``.item()`` in a fraction of its time (a numpy
# scalar is the answer of many calls). Complex ones take the general path (ext 2).
# Filled when ``default`` first meets numpy loaded.
_SCALARS: dict[type, type] = {}


def _scalar_types(np: Any) -> dict[type, type]:
    """Fill ``_SCALARS`` from ``DTYPES`` (numpy's own types, whatever the platform calls them)."""
    python = {"b": bool, "i": int, "u": int, "f": float}
    for name in DTYPES.values():
        dtype = np.dtype(name)
        if dtype.kind in python:
            _SCALARS[dtype.type] = python[dtype.kind]
    return _SCALARS


def _plain_array(arr: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The plain ndarray an ndarray subclass crosses as; EncodeError if that would lose something.

    ``memmap`` and ``matrix`` are their data and shape (a matrix arrives as a 2-d
    array); a masked array would lose its mask, and any other subclass what it
    adds (units, labels), so those are refused with the way to send them.
    """
    import numpy as np

    if isinstance(arr, (np.memmap, np.matrix)):
        return np.asarray(arr)
    ma = sys.modules.get("numpy.ma")
    if ma is not None and isinstance(arr, ma.MaskedArray):
        raise EncodeError(
            "a numpy masked array cannot cross: its mask would be lost. Fill the masked "
            "places (arr.filled(np.nan)), or send the data and the mask apart "
            "(arr.data, np.ma.getmaskarray(arr))"
        )
    if isinstance(arr, np.recarray):
        return np.asarray(arr)  # a structured dtype: refused, naming it, by _wire_dtype
    raise EncodeError(
        f"{qualname(type(arr))} is a subclass of numpy.ndarray: as a plain array it would "
        "lose what the subclass adds. Send np.asarray(value) for its data, or ask for a "
        "handle (in JS: opts({ handle: true }))"
    )


def _dtype_ok(dtype: np.dtype[Any]) -> bool:
    _wire_dtype(dtype)
    return True


def _wire_dtype(dtype: np.dtype[Any]) -> tuple[int, int]:
    """The dtype code and time unit byte of an array's dtype; EncodeError if it has none."""
    if dtype.kind in "Mm":
        return _TIME_CODES[dtype.kind], _UNIT_CODES[_time_unit(dtype)]
    code = _CODES.get((dtype.kind, dtype.itemsize))
    if code is not None and dtype.fields is None:
        return code, 0
    hint = _UNSUPPORTED_KINDS.get(dtype.kind, "convert it to a supported dtype")
    raise EncodeError(f"numpy dtype {dtype.name!r} ({dtype.str}) cannot cross: {hint}")


def _time_unit(dtype: np.dtype[Any]) -> str:
    """The unit of a datetime64/timedelta64 dtype; generic and multiple units cannot cross."""
    import numpy as np

    unit, count = np.datetime_data(dtype)
    if unit == "generic":
        raise EncodeError(
            f"numpy dtype {dtype.name!r} has no time unit: give it one, e.g. {dtype.name}[ms]"
        )
    if count != 1:
        raise EncodeError(
            f"numpy dtype {dtype.name!r} counts in steps of {count} {unit}: "
            f"convert it to a plain unit, e.g. .astype('{dtype.name.split('[')[0]}[{unit}]')"
        )
    return unit


def _time_scalar(value: Any) -> Any:
    """A datetime64 or timedelta64 scalar (or 0-d array) as the value it crosses as.

    datetime64: a MessagePack timestamp, read as UTC (numpy's own epoch), to the
    nanosecond. timedelta64: a float, in seconds (as ``timedelta.total_seconds()``).
    NaT: None.
    """
    import numpy as np

    if np.isnat(value):
        return None
    kind = value.dtype.kind
    if kind == "M" and np.datetime_data(value.dtype)[0] in ("Y", "M"):
        value = value.astype("<M8[D]")  # years and months have no fixed length; days do
    unit = _time_unit(value.dtype)
    count = int(value.astype(np.int64))
    if unit in _NS_PER_UNIT:
        nanos, per_ns = count * _NS_PER_UNIT[unit], 1
    elif unit in _UNITS_PER_NS:
        nanos, per_ns = count, _UNITS_PER_NS[unit]
    else:
        raise EncodeError(f"timedelta64 in {unit!r} has no fixed length in seconds (years, months)")
    if kind == "m":
        return nanos / (per_ns * 10**9)
    seconds, nanos = divmod(nanos // per_ns, 10**9)
    if not -(1 << 63) <= seconds < 1 << 63:
        raise EncodeError(f"numpy.datetime64 {value} is beyond the range of a timestamp")
    return msgpack.Timestamp(seconds, nanos)


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
_EXT_MARKER = re.compile(rb"[\xc7-\xc9\xd4-\xd8]")


def encode(
    message: Any,
    root: str = "value",
    handles: HandleSink | None = None,
    *,
    by_value: bool = False,
    limit: int | None = None,
    field: int | None = None,
) -> tuple[bytes, list[memoryview]]:
    """Turn ``message`` into header bytes and the out-of-band buffers the header refers to.

    Args:
        message: the value to encode.
        root: how the value is named in an error path (``result`` gives ``result[2]['foo']``).
        handles: the worker's handle table. With it, an object that cannot cross by
            value crosses as a HANDLE (and an ``AsHandle`` always does); without it
            (a client), ``HandleRef`` and ``CallbackRef`` cross as the ids they hold.
        by_value: with ``handles``, refuse objects that cannot cross by value
            instead (``result: "value"``); ``AsHandle`` still crosses as a HANDLE.
        limit: the most the header and buffers may add up to, in bytes.
        field: the index of the message's one field that can fail (a RESULT's
            value): error paths start there, named ``root``, the envelope
            counting as one level of nesting.

    Raises:
        EncodeError: a part of the value cannot cross (``path`` names it), or the
            message holds more arrays than a frame can carry or is larger than
            ``limit`` (no ``path``); also whatever user code run while packing
            raises (a ``__repr__``, a tzinfo), ``SystemExit`` included. The
            handles it had made are dropped again.
        MemoryError: the message does not fit in memory.
    """
    enc = _local.__dict__.get("encoder")
    if enc is None:
        enc = _local.encoder = _Encoder()
    elif enc.busy:
        # encode() inside encode(): a repr() that reports progress, say. The
        # thread's packer is mid-message, so this one gets its own.
        enc = _Encoder()
    enc.buffers = []
    enc.table = handles
    enc.by_value = by_value
    enc.exts = 0
    enc.added = None
    enc.busy = True
    try:
        header = enc.packer.pack(message)
    except BaseException as exc:
        # The packer stopped half way, maybe inside user code (a __repr__, a tzinfo):
        # whatever that raised, even SystemExit, is a value that cannot cross. Only
        # a MemoryError is not about the value; the caller reports it as it is.
        _done(enc, handles, failed=True)
        _forget(enc)  # its buffer may have grown to most of the memory there is
        if isinstance(exc, MemoryError):
            raise
        raise _explain_message(message, root, handles, by_value, field) from exc
    enc.table = None  # _done(enc, handles, failed=False), inlined: this is every message's path
    enc.busy = False
    buffers = enc.buffers
    # msgpack writes an ExtType it meets as it is: one from user code would put
    # any extension on the wire. Ours all come from ``default``, which counts them.
    if _EXT_MARKER.search(header) is not None and _count_exts(header) != enc.exts:
        _done(enc, handles, failed=True)
        raise _explain_message(message, root, handles, by_value, field)
    if len(header) > _KEEP_PACKER_BELOW:
        # Do not keep a large packing buffer alive between messages.
        _forget(enc)
    if len(buffers) > MAX_BUFFERS:
        _done(enc, handles, failed=True)
        raise EncodeError(f"{len(buffers)} arrays in one message, at most {MAX_BUFFERS}")
    if limit is not None:
        size = len(header)
        if buffers:
            size += sum(b.nbytes for b in buffers)
        if size > limit:
            _done(enc, handles, failed=True)
            raise EncodeError(f"message of {size} bytes exceeds the limit of {limit} bytes")
    return header, buffers


def _explain_message(
    message: Any, root: str, handles: HandleSink | None, by_value: bool, field: int | None
) -> EncodeError:
    as_handles = handles is not None and not by_value
    if field is None:
        return explain(message, root, handles=as_handles)
    return explain(message[field], root, handles=as_handles, depth=1)


def _forget(enc: _Encoder) -> None:
    if _local.__dict__.get("encoder") is enc:
        del _local.encoder


def _done(enc: _Encoder, handles: HandleSink | None, *, failed: bool) -> None:
    """Free the encoder for the next message; if the message failed, drop its new handles."""
    enc.table = None  # the encoder outlives the message: do not keep the table
    enc.busy = False
    if failed and enc.added is not None and handles is not None:
        handles.discard(enc.added)
        enc.added = None


class _ExtCounter:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, code: int, data: bytes) -> None:
        self.count += 1


def _count_exts(header: bytes) -> int:
    """How many extensions other than timestamps ``header`` holds (-1 if it does not read)."""
    counter = _ExtCounter()
    try:
        msgpack.unpackb(
            header, ext_hook=counter, raw=True, strict_map_key=False, timestamp=0, use_list=False
        )
    except Exception:
        return -1
    return counter.count


def explain(value: Any, root: str, *, handles: bool = False, depth: int = 0) -> EncodeError:
    """Build the error that says which part of ``value`` cannot be encoded, and why.

    This walks the value again, so call it only after an encode failed. A
    cycle, or nesting past ``MAX_DEPTH``, is found first, by a walk that does
    not recurse; then the first part that does not encode. Whatever user code
    raises while this looks (a ``__repr__``, a ``utcoffset``) is the reason it
    reports; only a ``MemoryError`` propagates.

    Args:
        value: what failed to encode.
        root: the name of ``value`` in the path.
        handles: whether objects that cannot cross by value would have become handles
            (so the culprit is elsewhere).
        depth: how many containers enclose ``value`` in its message (1 for a
            result: the message array).
    """
    path = [root]
    try:
        reason = _shape_problem(value, path, depth) or _locate(value, path, _Probe(handles))
    except MemoryError:
        raise
    except BaseException as exc:  # user code that fails again as we look: that is why
        reason = f"{_type_name(value)} cannot cross: {_exception_text(exc)}"
    return EncodeError(reason, _path_text(path))


_CONTAINERS: Final = (list, tuple, dict)


def _shape_problem(value: Any, path: list[str], depth: int) -> str | None:
    """Why ``value`` cannot be packed at all, a cycle or too deep a nesting; ``path`` goes there.

    Looks at containers only, depth first and without recursion, so a value
    nested thousands of levels deep is refused as soon as it passes the limit.
    """
    if not isinstance(value, _CONTAINERS):
        return None
    if depth >= MAX_DEPTH:
        return _TOO_DEEP
    # The open containers, outermost first, each with the iterator over its children.
    stack: list[tuple[Any, Iterator[tuple[Any, Any]]]] = [(value, _children(value))]
    level = {id(value): 0}  # open container -> its index in the stack
    while stack:
        try:
            found = _next_container(stack[-1][1])
        except MemoryError:
            raise
        except BaseException as exc:  # a subclass's items() or __iter__, say
            return f"{_type_name(stack[-1][0])} cannot cross: {_exception_text(exc)}"
        if found is None:
            done = stack.pop()[0]
            del level[id(done)]
            if stack:
                path.pop()
            continue
        key, child = found
        path.append(f"[{key}]" if type(key) is int else f"[{_short_repr(key)}]")
        if id(child) in level:
            up = len(stack) - level[id(child)]
            levels = "1 level" if up == 1 else f"{up} levels"
            return (
                f"the value is cyclic: this {_type_name(child)} holds itself "
                f"(it is the container {levels} up)"
            )
        if depth + len(stack) >= MAX_DEPTH:
            return _TOO_DEEP
        level[id(child)] = len(stack)
        try:
            stack.append((child, _children(child)))
        except MemoryError:
            raise
        except BaseException as exc:
            return f"{_type_name(child)} cannot cross: {_exception_text(exc)}"
    return None


_TOO_DEEP: Final = (
    f"the value nests deeper than {MAX_DEPTH} levels (the message counts as one): "
    "flatten it, or send it in parts"
)


def _next_container(children: Iterator[tuple[Any, Any]]) -> tuple[Any, Any] | None:
    """The next (key, child) whose child is a container, or None when there is none left."""
    for key, child in children:
        if isinstance(child, _CONTAINERS):
            return key, child
    return None


def _children(container: Any) -> Iterator[tuple[Any, Any]]:
    """(index or key, item) of a list, tuple or dict."""
    return iter(container.items()) if isinstance(container, dict) else enumerate(container)


def _locate(value: Any, path: list[str], probe: _Probe) -> str:
    """Why the first part of ``value`` that cannot be encoded fails; ``path`` is extended to it.

    The value holds no cycle and nests within the limit (``_shape_problem``).
    """
    if isinstance(value, msgpack.ExtType):
        return "a raw msgpack.ExtType cannot cross: pyferry writes the extension types itself"
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if not probe.encodes(item):
                path.append(f"[{i}]")
                return _locate(item, path, probe)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not probe.encodes(key):
                return f"dict key {_short_repr(key)}: {_locate(key, [], probe)}"
            if not probe.encodes(item):
                path.append(f"[{_short_repr(key)}]")
                return _locate(item, path, probe)
    elif isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
        return f"int {value} does not fit in 64 bits"
    try:
        probe.pack(value)
    except EncodeError as exc:
        return exc.reason
    except MemoryError:
        raise
    except BaseException as exc:  # msgpack's own TypeError/ValueError, or user code's
        return f"{_type_name(value)} cannot cross: {_exception_text(exc)}"
    return "cannot cross"  # unreachable unless the value changed meanwhile


class _Probe:
    """Packs parts of a value that failed, to find the one at fault; handles go nowhere."""

    __slots__ = ("enc",)

    # Items of these types always encode: the probe need not pack them (a long list of floats).
    SIMPLE: Final = frozenset({float, bool, bytes, type(None)})

    def __init__(self, handles: bool) -> None:
        self.enc = _Encoder(_DRY_RUN if handles else None)

    def pack(self, value: Any) -> bytes:
        enc = self.enc
        enc.exts = 0
        enc.added = None
        enc.buffers = []
        return enc.packer.pack(value)

    def encodes(self, value: Any) -> bool:
        kind = type(value)
        if kind in self.SIMPLE or (kind is int and _INT_MIN <= value <= _INT_MAX):
            return True
        try:
            header = self.pack(value)
        except MemoryError:
            raise
        except BaseException:
            return False
        return _EXT_MARKER.search(header) is None or _count_exts(header) == self.enc.exts


# A path longer than this many steps shows its first and last few only.
_PATH_STEPS_SHOWN = 8


def _path_text(path: list[str]) -> str:
    """``path`` as an expression, ``result[0][0]…[0]`` when it is long."""
    if len(path) <= 1 + 2 * _PATH_STEPS_SHOWN:
        return "".join(path)
    hidden = len(path) - 1 - 2 * _PATH_STEPS_SHOWN
    head, tail = path[: 1 + _PATH_STEPS_SHOWN], path[-_PATH_STEPS_SHOWN:]
    return f"{''.join(head)}…({hidden} more)…{''.join(tail)}"


def _type_name(value: Any) -> str:
    return qualname(type(value))


def _short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters; a placeholder if it raises."""
    try:
        text = repr(value)
    except MemoryError:
        raise
    except BaseException:
        text = None
    if not isinstance(text, str):
        return f"<{_type_name(value)} with a failing __repr__>"
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _exception_text(exc: BaseException) -> str:
    """``Type: message`` of an exception met while encoding, whatever its ``__str__`` does."""
    try:
        message = str(exc)
    except BaseException:
        message = ""
    name = type(exc).__qualname__
    return f"{name}: {message}" if message else name


def decode(
    header: bytes | bytearray | memoryview, buffers: list[Any], peer: Peer | None = None
) -> Any:
    """Turn header bytes and the frame's buffers back into Python values.

    An extension type that protocol version 1 does not define is a protocol
    violation, not a bad value: a version 1 peer never sends one, so the stream
    itself cannot be trusted. It wins over a malformed value of a known type
    anywhere in the same header.

    Args:
        header: the MessagePack header of a frame.
        buffers: the frame's out-of-band buffers (writable ones give writable arrays).
        peer: the worker's side of handles and callbacks. Without it a HANDLE
            decodes as a ``HandleRef`` and a CALLBACK as a ``CallbackRef``. With
            it a HANDLE is the object in the table (in a CALL's target, wrapped
            in ``TargetHandle``), and a CALLBACK, valid only in a CALL's args
            and kwargs, is the callable ``peer.callback`` makes.

    Raises:
        ProtocolError: the header holds an extension type that is not in version 1.
        DecodeError: the header is not valid MessagePack or a known extension is malformed.
        HandleError: a HANDLE names an id that is not in the table (with ``peer``).
    """
    hook = _ExtHook(buffers, peer)
    try:
        message = msgpack.unpackb(
            header, ext_hook=hook, raw=False, strict_map_key=False, timestamp=3
        )
    except ProtocolError:
        raise
    except _Placed:
        # A HANDLE or CALLBACK means different things in different fields: read
        # the message again field by field (only messages that hold one pay for it).
        return _decode_fields(header, buffers, peer)
    except Exception as exc:  # msgpack's errors, a timestamp out of datetime's range, ...
        _raise_failure(hook, exc)
    if hook.error is not None:
        raise hook.error
    return message


def _decode_fields(
    header: bytes | bytearray | memoryview, buffers: list[Any], peer: Peer | None
) -> Any:
    """Decode a message ``[kind, id, ...fields]`` telling the hook which field it is in."""
    hook = _ExtHook(buffers, peer)
    hook.role = _VALUE
    try:
        message = _unpack_fields(header, hook)
    except ProtocolError:
        raise
    except Exception as exc:
        _raise_failure(hook, exc)
    if hook.error is not None:
        raise hook.error
    return message


def _unpack_fields(header: bytes | bytearray | memoryview, hook: _ExtHook) -> list[Any]:
    unpacker = msgpack.Unpacker(
        ext_hook=hook,
        raw=False,
        strict_map_key=False,
        timestamp=3,
        max_buffer_size=max(len(header), 1),
    )
    unpacker.feed(header)
    size = unpacker.read_array_header()
    message: list[Any] = []
    for index in range(size):
        if index == 2 and message[0] == CALL and isinstance(message[1], int):
            hook.call_id = message[1]
        if hook.call_id:
            hook.role = _CALL_ROLES.get(index, _VALUE)
        message.append(unpacker.unpack())
    if unpacker.tell() != len(header):
        raise DecodeError(f"{len(header) - unpacker.tell()} bytes left after the message")
    return message


def _raise_failure(hook: _ExtHook, exc: Exception) -> NoReturn:
    """Raise the DecodeError (or HandleError) for what went wrong while unpacking."""
    # A bad extension met earlier in the header comes first in the stream.
    if hook.error is not None:
        raise hook.error from None
    if isinstance(exc, DecodeError):
        raise exc
    if isinstance(exc, TypeError) and "unhashable" in str(exc):
        # A JS Map key that is an array (or a map): a dict cannot hold it.
        raise DecodeError(f"a map key cannot be a dict key: {exc}") from exc
    if isinstance(exc, msgpack.StackError):  # it has no message of its own
        raise DecodeError("malformed message: nested deeper than msgpack allows") from exc
    raise DecodeError(f"malformed message: {exc or type(exc).__name__}") from exc


class _Placed(Exception):
    """Raised by the hook: this message needs decoding field by field (see ``decode``)."""


# Where the hook is in a message, for HANDLE and CALLBACK (see ``decode``).
_ANYWHERE = 0  # not known yet: the first HANDLE or CALLBACK restarts field by field
_VALUE = 1  # a HANDLE is its object, a CALLBACK is refused
_TARGET = 2  # a CALL's target: a HANDLE is a TargetHandle
_ARGS = 3  # a CALL's args or kwargs: a CALLBACK is a callable
_CALL_ROLES: Final = {2: _TARGET, 3: _ARGS, 4: _ARGS}


class _ExtHook:
    """msgpack's ext_hook: builds the values of the known extensions, refuses other codes.

    A malformed extension does not stop the unpacking: its error is kept (the
    first one) and raised once the whole header has been read, so that an
    unknown extension type later in the header is still found.
    """

    __slots__ = ("buffers", "call_id", "error", "peer", "role")

    def __init__(self, buffers: list[Any], peer: Peer | None = None) -> None:
        self.buffers = buffers
        self.peer = peer
        self.role = _ANYWHERE
        self.call_id = 0
        self.error: DecodeError | HandleError | None = None

    def __call__(self, code: int, data: bytes) -> Any:
        if code not in (NDARRAY, COMPLEX, arrow.ARROW, HANDLE, CALLBACK):
            raise ProtocolError(_unknown_extension(code))
        if code in (HANDLE, CALLBACK):
            return self._reference(code, data)
        if self.error is not None:
            return None
        try:
            if code == arrow.ARROW:
                return arrow.decode_table(data, self.buffers)
            return _decode_array(data, self.buffers) if code == NDARRAY else _decode_complex(data)
        except DecodeError as exc:
            self.error = exc
            return None

    def _reference(self, code: int, data: bytes) -> Any:
        peer = self.peer
        if peer is not None and self.role == _ANYWHERE:
            raise _Placed
        if self.error is not None:
            return None
        try:
            ident = _reference_id(code, data)
            if code == HANDLE:
                if peer is None:
                    type_name, _, text = data[_ID.size :].decode("utf-8", "replace").partition("\n")
                    return HandleRef(ident, type_name, text)
                obj = peer.handle(ident)
                return TargetHandle(obj, ident) if self.role == _TARGET else obj
            if peer is None:
                return CallbackRef(ident)
            if self.role != _ARGS:
                raise DecodeError(
                    "a JS callback (CALLBACK) is only valid in a CALL's args and kwargs"
                )
            return peer.callback(ident, self.call_id)
        except (DecodeError, HandleError) as exc:
            self.error = exc
            return None


def _reference_id(code: int, data: bytes) -> int:
    """The id in a HANDLE or CALLBACK payload; DecodeError if the payload is malformed."""
    name = "handle" if code == HANDLE else "callback"
    if len(data) < _ID.size or (code == CALLBACK and len(data) != _ID.size):
        raise DecodeError(f"{name} extension of {len(data)} bytes, expected 8")
    (ident,) = _ID.unpack_from(data)
    if ident == 0:
        raise DecodeError(f"{name} id 0: ids start at 1")
    return int(ident)


def _decode_complex(data: bytes) -> complex:
    if len(data) != _COMPLEX.size:
        raise DecodeError(f"complex extension of {len(data)} bytes, expected 16")
    return complex(*_COMPLEX.unpack(data))


def _unknown_extension(code: int) -> str:
    return f"unknown extension type {code}: not in protocol version 1"


def _decode_array(data: bytes, buffers: list[Any]) -> Any:
    if len(data) < _ND_HEAD.size:
        raise DecodeError(f"ndarray extension of {len(data)} bytes is too short")
    index, code, ndim, unit = _ND_HEAD.unpack_from(data)
    if len(data) != _ND_HEAD.size + 8 * ndim:
        raise DecodeError(f"ndarray extension of {len(data)} bytes does not match ndim {ndim}")
    if code in TIME_DTYPES:
        if unit not in TIME_UNITS:
            raise DecodeError(f"dtype code {code} with time unit {unit}, not one of 1..13")
        name = f"<{TIME_DTYPES[code]}8[{TIME_UNITS[unit]}]"
    elif code in DTYPES:
        name = DTYPES[code]
    else:
        raise DecodeError(f"unknown dtype code {code}")
    if index >= len(buffers):
        raise DecodeError(f"ndarray refers to buffer {index}, frame has {len(buffers)}")
    try:
        import numpy as np
    except ImportError:
        raise DecodeError(
            "an array arrived but numpy is not installed: pip install numpy"
        ) from None
    shape = struct.unpack_from(f"<{ndim}Q", data, _ND_HEAD.size)
    dtype = np.dtype(name)
    buf = buffers[index]
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(buf):
        raise DecodeError(
            f"ndarray of shape {shape} and dtype {dtype.name} needs "
            f"{count * dtype.itemsize} bytes, buffer {index} has {len(buf)}"
        )
    flat = buf.view(dtype) if isinstance(buf, np.ndarray) else np.frombuffer(buf, dtype)
    return flat.reshape(shape)


def peek_envelope(header: bytes) -> tuple[int | None, int | None]:
    """The kind and id of a message whose body could not be decoded, if its envelope is intact."""
    try:
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(header), 1))
        unpacker.feed(header)
        if unpacker.read_array_header() < 2:
            return None, None
        kind = unpacker.unpack()
        ident = unpacker.unpack()
    except Exception:
        return None, None
    if type(kind) is not int or type(ident) is not int or ident <= 0:
        return None, None
    return kind, ident
