"""The Python codec on its own: value rules, arrays, error paths, property tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pyferry.codec import decode, encode, encode_scalar
from pyferry.errors import DecodeError, EncodeError, ProtocolError
from pyferry.ndarray import DTYPES


def roundtrip(value: Any) -> Any:
    header, buffers = encode(value)
    return decode(header, [bytes(b) for b in buffers])


def same(a: Any, b: Any) -> bool:
    """Equality that tells NaN, -0.0, dtypes and shapes apart."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, list | tuple) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        2**64 - 1,
        1.5,
        float("nan"),
        float("inf"),
        -math.inf,
        -0.0,
        "",
        "héllo 𝄞 \u0000",
        b"",
        b"\x00\xff",
        [1, [2, [3]]],
        {"a": {"b": [None]}},
        {1: "int key", -1.5: "float key", None: "nil key"},
        complex(1.5, -2),
        dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
    ],
)
def test_scalars_and_containers_round_trip(value: Any) -> None:
    got = roundtrip(value)
    assert same(value, got), (value, got)


def test_tuple_keys_cannot_come_back() -> None:
    # A tuple key travels as an array; a list cannot be a dict key, so decoding refuses it.
    header, _ = encode({(1, 2): "x"})
    with pytest.raises(DecodeError, match="unhashable"):
        decode(header, [])


def test_tuples_become_lists_and_numpy_scalars_plain_values() -> None:
    assert roundtrip((1, (2, 3))) == [1, [2, 3]]
    values = [np.int8(-3), np.uint64(2**64 - 1), np.float32(0.5), np.bool_(True), np.complex64(1j)]
    assert roundtrip(values) == [-3, 2**64 - 1, 0.5, True, 1j]
    assert roundtrip(np.array(2.5)) == 2.5
    assert roundtrip(np.array(1 - 1j)) == 1 - 1j


def test_more_arrays_than_a_frame_holds_is_an_encode_error() -> None:
    with pytest.raises(EncodeError, match="65536 arrays in one message"):
        encode([np.zeros(1)] * 65536)


@pytest.mark.parametrize("dtype", sorted(set(DTYPES.values())))
def test_every_dtype_round_trips(dtype: str) -> None:
    rng = np.random.default_rng(7)
    arr = (rng.random((3, 4)) * 100).astype(dtype)
    if np.dtype(dtype).kind == "c":
        arr = arr + 1j * arr[::-1]
    got = roundtrip(arr)
    assert same(arr, got)


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros(0),
        np.zeros((0, 3), dtype=np.int32),
        np.arange(10.0)[::3],
        np.asfortranarray(np.arange(6).reshape(2, 3)),
        np.arange(6, dtype=">f8").reshape(3, 2),
        np.arange(24).reshape(2, 3, 4).transpose(2, 0, 1),
    ],
    ids=["empty", "empty-2d", "strided", "fortran", "big-endian", "transposed"],
)
def test_layouts_arrive_as_the_same_values(arr: np.ndarray[Any, Any]) -> None:
    got = roundtrip(arr)
    assert got.dtype == arr.dtype.newbyteorder("<")
    assert got.shape == arr.shape
    assert np.array_equal(got, arr)


def test_array_bytes_travel_out_of_band_without_copy() -> None:
    arr = np.arange(1000, dtype=np.float64)
    header, buffers = encode([arr])
    assert len(header) < 64
    assert len(buffers) == 1
    assert np.shares_memory(np.frombuffer(buffers[0], dtype=np.uint8), arr)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (np.zeros(2, dtype=np.float16), "float16"),
        (np.array([np.datetime64("NaT")]), "no time unit"),
        (np.arange(2).view("datetime64[10ms]"), "steps of 10 ms"),
        (np.array([1, "a"], dtype=object), "object"),
        (np.array(["ab"]), "<U2"),
        (np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]), "structured"),
        (np.timedelta64(2, "Y"), "no fixed length"),
        ({1, 2}, "builtins.set"),
        (dt.datetime(2020, 1, 1), "datetime"),
        (2**64, "64 bits"),
        (-(2**63) - 1, "64 bits"),
        (object(), "builtins.object"),
    ],
)
def test_values_that_cannot_cross_name_themselves(value: Any, words: str) -> None:
    with pytest.raises(EncodeError, match=words) as info:
        encode({"outer": [0, value]}, root="result")
    assert info.value.path == "result['outer'][1]"


def test_unencodable_dict_key_is_named() -> None:
    with pytest.raises(EncodeError, match="dict key") as info:
        encode({"a": {frozenset(): 1}}, root="result")
    assert info.value.path == "result['a']"


