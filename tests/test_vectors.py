"""The golden vectors of spec/vectors, read by the Python side.

Every values.json frame must decode (through the real transport and codec) to
the expected value, and the expected value must encode back to the very same
bytes. Every messages.json frame must decode to its message, and the message
must encode back to its bytes: a client's with the plain encoder (as the test
client in conftest.py sends), a worker's with the worker's handle table. Every
errors.json frame must fail at the stage its tag names. The JS suite
(js/test/vectors.test.js) reads the same files.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pyferry.codec import decode, encode
from pyferry.errors import DecodeError, ProtocolError
from pyferry.protocol import (
    CALL,
    CLIENT_KINDS,
    HELLO,
    KIND_NAMES,
    PREFIX_SIZE,
    RESULT,
    WORKER_KINDS,
    Limits,
    pack_prefix,
    parse_lengths,
    parse_prefix,
)
from pyferry.refs import CallbackRef, HandleRef, TargetHandle
from pyferry.transport import Channel

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "spec" / "vectors"
VALUES = json.loads((VECTORS / "values.json").read_text(encoding="utf-8"))
MESSAGES = json.loads((VECTORS / "messages.json").read_text(encoding="utf-8"))
ERRORS = json.loads((VECTORS / "errors.json").read_text(encoding="utf-8"))

# Vectors Python writes but cannot read back, by design: name -> why.
ONE_WAY = {
    "dict tuple key": "a tuple key travels as an array, and a list cannot be a dict key",
}


@pytest.fixture(autouse=True)
def _deep_recursion() -> Iterator[None]:
    # The 512-level nesting vector recurses that deep in from_tagged/assert_same.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10_000))
    yield
    sys.setrecursionlimit(old)


# -- the tagged JSON form (spec/vectors/README.md) -----------------------------

_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}


def _hashable(value: Any) -> Any:
    """A decoded map key as a dict key: an array key becomes a tuple."""
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def from_tagged(value: Any) -> Any:
    """The Python value a tagged JSON value stands for."""
    if isinstance(value, list):
        return [from_tagged(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, body),) = value.items()
        if key.startswith("$"):
            return _from_tag(key, body)
    return {k: from_tagged(v) for k, v in value.items()}


def _from_tag(key: str, body: Any) -> Any:
    if key == "$int":
        return int(body)
    if key == "$float":
        return _FLOATS[body]
    if key == "$bytes":
        return bytes.fromhex(body)
    if key == "$map":
        return {_hashable(from_tagged(k)): from_tagged(v) for k, v in body}
    if key == "$complex":
        re, im = (float(from_tagged(part)) for part in body)
        return complex(re, im)
    if key == "$date":
        return dt.datetime.fromisoformat(body.replace("Z", "+00:00"))
    if key == "$ndarray":
        data = [from_tagged(x) for x in body["data"]]
        dtype = np.dtype(body["dtype"])
        if dtype.kind in "Mm":  # time arrays are tagged as their int64 counts
            return np.array(data, dtype=np.int64).view(dtype).reshape(body["shape"])
        return np.array(data, dtype=dtype).reshape(body["shape"])
    if key == "$handle":
        # As a client sends it (the id only), or as the worker does (id, type, repr).
        if isinstance(body, int):
            return HandleRef(body)
        return HandleRef(body["id"], body["type"], body["repr"])
    if key == "$callback":
        return CallbackRef(body)
    raise AssertionError(f"unknown tag {key}")


def assert_same(actual: Any, expected: Any, path: str = "value") -> None:
    """Exact equality: same types, floats bit for bit, arrays by dtype, shape and bytes."""
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{path}: {type(actual).__name__}, not ndarray"
        assert actual.dtype == expected.dtype, f"{path}: dtype {actual.dtype} != {expected.dtype}"
        assert actual.shape == expected.shape, f"{path}: shape {actual.shape} != {expected.shape}"
        assert actual.tobytes() == expected.tobytes(), f"{path}: data differs"
        return
    assert type(actual) is type(expected), f"{path}: {type(actual)} is not {type(expected)}"
    if isinstance(expected, float):
        assert struct.pack("<d", actual) == struct.pack("<d", expected), (
            f"{path}: {actual!r} != {expected!r}"
        )
    elif isinstance(expected, complex):
        assert_same(actual.real, expected.real, f"{path}.real")
        assert_same(actual.imag, expected.imag, f"{path}.imag")
    elif isinstance(expected, HandleRef):
        # HandleRef's == compares ids only: the type and repr text must match too.
        got = (actual.id, actual.type, actual.repr)
        assert got == (expected.id, expected.type, expected.repr), f"{path}: {actual!r}"
    elif isinstance(expected, dt.datetime):
        assert actual == expected, f"{path}: {actual} != {expected}"
        assert actual.utcoffset() == dt.timedelta(0), f"{path}: not UTC"
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, dict):
        # Keys in order: the Python side keeps a map's order.
        assert list(actual) == list(expected), f"{path}: keys {list(actual)} != {list(expected)}"
        for k in expected:
            assert_same(actual[k], expected[k], f"{path}[{k!r}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


# -- reading frames with the real transport -------------------------------------


def read_frames(data: bytes, max_message_bytes: int = 1 << 30) -> list[tuple[bytes, list[Any]]]:
    """Every frame the worker's Channel reads from ``data`` followed by EOF."""
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        f.seek(0)
        channel = Channel(f.fileno(), -1, Limits(max_message_bytes))
        frames = []
        while (frame := channel.read_frame()) is not None:
            frames.append(frame)
        return frames


