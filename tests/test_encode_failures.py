"""Answers that cannot be encoded fail their call, never the worker.

The codec turns whatever packing raises (user code included, SystemExit too)
into an EncodeError with a path, finds cycles and over-deep nesting without
recursing, and error info always encodes. Against a real worker: the same
process answers every case and then the next call.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from pyferry.codec import decode, encode
from pyferry.errorinfo import describe_briefly, describe_exception
from pyferry.errors import EncodeError
from pyferry.explain import explain
from pyferry.handles import HandleTable
from pyferry.protocol import ERROR, RESULT
from pyferry.refs import HandleRef

from conftest import ROOT, WorkerProcess

JS_FIXTURES = ROOT / "js" / "test" / "fixtures"


def nested(n: int) -> list[Any]:
    x: list[Any] = []
    for _ in range(n):
        x = [x]
    return x


def result_error(value: Any, *, by_value: bool = False) -> EncodeError:
    """The EncodeError of ``value`` sent as a RESULT by the worker's encoder."""
    table = HandleTable()
    with pytest.raises(EncodeError) as info:
        encode([RESULT, 1, value], "result", table, by_value=by_value, field=2)
    assert len(table) == 0, "a failed message keeps no handle"
    return info.value


class _Zone(dt.tzinfo):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def utcoffset(self, d: dt.datetime | None) -> dt.timedelta:
        raise self.exc

    def dst(self, d: dt.datetime | None) -> None:
        return None


class _Items(dict[str, int]):
    """A dict whose items() (which msgpack calls for a dict subclass) raises."""

    exc: BaseException = KeyboardInterrupt()

    def items(self) -> Any:
        raise self.exc


def test_a_cycle_is_named_where_it_closes() -> None:
    x: list[Any] = [1]
    x.append(x)
    error = result_error(x)
    assert error.path == "result[1]"
    assert error.reason == (
        "the value is cyclic: this builtins.list holds itself (it is the container 1 level up)"
    )
    d: dict[str, Any] = {"a": [0, {"b": ()}]}
    d["a"][1]["b"] = (d,)
    error = result_error(d)
    assert error.path == "result['a'][1]['b'][0]"
    assert "(it is the container 4 levels up)" in error.reason


def test_a_shared_value_that_is_no_cycle_crosses() -> None:
    shared = [1, 2]
    header, _ = encode([RESULT, 1, [shared, shared, {"x": shared}]], field=2)
    assert decode(header, []) == [RESULT, 1, [[1, 2], [1, 2], {"x": [1, 2]}]]


def test_nesting_past_the_limit_names_the_first_level_too_deep_and_abbreviates() -> None:
    error = result_error(nested(2000))
    assert "nests deeper than 512 levels" in error.reason
    # The container 511 steps below the result is at level 513, the message counting as one.
    assert error.path == f"result{'[0]' * 8}…(495 more)…{'[0]' * 8}"
    # Without the envelope (a plain value), one more step fits.
    assert explain(nested(600), "value").path.endswith("…(496 more)…" + "[0]" * 8)


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (RuntimeError("no offset"), "datetime.datetime cannot cross: RuntimeError: no offset"),
        (SystemExit(5), "datetime.datetime cannot cross: SystemExit: 5"),
    ],
)
def test_what_user_code_raises_while_packing_is_the_reason(exc: BaseException, words: str) -> None:
    error = result_error({"when": [dt.datetime(2020, 1, 1, tzinfo=_Zone(exc))]})
    assert (error.path, error.reason) == ("result['when'][0]", words)


def test_keyboard_interrupt_while_packing_fails_the_value_not_the_thread() -> None:
    error = result_error([1, _Items(a=1)])
    assert error.path == "result[1]"
    assert error.reason == f"{__name__}._Items cannot cross: KeyboardInterrupt"
    assert encode([RESULT, 2, "next"])[0]  # the thread's encoder is whole again


def test_memory_error_while_packing_propagates_and_the_encoder_recovers() -> None:
    value = _Items(a=1)
    value.exc = MemoryError()
    with pytest.raises(MemoryError):
        encode([RESULT, 1, [value]], "result", HandleTable(), field=2)
    header, _ = encode([RESULT, 2, [1.5] * 3], field=2)
    assert decode(header, []) == [RESULT, 2, [1.5] * 3]


class _Exits:
    def __repr__(self) -> str:
        raise SystemExit(5)