@pytest.mark.parametrize(
    ("header", "buffers", "words"),
    [
        (b"\xc1", [], "malformed"),
        (b"\xd4\x02\x00", [], "complex extension"),
        (b"\xd7\x01" + bytes([0, 0, 0, 0, 11, 0, 0, 0]), [], "buffer 0"),
        (b"\xd7\x01" + bytes([0, 0, 0, 0, 99, 0, 0, 0]), [b""], "dtype code 99"),
        (
            b"\xc7\x10\x01" + bytes([0, 0, 0, 0, 11, 1, 0, 0]) + (3).to_bytes(8, "little"),
            [b"x"],
            "needs 24",
        ),
        (b"\xd7\x01" + bytes([0, 0, 0, 0, 11, 2, 0, 0]), [b""], "ndim 2"),
        (b"\x91", [], "malformed"),
    ],
)
def test_malformed_input_is_a_decode_error(header: bytes, buffers: list[bytes], words: str) -> None:
    with pytest.raises(DecodeError, match=words):
        decode(header, buffers)


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True)
    | st.text()
    | st.binary()
    | st.complex_numbers(allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text() | st.integers(-(2**63), 2**64 - 1), inner, max_size=5)
    ),
    max_leaves=30,
)


@given(json_like)
def test_property_values_round_trip(value: Any) -> None:
    assert same(value, roundtrip(value))


@given(
    hnp.arrays(
        dtype=st.sampled_from([np.dtype(d) for d in sorted(set(DTYPES.values()))]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    )
)
def test_property_arrays_round_trip(arr: np.ndarray[Any, Any]) -> None:
    assert same(arr, roundtrip(arr))


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (b"\xd6\x09\x00\x00\x00\x00", "unknown extension type 9"),
        (b"\xd4\x00\x00", "unknown extension type 0"),
        (b"\xd4\x80\x00", "unknown extension type -128"),
        (b"\xc7\x00\x7f", "unknown extension type 127"),
        # Deep inside a value, and after a malformed NDARRAY: the violation still wins.
        (b"\x92\xd4\x02\x00\x81\xa1k\x91\xd4\x2a\x00", "unknown extension type 42"),
    ],
)
def test_extension_types_outside_version_1_are_protocol_errors(header: bytes, words: str) -> None:
    with pytest.raises(ProtocolError, match=words) as info:
        decode(header, [])
    assert not isinstance(info.value, DecodeError)


def test_the_first_malformed_known_extension_is_the_one_reported() -> None:
    # Two bad COMPLEX payloads, then bytes msgpack cannot read: the first error in stream order.
    header = b"\x93\xd4\x02\x00\xd5\x02\x00\x00\xc1"
    with pytest.raises(DecodeError, match="complex extension of 1 bytes"):
        decode(header, [])
    # A timestamp extension is MessagePack's own (-1): a bad one is a decode error.
    with pytest.raises(DecodeError):
        decode(b"\xc7\x05\xff\x00\x00\x00\x00\x00", [])


@given(st.binary(max_size=64), st.lists(st.binary(max_size=32), max_size=3))
def test_property_decoder_fails_only_with_named_errors(header: bytes, buffers: list[bytes]) -> None:
    with contextlib.suppress(DecodeError, ProtocolError):
        decode(header, buffers)


# -- encode_scalar: the quick path of scalar answers ------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        *(0, -1, 45, 2**63 - 1, -(2**63), 2**64 - 1, 1.5, math.nan, -math.inf),
        *(True, False, None, np.int8(-3), np.uint64(2**64 - 1), np.int64(45)),
        *(np.float32(1.25), np.float64(math.pi), np.bool_(True)),
    ],
)
def test_encode_scalar_makes_the_bytes_encode_makes(value: Any) -> None:
    encode([2, 1, np.int64(0)])  # numpy met once: its scalar types are known
    expected, buffers = encode([2, 7, value])
    assert buffers == []
    assert encode_scalar(2, 7, value) == expected
    assert len(expected) <= 20


@pytest.mark.parametrize(
    "value",
    [
        *(2**64, -(2**63) - 1, "text", b"x", [1], {"a": 1}, 1j, np.complex128(1j)),
        *(np.float16(0.5), np.datetime64("2026-01-01"), np.array(3.0), dt.date(2026, 1, 1), math),
    ],
)
def test_encode_scalar_leaves_everything_else_to_encode(value: Any) -> None:
    encode([2, 1, np.int64(0)])
    assert encode_scalar(2, 7, value) is None


@given(st.integers() | st.floats() | st.booleans() | st.none())
def test_encode_scalar_agrees_with_encode_on_any_python_scalar(value: Any) -> None:
    quick = encode_scalar(2, 9, value)
    try:
        expected = encode([2, 9, value])[0]
    except EncodeError:
        assert quick is None  # an int too large for MessagePack
        return
    assert quick == expected
