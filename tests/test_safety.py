"""Nothing that arrives on the wire is ever unpickled, unmarshalled, compiled or run.

Two independent checks:

- At run time, an audit hook (``sys.addaudithook``) watches the thread that
  decodes while many random, mutated and hostile frames (pickles in binary
  values, in unknown extension types, in array buffers) go through
  ``codec.decode`` and ``transport.Channel.read_frame``. The events that
  unpickling, unmarshalling, compiling, executing or importing code raise
  must never fire there.
- In the source, the AST of every module in ``src/pyferry`` must not import a
  pickle-like module, call eval/exec/compile/__import__, or load arrays in a
  way that may unpickle (``numpy.load``, ``allow_pickle``).

Audit hooks cannot be removed: the one installed here records only while a
``watching()`` block runs in the thread that opened it, and is inert otherwise.
"""

from __future__ import annotations

import ast
import collections
import contextlib
import json
import marshal
import pickle
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import SEED_FRAMES, SEED_MESSAGES, frame, mutated, read_all, time_limit
from pyferry.codec import decode, encode
from pyferry.errors import DecodeError, HandleError, ProtocolError, PyferryError
from pyferry.protocol import CALL, ERROR, pack_prefix

from conftest import ROOT, WorkerProcess, fuzz_settings

SRC = ROOT / "src" / "pyferry"

# Audit events that would mean data was turned into code or objects by name.
FORBIDDEN_EVENTS = frozenset(
    {
        "pickle.find_class",
        "marshal.loads",
        "marshal.load",
        "exec",
        "compile",
        "import",
        "builtins.input",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "subprocess.Popen",
        "ctypes.dlopen",
        "ctypes.call_function",
    }
)


class _Watch:
    """State of the one audit hook: records forbidden events of one thread while active."""

    def __init__(self) -> None:
        self.active = False
        self.thread = 0
        self.seen: list[str] = []


_WATCH = _Watch()
_HOOK_INSTALLED = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audit event in the process, for ever: keep the inert path cheap.
    if _WATCH.active and event in FORBIDDEN_EVENTS and threading.get_ident() == _WATCH.thread:
        _WATCH.seen.append(f"{event} {args!r:.200}")


@contextlib.contextmanager
def watching() -> Iterator[list[str]]:
    """Record the forbidden audit events this thread raises inside the block."""
    global _HOOK_INSTALLED
    if not _HOOK_INSTALLED:
        sys.addaudithook(_audit)
        _HOOK_INSTALLED = True
    seen: list[str] = []
    _WATCH.seen = seen
    _WATCH.thread = threading.get_ident()
    _WATCH.active = True
    try:
        yield seen
    finally:
        _WATCH.active = False


def decode_watched(header: bytes, buffers: list[Any]) -> list[str]:
    """Decode under the watch; the forbidden events it raised (pyferry's errors are fine)."""
    with watching() as seen, contextlib.suppress(PyferryError):
        decode(header, buffers)
    return seen


def read_watched(data: bytes) -> list[str]:
    """Read and decode all frames of ``data`` through a real Channel, under the watch."""
    with watching() as seen, contextlib.suppress(PyferryError):
        read_all(data)
    return seen


@pytest.fixture(autouse=True, scope="module")
def _warm_up() -> None:
    # Anything the decoder imports lazily (numpy; pyarrow and pandas for an ARROW value)
    # is imported now, outside the watch: an import during a watched decode is then a
    # real finding.
    for data in [*SEED_FRAMES, *_arrow_frames()]:
        with contextlib.suppress(PyferryError):
            read_all(data)


def _arrow_frames() -> list[bytes]:
    """Frames holding Arrow tables of every column kind (the ARROW tests' sample frame)."""
    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    try:
        import frames
    finally:
        sys.path.pop(0)
    header, buffers = encode([2, 7, [frames.sample(), frames.sample_indexed()]])
    return [frame(header, [bytes(b) for b in buffers])]


# -- the hook itself -----------------------------------------------------------------------


