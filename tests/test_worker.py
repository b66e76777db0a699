"""A real ``python -m pyferry worker`` driven by the test client in conftest.py."""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from os_support import needs_proc, needs_rlimit_as, needs_signals
from pyferry.protocol import CALL, ERROR, PROTOCOL_VERSION, RESULT

from conftest import FIXTURES, WorkerProcess, run_worker


def test_hello_describes_the_worker(worker: WorkerProcess) -> None:
    info = worker.hello[2]
    assert info["protocol"] == PROTOCOL_VERSION
    assert info["pid"] == worker.proc.pid
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert info["numpy"] == np.__version__


def test_seed_call(worker: WorkerProcess) -> None:
    assert worker.call("numpy.sum", list(range(1, 10))) == 45


def test_calls_by_dotted_name_and_keywords(worker: WorkerProcess) -> None:
    result = worker.call("numpy.linspace", 0, 1, num=5)
    np.testing.assert_array_equal(result, np.linspace(0, 1, 5))
    assert worker.call("sum", [1, 2, 3]) == 6
    assert worker.call("os.path.join", "a", "b") == os.path.join("a", "b")


def test_arrays_round_trip_with_dtype_and_shape(worker: WorkerProcess) -> None:
    x = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    y = worker.call("numpy.negative", x)
    assert y.dtype == np.int16
    assert y.shape == (2, 3, 4)
    np.testing.assert_array_equal(y, -x)


def test_odd_layouts_arrive_in_c_order(worker: WorkerProcess) -> None:
    got = worker.call("workmod.odd_arrays")
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.testing.assert_array_equal(got["strided"], base[:, ::2])
    np.testing.assert_array_equal(got["fortran"], base)
    np.testing.assert_array_equal(got["transposed"], base.T)
    assert got["bigendian"].dtype == np.dtype("<i4")
    np.testing.assert_array_equal(got["bigendian"], base.astype("i4"))


def test_output_never_corrupts_frames(worker: WorkerProcess) -> None:
    # 20k lines is far beyond a pipe's buffer: the test reads stdout meanwhile,
    # as the Node client does, so the worker is never blocked on it.
    import threading

    assert worker.proc.stdout is not None
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(worker.proc.stdout or []))
    reader.start()
    assert worker.call("workmod.noisy_sum", [1.5, 2.5], 20_000) == 4.0
    assert worker.call("numpy.sum", [1, 2]) == 3
    worker.close()
    reader.join()
    text = b"".join(lines).decode()
    assert "line 0\n" in text
    assert "line 19999\n" in text
    assert "raw write to fd 1\n" in text
    assert "from C printf\n" in text


def test_user_code_reads_empty_stdin(worker: WorkerProcess) -> None:
    assert worker.call("sys.stdin.read") == ""


def test_python_exception_crosses_with_traceback(worker: WorkerProcess) -> None:
    kind, _, info = worker.call_raw("workmod.raise_chain")
    assert kind == ERROR
    assert info["type"] == "builtins.RuntimeError"
    assert info["message"] == "top"
    assert info["code"] == "PYFERRY_PYTHON"
    assert "workmod.py" in info["traceback"]
    assert "pyferry/worker.py" not in info["traceback"]
    chain = [(c["relation"], c["type"], c["message"]) for c in info["chain"]]
    assert chain == [
        ("context", "builtins.ValueError", "explicit cause"),
        ("cause", "builtins.KeyError", "'missing'"),
    ]


def test_unprintable_exception_still_crosses(worker: WorkerProcess) -> None:
    kind, _, info = worker.call_raw("workmod.raise_bad_str")
    assert kind == ERROR
    assert info["type"] == "workmod.BadStr"
    assert info["message"] == "<unprintable BadStr object>"
    assert worker.call("numpy.sum", [2, 2]) == 4


