"""Handles: objects that cannot cross by value stay in the worker and cross as HANDLEs.

Protocol sections 3 (handle targets), 3.2 (the table and RELEASE) and 5.6.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from pyferry.codec import decode, encode
from pyferry.errors import DecodeError, EncodeError, HandleError
from pyferry.protocol import CALL, ERROR, RELEASE, RESULT
from pyferry.refs import CallbackRef, HandleRef

from conftest import FIXTURES, WorkerProcess


def error_of(
    worker: WorkerProcess, target: Any, args: list[Any] | None = None, **options: Any
) -> Any:
    reply, _ = worker.answer(worker.start(target, args or [], None, options or None))
    assert reply[0] == ERROR, reply
    return reply[2]


def stats(worker: WorkerProcess) -> dict[str, int]:
    result: dict[str, int] = worker.result("pyferry.worker_stats")
    return result


# -- the codec's side -------------------------------------------------------------------------


def test_a_client_sends_back_the_8_id_bytes() -> None:
    header, _ = encode([CALL, 1, [HandleRef(7, "x.Y", "Y()")], [], None])
    assert b"\xd7\x03" + (7).to_bytes(8, "little") in header  # fixext 8, type 3: the id only
    assert b"x.Y" not in header


def test_a_worker_handle_decodes_with_type_and_repr() -> None:
    payload = (5).to_bytes(8, "little") + b"collections.Counter\nCounter({'a': 1})"
    header = b"\x93\x02\x07" + b"\xc7" + bytes([len(payload), 3]) + payload
    (handle,) = decode(header, [])[2:]
    assert (handle.id, handle.type, handle.repr) == (5, "collections.Counter", "Counter({'a': 1})")


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"\x01\x00", "handle extension of 2 bytes"),
        (bytes(8), "handle id 0"),
    ],
)
def test_malformed_handles_are_decode_errors(payload: bytes, words: str) -> None:
    header = b"\x93\x02\x07" + b"\xc7" + bytes([len(payload), 3]) + payload
    with pytest.raises(DecodeError, match=words):
        decode(header, [])


def test_callbacks_are_8_bytes_and_only_in_call_arguments() -> None:
    class Peer:
        def handle(self, handle_id: int) -> Any:
            raise HandleError("none")

        def callback(self, callback_id: int, call_id: int) -> Any:
            return ("fn", callback_id, call_id)

    call = decode(*encode([CALL, 9, "f", [CallbackRef(3)], {"k": CallbackRef(4)}]), Peer())
    assert call[3:] == [[("fn", 3, 9)], {"k": ("fn", 4, 9)}]
    for message in (
        [CALL, 9, "f", [], None, {"op": CallbackRef(1)}],  # in the options
        [CALL, 9, [CallbackRef(1)], [], None],  # in the target
        [7, 1, CallbackRef(1)],  # in a CALLBACK_RESULT
    ):
        with pytest.raises(DecodeError, match="only valid in a CALL's args and kwargs"):
            decode(*encode(message), Peer())
    with pytest.raises(DecodeError, match="callback extension of 9 bytes"):
        decode(b"\x93\x02\x07\xc7\x09\x04" + bytes(9), [])


def test_a_raw_msgpack_ext_from_user_code_is_refused() -> None:
    with pytest.raises(EncodeError, match=r"raw msgpack\.ExtType") as info:
        encode([2, 7, {"a": [1, msgpack.ExtType(1, b"\x00" * 8)]}], "result")
    assert info.value.path == "result[2]['a'][1]"


# -- in a worker ------------------------------------------------------------------------------


def test_an_object_that_cannot_cross_comes_as_a_handle(worker: WorkerProcess) -> None:
    handle = worker.result("handlemod.make_counter", [3])
    assert isinstance(handle, HandleRef)
    assert handle.id >= 1
    assert (handle.type, handle.repr) == ("handlemod.Counter", "Counter(3)")


def test_values_and_handles_mix_in_one_answer(worker: WorkerProcess) -> None:
    mixed = worker.result("handlemod.make_mixed")
    assert mixed["plain"] == 5
    assert mixed["items"][1:] == [3.5, "text"]
    assert mixed["counter"].repr == "Counter(1)"
    assert mixed["items"][0].repr == "Counter(2)"
    assert mixed["counter"].id != mixed["items"][0].id


def test_a_handle_stands_for_its_object_in_arguments(worker: WorkerProcess) -> None:
    handle = worker.result("handlemod.make_counter", [3])
    assert worker.result("handlemod.read", [handle]) == 3
    assert worker.result("handlemod.same", [handle], {"b": handle}) is True


def test_handle_targets_call_methods_and_get_attributes(worker: WorkerProcess) -> None:
    handle = worker.result("handlemod.make_counter", [3])
    assert worker.result([handle, "bump"], [2]) == 5
    assert worker.result([handle, "bump"], [], {"by": 10}) == 15
    assert worker.result([handle, "n"], options={"op": "get"}) == 15


def test_the_same_object_sent_twice_has_two_ids(worker: WorkerProcess) -> None:
    handle = worker.result("handlemod.make_counter")
    first, second = worker.result("handlemod.twice", [handle])
    assert len({handle.id, first.id, second.id}) == 3
    assert worker.result("handlemod.same", [first, second]) is True
    again = worker.result([handle], options={"op": "get"})  # the object itself, as a new handle
    assert again.id not in (handle.id, first.id, second.id)


def test_release_drops_the_object(worker: WorkerProcess) -> None:
    before = stats(worker)["handles"]
    handle = worker.result("handlemod.make_tracked")
    assert stats(worker)["handles"] == before + 1
    assert worker.result("handlemod.tracked_alive") == 1
    worker.send([RELEASE, 0, [handle.id]])
    assert worker.result("handlemod.tracked_alive") == 0
    assert stats(worker)["handles"] == before
    info = error_of(worker, "handlemod.same", [handle, handle])
    assert (info["code"], info["type"]) == ("PYFERRY_HANDLE", "pyferry.errors.HandleError")
    assert f"handle {handle.id}" in info["message"]


def test_releasing_twice_or_unknown_ids_is_harmless(worker: WorkerProcess) -> None:
    handle = worker.result("handlemod.make_counter")
    worker.send([RELEASE, 0, [handle.id, handle.id, 999_999]])
    worker.send([RELEASE, 0, [handle.id]])
    worker.send([RELEASE, 0, []])
    assert worker.result("sum", [[1, 2]]) == 3


def test_a_call_holds_its_object_even_if_released_before_it_runs(worker: WorkerProcess) -> None:
    handle = worker.result("handlemod.make_counter", [4])
    busy = worker.start("workmod.sleep", [0.2])
    uses = worker.start("handlemod.read", [handle])
    worker.send([RELEASE, 0, [handle.id]])  # read with the frame: the queued call has the object
    assert worker.answer(busy)[0] == [RESULT, busy, "slept"]
    assert worker.answer(uses)[0] == [RESULT, uses, 4]


def test_a_handle_this_worker_never_sent(worker: WorkerProcess) -> None:
    info = error_of(worker, "handlemod.read", [HandleRef(424242)])
    assert info["code"] == "PYFERRY_HANDLE"
    info = error_of(worker, [HandleRef(424242), "bump"])
    assert info["code"] == "PYFERRY_HANDLE"
    assert worker.result("sum", [[2, 2]]) == 4


def test_result_modes(worker: WorkerProcess) -> None:
    whole = worker.result("sum", [[1, 2]], options={"result": "handle"})
    assert (whole.type, whole.repr) == ("builtins.int", "3")
    assert worker.result([whole, "bit_length"]) == 2
    info = error_of(worker, "handlemod.make_mixed", result="value")
    assert info["code"] == "PYFERRY_SERIALIZATION"
    assert info["path"] == "result['counter']"
    assert "handlemod.Counter cannot cross by value" in info["message"]
    assert worker.result("handlemod.make_mixed", options={"result": "auto"})["plain"] == 5
    # A value whose type crosses, but not this value, is an error in every mode.
    info = error_of(worker, "workmod.big_nested")
    assert (info["code"], info["path"]) == ("PYFERRY_SERIALIZATION", "result['a'][2]['b']")


def test_dict_subclasses_cross_by_value(worker: WorkerProcess) -> None:
    assert worker.result("handlemod.make_collections_counter")["a"] == 5
    handle = worker.result("handlemod.make_collections_counter", options={"result": "handle"})
    assert handle.type == "collections.Counter"
    assert worker.result([handle, "most_common"], [1]) == [["a", 5]]


def test_repr_that_raises_or_is_long(worker: WorkerProcess) -> None:
    assert worker.result("handlemod.make_bad_repr").repr == "<unrepresentable>"
    assert worker.result("handlemod.make_long_repr").repr == "x" * 1000


def test_a_raw_msgpack_ext_in_a_result_is_refused(worker: WorkerProcess) -> None:
    info = error_of(worker, "handlemod.raw_ext")
    assert (info["code"], info["path"]) == ("PYFERRY_SERIALIZATION", "result[1]['x']")
    assert "raw msgpack.ExtType" in info["message"]
    assert worker.result("sum", [[1]]) == 1


@pytest.mark.parametrize(
    ("names", "code"),
    [
        (["_secret"], "PYFERRY_TARGET_FORBIDDEN"),
        (["bump", "__call__"], "PYFERRY_TARGET_FORBIDDEN"),
        (["nope"], "PYFERRY_TARGET_NOT_FOUND"),
        (["n"], "PYFERRY_TARGET"),  # an int: not callable
        ([""], "PYFERRY_TARGET"),
        ([5], "PYFERRY_TARGET"),
    ],
)
def test_handle_target_names(worker: WorkerProcess, names: list[Any], code: str) -> None:
    handle = worker.result("handlemod.make_counter")
    info = error_of(worker, [handle, *names])
    assert info["code"] == code
    assert f"handle {handle.id} (handlemod.Counter)" in info["message"]


@pytest.mark.parametrize("target", [["sum"], [], [1, "x"], {"a": 1}])
def test_target_arrays_must_start_with_a_handle(worker: WorkerProcess, target: Any) -> None:
    assert error_of(worker, target)["code"] == "PYFERRY_TARGET"


def test_op_get_of_dotted_names(worker: WorkerProcess) -> None:
    assert worker.result("math.pi", options={"op": "get"}) == pytest.approx(3.14159265)
    module = worker.result("collections", options={"op": "get"})
    assert (module.type, module.id > 0) == ("builtins.module", True)
    assert worker.result([module, "OrderedDict"], [[["a", 1]]]) == {"a": 1}
    info = error_of(worker, "math.pi")  # called, it is not callable
    assert info["code"] == "PYFERRY_TARGET"


def test_allow_list_applies_to_what_a_handle_target_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES))
    w = WorkerProcess("--allow", "handlemod.*", "--allow", "builtins.sum")
    try:
        counter = w.result("handlemod.make_counter", [1])
        assert w.result([counter, "bump"]) == 2  # handlemod.Counter.bump
        assert w.result([counter, "n"], options={"op": "get"}) == 2  # got, not callable
        stdlib = w.result("handlemod.make_collections_counter", options={"result": "handle"})
        reply, _ = w.answer(w.start([stdlib, "most_common"], [1]))
        info = reply[2]
        assert (reply[0], info["code"]) == (ERROR, "PYFERRY_NOT_ALLOWED")
        assert "collections.Counter.most_common" in info["message"]
        reply, _ = w.answer(w.start([stdlib, "most_common"], options={"op": "get"}))
        assert reply[2]["code"] == "PYFERRY_NOT_ALLOWED"  # callable: its identity counts too
        reply, _ = w.answer(w.start("math.pi", options={"op": "get"}))
        assert reply[2]["code"] == "PYFERRY_NOT_ALLOWED"  # the name must match
        assert w.result("sum", [[1, 2]]) == 3
    finally:
        w.close()


def test_handles_of_objects_in_a_range(worker: WorkerProcess) -> None:
    numbers = worker.result("handlemod.numbers", [5])
    assert numbers.type == "builtins.range"
    assert worker.result("builtins.list", [numbers]) == [0, 1, 2, 3, 4]
