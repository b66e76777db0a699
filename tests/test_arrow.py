"""pandas DataFrames and Arrow tables as ARROW values (protocol section 5.8).

A DataFrame, a Series or a pyarrow Table/RecordBatch travels as an Arrow IPC
stream in a frame buffer; a received table becomes a DataFrame (a
pyarrow.Table where pandas cannot be imported). The JS half of the round trip
is js/test/dataframe.test.js.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from typing import Any

import msgpack
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pyferry.codec import decode, encode
from pyferry.errors import DecodeError, EncodeError
from pyferry.protocol import CALL, ERROR, RESULT

from conftest import FIXTURES, WorkerProcess

sys.path.insert(0, str(FIXTURES))
import frames  # a fixture module, shared with the JS tests


def roundtrip(value: Any) -> Any:
    header, buffers = encode(value)
    return decode(header, [bytes(b) for b in buffers])


def extensions(header: bytes) -> list[tuple[int, bytes]]:
    """The extension values of a header, in order (top level and one list deep)."""
    value = msgpack.unpackb(header, ext_hook=lambda code, data: (code, data), strict_map_key=False)
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, tuple)]


# -- the codec on its own ---------------------------------------------------------


def test_a_dataframe_round_trips_with_values_and_dtypes() -> None:
    frame = frames.sample()
    got = roundtrip(frame)
    pd.testing.assert_frame_equal(got, frame)
    assert frames.check_sample(got)["count"] == "Int64"


def test_the_index_comes_back_through_the_pandas_metadata() -> None:
    frame = frames.sample_indexed()
    pd.testing.assert_frame_equal(roundtrip(frame), frame)
    ranged = pd.DataFrame({"a": [1, 2]}, index=pd.RangeIndex(10, 14, 2))
    pd.testing.assert_frame_equal(roundtrip(ranged), ranged)


def test_a_series_is_a_one_column_table_named_after_it() -> None:
    got = roundtrip(pd.Series([1.5, None], name="price"))
    pd.testing.assert_frame_equal(got, pd.DataFrame({"price": [1.5, None]}))
    unnamed = roundtrip(pd.Series([1, 2]))
    assert list(unnamed.columns) == ["0"]
    assert unnamed["0"].tolist() == [1, 2]


def test_pyarrow_tables_and_record_batches_arrive_as_dataframes() -> None:
    got = roundtrip([frames.as_table(), frames.as_batch()])
    pd.testing.assert_frame_equal(got[0], frames.sample_indexed())
    assert got[1]["n"].tolist() == [1, 2, 3]
    assert got[1]["s"].tolist()[:2] == ["a", "b"]
    assert pd.isna(got[1]["s"][2])


def test_the_buffer_is_the_ipc_stream_written_once() -> None:
    table = frames.as_table()
    header, buffers = encode(table)
    assert extensions(header) == [(5, struct.pack("<I", 0))]
    (buf,) = buffers
    # Exactly the stream, no slack: the size was counted before writing.
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write(table)
    assert bytes(buf) == sink.getvalue().to_pybytes()
    assert pa.ipc.open_stream(buf).read_all().equals(table)


def test_tables_and_arrays_share_the_buffer_numbering() -> None:
    message = [np.arange(3.0), frames.as_batch(), np.arange(2, dtype=np.int8), frames.series("s")]
    header, buffers = encode(message)
    exts = extensions(header)
    assert [code for code, _ in exts] == [1, 5, 1, 5]
    assert struct.unpack_from("<I", exts[1][1])[0] == 1
    assert struct.unpack_from("<I", exts[3][1])[0] == 3
    assert len(buffers) == 4
    got = decode(header, [bytes(b) for b in buffers])
    assert got[0].tolist() == [0.0, 1.0, 2.0]
    assert list(got[3].columns) == ["s"]


def test_decoding_does_not_copy_numeric_columns_out_of_the_frame() -> None:
    # The table's columns are views on the received buffer (py_buffer, no copy).
    table = pa.table({"x": np.arange(1000.0)})
    _, buffers = encode(table)
    received = np.frombuffer(bytes(buffers[0]), dtype=np.uint8).copy()
    reader = pa.ipc.open_stream(pa.py_buffer(received))
    column = reader.read_all().column("x").chunk(0)
    address = column.buffers()[1].address
    base = received.ctypes.data
    assert base <= address < base + received.nbytes


def test_a_frame_pyarrow_refuses_is_an_encode_error_with_a_path() -> None:
    bad = pd.DataFrame({"mixed": [1, "a"]})
    with pytest.raises(EncodeError, match="cannot become an Arrow table") as info:
        encode({"frames": [bad]}, root="result")
    assert info.value.path == "result['frames'][0]"


@pytest.mark.parametrize(
    ("payload", "buffers", "words"),
    [
        (b"\x00\x00\x00", [], "Arrow extension of 3 bytes, expected 4"),
        (b"\x00" * 8, [b""], "Arrow extension of 8 bytes"),
        (struct.pack("<I", 1), [b""], "buffer 1, frame has 1"),
        (struct.pack("<I", 0), [b""], "buffer 0 is not an Arrow IPC stream"),
        (struct.pack("<I", 0), [b"\x01" * 9], "buffer 0 is not an Arrow IPC stream"),
    ],
)
def test_malformed_arrow_values_are_decode_errors(
    payload: bytes, buffers: list[bytes], words: str
) -> None:
    header = msgpack.packb(msgpack.ExtType(5, payload))
    with pytest.raises(DecodeError, match=words):
        decode(header, buffers)


def test_pandas_and_pyarrow_are_imported_only_when_a_table_is_met() -> None:
    script = """