def test_the_hook_sees_what_it_must_forbid() -> None:
    # Without this the tests below could not fail.
    payload = pickle.dumps(collections.OrderedDict(a=1))
    with watching() as seen:
        pickle.loads(payload)
        marshal.loads(marshal.dumps((1, "two")))
        compile("1 + 1", "<test>", "eval")
        exec("x = 1", {})
        sys.modules.pop("colorsys", None)
        __import__("colorsys")  # importlib.import_module raises no "import" event: exec
    events = {entry.split()[0] for entry in seen}
    assert {"pickle.find_class", "marshal.loads", "compile", "exec", "import"} <= events


def test_the_hook_is_inert_outside_a_watch_and_in_other_threads() -> None:
    with watching() as seen:
        thread = threading.Thread(target=compile, args=("2", "<other thread>", "eval"))
        thread.start()
        thread.join()
    compile("3", "<after>", "eval")
    assert seen == []
    assert not _WATCH.active


# -- hostile frames ------------------------------------------------------------------------

# A pickle that would call builtins.print if anything loaded it, and one of a numpy array.
PICKLE = b"cbuiltins\nprint\n(S'unpickled!'\ntR."
NUMPY_PICKLE = pickle.dumps(np.arange(3))


def _ext(code: int, payload: bytes) -> bytes:
    """An ext 32 header for any code, negative ones included."""
    return (
        b"\xc9" + len(payload).to_bytes(4, "big") + code.to_bytes(1, "big", signed=True) + payload
    )


def test_pickles_in_binary_values_stay_bytes(capfd: pytest.CaptureFixture[str]) -> None:
    header, buffers = encode([2, 7, {"p": PICKLE, "n": NUMPY_PICKLE, "l": [PICKLE] * 3}])
    raw = frame(header, [bytes(b) for b in buffers])
    with watching() as seen:
        (message,) = read_all(raw)
    assert seen == []
    assert message[2]["p"] == PICKLE
    assert message[2]["n"] == NUMPY_PICKLE
    assert "unpickled!" not in capfd.readouterr().out


# Every extension code but NDARRAY (1), COMPLEX (2), HANDLE (3), CALLBACK (4), ARROW (5)
# and MessagePack's timestamp (-1).
@pytest.mark.parametrize("code", [c for c in range(-128, 128) if c not in (-1, 1, 2, 3, 4, 5)])
def test_pickles_in_extension_types_are_protocol_errors(code: int) -> None:
    for payload in (PICKLE, NUMPY_PICKLE):
        header = b"\x93\x02\x07" + _ext(code, payload)
        with watching() as seen, pytest.raises(ProtocolError, match=f"extension type {code}"):
            decode(header, [])
        assert seen == []


def test_pickles_in_handles_and_callbacks_are_ids_and_text() -> None:
    # HANDLE and CALLBACK payloads hold a u64 id (and, from a worker, text): never unpickled.
    class NoHandles:
        def handle(self, handle_id: int) -> Any:
            raise HandleError(f"no handle {handle_id}")

        def callback(self, callback_id: int, call_id: int) -> Any:
            return callback_id

    for payload in (PICKLE, NUMPY_PICKLE):
        with watching() as seen:
            handle = decode(b"\x93\x02\x07" + _ext(3, payload), [])[2]
            assert handle.id == int.from_bytes(payload[:8], "little")
            with pytest.raises(DecodeError, match="callback extension"):
                decode(b"\x93\x02\x07" + _ext(4, payload), [])
            call = b"\x95\x01\x05\xa3abs\x91" + _ext(3, payload) + b"\xc0"
            with pytest.raises(HandleError):
                decode(call, [], NoHandles())
        assert seen == []


def test_pickles_in_arrow_values_are_decode_errors(capfd: pytest.CaptureFixture[str]) -> None:
    # As the ARROW payload, and as the buffer it points to: neither is ever unpickled.
    for header, buffers in (
        (b"\x93\x02\x07" + _ext(5, PICKLE), []),
        (b"\x93\x02\x07" + _ext(5, b"\x00\x00\x00\x00"), [PICKLE]),
        (b"\x93\x02\x07" + _ext(5, b"\x00\x00\x00\x00"), [NUMPY_PICKLE]),
    ):
        with watching() as seen, pytest.raises(DecodeError):
            decode(header, buffers)
        assert seen == []
    assert "unpickled!" not in capfd.readouterr().out


