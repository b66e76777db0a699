"""Regenerate the golden vectors in this directory from the real Python encoder.

``values.json`` holds, for each case, the full frame of a RESULT message
``[2, 7, value]`` exactly as ``python -m pyferry worker`` writes it (the same
``pyferry.codec.encode`` and ``pyferry.protocol.pack_prefix`` the transport
uses) and the value in the tagged JSON form of ``README.md``. ``errors.json``
holds hand-built malformed frames and the error each reader must raise.

Run from the repository root::

    .venv/bin/python spec/vectors/generate.py          # rewrite both files
    .venv/bin/python spec/vectors/generate.py --check  # exit 1 if they are stale
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from pyferry.codec import encode
from pyferry.protocol import RESULT, pack_prefix

HERE = Path(__file__).resolve().parent
CALL_ID = 7
MAX_SAFE = 2**53 - 1
NAT = -(2**63)  # numpy's NaT, as an int64 count
UTC = dt.UTC


def frame(message: Any) -> bytes:
    """The bytes the worker writes for ``message``: prefix, length table, header, buffers."""
    header, buffers = encode(message)
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
    errors = [
        {"name": name, "hex": data.hex(), "maxMessageBytes": limit, "error": error}
        for name, data, limit, error in error_cases()
    ]
    for items in (values, errors):
        names = [item["name"] for item in items]
        assert len(set(names)) == len(names), "case names must be unique"
    return {"values.json": _lines(values), "errors.json": _lines(errors)}


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
