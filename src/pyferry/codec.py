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
numpy scalar        its Python value (``.item()``)
==================  ================================  ==========================

numpy is imported only when an array actually arrives; an array that leaves
implies numpy is already loaded.
"""

from __future__ import annotations

import datetime as _dt
import struct
import sys
import threading
from typing import TYPE_CHECKING, Any, Final

import msgpack

from pyferry.errors import DecodeError, EncodeError, ProtocolError
from pyferry.protocol import MAX_BUFFERS

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "COMPLEX",
    "DTYPES",
    "NDARRAY",
    "RESERVED_EXTENSIONS",
    "decode",
    "encode",
    "explain",
    "qualname",
]

NDARRAY: Final = 1
COMPLEX: Final = 2
# -1 is MessagePack's timestamp, which msgpack handles itself.
# Reserved extension codes, named in errors: a later protocol version will use them.
RESERVED_EXTENSIONS: Final = {3: "handle", 4: "JS callback", 5: "Arrow table"}

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
_ND_HEAD = struct.Struct("<IBB2x")
_COMPLEX = struct.Struct("<dd")
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1
_UNSUPPORTED_KINDS = {
    "f": "use float32 or float64",
    "M": "datetime64 arrays are not supported yet",
    "m": "timedelta64 arrays are not supported yet",
    "O": "object arrays cannot cross; convert to a numeric dtype or a list",
    "U": "convert string arrays to a list (arr.tolist())",
    "S": "convert bytes arrays to a list (arr.tolist())",
    "V": "structured arrays are not supported",
}


def qualname(tp: type) -> str:
    """The importable name of a type, ``builtins.`` prefix included."""
    return f"{tp.__module__}.{tp.__qualname__}"


class _Encoder:
    """Packs messages, collecting the buffers their NDARRAY extensions point to.

    A Packer is costly to build compared with packing a small message, so each
    thread keeps one encoder (``_local``) and resets ``buffers`` per message.
    """

    __slots__ = ("buffers", "packer")

    def __init__(self) -> None:
        self.buffers: list[memoryview] = []
        self.packer = msgpack.Packer(default=self.default, use_bin_type=True, datetime=True)

    def default(self, obj: Any) -> Any:
        np = sys.modules.get("numpy")
        if np is not None and isinstance(obj, np.ndarray | np.generic):
            if isinstance(obj, np.ndarray) and obj.ndim:
                return self.array(obj)
            # numpy scalars and 0-d arrays go as the Python value they hold.
            _dtype_ok(obj.dtype)
            obj = obj.item()
            if not isinstance(obj, complex):
                return obj
        if isinstance(obj, complex):
            return msgpack.ExtType(COMPLEX, _COMPLEX.pack(obj.real, obj.imag))
        if isinstance(obj, _dt.datetime):
            # msgpack refuses naive datetimes; say how to fix it.
            raise EncodeError("naive datetime cannot cross: give it a tzinfo (e.g. UTC)")
        raise EncodeError(f"{qualname(type(obj))} cannot cross by value")

    def array(self, arr: np.ndarray[Any, Any]) -> msgpack.ExtType:
        import numpy as np

        _dtype_ok(arr.dtype)
        code = _CODES[(arr.dtype.kind, arr.dtype.itemsize)]
        if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and sys.byteorder == "big"):
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        # C order: a no-op for contiguous arrays, one copy otherwise.
        arr = np.ascontiguousarray(arr)
        index = len(self.buffers)
        self.buffers.append(memoryview(arr.reshape(-1).view(np.uint8)))  # type: ignore[arg-type]
        shape = struct.pack(f"<{arr.ndim}Q", *arr.shape)
        return msgpack.ExtType(NDARRAY, _ND_HEAD.pack(index, code, arr.ndim) + shape)


_local = threading.local()
_KEEP_PACKER_BELOW = 1 << 20


def _dtype_ok(dtype: np.dtype[Any]) -> bool:
    if (dtype.kind, dtype.itemsize) in _CODES and dtype.fields is None:
        return True
    hint = _UNSUPPORTED_KINDS.get(dtype.kind, "convert it to a supported dtype")
    raise EncodeError(f"numpy dtype {dtype.name!r} ({dtype.str}) cannot cross: {hint}")


def encode(message: Any, root: str = "value") -> tuple[bytes, list[memoryview]]:
    """Turn ``message`` into header bytes and the out-of-band buffers the header refers to.

    Args:
        message: the value to encode.
        root: how the value is named in an error path (``result`` gives ``result[2]['foo']``).

    Raises:
        EncodeError: a part of the value cannot cross (``path`` names it), or the
            message holds more arrays than a frame can carry (no ``path``).
    """
    enc = _local.__dict__.get("encoder")
    if enc is None:
        enc = _local.encoder = _Encoder()
    enc.buffers = []
    try:
        header = enc.packer.pack(message)
    except (EncodeError, TypeError, ValueError, OverflowError) as exc:
        raise explain(message, root) from exc
    if len(header) > _KEEP_PACKER_BELOW:
        del _local.encoder  # do not keep a large packing buffer alive between messages
    if len(enc.buffers) > MAX_BUFFERS:
        raise EncodeError(f"{len(enc.buffers)} arrays in one message, at most {MAX_BUFFERS}")
    return header, enc.buffers


def explain(value: Any, root: str) -> EncodeError:
    """Build the error that says which part of ``value`` cannot be encoded, and why.

    This walks the value again, so call it only after an encode failed.
    """
    path, reason = _locate(value, root)
    return EncodeError(reason, path)


def _locate(value: Any, path: str) -> tuple[str, str]:
    """Find the first part of ``value`` that cannot be encoded (the slow path, errors only)."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if not _encodes(item):
                return _locate(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not _encodes(key):
                reason = _locate(key, path)[1]
                return path, f"dict key {key!r}: {reason}"
            if not _encodes(item):
                return _locate(item, f"{path}[{key!r}]")
    elif isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
        return path, f"int {value} does not fit in 64 bits"
    try:
        _Encoder().packer.pack(value)
    except EncodeError as exc:
        return path, exc.reason
    except Exception as exc:  # msgpack's own TypeError/ValueError
        return path, f"{qualname(type(value))} cannot cross: {exc}"
    return path, "cannot cross"  # unreachable unless the value changed meanwhile


def _encodes(value: Any) -> bool:
    try:
        _Encoder().packer.pack(value)
    except Exception:
        return False
    return True


def decode(header: bytes | bytearray | memoryview, buffers: list[Any]) -> Any:
    """Turn header bytes and the frame's buffers back into Python values.

    An extension type that protocol version 1 does not define (reserved ones
    included) is a protocol violation, not a bad value: a version 1 peer never
    sends one, so the stream itself cannot be trusted. It wins over a malformed
    value of a known type anywhere in the same header.

    Args:
        header: the MessagePack header of a frame.
        buffers: the frame's out-of-band buffers (writable ones give writable arrays).

    Raises:
        ProtocolError: the header holds an extension type that is not in version 1.
        DecodeError: the header is not valid MessagePack or a known extension is malformed.
    """
    hook = _ExtHook(buffers)
    try:
        message = msgpack.unpackb(
            header,
            ext_hook=hook,
            raw=False,
            strict_map_key=False,
            timestamp=3,
        )
    except ProtocolError:
        raise
    except Exception as exc:  # msgpack's errors, a timestamp out of datetime's range, ...
        # A bad extension met earlier in the header comes first in the stream.
        if hook.error is not None:
            raise hook.error from None
        if isinstance(exc, DecodeError):
            raise
        if isinstance(exc, TypeError) and "unhashable" in str(exc):
            # A JS Map key that is an array (or a map): a dict cannot hold it.
            raise DecodeError(f"a map key cannot be a dict key: {exc}") from exc
        if isinstance(exc, msgpack.StackError):  # it has no message of its own
            raise DecodeError("malformed message: nested deeper than msgpack allows") from exc
        raise DecodeError(f"malformed message: {exc or type(exc).__name__}") from exc
    if hook.error is not None:
        raise hook.error
    return message


class _ExtHook:
    """msgpack's ext_hook: builds NDARRAY and COMPLEX values, refuses other codes.

    A malformed NDARRAY or COMPLEX does not stop the unpacking: its error is
    kept (the first one) and raised once the whole header has been read, so
    that an unknown extension type later in the header is still found.
    """

    __slots__ = ("buffers", "error")

    def __init__(self, buffers: list[Any]) -> None:
        self.buffers = buffers
        self.error: DecodeError | None = None

    def __call__(self, code: int, data: bytes) -> Any:
        if code not in (NDARRAY, COMPLEX):
            raise ProtocolError(_unknown_extension(code))
        if self.error is not None:
            return None
        try:
            return _decode_array(data, self.buffers) if code == NDARRAY else _decode_complex(data)
        except DecodeError as exc:
            self.error = exc
            return None


def _decode_complex(data: bytes) -> complex:
    if len(data) != _COMPLEX.size:
        raise DecodeError(f"complex extension of {len(data)} bytes, expected 16")
    return complex(*_COMPLEX.unpack(data))


def _unknown_extension(code: int) -> str:
    reserved = RESERVED_EXTENSIONS.get(code)
    if reserved is not None:
        return f"extension type {code} ({reserved}) is reserved, not in protocol version 1"
    return f"unknown extension type {code}: not in protocol version 1"


def _decode_array(data: bytes, buffers: list[Any]) -> Any:
    if len(data) < _ND_HEAD.size:
        raise DecodeError(f"ndarray extension of {len(data)} bytes is too short")
    index, code, ndim = _ND_HEAD.unpack_from(data)
    if len(data) != _ND_HEAD.size + 8 * ndim:
        raise DecodeError(f"ndarray extension of {len(data)} bytes does not match ndim {ndim}")
    if code not in DTYPES:
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
    dtype = np.dtype(DTYPES[code])
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
