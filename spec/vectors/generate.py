"""Regenerate the golden vectors in this directory from the real Python encoder.

``values.json`` holds, for each case, the full frame of a RESULT message
``[2, 7, value]`` exactly as ``python -m pyferry worker`` writes it (the same
``pyferry.codec.encode`` and ``pyferry.protocol.pack_prefix`` the transport
uses) and the value in the tagged JSON form of ``README.md``. ``messages.json``
holds whole messages of every kind, from the client and from the worker, with
the message in the tagged form (HANDLE and CALLBACK included). ``errors.json``
holds hand-built malformed frames and the error each reader must raise.

Run from the repository root::

    .venv/bin/python spec/vectors/generate.py          # rewrite the three files
    .venv/bin/python spec/vectors/generate.py --check  # exit 1 if they are stale
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import fractions
import json
import math
import re
import struct
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import msgpack
import numpy as np

from pyferry.codec import decode, encode
from pyferry.errorinfo import describe_exception
from pyferry.errors import (
    CallbackExpiredError,
    Cancelled,
    HandleError,
    ProtocolError,
    TargetNotFoundError,
)
from pyferry.explain import explain
from pyferry.protocol import (
    CALL,
    CALLBACK,
    CALLBACK_ERROR,
    CALLBACK_RESULT,
    CANCEL,
    DETACHED,
    ERROR,
    HELLO,
    PROGRESS,
    RELEASE,
    RESULT,
    STREAM_CLOSE,
    STREAM_CREDIT,
    STREAM_END,
    STREAM_ITEMS,
    WITHDRAW,
    WITHDRAWN,
    pack_prefix,
)
from pyferry.refs import AsHandle, CallbackRef, HandleRef, HandleSink

HERE = Path(__file__).resolve().parent
CALL_ID = 7
MAX_SAFE = 2**53 - 1
NAT = -(2**63)  # numpy's NaT, as an int64 count
UTC = dt.UTC


def frame(message: Any, handles: HandleSink | None = None) -> bytes:
    """The bytes the worker writes for ``message``: prefix, length table, header, buffers.

    With ``handles`` (standing for the worker's handle table), an object that cannot
    cross by value, or one wrapped in ``AsHandle``, goes out as a HANDLE as the worker
    sends it; without, a ``HandleRef`` or ``CallbackRef`` goes out as the client sends it.
    """
    header, buffers = encode(message, handles=handles)
    prefix = pack_prefix(len(header), [b.nbytes for b in buffers])
    return prefix + header + b"".join(bytes(b) for b in buffers)


def raw_frame(header: bytes, buffers: Sequence[bytes] = ()) -> bytes:
    """A frame around a hand-written header (which may be malformed on purpose)."""
    return pack_prefix(len(header), [len(b) for b in buffers]) + header + b"".join(buffers)


# -- the tagged JSON form (README.md) ------------------------------------------


def tag(value: Any) -> Any:
    """A decoded Python value in the tagged JSON form."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE <= value <= MAX_SAFE else {"$int": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"$float": "NaN"}
        if math.isinf(value):
            return {"$float": "Infinity" if value > 0 else "-Infinity"}
        if value == 0 and math.copysign(1, value) < 0:
            return {"$float": "-0"}
        return value
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, HandleRef):
        # A client sends the 8 id bytes only, which decode with an empty type and repr.
        if value.type == "" and value.repr == "":
            return {"$handle": value.id}
        return {"$handle": {"id": value.id, "type": value.type, "repr": value.repr}}
    if isinstance(value, CallbackRef):
        return {"$callback": value.id}
    if isinstance(value, complex):
        return {"$complex": [tag(value.real), tag(value.imag)]}
    if isinstance(value, dt.datetime):
        assert value.microsecond % 1000 == 0, "the tagged form has millisecond precision"
        utc = value.astimezone(UTC)
        ms = utc.microsecond // 1000
        return {"$date": f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{ms:03d}Z"}
    if isinstance(value, (list, tuple)):
        return [tag(v) for v in value]
    if isinstance(value, dict):
        keys = list(value)
        looks_like_tag = len(keys) == 1 and isinstance(keys[0], str) and keys[0].startswith("$")
        if all(isinstance(k, str) for k in keys) and not looks_like_tag:
            return {k: tag(v) for k, v in value.items()}
        return {"$map": [[tag(k), tag(v)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        # Time arrays: their int64 counts (NaT is -2**63), not what tolist() makes of them.
        counts = value.view(np.int64) if value.dtype.kind in "Mm" else value
        flat = counts.reshape(-1).tolist()
        return {
            "$ndarray": {
                "dtype": value.dtype.name,
                "shape": list(value.shape),
                "data": [tag(x) for x in flat],
            }
        }
    raise TypeError(f"no tagged form for {type(value).__name__}")


# -- the cases -----------------------------------------------------------------


def _date(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def value_cases() -> Iterator[tuple[str, Any]]:
    """(name, value) for every values.json case, in file order."""
    yield from _scalar_cases()
    yield from _container_cases()
    yield from _complex_and_time_cases()
    yield from _array_cases()


def _scalar_cases() -> Iterator[tuple[str, Any]]:
    yield "nil", None
    yield "true", True
    yield "false", False

    ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, MAX_SAFE, 2**53]
    ints += [2**63 - 1, 2**63, 2**64 - 1]
    ints += [-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1]
    ints += [-MAX_SAFE, -(2**53), -(2**63)]
    for n in ints:
        yield f"int {n}", n

    floats = [1.5, -2.25, 0.1, 2.0, 0.0, 2.0**53, 1e300, 5e-324]
    floats += [math.nan, math.inf, -math.inf, -0.0]
    for x in floats:
        yield f"float {x!r}", x

    yield "str empty", ""
    yield "str ascii", "hello"
    yield "str 31 bytes (fixstr max)", "a" * 31
    yield "str 32 bytes (str 8)", "b" * 32
    yield "str 255 bytes (str 8 max)", "c" * 255
    yield "str 256 bytes (str 16)", "d" * 256
    yield "str 16 chars, 32 bytes (lengths count bytes)", "é" * 16
    yield "str two-byte and three-byte", "héllo wörld €"
    yield "str astral", "😀 𝄞 🧪"
    yield "str with NUL", "a\x00b"

    yield "bytes empty", b""
    yield "bytes small", b"\x00\x01\x7f\x80\xff"
    yield "bytes 255 (bin 8 max)", bytes(range(256))[:255]
    yield "bytes 256 (bin 16)", bytes(range(256))


def _container_cases() -> Iterator[tuple[str, Any]]:
    yield "list empty", []
    yield "list mixed", [1, "two", None, True, 2.5]
    yield "list 15 (fixarray max)", list(range(15))
    yield "list 16 (array 16)", list(range(16))
    yield "list nested", [[1, [2, [3, []]]], [{"a": [None]}]]

    yield "dict empty", {}
    yield "dict one key", {"a": 1}
    yield "dict nested", {"a": [1, {"b": None}], "c": {"d": [True, False]}, "e": ""}
    yield "dict 15 keys (fixmap max)", {f"k{i}": i for i in range(15)}
    yield "dict 16 keys (map 16)", {f"k{i}": i for i in range(16)}
    yield "dict int keys", {1: "a", -1: "b", 2**40: "c", 2**64 - 1: "d"}
    yield "dict mixed keys", {"a": 1, 2: "b"}
    yield "dict nil, bool, float and bytes keys", {None: 0, True: 1, 1.5: 2, b"k": 3}
    yield "dict tuple key", {(1, 2): "pair"}
    yield "dict integer-like str keys", {"b": 1, "10": 2, "2": 3}
    yield "dict __proto__ key", {"__proto__": {"polluted": True}, "x": 1}
    yield "dict whose one key looks like a tag", {"$int": "5"}

    nested: Any = None
    for _ in range(511):
        nested = [nested]
    yield "nesting 512 levels with the message array", nested


def _complex_and_time_cases() -> Iterator[tuple[str, Any]]:
    yield "complex", complex(1.5, -2.0)
    yield "complex signed zeros", complex(0.0, -0.0)
    yield "complex nan and inf", complex(math.nan, math.inf)

    yield "timestamp 32 (epoch)", _date("1970-01-01T00:00:00Z")
    yield "timestamp 32", _date("2024-02-29T12:34:56Z")
    yield "timestamp 32 max", _date("2106-02-07T06:28:15Z")
    yield "timestamp 64 (milliseconds)", _date("2024-02-29T12:34:56.789Z")
    yield "timestamp 64 (seconds past 2**32)", _date("2106-02-07T06:28:16Z")
    yield "timestamp 96 (before 1970)", _date("1969-12-31T23:59:59.999Z")
    yield "timestamp 96 (year 1)", _date("0001-01-01T00:00:00Z")
    yield "timestamp 96 (seconds past 2**34)", _date("2514-05-30T01:53:04Z")


def _array_cases() -> Iterator[tuple[str, Any]]:
    yield "ndarray bool", np.array([True, False, True])
    yield "ndarray int8", np.array([-128, -1, 0, 127], dtype=np.int8)
    yield "ndarray uint8", np.array([0, 1, 128, 255], dtype=np.uint8)
    yield "ndarray int16", np.array([-32768, -1, 0, 32767], dtype=np.int16)
    yield "ndarray uint16", np.array([0, 1, 65535], dtype=np.uint16)
    yield "ndarray int32", np.array([-(2**31), -1, 0, 2**31 - 1], dtype=np.int32)
    yield "ndarray uint32", np.array([0, 1, 2**32 - 1], dtype=np.uint32)
    yield "ndarray int64", np.array([-(2**63), -1, 0, MAX_SAFE, 2**63 - 1], dtype=np.int64)
    yield "ndarray uint64", np.array([0, 1, MAX_SAFE + 1, 2**64 - 1], dtype=np.uint64)
    yield "ndarray float32", np.array([1.5, -0.0, np.inf, np.nan, -2.25], dtype=np.float32)
    yield "ndarray float64", np.array([1.5, np.nan, -np.inf, -0.0, 1e300, 5e-324])
    yield "ndarray complex64", np.array([1 + 2j, -0.5j, complex(np.nan, 0)], dtype=np.complex64)
    yield "ndarray complex128", np.array([1.5 - 2.5j, complex(0.0, -0.0)], dtype=np.complex128)
    yield "ndarray one element", np.array([42.0])
    yield "ndarray empty", np.array([], dtype=np.float64)
    yield "ndarray empty 2-d", np.zeros((0, 3), dtype=np.int32)
    yield "ndarray 2-d", np.arange(6, dtype=np.float64).reshape(2, 3)
    yield "ndarray 2-d bool", np.array([[True, False], [False, True]])
    yield "ndarray 3-d", np.arange(12, dtype=np.int16).reshape(2, 2, 3) - 6
    yield "ndarray 4-d uint8", np.arange(6, dtype=np.uint8).reshape(1, 2, 1, 3)
    yield "ndarray 32-d (ext 16 form)", np.array([7], dtype=np.int32).reshape((1,) * 32)
    yield "ndarrays sharing a frame", [np.array([1, 2, 3], dtype=np.int8), np.array([0.5, 1.5])]
    for kind in ("datetime64", "timedelta64"):
        for unit in ("Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"):
            counts = np.array([0, 1, -1, 1_700_000_000, NAT], dtype=np.int64)
            yield f"ndarray {kind}[{unit}] with NaT", counts.view(f"{kind}[{unit}]")
    yield (
        "ndarray datetime64[ms] 2-d",
        np.array([[0, 86_400_000], [-1, NAT]], dtype=np.int64).view("datetime64[ms]"),
    )
    yield "ndarray timedelta64[ns] empty", np.array([], dtype="timedelta64[ns]")
    yield (
        "ndarrays in a dict",
        {
            "x": np.array([1.0, 2.0], dtype=np.float32),
            "empty": np.array([], dtype=np.int64),
            "y": np.array([[3, 4]], dtype=np.uint16),
        },
    )


def error_cases() -> Iterator[tuple[str, bytes, int, str]]:
    """(name, frame bytes, maxMessageBytes, error tag) for every errors.json case."""
    big = 1 << 20
    ok = frame([RESULT, CALL_ID, "ok"])
    yield "bad magic", b"PG" + ok[2:], big, "protocol"
    yield "empty header", struct.pack("<2sHI", b"PF", 0, 0), big, "protocol"
    long = frame([RESULT, CALL_ID, "x" * 90])
    yield "header length over maxMessageBytes", long, 64, "protocol"
    two = frame([RESULT, CALL_ID, [np.zeros(5), np.zeros(5)]])  # 80 buffer bytes
    yield "buffer lengths sum over maxMessageBytes", two, 64, "protocol"
    huge = struct.pack("<2sHI", b"PF", 1, 4) + struct.pack("<Q", 2**64 - 1) + b"\x93\x02\x07\xc0"
    yield "buffer length 2**64-1", huge, big, "protocol"

    yield "truncated prefix", ok[:5], big, "truncated"
    arr = frame([RESULT, CALL_ID, np.arange(4, dtype=np.int32)])
    yield "truncated length table", arr[:12], big, "truncated"
    yield "truncated header", ok[:-2], big, "truncated"
    yield "truncated buffer", arr[:-3], big, "truncated"

    def ext(code: int, payload: bytes) -> bytes:
        packed: bytes = msgpack.packb(msgpack.ExtType(code, payload))
        return packed

    def nd(index: int, code: int, shape: tuple[int, ...]) -> bytes:
        head = struct.pack("<IBB2x", index, code, len(shape)) + struct.pack(
            f"<{len(shape)}Q", *shape
        )
        return ext(1, head)

    result = b"\x93\x02\x07"
    # Extension types version 1 does not define: a protocol violation wherever they sit.
    yield "unknown ext type 9", raw_frame(result + ext(9, b"\x00")), big, "decode-protocol"
    # Malformed HANDLEs. (A CALLBACK in a frame to the client is a protocol error for the
    # client only; the worker reads the same bytes as a callback, so it has no shared vector.)
    yield "handle id 0", raw_frame(result + ext(3, b"\x00" * 8)), big, "decode"
    yield "handle payload of 7 bytes", raw_frame(result + ext(3, b"\x01" * 7)), big, "decode"
    yield (
        "ext type -2 (MessagePack's reserved range)",
        raw_frame(result + b"\xd6\xfe" + b"\x00" * 4),  # fixext 4, type -2
        big,
        "decode-protocol",
    )
    yield "ext type 127, empty", raw_frame(result + ext(127, b"")), big, "decode-protocol"
    # What a pickle-based peer might send: a pickle that calls builtins.print when loaded.
    pickled = b"cbuiltins\nprint\n(S'unpickled!'\ntR."
    call = b"\x95\x01\x05\xa1f\x91" + ext(0x50, pickled) + b"\xc0"
    yield "pickle in an unknown ext type, in a CALL", raw_frame(call), big, "decode-protocol"
    bad_nd_then_ext = b"\x92" + nd(0, 99, (2,)) + ext(9, b"\x00")
    yield (
        "unknown ext type after a malformed ndarray",
        raw_frame(result + bad_nd_then_ext, [b"\x00\x00"]),
        big,
        "decode-protocol",
    )
    yield (
        "unknown ext type as a map key",
        raw_frame(result + b"\x81" + ext(6, b"\x00\x00") + b"\xc0"),
        big,
        "decode-protocol",
    )
    yield "unknown dtype code 16", raw_frame(result + nd(0, 16, (2,)), [b"\x00\x00"]), big, "decode"
    yield from _time_and_arrow_error_cases(result, big)
    yield "dtype code 0", raw_frame(result + nd(0, 0, (2,)), [b"\x00\x00"]), big, "decode"
    yield (
        "ndarray buffer index out of range",
        raw_frame(result + nd(1, 3, (2,)), [b"\x00\x00"]),
        big,
        "decode",
    )
    yield (
        "ndarray size not matching its buffer",
        raw_frame(result + nd(0, 11, (3,)), [b"\x00" * 16]),
        big,
        "decode",
    )
    yield (
        "ndarray extension shorter than 8 bytes",
        raw_frame(result + ext(1, b"\x00\x00\x00\x00"), [b""]),
        big,
        "decode",
    )
    yield (
        "ndarray extension length not matching ndim",
        raw_frame(result + ext(1, struct.pack("<IBB2x", 0, 3, 2) + b"\x00" * 8), [b""]),
        big,
        "decode",
    )
    yield "complex extension of 8 bytes", raw_frame(result + ext(2, b"\x00" * 8)), big, "decode"
    timestamp5 = b"\xc7\x05\xff" + b"\x00" * 5
    yield "timestamp extension of 5 bytes", raw_frame(result + timestamp5), big, "decode"
    yield "invalid MessagePack byte 0xc1", raw_frame(result + b"\xc1"), big, "decode"
    yield "trailing bytes after the message", raw_frame(result + b"\xc0\xc0"), big, "decode"
    yield "MessagePack value truncated in the header", raw_frame(b"\x93\x02\x07"), big, "decode"
    yield "str 8 longer than the header", raw_frame(result + b"\xd9\x20abc"), big, "decode"
    yield "invalid UTF-8 in a str", raw_frame(result + b"\xa2\xc3\x28"), big, "decode"
    deep = raw_frame(b"\x93\x02\x07" + b"\x91" * 1100 + b"\xc0")
    yield "nesting 1100 levels", deep, big, "decode"


def _time_and_arrow_error_cases(result: bytes, big: int) -> Iterator[tuple[str, bytes, int, str]]:
    """Malformed time units (dtype codes 14 and 15) and ARROW values (ext 5)."""

    def ext(code: int, payload: bytes) -> bytes:
        packed: bytes = msgpack.packb(msgpack.ExtType(code, payload))
        return packed

    def time_array(code: int, unit: int) -> bytes:  # 1-d, one element, buffer 0
        return ext(1, struct.pack("<IBBBxQ", 0, code, 1, unit, 1))

    eight = [b"\x00" * 8]
    for name, code, unit in (("datetime64", 14, 0), ("timedelta64", 15, 14)):
        yield (
            f"{name} with time unit {unit}",
            raw_frame(result + time_array(code, unit), eight),
            big,
            "decode",
        )
    # ARROW: a u32 buffer index; the buffer holds an Arrow IPC stream.
    yield "Arrow extension of 8 bytes", raw_frame(result + ext(5, bytes(8)), [b""]), big, "decode"
    yield (
        "Arrow buffer index out of range",
        raw_frame(result + ext(5, struct.pack("<I", 1)), eight),
        big,
        "decode",
    )
    for what, data in (("empty", b""), ("garbage", b"\x01" * 9)):
        yield (
            f"Arrow buffer not an IPC stream ({what})",
            raw_frame(result + ext(5, struct.pack("<I", 0)), [data]),
            big,
            "decode",
        )


# -- messages.json -------------------------------------------------------------


class MessageCase(NamedTuple):
    name: str
    side: str  # "client" or "worker": who sends it
    message: list[Any]
    # Worker messages: the id the worker's handle table gives the first object it
    # exports in this message (the others count up from it, in encoding order).
    first_handle: int = 1


class _HandleTable:
    """A HandleSink standing for the worker's table: ids count up from ``first``."""

    def __init__(self, first: int) -> None:
        self.next = first

    def add(self, obj: Any) -> int:
        handle_id = self.next
        self.next += 1
        return handle_id

    def discard(self, ids: Iterable[int]) -> None:
        raise AssertionError(f"a vector message failed to encode (handles {list(ids)})")


def message_frame(case: MessageCase) -> bytes:
    """The frame of a message case: the worker's encoder with its table, or a client's."""
    if case.side == "worker":
        return frame(case.message, _HandleTable(case.first_handle))
    return frame(case.message)


def message_cases() -> Iterator[MessageCase]:
    """Every messages.json case, in file order: the client's messages, then the worker's."""
    yield from _client_cases()
    yield from _worker_cases()


def _client_cases() -> Iterator[MessageCase]:
    h5, h6, h7 = HandleRef(5), HandleRef(6), HandleRef(7)
    cb1, cb2, cb3 = CallbackRef(1), CallbackRef(2), CallbackRef(3)

    def client(name: str, message: list[Any]) -> MessageCase:
        return MessageCase(name, "client", message)

    yield client("HELLO client", [HELLO, 0, {"protocol": 1, "client": "pyferry-js/0.1.0"}])
    # CALL without options, as py.call() sends it: kwargs nil or a map.
    yield client("CALL by name", [CALL, 1, "math.hypot", [3, 4.5], None])
    yield client(
        "CALL with kwargs and an array argument",
        [CALL, 2, "numpy.sum", [np.array([[1.5, 2.5], [3.5, 4.5]])], {"axis": 0}],
    )
    # One case per option, each as the JS client writes it.
    yield client("CALL option op get", [CALL, 3, "numpy.pi", [], None, {"op": "get"}])
    yield client(
        "CALL option result handle",
        [CALL, 4, "collections.Counter", ["abracadabra"], None, {"result": "handle"}],
    )
    yield client(
        "CALL option result value (a handle's value)",
        [CALL, 5, [h5], [], None, {"op": "get", "result": "value"}],
    )
    yield client("CALL option stream", [CALL, 6, "builtins.range", [3], None, {"stream": 1024}])
    yield client(
        "CALL option stream over a handle",
        [CALL, 7, [h5], [], None, {"op": "get", "stream": 16}],
    )
    yield client(
        "CALL option progress",
        [CALL, 8, "mymodule.train", [{"epochs": 3}], {"seed": 42}, {"progress": True}],
    )
    yield client(
        "CALL every option",
        [CALL, 9, "mymodule.rows", [], None, {"result": "handle", "stream": 8, "progress": True}],
    )
    yield client(
        "CALL handle method with a handle and a callback",
        [CALL, 10, [h5, "most_common"], [h6, cb3], None],
    )
    yield client(
        "CALL handle attribute path", [CALL, 11, [h7, "shape", "ndim"], [], None, {"op": "get"}]
    )
    yield client(
        "CALL callbacks in args and kwargs",
        [
            CALL,
            12,
            "mymodule.fit",
            [cb1, [cb1]],
            {"on_epoch": cb2, "model": h6},
            {"progress": True},
        ],
    )
    yield client("CALL sent ahead", [CALL, 13, "numpy.sum", [[1, 2, 3]], None, {"ahead": True}])
    yield client(
        "CALL option once", [CALL, 14, "mymodule.charge", ["order-7"], None, {"once": True}]
    )
    yield client("CANCEL", [CANCEL, 8])
    yield client("WITHDRAW", [WITHDRAW, 13])
    yield client("RELEASE one handle", [RELEASE, 0, [5]])
    yield client("RELEASE several handles", [RELEASE, 0, [5, 6, 7, 300, 70000]])
    yield client("CALLBACK_RESULT", [CALLBACK_RESULT, 1, {"stop": False, "lr": 0.05}])
    yield client("CALLBACK_RESULT nil", [CALLBACK_RESULT, 2, None])
    yield client(
        "CALLBACK_RESULT with a handle in the value",
        [CALLBACK_RESULT, 3, {"best": h6, "scores": [0.25, 0.5]}],
    )
    js_stack = (
        "TypeError: Cannot read properties of undefined (reading 'loss')\n"
        "    at onEpoch (file:///app/train.mjs:12:21)\n"
        "    at Worker.#onCallback (file:///app/node_modules/pyferry/src/worker.js:391:34)"
    )
    yield client(
        "CALLBACK_ERROR thrown by the JS function",
        [
            CALLBACK_ERROR,
            4,
            {
                "type": "TypeError",
                "message": "Cannot read properties of undefined (reading 'loss')",
                "traceback": js_stack,
                "code": "PYFERRY_JS",
            },
        ],
    )
    yield client(
        "CALLBACK_ERROR for an expired callback",
        [
            CALLBACK_ERROR,
            5,
            {
                "type": "CallbackExpiredError",
                "message": "JS callback 3 is gone: the call it was passed to has ended",
                "traceback": "",
                "code": "PYFERRY_CALLBACK",
            },
        ],
    )
    yield client("STREAM_CREDIT", [STREAM_CREDIT, 6, 512])
    yield client("STREAM_CLOSE", [STREAM_CLOSE, 6])


def _worker_cases() -> Iterator[MessageCase]:
    def worker(name: str, message: list[Any], first_handle: int = 1) -> MessageCase:
        return MessageCase(name, "worker", message, first_handle)

    info = {
        "protocol": 1,
        "pyferry": "0.1.0",
        "python": "3.12.3",
        "implementation": "cpython",
        "numpy": "2.1.3",
        "pid": 48213,
    }
    yield worker("HELLO worker", [HELLO, 0, info])
    yield worker("HELLO worker without numpy", [HELLO, 0, {**info, "numpy": None}])

    # result: "handle" sends the answer as a HANDLE whatever it is: this Counter (a dict,
    # which would cross by value) answers CALL 4 of the client's cases.
    yield worker(
        "RESULT option result handle",
        [RESULT, 4, AsHandle(collections.Counter("abracadabra"))],
        5,
    )
    # An object that cannot cross by value goes as a HANDLE wherever it sits.
    yield worker("RESULT an object as a handle", [RESULT, 1, dt.date(2024, 2, 29)], 1)
    yield worker(
        "RESULT handles among values",
        [RESULT, 12, {"model": fractions.Fraction(1, 3), "scores": [0.5, decimal.Decimal("1.10")]}],
        8,
    )
    yield worker(
        "RESULT handle whose repr has line feeds",
        [RESULT, 4, AsHandle(np.arange(6, dtype=np.int64).reshape(2, 3))],
        5,
    )
    yield worker("RESULT handle with non-ASCII repr", [RESULT, 4, re.compile("é+😀")], 9)
    yield worker(
        "RESULT handle with repr cut at 1000 characters",
        [RESULT, 4, AsHandle(list(range(400)))],
        2**32,
    )

    yield worker("ERROR", [ERROR, 1, _python_error()])
    yield worker(
        "ERROR target not found",
        [ERROR, 2, describe_exception(TargetNotFoundError(
            "call target 'nump.sum' not found: no module 'nump'"))],
    )  # fmt: skip
    yield worker(
        "ERROR serialization with a path",
        [ERROR, 3, describe_exception(explain([1, {"a": 2**70}], "result"))],
    )
    yield worker(
        "ERROR handle released",
        [ERROR, 5, describe_exception(HandleError(
            "handle 6 is not in this worker's table: it was released "
            "(or never sent by this worker)"))],
    )  # fmt: skip
    yield worker(
        "ERROR cancelled", [ERROR, 8, describe_exception(Cancelled("call 8 was cancelled"))]
    )
    yield worker(
        "ERROR callback expired",
        [ERROR, 10, describe_exception(CallbackExpiredError(
            "JS callback 3 was called after its call ended"))],
    )  # fmt: skip
    yield worker(
        "ERROR id 0 (protocol)",
        [ERROR, 0, describe_exception(ProtocolError(
            "bad frame magic 0x5047, expected 0x5046"))],
    )  # fmt: skip

    yield worker("CALLBACK", [CALLBACK, 1, 3, [2, {"loss": 0.25, "acc": 0.875}]])
    yield worker("CALLBACK without arguments", [CALLBACK, 2, 1, []])
    yield worker(
        "CALLBACK with a handle argument", [CALLBACK, 3, 3, [fractions.Fraction(22, 7), 7]], 11
    )
    yield worker("STREAM_ITEMS ints", [STREAM_ITEMS, 6, [0, 1, 2]])
    yield worker(
        "STREAM_ITEMS ints and an ndarray",
        [STREAM_ITEMS, 6, [3, np.array([1.5, -2.0, 0.0], dtype=np.float32), 4]],
    )
    yield worker(
        "STREAM_ITEMS handles (option result handle)",
        [STREAM_ITEMS, 9, [AsHandle((1, "a")), AsHandle({"b": 2})]],
        20,
    )
    yield worker("STREAM_END", [STREAM_END, 6, None])
    yield worker("PROGRESS total nil", [PROGRESS, 8, [3, None, None]])
    yield worker("PROGRESS with a message", [PROGRESS, 8, [1, 3, "epoch 1/3"]])
    yield worker("PROGRESS floats", [PROGRESS, 8, [0.5, 1.0, None]])
    yield worker("PROGRESS nothing known", [PROGRESS, 8, [None, None, "loading model"]])
    yield worker("DETACHED", [DETACHED, 6, None])
    yield worker("WITHDRAWN", [WITHDRAWN, 13, None])


def _python_error() -> dict[str, Any]:
    """The error-info of an exception raised by the called code, with its cause (section 7)."""
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/app/mymodule.py", line 14, in train\n'
        '    raise ValueError(f"bad learning rate: {lr}") from exc\n'
        "ValueError: bad learning rate: -1\n"
    )
    cause = (
        "Traceback (most recent call last):\n"
        '  File "/app/mymodule.py", line 12, in train\n'
        "    check(lr)\n"
        "AssertionError: lr must be positive\n"
    )
    return {
        "type": "builtins.ValueError",
        "message": "bad learning rate: -1",
        "traceback": traceback,
        "code": "PYFERRY_PYTHON",
        "chain": [
            {
                "type": "builtins.AssertionError",
                "message": "lr must be positive",
                "traceback": cause,
                "code": "PYFERRY_PYTHON",
                "relation": "cause",
            }
        ],
    }


# -- output --------------------------------------------------------------------


def _lines(items: list[dict[str, Any]]) -> str:
    # One case per line: diffs stay readable and a case is easy to grep.
    body = ",\n".join(
        "  " + json.dumps(item, ensure_ascii=False, allow_nan=False) for item in items
    )
    return "[\n" + body + "\n]\n"


def render() -> dict[str, str]:
    """The text of every vector file, by file name."""
    values = [
        {"name": name, "hex": frame([RESULT, CALL_ID, value]).hex(), "value": tag(value)}
        for name, value in value_cases()
    ]
    messages = [_message_item(case) for case in message_cases()]
    errors = [
        {"name": name, "hex": data.hex(), "maxMessageBytes": limit, "error": error}
        for name, data, limit, error in error_cases()
    ]
    for items in (values, messages, errors):
        names = [item["name"] for item in items]
        assert len(set(names)) == len(names), "case names must be unique"
    return {
        "values.json": _lines(values),
        "messages.json": _lines(messages),
        "errors.json": _lines(errors),
    }


def _message_item(case: MessageCase) -> dict[str, Any]:
    """A messages.json case: the message is tagged as it decodes (HandleRef, CallbackRef)."""
    data = message_frame(case)
    header, buffers = _split(data)
    message = tag(decode(header, buffers))
    text = json.dumps(message)
    # A client's HANDLE is the bare id, the worker's has the type and repr; only clients
    # send CALLBACKs.
    if case.side == "worker":
        assert '"$handle": {' in text or '"$handle"' not in text, case.name
        assert '"$callback"' not in text, case.name
    else:
        assert '"$handle": {' not in text, case.name
    return {"name": case.name, "from": case.side, "hex": data.hex(), "message": message}


def _split(data: bytes) -> tuple[bytes, list[bytes]]:
    """Header and buffers of one well-formed frame."""
    count, header_len = struct.unpack_from("<HI", data, 2)
    lengths = struct.unpack_from(f"<{count}Q", data, 8)
    at = 8 + 8 * count + header_len
    header = data[8 + 8 * count : at]
    buffers = []
    for n in lengths:
        buffers.append(data[at : at + n])
        at += n
    assert at == len(data)
    return header, buffers


def main(argv: list[str]) -> int:
    sys.setrecursionlimit(10_000)  # the deep-nesting case recurses ~1000 frames in tag()
    check = "--check" in argv
    stale = []
    for name, text in render().items():
        path = HERE / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        if check:
            stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}; run spec/vectors/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
