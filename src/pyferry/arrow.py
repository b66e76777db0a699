"""pandas DataFrames and Arrow tables <-> the ARROW extension (protocol section 5.8).

A table travels as a u32 buffer index in the header; the buffer holds one Arrow
IPC stream (schema, record batches, end-of-stream marker). A DataFrame goes
through ``pyarrow.Table.from_pandas``, whose pandas metadata lets
``to_pandas()`` restore the index and the dtypes when the table comes back; a
Series goes as a one-column table named after it (``"0"`` when unnamed).

pandas and pyarrow stay optional: nothing here imports them until such a value
is met. A DataFrame or Series can only have been built with pandas loaded, and
a Table with pyarrow loaded, so the encoder looks in ``sys.modules`` and never
imports on its own account.
"""

from __future__ import annotations

import struct
import sys
from typing import TYPE_CHECKING, Any

from pyferry.errors import DecodeError, EncodeError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["decode_table", "encode_table", "table_of"]

_INDEX = struct.Struct("<I")
_PANDAS_TYPES = ("DataFrame", "Series")


def table_of(obj: Any) -> pa.Table | pa.RecordBatch | None:
    """The Arrow table ``obj`` crosses as, or None when it is no table or frame.

    Raises:
        EncodeError: ``obj`` is a DataFrame or Series but pyarrow is missing, or
            pyarrow refuses to convert it (mixed types in an object column, ...).
    """
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(obj, pd.DataFrame | pd.Series):
        pa = _pyarrow_for(obj)
        if isinstance(obj, pd.Series):
            obj = obj.to_frame(name="0" if obj.name is None else obj.name)
        try:
            return pa.Table.from_pandas(obj)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise EncodeError(f"this DataFrame cannot become an Arrow table: {exc}") from exc
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(obj, pa.Table | pa.RecordBatch):
        return obj
    return None


def _pyarrow_for(obj: Any) -> Any:
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        return pa
    try:
        import pyarrow
    except ImportError:
        kind = type(obj).__name__
        raise EncodeError(
            f"a pandas {kind} crosses as an Arrow table, and pyarrow is not installed: "
            "pip install pyarrow"
        ) from None
    return pyarrow


def encode_table(table: pa.Table | pa.RecordBatch, index: int) -> tuple[bytes, memoryview]:
    """The ARROW payload naming buffer ``index``, and that buffer: ``table`` as an IPC stream.

    The stream is written twice: first to a stream that only counts bytes, then
    into a buffer of exactly that size, so the data is copied once and the
    buffer never grows (and so never reallocates).
    """
    pa = sys.modules["pyarrow"]
    counter = pa.MockOutputStream()
    _write_stream(pa, counter, table)
    buf = pa.allocate_buffer(counter.size())
    _write_stream(pa, pa.FixedSizeBufferWriter(buf), table)
    return _INDEX.pack(index), memoryview(buf)


def _write_stream(pa: Any, sink: Any, table: pa.Table | pa.RecordBatch) -> None:
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write(table)


def decode_table(data: bytes, buffers: list[Any]) -> Any:
    """The value an ARROW payload stands for: a DataFrame, or a pyarrow.Table without pandas.

    Raises:
        DecodeError: a payload other than 4 bytes, a buffer index out of range, a
            buffer that is not an Arrow IPC stream, or pyarrow is not installed.
    """
    if len(data) != _INDEX.size:
        raise DecodeError(f"Arrow extension of {len(data)} bytes, expected 4")
    (index,) = _INDEX.unpack(data)
    if index >= len(buffers):
        raise DecodeError(f"Arrow table refers to buffer {index}, frame has {len(buffers)}")
    try:
        import pyarrow as pa
    except ImportError:
        raise DecodeError(
            "an Arrow table arrived but pyarrow is not installed: pip install pyarrow"
        ) from None
    try:
        # py_buffer wraps the frame's memory: the columns are views on it, not copies.
        table = pa.ipc.open_stream(pa.py_buffer(buffers[index])).read_all()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DecodeError(f"buffer {index} is not an Arrow IPC stream: {exc}") from exc
    try:
        import pandas  # noqa: F401  (only whether it is there)
    except ImportError:
        return table
    try:
        return table.to_pandas()
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DecodeError(f"the Arrow table in buffer {index} has no pandas form: {exc}") from exc