def test_system_exit_is_an_error_not_an_exit(worker: WorkerProcess) -> None:
    kind, _, info = worker.call_raw("workmod.exit_now", 3)
    assert (kind, info["type"], info["message"]) == (ERROR, "builtins.SystemExit", "3")
    assert worker.proc.poll() is None
    assert worker.call("numpy.sum", [1]) == 1


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("os._exit", "PYFERRY_TARGET_FORBIDDEN"),
        ("numpy._core.sum", "PYFERRY_TARGET_FORBIDDEN"),
        ("nosuchmodule.f", "PYFERRY_TARGET_NOT_FOUND"),
        ("numpy.nosuchattr", "PYFERRY_TARGET_NOT_FOUND"),
        ("math.pi", "PYFERRY_TARGET"),
        ("numpy..sum", "PYFERRY_TARGET"),
    ],
)
def test_bad_targets_are_named_errors(worker: WorkerProcess, target: str, code: str) -> None:
    kind, _, info = worker.call_raw(target)
    assert kind == ERROR
    assert info["code"] == code
    assert repr(target) in info["message"]


def test_unencodable_result_names_its_path(worker: WorkerProcess) -> None:
    kind, _, info = worker.call_raw("workmod.big_nested")
    assert kind == ERROR
    assert info["code"] == "PYFERRY_SERIALIZATION"
    assert info["path"] == "result['a'][2]['b']"
    kind, _, info = worker.call_raw("numpy.zeros", 2, dtype="float16")
    assert "float16" in info["message"]
    assert worker.call("numpy.sum", [5]) == 5


def test_undecodable_arguments_fail_only_that_call(worker: WorkerProcess) -> None:
    from pyferry.codec import encode

    header, _ = encode([CALL, 41, "numpy.sum", [np.zeros(3)], None])
    # Drop the array's buffer: the ndarray extension now points past the frame's buffers.
    worker.channel.write_frame(header, [])
    kind, call_id, info = worker.receive()
    assert (kind, call_id, info["code"]) == (ERROR, 41, "PYFERRY_SERIALIZATION")
    assert worker.call("numpy.sum", [1, 1]) == 2


def test_many_calls_in_flight_keep_their_ids(worker: WorkerProcess) -> None:
    for i in range(1, 501):
        worker.send([CALL, i, "builtins.abs", [-i], None])
    replies = {}
    for _ in range(500):
        kind, call_id, value = worker.receive()
        assert kind == RESULT
        replies[call_id] = value
    assert replies == {i: i for i in range(1, 501)}


def test_eof_ends_the_worker(worker: WorkerProcess) -> None:
    assert worker.call("numpy.sum", [1]) == 1
    assert worker.close() == 0


def test_garbage_frame_is_a_protocol_error_and_exit() -> None:
    w = WorkerProcess()
    try:
        w.sock.sendall(b"XX\x00\x00\x05\x00\x00\x00hello")
        kind, call_id, info = w.receive()
        assert (kind, call_id, info["code"]) == (ERROR, 0, "PYFERRY_PROTOCOL")
        assert "magic" in info["message"]
        assert w.proc.wait(timeout=30) == 2
    finally:
        w.close()


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ([17, 1], "unexpected message kind 17"),
        ([16, 1, None], "kind 16 (WITHDRAWN)"),
        ([15, 0], "malformed WITHDRAW"),
        ([9, 1, [1, 2]], "kind 9 (STREAM_ITEMS)"),
        ([10, 1, None], "kind 10 (STREAM_END)"),
        ([2, 1, 5], "kind 2 (RESULT)"),
        ([6, 1, 1, []], "kind 6 (CALLBACK)"),
        ([13, 1, [1, 2, None]], "kind 13 (PROGRESS)"),
        ([14, 1, None], "kind 14 (DETACHED)"),
        ([0, 0, {"protocol": PROTOCOL_VERSION}], "kind 0 (HELLO)"),
        ([True, 1, "sum", [], None], "kind must be an integer"),
        ([5, 0, [1, 0]], "RELEASE must be"),
        ([5, 0, 7], "RELEASE must be"),
        ([5, 0, [True]], "RELEASE must be"),
        ([11, 1, 0], "STREAM_CREDIT n must be a positive integer"),
        ([11, 1, 1.5], "STREAM_CREDIT n must be a positive integer"),
        ([11, 0, 1], "malformed STREAM_CREDIT"),
        ([12, -1], "malformed STREAM_CLOSE"),
        ([4, 0], "malformed CANCEL"),
        ([7, 1], "malformed CALLBACK_RESULT"),
    ],
)
def test_messages_a_client_does_not_send_are_protocol_errors(
    message: list[object], words: str
) -> None:
    w = WorkerProcess()
    try:
        w.send(message)
        kind, call_id, info = w.receive()
        assert (kind, call_id, info["code"]) == (ERROR, 0, "PYFERRY_PROTOCOL")
        assert words in info["message"]
        assert w.proc.wait(timeout=30) == 2
    finally:
        w.close()


