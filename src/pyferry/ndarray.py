"""numpy arrays and scalars <-> the NDARRAY extension: dtype codes, time units, layouts.

An ndarray crosses as a small NDARRAY extension (buffer index, dtype code,
ndim, time unit, shape) in the header and its bytes as one out-of-band buffer,
C order and little-endian (protocol section 5.3); ``js/src/ndarray.js`` is the
other side. numpy scalars cross as the Python value they hold, datetime64
scalars as timestamps, timedelta64 scalars as seconds. numpy is imported only
when an array arrives; one that leaves implies it is loaded already.
"""

from __future__ import annotations

import struct
import sys
from typing import TYPE_CHECKING, Any, Final

import msgpack

from pyferry.errors import DecodeError, EncodeError
from pyferry.refs import qualname

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DTYPES",
    "SCALARS",
    "TIME_DTYPES",
    "TIME_UNITS",
    "decode_array",
    "encode_array",
    "plain_array",
    "scalar_types",
    "time_scalar",
    "wire_dtype",
]

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
_ND_HEAD = struct.Struct("<IBBBx")  # buffer index, dtype code, ndim, time unit
_UNSUPPORTED_KINDS = {
    "f": "use float32 or float64",
    "O": "object arrays cannot cross; convert to a numeric dtype or a list",
    "U": "convert string arrays to a list (arr.tolist())",
    "S": "convert bytes arrays to a list (arr.tolist())",
    "V": "structured arrays cannot cross; send each field (arr['name']) or a DataFrame",
}


def encode_array(arr: np.ndarray[Any, Any], index: int) -> tuple[bytes, memoryview]:
    """The NDARRAY payload of ``arr`` as buffer ``index``, and the buffer (the array's own memory).

    Raises:
        EncodeError: its dtype cannot cross.
    """
    import numpy as np

    code, unit = wire_dtype(arr.dtype)
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and sys.byteorder == "big"):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    # C order: a no-op for contiguous arrays, one copy otherwise.
    arr = np.ascontiguousarray(arr)
    buffer = memoryview(arr.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
    shape = struct.pack(f"<{arr.ndim}Q", *arr.shape)
    return _ND_HEAD.pack(index, code, arr.ndim, unit) + shape, buffer


# numpy's bool, int and float scalar types of the dtypes that cross -> bool, int or
# float, which give the same value as ``.item()`` in a fraction of its time (a numpy
# scalar is the answer of many calls). Complex ones take the general path (ext 2).
# Filled when ``default`` first meets numpy loaded.
SCALARS: dict[type, type] = {}


def scalar_types(np: Any) -> dict[type, type]:
    """Fill ``SCALARS`` from ``DTYPES`` (numpy's own types, whatever the platform calls them)."""
    python = {"b": bool, "i": int, "u": int, "f": float}
    for name in DTYPES.values():
        dtype = np.dtype(name)
        if dtype.kind in python:
            SCALARS[dtype.type] = python[dtype.kind]
    return SCALARS


def plain_array(arr: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
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
        return np.asarray(arr)  # a structured dtype: refused, naming it, by wire_dtype
    raise EncodeError(
        f"{qualname(type(arr))} is a subclass of numpy.ndarray: as a plain array it would "
        "lose what the subclass adds. Send np.asarray(value) for its data, or ask for a "
        "handle (in JS: opts({ handle: true }))"
    )


def wire_dtype(dtype: np.dtype[Any]) -> tuple[int, int]:
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


def time_scalar(value: Any) -> Any:
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


def decode_array(data: bytes, buffers: list[Any]) -> Any:
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