def split_frame(data: bytes) -> tuple[bytes, list[bytes]]:
    """Take a frame apart with the protocol functions alone, checking it has no slack."""
    limits = Limits()
    count, header_len = parse_prefix(data[:PREFIX_SIZE], limits)
    table_end = PREFIX_SIZE + 8 * count
    lengths = parse_lengths(data[PREFIX_SIZE:table_end], count, header_len, limits)
    at = table_end + header_len
    header = data[table_end:at]
    buffers = []
    for n in lengths:
        buffers.append(data[at : at + n])
        at += n
    assert at == len(data), f"{len(data) - at} bytes after the last buffer"
    return header, buffers


def frame_bytes(message: Any) -> bytes:
    """The bytes the worker writes for ``message`` (as Channel.write_frame assembles them)."""
    header, buffers = encode(message)
    return (
        pack_prefix(len(header), [b.nbytes for b in buffers])
        + header
        + b"".join(bytes(b) for b in buffers)
    )


def _value_params() -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in VALUES if case["name"] not in ONE_WAY]


def _plain_params() -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in VALUES]


# -- values.json ------------------------------------------------------------------


def test_vector_files_cover_the_brief() -> None:
    names = {case["name"] for case in VALUES}
    dtypes = {
        case["value"]["$ndarray"]["dtype"]
        for case in VALUES
        if isinstance(case["value"], dict) and "$ndarray" in case["value"]
    }
    assert len(names) == len(VALUES), "duplicate vector names"
    units = ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"]
    assert dtypes == {
        "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32",
        "int64", "uint64", "float32", "float64", "complex64", "complex128",
        *(f"{kind}[{unit}]" for kind in ("datetime64", "timedelta64") for unit in units),
    }  # fmt: skip
    tags = {case["error"] for case in ERRORS}
    assert tags == {"protocol", "truncated", "decode", "decode-protocol"}


