"""Starting a worker as a client that is not Node would: the descriptors, and --connect.

docs/protocol.md section 1 ("Starting a worker") is what these check.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pyferry.codec import decode, encode
from pyferry.protocol import CALL, HELLO, PROTOCOL_VERSION, RESULT, Limits
from pyferry.transport import Channel

from conftest import run_worker


@pytest.mark.parametrize(
    ("fd", "words"),
    [("0,1", "descriptor 0 is the worker's stdio"), ("2", "stdio"), ("57", "not open")],
)
def test_a_descriptor_the_worker_cannot_use_is_refused_on_stderr(fd: str, words: str) -> None:
    run = run_worker("--fd", fd)
    assert run.returncode == 2
    assert words in run.stderr
    assert "Traceback" not in run.stderr


def test_connect_to_a_missing_socket_is_refused_on_stderr(tmp_path: Path) -> None:
    run = run_worker("--connect", str(tmp_path / "nobody-listens"))
    assert run.returncode == 2
    assert "cannot connect to" in run.stderr


def test_a_client_without_descriptor_passing_speaks_over_connect(tmp_path: Path) -> None:
    # The client listens on a Unix socket in a folder only it can enter, starts the
    # worker with nothing but stdio, and speaks the protocol on the connection.
    folder = tmp_path / "private"
    folder.mkdir(mode=0o700)
    path = str(folder / "pyferry.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        server.settimeout(30)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyferry", "worker", "--connect", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
        try:
            conn, _ = server.accept()
            with conn:
                channel = Channel(conn.fileno(), conn.fileno(), Limits())
                frame = channel.read_frame()
                assert frame is not None
                hello = decode(*frame)
                assert hello[0] == HELLO
                assert hello[2]["pid"] == proc.pid
                channel.write_frame(*encode([HELLO, 0, {"protocol": PROTOCOL_VERSION}]))
                channel.write_frame(*encode([CALL, 1, "numpy.sum", [list(range(1, 10))], None]))
                frame = channel.read_frame()
                assert frame is not None
                assert decode(*frame) == [RESULT, 1, 45]
                conn.shutdown(socket.SHUT_WR)  # EOF: the worker ends
                assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