def test_hostile_pandas_metadata_in_an_arrow_table_runs_nothing() -> None:
    # The schema's pandas metadata names dtypes: names that are modules, callables or
    # pickles must not get imported, called or loaded when the table becomes a DataFrame.
    pa = pytest.importorskip("pyarrow")
    for numpy_type in ("os.system", "builtins.eval", PICKLE.decode("latin1"), "object"):
        column = {"name": "a", "field_name": "a", "pandas_type": "object", "numpy_type": numpy_type}
        metadata = {
            "index_columns": [{"kind": "range", "name": None, "start": 0, "stop": 1, "step": 1}],
            "column_indexes": [],
            "columns": [column],
            "pandas_version": "2.2.0",
        }
        table = pa.table({"a": [1]}).replace_schema_metadata({"pandas": json.dumps(metadata)})
        header, buffers = encode([2, 7, table])
        assert decode_watched(header, [bytes(b) for b in buffers]) == []


def test_pickles_in_array_buffers_stay_raw_bytes() -> None:
    # An NDARRAY of uint8 whose buffer holds a pickle: the array holds those bytes, no more.
    body = np.frombuffer(NUMPY_PICKLE, np.uint8)
    header, buffers = encode([2, 7, body])
    with watching() as seen:
        (message,) = read_all(frame(header, [bytes(b) for b in buffers]))
    assert seen == []
    assert message[2].dtype == np.uint8
    assert message[2].tobytes() == NUMPY_PICKLE
    # And with a dtype code numpy uses for objects (17 is NPY_OBJECT): an unknown code.
    head = (
        bytes([0x93, 2, 7, 0xD8, 1])
        + bytes([0, 0, 0, 0, 17, 1, 0, 0])
        + len(body).to_bytes(8, "little")
    )
    assert decode_watched(head, [NUMPY_PICKLE]) == []


def test_a_pickle_sent_to_a_worker_ends_the_connection_and_runs_nothing() -> None:
    w = WorkerProcess()
    try:
        call = encode([CALL, 5, "builtins.repr", [], None])[0]
        # The same CALL with a pickle in an unknown extension type as its one argument.
        header = call[:-2] + b"\x91" + _ext(0x50, PICKLE) + b"\xc0"
        w.channel.write_frame(header)
        kind, call_id, info = w.receive()
        assert (kind, call_id, info["code"]) == (ERROR, 0, "PYFERRY_PROTOCOL")
        assert "extension type 80" in info["message"]
        assert w.proc.wait(timeout=30) == 2
        assert w.proc.stdout is not None
        assert b"unpickled!" not in w.proc.stdout.read()
    finally:
        w.close()


# -- many random and mutated frames, watched -----------------------------------------------


def test_every_vector_decodes_under_the_watch() -> None:
    for data in SEED_FRAMES:
        assert read_watched(data) == []


@fuzz_settings(300)
@given(mutated(SEED_FRAMES))
def test_mutated_frames_through_the_channel(data: bytes) -> None:
    assert read_watched(data) == []


@fuzz_settings(300)
@given(st.binary(max_size=1024), st.lists(st.binary(max_size=64), max_size=3))
def test_random_headers(header: bytes, buffers: list[bytes]) -> None:
    assert decode_watched(header, buffers) == []


@fuzz_settings(300)
@given(st.data())
def test_mutated_headers(data: st.DataObject) -> None:
    header, buffers = data.draw(st.sampled_from(SEED_MESSAGES))
    with time_limit(5, "decoding a mutated header"):
        assert decode_watched(data.draw(mutated([header])), buffers) == []


def test_a_frame_split_anywhere_reads_under_the_watch() -> None:
    # The reader's own code paths for partial reads, watched too.
    header, buffers = encode([2, 7, {"a": np.arange(5), "b": "x" * 300, "c": [1.5, None]}])
    data = pack_prefix(len(header), [b.nbytes for b in buffers]) + header
    data += b"".join(bytes(b) for b in buffers)
    for cut in range(1, len(data), 7):
        a, b = socket.socketpair()
        try:
            a.sendall(data[:cut])
            sender = threading.Thread(target=a.sendall, args=(data[cut:],))
            with watching() as seen:
                sender.start()
                (message,) = read_all_from(b)
            sender.join()
        finally:
            a.close()
            b.close()
        assert seen == []
        assert message[2]["b"] == "x" * 300