def test_control_messages_for_unknown_ids_are_ignored(worker: WorkerProcess) -> None:
    for message in ([4, 999], [11, 999, 5], [12, 999], [7, 999, "x"], [8, 999, {}]):
        worker.send(message)
    assert worker.call("sum", [1, 2]) == 3


def test_protocol_version_mismatch_fails_loudly() -> None:
    w = WorkerProcess(hello={"protocol": PROTOCOL_VERSION + 1})
    try:
        kind, call_id, info = w.receive()
        assert (kind, call_id, info["code"]) == (ERROR, 0, "PYFERRY_VERSION_MISMATCH")
        assert str(PROTOCOL_VERSION + 1) in info["message"]
        assert w.proc.wait(timeout=30) == 2
    finally:
        w.close()


@needs_proc
def test_protocol_descriptor_is_not_inherited(worker: WorkerProcess) -> None:
    # A child of the worker sees only 0, 1 and 2 (plus its own transient fds).
    code = "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))"
    out = worker.call("subprocess.check_output", [sys.executable, "-c", code], close_fds=False)
    fds = ast.literal_eval(out.decode())  # the child's own output, a list of ints
    assert set(fds) <= {0, 1, 2, 3}  # 3: the child's own listdir handle


def test_path_option_extends_sys_path(tmp_path: os.PathLike[str]) -> None:
    pkg = os.path.join(tmp_path, "mypkg")
    os.mkdir(pkg)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(pkg, "stats.py"), "w") as f:
        f.write("def fit(xs):\n    return {'mean': sum(xs) / len(xs), 'n': len(xs)}\n")
    w = WorkerProcess("--path", str(tmp_path))
    try:
        assert w.call("mypkg.stats.fit", [1, 2, 3, 6]) == {"mean": 3.0, "n": 4}
    finally:
        w.close()


def test_worker_exits_when_the_client_dies() -> None:
    mine, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyferry", "worker", "--fd", str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
    )
    theirs.close()
    mine.close()  # the client is gone before the handshake
    assert proc.wait(timeout=30) == 0


def test_result_over_the_limit_fails_only_that_call() -> None:
    w = WorkerProcess("--max-message-bytes", "4096")
    try:
        kind, _, info = w.call_raw("numpy.zeros", 1000)
        assert (kind, info["code"], info["path"]) == (ERROR, "PYFERRY_SERIALIZATION", "result")
        assert "exceeds the limit of 4096" in info["message"]
        assert w.call("numpy.sum", [1, 2]) == 3
    finally:
        w.close()


def test_preload_imports_before_the_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES))
    w = WorkerProcess("--preload", "wave")
    try:
        assert w.call("workmod.loaded", "wave") is True
    finally:
        w.close()


def test_a_failing_preload_exits_3_with_the_traceback() -> None:
    mine, theirs = socket.socketpair()
    with mine, theirs:
        fd = str(theirs.fileno())
        proc = run_worker(
            "--fd",
            fd,
            "--preload",
            "no_such_mod_xyz",
            stdin=subprocess.DEVNULL,
            pass_fds=[theirs.fileno()],
        )
    assert proc.returncode == 3
    assert "no_such_mod_xyz" in proc.stderr
    assert "ModuleNotFoundError" in proc.stderr


@needs_rlimit_as
def test_max_memory_turns_exhaustion_into_memory_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES))
    w = WorkerProcess("--max-memory-bytes", str(2 << 30))
    try:
        reply = w.call_raw("workmod.allocate", 4 << 30)
        assert reply[0] == ERROR
        assert reply[2]["type"] == "builtins.MemoryError"
        assert w.call("workmod.allocate", 1 << 20) == 1 << 20
    finally:
        w.close()


@needs_signals
def test_a_segfault_prints_the_python_stack(worker: WorkerProcess) -> None:
    worker.send([CALL, 1, "workmod.segfault", [], None])
    assert worker.proc.wait(timeout=30) == -signal.SIGSEGV
    assert worker.proc.stderr is not None
    stderr = worker.proc.stderr.read().decode()
    assert "Segmentation fault" in stderr
    assert "segfault" in stderr.split("Segmentation fault", 1)[1]