import sys
import numpy as np
from pyferry.codec import decode, encode
header, buffers = encode([1, "x", {"a": np.arange(3)}, np.datetime64("2020-01-01")])
decode(header, [bytes(b) for b in buffers])
print(sorted(name for name in ("pandas", "pyarrow") if name in sys.modules))
header, buffers = encode([2])
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# -- through a worker -------------------------------------------------------------


def test_worker_sends_and_receives_dataframes(worker: WorkerProcess) -> None:
    frame = worker.call("frames.sample")
    pd.testing.assert_frame_equal(frame, frames.sample())
    dtypes = worker.call("frames.check_sample", frame)
    assert dtypes == {
        "int": "int64",
        "float": "float64",
        "text": "str",
        "flag": "bool",
        "when": "datetime64[us]",
        "when_tz": "datetime64[us, Europe/Paris]",
        "span": "timedelta64[ns]",
        "count": "Int64",
        "nothing": "object",
        "kind": "category",
    }


def test_worker_group_by_and_describe(worker: WorkerProcess) -> None:
    table = pa.table({"g": ["a", "b", "a", "b", "a"], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    summary = worker.call("frames.summary", table, "g", "x")
    assert list(summary.index) == ["a", "b"]
    assert summary.loc["a", "count"] == 3
    assert summary.loc["b", "mean"] == 3.0


def blocked_worker(module: str) -> WorkerProcess:
    import os

    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(FIXTURES), env_path) if p)
    try:
        return WorkerProcess("--preload", module)
    finally:
        os.environ["PYTHONPATH"] = env_path


@pytest.fixture
def no_pyarrow() -> Any:
    w = blocked_worker("no_pyarrow")
    yield w
    w.close()


@pytest.fixture
def no_pandas() -> Any:
    w = blocked_worker("no_pandas")
    yield w
    w.close()


@pytest.mark.parametrize(
    ("target", "path", "kind"),
    [
        ("no_pyarrow.frame", "result", "DataFrame"),
        ("no_pyarrow.series", "result", "Series"),
        ("no_pyarrow.frame_in_list", "result[1]['frame']", "DataFrame"),
    ],
)
def test_without_pyarrow_a_dataframe_result_says_what_to_install(
    no_pyarrow: WorkerProcess, target: str, path: str, kind: str
) -> None:
    reply_kind, _, info = no_pyarrow.call_raw(target)
    assert reply_kind == ERROR
    assert info["code"] == "PYFERRY_SERIALIZATION"
    assert f"a pandas {kind} crosses as an Arrow table" in info["message"]
    assert "pip install pyarrow" in info["message"]
    assert info.get("path") == path


def test_without_pyarrow_a_table_argument_is_a_decode_error(no_pyarrow: WorkerProcess) -> None:
    no_pyarrow.send([CALL, 7, "no_pyarrow.echo", [frames.sample_indexed()], None])
    kind, call_id, info = no_pyarrow.receive()
    assert (kind, call_id, info["code"]) == (ERROR, 7, "PYFERRY_SERIALIZATION")
    assert "pyarrow is not installed: pip install pyarrow" in info["message"]
    # Only that call failed: the worker still answers.
    assert no_pyarrow.call("no_pyarrow.echo", 5) == 5


def test_without_pandas_a_table_arrives_as_a_pyarrow_table(no_pandas: WorkerProcess) -> None:
    table = frames.as_batch()
    assert no_pandas.call("no_pandas.type_of", table) == "pyarrow.lib.Table"
    assert no_pandas.call("no_pandas.column", table, "n") == [1, 2, 3]
    # And it goes back as it came: a Table crosses without pandas.
    kind, _, value = no_pandas.call_raw("no_pandas.echo", table)
    assert kind == RESULT
    assert value["n"].tolist() == [1, 2, 3]