@pytest.mark.parametrize("case", _value_params())
def test_value_decodes(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    frames = read_frames(data)
    assert len(frames) == 1, "exactly one frame, nothing after it"
    header, buffers = frames[0]
    message = decode(header, buffers)
    assert isinstance(message, list)
    assert message[:2] == [RESULT, 7]
    assert len(message) == 3
    assert_same(message[2], from_tagged(case["value"]))


@pytest.mark.parametrize("case", _value_params())
def test_value_decodes_from_plain_bytes(case: dict[str, Any]) -> None:
    # The same frame taken apart by the protocol functions, buffers as read-only bytes.
    header, buffers = split_frame(bytes.fromhex(case["hex"]))
    assert_same(decode(header, buffers), [RESULT, 7, from_tagged(case["value"])])


@pytest.mark.parametrize("name", sorted(ONE_WAY))
def test_one_way_vectors_are_refused_by_name(name: str) -> None:
    case = next(c for c in VALUES if c["name"] == name)
    header, buffers = split_frame(bytes.fromhex(case["hex"]))
    with pytest.raises(DecodeError, match="map key cannot be a dict key"):
        decode(header, buffers)


@pytest.mark.parametrize("case", _plain_params())
def test_value_encodes_to_the_same_bytes(case: dict[str, Any]) -> None:
    expected = bytes.fromhex(case["hex"])
    actual = frame_bytes([RESULT, 7, from_tagged(case["value"])])
    assert actual.hex() == expected.hex()


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(np.arange(6.0).reshape(2, 3), id="c-order"),
        pytest.param(np.asfortranarray(np.arange(6.0).reshape(2, 3)), id="fortran"),
        pytest.param(np.repeat(np.arange(6.0).reshape(2, 3), 2, axis=1)[:, ::2], id="strided"),
        pytest.param(np.arange(6.0).reshape(2, 3).astype(">f8"), id="big-endian"),
    ],
)
def test_array_layouts_encode_to_the_c_order_vector(source: np.ndarray[Any, Any]) -> None:
    # Any memory layout of the same values goes on the wire as the one canonical frame.
    case = next(c for c in VALUES if c["name"] == "ndarray 2-d")
    assert frame_bytes([RESULT, 7, source]).hex() == case["hex"]


