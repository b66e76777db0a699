"""The portable core (issue 21): ``--connect`` over loopback TCP with its token, the cancel kicks,
and the channel's ``sendall`` path. docs/protocol.md sections 1.2 and 3 are what these check."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from pyferry.codec import decode, encode
from pyferry.protocol import CALL, CANCEL, HELLO, PROTOCOL_VERSION, RESULT, Limits
from pyferry.startup import parse_connect
from pyferry.transport import Channel
from test_cancel import assert_cancelled, cancel_when_started, start

from conftest import FIXTURES, WorkerProcess, run_worker


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("tcp:127.0.0.1:5000", ("tcp", "127.0.0.1", 5000)),
        ("127.0.0.1:5000", ("tcp", "127.0.0.1", 5000)),
        ("tcp:[::1]:80", ("tcp", "::1", 80)),
        ("tcp:localhost:1", ("tcp", "localhost", 1)),
        ("/run/pyferry.sock", ("unix", "/run/pyferry.sock", 0)),
        ("unix:/tmp/a:1", ("unix", "/tmp/a:1", 0)),
        ("./sock:12", ("unix", "./sock:12", 0)),
    ],
)
def test_connect_addresses(address: str, parsed: tuple[str, str, int]) -> None:
    assert parse_connect(address) == parsed


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("tcp:127.0.0.1", "tcp:HOST:PORT"),
        ("tcp:127.0.0.1:0", "tcp:HOST:PORT"),
        ("tcp:10.0.0.1:5000", "only to loopback"),
        ("example.com:80", "only to loopback"),
    ],
)
def test_bad_tcp_addresses_are_refused(address: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_connect(address)
    run = run_worker("--connect", address, env={**os.environ, "PYFERRY_TOKEN": "x" * 64})
    assert run.returncode == 2
    assert words in run.stderr
    assert "Traceback" not in run.stderr


def test_tcp_without_a_token_exits_2_before_connecting() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "PYFERRY_TOKEN"}
        run = run_worker("--connect", f"tcp:127.0.0.1:{port}", env=env)
        server.settimeout(0)
        with pytest.raises(BlockingIOError):
            server.accept()  # it never connected
    assert run.returncode == 2
    assert "PYFERRY_TOKEN" in run.stderr


def test_a_worker_over_tcp_sends_its_token_first_and_keeps_none_of_it() -> None:
    token = secrets.token_hex(32)
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(30)
        port = server.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyferry", "worker", "--connect", f"tcp:127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYFERRY_TOKEN": token},
        )
        try:
            conn, _ = server.accept()
            with conn:
                got = b""
                while len(got) < len(token):
                    got += conn.recv(len(token) - len(got))
                assert got == token.encode()
                channel = Channel(conn.fileno(), conn.fileno(), Limits())
                frame = channel.read_frame()
                assert frame is not None
                assert decode(*frame)[0] == HELLO
                channel.write_frame(*encode([HELLO, 0, {"protocol": PROTOCOL_VERSION}]))
                channel.write_frame(*encode([CALL, 1, "os.environ.get", ["PYFERRY_TOKEN"], None]))
                frame = channel.read_frame()
                assert frame is not None
                assert decode(*frame) == [RESULT, 1, None]
                conn.shutdown(socket.SHUT_WR)  # EOF: the worker ends, as on a socket pair
                assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            assert proc.stderr is not None
            proc.stderr.close()


def test_an_unknown_kick_exits_2_naming_the_choices() -> None:
    run = run_worker("--fd", "3", env={**os.environ, "PYFERRY_INTERRUPT": "nudge"})
    assert run.returncode == 2
    assert "PYFERRY_INTERRUPT='nudge' is not one of signal, sigint, simulate" in run.stderr


@pytest.mark.parametrize("kick", ["sigint", "simulate"])
def test_the_sigint_kicks_interrupt_a_pure_python_loop(
    kick: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYFERRY_INTERRUPT", kick)
    path = [str(FIXTURES), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
    worker = WorkerProcess()
    try:
        call_id = start(worker, "workmod.spin", 30)
        cancel_when_started(worker, call_id)
        assert_cancelled(worker.receive(), call_id)
        assert worker.call("sum", [1, 2, 3]) == 6  # the same worker, still serving
        # A cancel that comes for a call already answered interrupts nothing.
        worker.send([CANCEL, call_id])
        assert worker.call("sum", [4]) == 4
    finally:
        worker.close()


def test_the_sendall_path_keeps_frames_whole_between_writers() -> None:
    a, b = socket.socketpair()
    with a, b:
        writer = Channel(a.fileno(), a.fileno(), Limits(), gather=False)
        reader = Channel(b.fileno(), b.fileno(), Limits())
        assert not writer.gather
        big = np.arange(1 << 18, dtype=np.float64)  # 2 MiB: sent from its own memory
        frames = [encode([i, big if i % 2 else "small"]) for i in range(8)]
        threads = [threading.Thread(target=writer.write_frame, args=f) for f in frames]
        got: list[object] = []

        def read_all() -> None:
            for _ in frames:
                frame = reader.read_frame()
                assert frame is not None
                got.append(decode(*frame))

        consumer = threading.Thread(target=read_all)
        consumer.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        consumer.join(timeout=60)
        assert sorted(m[0] for m in got) == list(range(8))  # type: ignore[index]
        for message in got:
            if message[0] % 2:  # type: ignore[index]
                np.testing.assert_array_equal(message[1], big)  # type: ignore[index]
            else:
                assert message[1] == "small"  # type: ignore[index]


def test_portable_env_selects_the_sendall_path(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = socket.socketpair()
    with a, b:
        assert Channel(a.fileno(), a.fileno(), Limits()).gather
        monkeypatch.setenv("PYFERRY_PORTABLE", "1")
        assert not Channel(a.fileno(), a.fileno(), Limits()).gather


def test_stdout_is_utf8_with_newlines_whatever_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    # As a Windows code page would: the worker writes UTF-8 anyway, with \n line ends.
    monkeypatch.setenv("PYTHONIOENCODING", "ascii")
    worker = WorkerProcess()
    try:
        worker.call("builtins.print", "naïve, 東京")
        assert worker.proc.stdout is not None
        assert worker.proc.stdout.readline() == "naïve, 東京\n".encode()
    finally:
        worker.close()