def test_a_handle_whose_repr_raises_system_exit_crosses_unrepresentable() -> None:
    table = HandleTable()
    header, _ = encode([RESULT, 1, _Exits()], "result", table, field=2)
    ref = decode(header, [])[2]
    assert isinstance(ref, HandleRef)
    assert (ref.type, ref.repr) == (f"{__name__}._Exits", "<unrepresentable>")


def test_error_info_with_lone_surrogates_encodes_escaped() -> None:
    try:
        raise ValueError("cannot parse " + os.fsdecode(b"report-\xff.csv"))
    except ValueError as exc:
        info = describe_exception(exc)
    assert info["message"] == "cannot parse report-\\udcff.csv"
    assert "report-\\udcff.csv" in info["traceback"]
    encode([ERROR, 1, info])  # would raise UnicodeEncodeError with the surrogate


class _Unformattable:
    def __format__(self, spec: str) -> str:
        raise RuntimeError("no name")


def test_brief_info_names_even_a_type_whose_module_cannot_be_formatted() -> None:
    class Odd(Exception):
        pass

    Odd.__module__ = _Unformattable()  # type: ignore[assignment]
    info = describe_briefly(Odd("x" * 5000))
    assert (info["type"], len(info["message"]), info["traceback"]) == ("Odd", 1000, "")
    encode([ERROR, 1, info])


@pytest.fixture
def memmap() -> Iterator[np.memmap[Any, Any]]:
    with tempfile.NamedTemporaryFile() as f:
        arr = np.memmap(f.name, dtype="float64", mode="w+", shape=(3,))
        arr[:] = [1.0, 2.0, 3.0]
        yield arr


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_memmap_and_matrix_cross_as_their_plain_arrays(memmap: np.memmap[Any, Any]) -> None:
    header, buffers = encode([memmap, np.matrix([[1, 2], [3, 4]])])
    arrays = decode(header, [bytes(b) for b in buffers])
    assert [type(a) for a in arrays] == [np.ndarray, np.ndarray]
    assert arrays[0].tolist() == [1.0, 2.0, 3.0]
    assert arrays[1].tolist() == [[1, 2], [3, 4]]


class _Quantity(np.ndarray):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: np.ma.masked_array([1.0, 2.0], mask=[False, True]), "mask would be lost"),
        (lambda: np.ma.masked, "mask would be lost"),
        (lambda: np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), "structured"),
        (lambda: np.arange(3.0).view(_Quantity), "_Quantity is a subclass of numpy.ndarray"),
    ],
    ids=["masked", "masked-constant", "recarray", "subclass"],
)
def test_subclasses_that_would_lose_something_are_refused(make: Any, words: str) -> None:
    for by_value in (False, True):  # refused, not made a handle, in either mode
        error = result_error([make()], by_value=by_value)
        assert error.path == "result[0]"
        assert words in error.reason


# -- against a real worker ------------------------------------------------------------------


@pytest.fixture
def hostile() -> Iterator[WorkerProcess]:
    w = WorkerProcess("--path", str(JS_FIXTURES), "--max-memory-bytes", str(2**30))
    try:
        yield w
    finally:
        w.close()


@pytest.mark.parametrize(
    ("target", "args", "error_type", "words"),
    [
        ("hostile.cyclic_list", [], "pyferry.errors.EncodeError", "cyclic"),
        ("hostile.broken_datetime", [], "pyferry.errors.EncodeError", "RuntimeError"),
        ("hostile.nested", [2000], "pyferry.errors.EncodeError", "deeper than 512"),
        ("hostile.bad_file_name", [], "builtins.ValueError", "report-\\udcff.csv"),
        ("hostile.unnameable_error", [], "Unnameable", "cannot be named"),
        ("hostile.huge_list", [30_000_000], "builtins.MemoryError", "out of memory"),
    ],
)
def test_the_worker_answers_an_error_and_keeps_serving(
    hostile: WorkerProcess, target: str, args: list[Any], error_type: str, words: str
) -> None:
    reply = hostile.call_raw(target, *args)
    assert reply[0] == ERROR
    assert reply[2]["type"].endswith(error_type)
    assert words in reply[2]["message"]
    assert hostile.proc.poll() is None
    assert hostile.call("os.getpid") == hostile.hello[2]["pid"]


def test_a_fork_child_never_answers(hostile: WorkerProcess) -> None:
    pid = hostile.hello[2]["pid"]
    for how, status in [("return", 0), ("exit", 3), ("raise", 1)]:
        assert hostile.call("hostile.fork", how) == ["parent", pid, status]
    # Had a child answered too, its RESULT would come before this one.
    assert hostile.call("operator.add", 1, 2) == 3
    assert hostile.backlog == []