def test_generated_files_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(VECTORS / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- messages.json ----------------------------------------------------------------


def _message_params(side: str | None = None) -> list[Any]:
    return [
        pytest.param(case, id=f"{case['from']}: {case['name']}")
        for case in MESSAGES
        if side is None or case["from"] == side
    ]


def _tags(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (tag, body) in a tagged value, depth first."""
    if isinstance(value, list):
        for item in value:
            yield from _tags(item)
    elif isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith("$"):
            ((key, body),) = value.items()
            yield key, body
            if key in ("$map", "$complex"):
                yield from _tags(body)
        else:
            for item in value.values():
                yield from _tags(item)


def test_message_vectors_cover_every_kind() -> None:
    names = [case["name"] for case in MESSAGES]
    assert len(set(names)) == len(names), "duplicate vector names"
    sent = {(case["message"][0], case["from"]) for case in MESSAGES}
    # Each kind from the side that sends it, and only from that side; HELLO from both.
    expected = {(kind, "client") for kind in CLIENT_KINDS} | {
        (kind, "worker") for kind in WORKER_KINDS
    }
    expected |= {(HELLO, "client"), (HELLO, "worker")}
    assert sent == expected, sorted(sent ^ expected)
    assert {kind for kind, _ in sent} == set(KIND_NAMES) == set(range(17))

    calls = [case["message"] for case in MESSAGES if case["message"][0] == CALL]
    assert {len(m) for m in calls} == {5, 6}, "CALLs with and without options"
    options = {(k, v) for m in calls if len(m) == 6 for k, v in m[5].items()}
    assert {
        ("op", "get"),
        ("result", "value"),
        ("result", "handle"),
        ("progress", True),
        ("ahead", True),
        ("once", True),
    } <= options
    assert any(k == "stream" for k, _ in options)
    assert any(isinstance(m[2], list) and len(m[2]) > 1 for m in calls), "a [handle, name] target"

    tags = {side: [t for c in MESSAGES if c["from"] == side for t in _tags(c["message"])]
            for side in ("client", "worker")}  # fmt: skip
    # A client's HANDLE is the bare id, the worker's carries type and repr; CALLBACK: client only.
    assert {type(body) for key, body in tags["client"] if key == "$handle"} == {int}
    assert {type(body) for key, body in tags["worker"] if key == "$handle"} == {dict}
    assert any(key == "$callback" for key, _ in tags["client"])
    assert not any(key == "$callback" for key, _ in tags["worker"])
    assert any(key == "$ndarray" for key, _ in tags["client"])
    assert any(key == "$ndarray" for key, _ in tags["worker"])


@pytest.mark.parametrize("case", _message_params())
def test_message_decodes(case: dict[str, Any]) -> None:
    # Without a peer (a client's view, and the test client's), a HANDLE is a HandleRef
    # and a CALLBACK a CallbackRef.
    frames = read_frames(bytes.fromhex(case["hex"]))
    assert len(frames) == 1, "exactly one frame, nothing after it"
    assert_same(decode(*frames[0]), from_tagged(case["message"]))


def _stand_in(ref: HandleRef) -> Any:
    """An object the worker's encoder sends as ``ref``: same qualified type name and repr."""
    module, _, name = ref.type.rpartition(".")
    text = ref.repr
    namespace = {"__module__": module, "__qualname__": name, "vector_id": ref.id}
    namespace["__repr__"] = lambda self: text
    return type(name, (), namespace)()


def _as_the_worker_holds(value: Any) -> Any:
    """A decoded message with each HandleRef replaced by the object behind it."""
    if isinstance(value, HandleRef):
        return _stand_in(value)
    if isinstance(value, list):
        return [_as_the_worker_holds(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_the_worker_holds(v) for k, v in value.items()}
    return value


class _StandInTable:
    """The worker's handle table for the stand-ins: each one gets the id it stands for."""

    def add(self, obj: Any) -> int:
        return int(type(obj).vector_id)

    def discard(self, ids: Any) -> None:
        raise AssertionError(f"the message failed to encode (handles {list(ids)})")


@pytest.mark.parametrize("case", _message_params())
def test_message_encodes_to_the_same_bytes(case: dict[str, Any]) -> None:
    message = from_tagged(case["message"])
    if case["from"] == "client":
        # The plain encoder writes a HandleRef's 8 id bytes and a CallbackRef's id.
        actual = frame_bytes(message)
    else:
        # The worker's encoder, with its table: an object that cannot cross by value
        # goes out as id, type and repr.
        header, buffers = encode(_as_the_worker_holds(message), handles=_StandInTable())
        actual = (
            pack_prefix(len(header), [b.nbytes for b in buffers])
            + header
            + b"".join(bytes(b) for b in buffers)
        )
    assert actual.hex() == case["hex"]


class _Object:
    """What the worker's table holds for a handle id, in the fake peer below."""

    def __init__(self, handle_id: int) -> None:
        self.handle_id = handle_id


class _Function:
    """The callable the worker makes of a CALLBACK, in the fake peer below."""

    def __init__(self, callback_id: int, call_id: int) -> None:
        self.callback_id = callback_id
        self.call_id = call_id


class _Peer:
    def handle(self, handle_id: int) -> Any:
        return _Object(handle_id)

    def callback(self, callback_id: int, call_id: int) -> Any:
        return _Function(callback_id, call_id)


def _back_to_refs(value: Any, call_id: int) -> Any:
    """The worker's view of a message, its objects and callables as HandleRef and CallbackRef."""
    assert not isinstance(value, TargetHandle), "a TargetHandle outside a CALL's target"
    if isinstance(value, _Object):
        return HandleRef(value.handle_id)
    if isinstance(value, _Function):
        assert value.call_id == call_id, "a callback is bound to the CALL that carries it"
        return CallbackRef(value.callback_id)
    if isinstance(value, list):
        return [_back_to_refs(v, call_id) for v in value]
    if isinstance(value, dict):
        return {k: _back_to_refs(v, call_id) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", _message_params("client"))
def test_client_message_decodes_in_the_workers_view(case: dict[str, Any]) -> None:
    # The worker decodes with its peer: a HANDLE is the object in its table (in a CALL's
    # target, wrapped in TargetHandle), a CALLBACK in a CALL's args or kwargs a callable.
    ((header, buffers),) = read_frames(bytes.fromhex(case["hex"]))
    message = decode(header, buffers, _Peer())
    call_id = message[1] if message[0] == CALL else 0
    if message[0] == CALL and isinstance(message[2], list):
        head = message[2][0]
        assert isinstance(head, TargetHandle), "a handle target decodes as a TargetHandle"
        assert isinstance(head.obj, _Object)
        assert head.obj.handle_id == head.id
        message[2][0] = _Object(head.id)
    assert_same(_back_to_refs(message, call_id), from_tagged(case["message"]))


# -- errors.json ------------------------------------------------------------------


def _reader_over_socket(data: bytes, limit: int) -> tuple[Channel, socket.socket, socket.socket]:
    """A Channel on a non-blocking socket holding ``data``; its peer stays open."""
    mine, theirs = socket.socketpair()
    theirs.sendall(data)
    mine.setblocking(False)
    return Channel(mine.fileno(), mine.fileno(), Limits(limit)), mine, theirs


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in ERRORS])
def test_error_vector(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    limit = case["maxMessageBytes"]
    channel, mine, theirs = _reader_over_socket(data, limit)
    try:
        if case["error"] == "protocol":
            # Refused from the declared sizes alone, without waiting for more bytes.
            with pytest.raises(ProtocolError):
                channel.read_frame()
        elif case["error"] == "truncated":
            # A reader with the peer still there waits for the rest ...
            with pytest.raises(BlockingIOError):
                channel.read_frame()
        elif case["error"] == "decode":
            frame = channel.read_frame()
            assert frame is not None, "the framing of a decode vector is valid"
            with pytest.raises(DecodeError):
                decode(*frame)
        else:
            assert case["error"] == "decode-protocol"
            frame = channel.read_frame()
            assert frame is not None, "the framing of a decode-protocol vector is valid"
            with pytest.raises(ProtocolError, match="extension type"):
                decode(*frame)
    finally:
        mine.close()
        theirs.close()
    if case["error"] == "truncated":
        # ... and at EOF it is a protocol error.
        with pytest.raises(ProtocolError, match="in the middle of a"):
            read_frames(data, limit)


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c["name"]) for c in ERRORS if c["error"] == "decode"]
)
def test_decode_errors_are_not_protocol_errors(case: dict[str, Any]) -> None:
    # The worker answers an undecodable CALL with a per-call ERROR, so the two must differ.
    ((header, buffers),) = read_frames(bytes.fromhex(case["hex"]), case["maxMessageBytes"])
    with pytest.raises(DecodeError) as info:
        decode(header, buffers)
    assert not isinstance(info.value, ProtocolError)


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c["name"]) for c in ERRORS if c["error"] == "decode-protocol"]
)
def test_unknown_extension_types_are_protocol_errors(case: dict[str, Any]) -> None:
    # ... while an extension type version 1 does not define ends the connection.
    ((header, buffers),) = read_frames(bytes.fromhex(case["hex"]), case["maxMessageBytes"])
    with pytest.raises(ProtocolError, match=r"extension type -?\d+") as info:
        decode(header, buffers)
    assert not isinstance(info.value, DecodeError)


