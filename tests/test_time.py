"""numpy datetime64/timedelta64 arrays (dtype codes 14 and 15) and time scalars.

Arrays cross with their unit (protocol section 5.3), NaT kept. Scalars: a
datetime64 goes as a MessagePack timestamp read as UTC (to the nanosecond on
the wire), a timedelta64 as a float of seconds, NaT as None.
"""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pyferry.codec import decode, encode
from pyferry.errors import DecodeError, EncodeError
from pyferry.ndarray import TIME_UNITS
from pyferry.protocol import ERROR

from conftest import WorkerProcess

UNITS = list(TIME_UNITS.values())
NAT = np.iinfo(np.int64).min
UTC = dt.UTC


def roundtrip(value: Any) -> Any:
    header, buffers = encode(value)
    return decode(header, [bytes(b) for b in buffers])


def times(kind: str, unit: str, shape: tuple[int, ...] = (5,)) -> np.ndarray[Any, Any]:
    counts = np.array([0, 1, -1, 10**12, NAT], dtype=np.int64)
    return np.resize(counts, shape).view(f"<{kind}8[{unit}]")


def assert_same_times(got: Any, expected: np.ndarray[Any, Any]) -> None:
    assert isinstance(got, np.ndarray)
    assert got.dtype == expected.dtype.newbyteorder("<"), (got.dtype, expected.dtype)
    assert got.shape == expected.shape
    # Compare the counts: NaT != NaT, and the counts are what the wire carries.
    assert np.array_equal(got.view(np.int64), expected.astype(got.dtype).view(np.int64))


# -- arrays ----------------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("kind", ["M", "m"])
def test_every_unit_round_trips_with_nat(kind: str, unit: str) -> None:
    arr = times(kind, unit)
    got = roundtrip(arr)
    assert_same_times(got, arr)
    assert np.isnat(got[-1])


@pytest.mark.parametrize(
    ("dtype", "code", "unit"),
    [("<M8[ms]", 14, 8), ("<m8[ns]", 15, 10), ("<M8[Y]", 14, 1), ("<m8[as]", 15, 13)],
)
def test_the_header_carries_code_and_unit(dtype: str, code: int, unit: int) -> None:
    header, buffers = encode(np.zeros(3, dtype=dtype))
    ext = msgpack.unpackb(header, ext_hook=lambda c, d: (c, d))
    assert ext[0] == 1
    index, got_code, ndim, got_unit, zero = struct.unpack_from("<IBBBB", ext[1])
    assert (index, got_code, ndim, got_unit, zero) == (0, code, 1, unit, 0)
    assert buffers[0].nbytes == 24


@pytest.mark.parametrize(
    "arr",
    [
        times("M", "s", (2, 3)),
        times("m", "us", (4,))[::2],
        np.asfortranarray(times("M", "D", (2, 3))),
        times("M", "ns", (5,)).astype(">M8[ns]"),
        np.array([], dtype="M8[h]"),
    ],
    ids=["2-d", "strided", "fortran", "big-endian", "empty"],
)
def test_time_array_layouts(arr: np.ndarray[Any, Any]) -> None:
    assert_same_times(roundtrip(arr), arr)


def test_time_arrays_travel_out_of_band_without_copy() -> None:
    arr = times("M", "ms", (1000,))
    _, buffers = encode(arr)
    assert np.shares_memory(np.frombuffer(buffers[0], dtype=np.uint8), arr)


@pytest.mark.parametrize(
    ("arr", "words"),
    [
        (np.array([np.datetime64("NaT")]), r"'datetime64' has no time unit.*datetime64\[ms\]"),
        (np.array([np.timedelta64("NaT")]), r"'timedelta64' has no time unit"),
        (np.arange(3).view("M8[10ms]"), r"steps of 10 ms.*astype\('datetime64\[ms\]'\)"),
        (np.arange(3).view("m8[2D]"), r"steps of 2 D.*astype\('timedelta64\[D\]'\)"),
    ],
)
def test_generic_and_multiple_units_are_refused(arr: np.ndarray[Any, Any], words: str) -> None:
    with pytest.raises(EncodeError, match=words) as info:
        encode({"t": arr}, root="result")
    assert info.value.path == "result['t']"


def _nd(code: int, unit: int) -> bytes:
    return b"\xd7\x01" + struct.pack("<IBBBx", 0, code, 0, unit)


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (_nd(14, 0), "dtype code 14 with time unit 0"),
        (_nd(15, 14), "dtype code 15 with time unit 14"),
        (_nd(14, 255), "time unit 255"),
        (_nd(16, 8), "unknown dtype code 16"),
    ],
)
def test_bad_time_units_are_decode_errors(header: bytes, words: str) -> None:
    with pytest.raises(DecodeError, match=words):
        decode(header, [b"\x00" * 8])


def test_other_dtype_codes_ignore_the_unit_byte() -> None:
    # Byte 6 means something for codes 14 and 15 only.
    assert roundtrip(np.array(7, dtype=np.int64)) == 7
    header = b"\xd7\x01" + struct.pack("<IBBBx", 0, 8, 0, 9)
    assert decode(header, [struct.pack("<q", 7)]).tolist() == 7