def read_all_from(sock: socket.socket) -> list[Any]:
    from pyferry.protocol import Limits
    from pyferry.transport import Channel

    got = Channel(sock.fileno(), sock.fileno(), Limits()).read_frame()
    assert got is not None
    return [decode(*got)]


# -- the source ----------------------------------------------------------------------------

FORBIDDEN_MODULES = frozenset(
    {"pickle", "_pickle", "cPickle", "pickletools", "marshal", "shelve", "dill", "cloudpickle",
     "joblib", "jsonpickle"}
)  # fmt: skip
FORBIDDEN_CALLS = frozenset({"eval", "exec", "compile", "__import__", "execfile", "input"})
NUMPY_NAMES = frozenset({"np", "numpy"})


def findings(source: str, filename: str = "<source>") -> list[str]:
    """What in ``source`` could unpickle, unmarshal or run code from data, one line each."""
    tree = ast.parse(source, filename)
    out = []

    def report(node: ast.AST, what: str) -> None:
        out.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    report(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                report(node, f"from {node.module} import ...")
            for alias in node.names:
                numpy_load = node.module in NUMPY_NAMES and alias.name in {"load", "fromfile"}
                if alias.name in FORBIDDEN_CALLS or numpy_load:
                    report(node, f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                report(node, f"call to {func.id}()")
            if isinstance(func, ast.Attribute):
                base = func.value
                name = base.id if isinstance(base, ast.Name) else ""
                if name == "builtins" and func.attr in FORBIDDEN_CALLS:
                    report(node, f"call to builtins.{func.attr}()")
                if name in NUMPY_NAMES and func.attr in {"load", "loads", "fromfile"}:
                    report(node, f"call to {name}.{func.attr}()")
                if func.attr == "import_module" and node.args:
                    first = node.args[0]
                    if isinstance(first, ast.Constant) and str(first.value).split(".")[0] in (
                        FORBIDDEN_MODULES
                    ):
                        report(node, f"import_module({first.value!r})")
            for keyword in node.keywords:
                if keyword.arg == "allow_pickle":
                    report(node, "allow_pickle=")
        elif (isinstance(node, ast.Name) and node.id == "allow_pickle") or (
            isinstance(node, ast.Attribute) and node.attr == "allow_pickle"
        ):
            report(node, "allow_pickle")
        elif isinstance(node, ast.Constant) and node.value in FORBIDDEN_MODULES:
            report(node, f"the string {node.value!r}")
    return out


def test_the_scanner_finds_what_it_must_forbid() -> None:
    bad = {
        "import pickle": "import pickle",
        "import marshal as m": "import marshal",
        "from dill import loads": "from dill import",
        "import cloudpickle.cloudpickle": "import cloudpickle",
        "import shelve": "import shelve",
        "from _pickle import Unpickler": "from _pickle",
        "eval(s)": "call to eval()",
        "exec(code, {})": "call to exec()",
        "compile(s, 'f', 'exec')": "call to compile()",
        "__import__(name)": "call to __import__()",
        "builtins.eval(s)": "call to builtins.eval()",
        "np.load(f)": "call to np.load()",
        "from numpy import load": "from numpy import load",
        "from builtins import exec as run": "from builtins import exec",
        "numpy.load(f, allow_pickle=True)": "allow_pickle=",
        "x = a.allow_pickle": "allow_pickle",
        "importlib.import_module('pickle')": "import_module('pickle')",
        "m = getattr(sys.modules['pickle'], 'loads')": "the string 'pickle'",
    }
    for source, words in bad.items():
        found = findings(source)
        assert any(words in f for f in found), f"{source!r}: {found}"
    assert findings("import json\nre.compile('x')\nnp.frombuffer(b, np.uint8)\n") == []


def test_pyferry_sources_never_unpickle_or_run_code() -> None:
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) >= 8, modules
    found = [f for path in modules for f in findings(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == []


def test_nothing_pickle_like_is_loaded_by_importing_pyferry() -> None:
    # A fresh interpreter: importing the worker side pulls in no pickle-like module
    # beyond those the interpreter itself starts with (marshal).
    import subprocess

    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import pyferry, pyferry.worker, pyferry.codec, pyferry.transport, pyferry.targets\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = ast.literal_eval(out.stdout)
    assert "pyferry.worker" in loaded
    assert [m for m in loaded if m.split(".")[0] in FORBIDDEN_MODULES] == []