def test_socket_reader_sees_eof_as_clean_between_frames() -> None:
    # Guards the helper above: a whole frame then EOF reads as one frame, then None.
    mine, theirs = socket.socketpair()
    try:
        theirs.sendall(bytes.fromhex(VALUES[0]["hex"]))
        theirs.shutdown(socket.SHUT_WR)
        channel = Channel(mine.fileno(), mine.fileno(), Limits())
        assert channel.read_frame() is not None
        assert channel.read_frame() is None
    finally:
        mine.close()
        theirs.close()


# -- docs/protocol.md's kind table -------------------------------------------------------


def _kind_table() -> list[tuple[int, str, str]]:
    """(kind, name, direction) of each row of the message table in docs/protocol.md section 3."""
    import re

    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    return [
        (int(m.group(1)), m.group(2), m.group(3))
        for m in re.finditer(r"^\| (\d+) \| ([A-Z_]+) \| ([^|]+?) \|", text, re.M)
    ]


def test_the_documented_kind_table_is_the_code() -> None:
    from pyferry.protocol import CLIENT_KINDS, KIND_NAMES, WORKER_KINDS

    rows = _kind_table()
    assert {kind: name for kind, name, _ in rows} == KIND_NAMES
    sides = {"client → worker": CLIENT_KINDS, "worker → client": WORKER_KINDS}
    for kind, name, direction in rows:
        if direction == "both":
            assert kind not in CLIENT_KINDS | WORKER_KINDS, name  # HELLO: both, checked apart
        else:
            assert kind in sides[direction], f"{name} is sent {direction}"
    # The rule under the table names the highest kind there is.
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert f"any kind above {max(KIND_NAMES)} MUST" in text