@given(
    hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4)),
    st.sampled_from([f"<{k}8[{u}]" for k in "Mm" for u in UNITS]),
)
def test_property_time_arrays_round_trip(counts: np.ndarray[Any, Any], dtype: str) -> None:
    arr = counts.view(dtype)  # any int64 count is a time, the smallest being NaT
    assert_same_times(roundtrip(arr), arr)


# -- scalars ---------------------------------------------------------------------


def wire_timestamp(value: Any) -> msgpack.Timestamp:
    """The timestamp a value is written as, with its nanoseconds (Python reads microseconds)."""
    header, _ = encode(value)
    stamp = msgpack.unpackb(header, timestamp=0)
    assert isinstance(stamp, msgpack.Timestamp)
    return stamp


def test_datetime64_scalars_are_utc_timestamps_to_the_nanosecond() -> None:
    value = np.datetime64("2024-02-29T12:34:56.789123456")
    assert roundtrip(value) == dt.datetime(2024, 2, 29, 12, 34, 56, 789123, tzinfo=UTC)
    stamp = wire_timestamp(value)
    assert (stamp.seconds, stamp.nanoseconds) == (1709210096, 789123456)


@pytest.mark.parametrize(
    ("value", "seconds", "nanoseconds"),
    [
        (np.datetime64("1969-12-31T23:59:59.999", "ms"), -1, 999_000_000),
        (np.datetime64("2024", "Y"), 1704067200, 0),
        (np.datetime64("2024-03", "M"), 1709251200, 0),
        (np.datetime64("1970-01-08", "W"), 7 * 86400, 0),
        (np.datetime64(1, "as"), 0, 0),
        (np.datetime64(-1, "ps"), -1, 999_999_999),
        (np.datetime64("0001-01-01", "D"), -62135596800, 0),
        (np.datetime64("10000-01-01", "D"), 253402300800, 0),
        (np.array(np.datetime64(5, "s")), 5, 0),
    ],
    ids=[
        "before-1970",
        "year",
        "month",
        "week",
        "attosecond",
        "picosecond",
        "year-1",
        "past-datetime",
        "0-d",
    ],
)
def test_datetime64_scalar_units(value: Any, seconds: int, nanoseconds: int) -> None:
    stamp = wire_timestamp(value)
    assert (stamp.seconds, stamp.nanoseconds) == (seconds, nanoseconds)


def test_timedelta64_scalars_are_float_seconds_and_nat_is_none() -> None:
    values = [
        np.timedelta64(1500, "ms"),
        np.timedelta64(-3, "D"),
        np.timedelta64(1, "ns"),
        np.timedelta64(2, "W"),
        np.timedelta64("NaT"),
        np.datetime64("NaT"),
        np.datetime64("NaT", "ns"),
    ]
    got = roundtrip(values)
    assert got == [1.5, -259200.0, 1e-9, 1209600.0, None, None, None]
    assert all(type(x) is float for x in got[:4])


def test_time_scalars_that_cannot_cross() -> None:
    with pytest.raises(EncodeError, match="'Y' has no fixed length in seconds"):
        encode(np.timedelta64(2, "Y"))
    with pytest.raises(EncodeError, match="beyond the range of a timestamp"):
        encode(np.array([10**15], dtype=np.int64).view("M8[Y]")[0])
    with pytest.raises(EncodeError, match="steps of 10 ms"):
        encode(np.datetime64(3, "10ms"))


def test_pandas_timestamps_cross_when_aware() -> None:
    pd = pytest.importorskip("pandas")
    paris = pd.Timestamp("2024-07-01 12:00:00.123456789", tz="Europe/Paris")
    stamp = wire_timestamp(paris)
    assert (stamp.seconds, stamp.nanoseconds) == (1719828000, 123456789)
    assert roundtrip(paris) == dt.datetime(2024, 7, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert roundtrip(pd.NaT) is None
    with pytest.raises(EncodeError, match="naive datetime"):
        encode(pd.Timestamp("2024-07-01"))


def test_aware_datetimes_in_other_zones_arrive_in_utc() -> None:
    plus = dt.timezone(dt.timedelta(hours=5, minutes=30))
    value = dt.datetime(2024, 1, 1, 5, 30, 0, 250000, tzinfo=plus)
    got = roundtrip(value)
    assert got == value
    assert got.utcoffset() == dt.timedelta(0)
    assert got == dt.datetime(2024, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)


# -- through a worker ------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS)
def test_worker_round_trips_every_unit(worker: WorkerProcess, unit: str) -> None:
    for kind, letter in (("datetime64", "M"), ("timedelta64", "m")):
        arr = worker.call("frames.times", kind, unit)
        assert_same_times(arr, times(letter, unit))
        assert worker.call("frames.check_times", arr, kind, unit) == f"{kind}[{unit}]"


def test_worker_time_scalars(worker: WorkerProcess) -> None:
    got = worker.call("frames.time_scalars")
    assert got == [
        dt.datetime(2024, 2, 29, 12, 34, 56, 789123, tzinfo=UTC),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        None,
        1.5,
        -259200.0,
        None,
    ]


def test_worker_refuses_a_generic_datetime64_result(worker: WorkerProcess) -> None:
    kind, _, info = worker.call_raw("numpy.array", [None], dtype="datetime64")
    assert kind == ERROR
    assert info["code"] == "PYFERRY_SERIALIZATION"
    assert "no time unit" in info["message"]
