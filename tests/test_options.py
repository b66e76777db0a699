"""CALL options (protocol section 3): op, result, stream, progress, and their validation."""

from __future__ import annotations

from typing import Any

import pytest

from pyferry.protocol import CALL, ERROR, RESULT

from conftest import WorkerProcess


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["op"], "options must be a map or nil"),
        ("get", "options must be a map or nil"),
        ({"op": "set"}, '"op"'),
        ({"op": 1}, '"op"'),
        ({"result": "json"}, '"result"'),
        ({"stream": 0}, '"stream"'),
        ({"stream": -5}, '"stream"'),
        ({"stream": 2.5}, '"stream"'),
        ({"stream": "10"}, '"stream"'),
        ({"stream": True}, '"stream"'),
        ({"progress": 1}, '"progress"'),
        ({"progress": "yes"}, '"progress"'),
    ],
)
def test_a_bad_option_fails_the_call_naming_it(
    worker: WorkerProcess, options: Any, named: str
) -> None:
    call = worker.start("sum", [[1, 2]], None, options)
    reply = worker.receive()
    assert reply[:2] == [ERROR, call]
    assert reply[2]["code"] == "PYFERRY_SERIALIZATION"
    assert named in reply[2]["message"]
    assert worker.result("sum", [[1]]) == 1


def test_get_takes_no_arguments(worker: WorkerProcess) -> None:
    for args, kwargs in (([1], None), ([], {"a": 1})):
        reply, _ = worker.answer(worker.start("math.pi", args, kwargs, {"op": "get"}))
        assert reply[2]["code"] == "PYFERRY_SERIALIZATION"
        assert '"get" takes no args' in reply[2]["message"]


def test_defaults_nil_and_unknown_keys(worker: WorkerProcess) -> None:
    for options in (None, {}, {"op": None, "result": None}, {"future": [1, 2], "op": "call"}):
        assert worker.result("sum", [[1, 2]], options=options) == 3


def test_a_call_of_7_elements_is_a_protocol_error() -> None:
    w = WorkerProcess()
    try:
        w.send([CALL, 1, "sum", [[1]], None, None, "extra"])
        kind, call_id, info = w.receive()
        assert (kind, call_id, info["code"]) == (ERROR, 0, "PYFERRY_PROTOCOL")
        assert w.proc.wait(timeout=30) == 2
    finally:
        w.close()


def test_options_with_every_key(worker: WorkerProcess) -> None:
    options = {"op": "call", "result": "value", "progress": False}
    reply, _ = worker.answer(worker.start("sum", [[2, 3]], None, options))
    assert reply[0::2] == [RESULT, 5]


def test_the_js_client_and_the_worker_agree_on_the_spin_default() -> None:
    # The client passes --spin-us only when its option differs from its own default.
    import re

    from pyferry.inbox import SPIN_US

    from conftest import ROOT

    source = (ROOT / "js" / "src" / "options.js").read_text(encoding="utf-8")
    match = re.search(r"export const DEFAULT_SPIN_US = (\d+)", source)
    assert match is not None, "js/src/options.js defines DEFAULT_SPIN_US"
    assert int(match.group(1)) == SPIN_US
