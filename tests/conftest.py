"""Test helpers: a minimal Python client that drives a real ``python -m pyferry worker``."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from pyferry.codec import decode, encode
from pyferry.protocol import CALL, ERROR, HELLO, PROTOCOL_VERSION, RESULT, Limits
from pyferry.transport import Channel

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Fuzzing (test_fuzz.py, test_safety.py): a bounded run by default, 20 times as
# many examples with PYFERRY_FUZZ=long (`make fuzz`), which also gives every
# other property test more examples. Hangs are caught by the tests' own time
# limits, so there is no per-example deadline.
FUZZ_LONG = os.environ.get("PYFERRY_FUZZ", "").strip().lower() == "long"
FUZZ_SCALE = 20 if FUZZ_LONG else 1
settings.register_profile(
    "pyferry-fuzz",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "pyferry-fuzz-long", settings.get_profile("pyferry-fuzz"), max_examples=100 * FUZZ_SCALE
)
if FUZZ_LONG:
    settings.load_profile("pyferry-fuzz-long")


def fuzz_settings(examples: int) -> settings:
    """Settings for one fuzz test: ``examples`` of them, times 20 with PYFERRY_FUZZ=long."""
    profile = "pyferry-fuzz-long" if FUZZ_LONG else "pyferry-fuzz"
    return settings(settings.get_profile(profile), max_examples=examples * FUZZ_SCALE)


class WorkerProcess:
    """A worker process on one end of a socketpair, with a blocking call() for tests."""

    def __init__(self, *extra: str, hello: dict[str, Any] | None = None) -> None:
        mine, theirs = socket.socketpair()
        self.sock = mine
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyferry", "worker", "--fd", str(theirs.fileno()), *extra],
            pass_fds=[theirs.fileno()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        theirs.close()
        self.channel = Channel(mine.fileno(), mine.fileno(), Limits())
        self.next_id = 1
        frame = self.channel.read_frame()
        assert frame is not None, "worker sent no HELLO"
        self.hello = decode(*frame)
        assert self.hello[0] == HELLO
        self.send([HELLO, 0, hello if hello is not None else {"protocol": PROTOCOL_VERSION}])

    def send(self, message: list[Any]) -> None:
        header, buffers = encode(message)
        self.channel.write_frame(header, buffers)

    def receive(self) -> list[Any]:
        frame = self.channel.read_frame()
        assert frame is not None, "worker closed the channel"
        message = decode(*frame)
        assert isinstance(message, list)
        return message

    def call_raw(self, target: str, *args: Any, **kwargs: Any) -> list[Any]:
        call_id = self.next_id
        self.next_id += 1
        self.send([CALL, call_id, target, list(args), kwargs or None])
        reply = self.receive()
        assert reply[1] == call_id
        return reply

    def call(self, target: str, *args: Any, **kwargs: Any) -> Any:
        reply = self.call_raw(target, *args, **kwargs)
        if reply[0] == ERROR:
            raise AssertionError(f"call failed: {reply[2]['type']}: {reply[2]['message']}")
        assert reply[0] == RESULT
        return reply[2]

    def close(self) -> int:
        if self.sock.fileno() == -1:
            return self.proc.wait(timeout=30)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self.sock.close()
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def worker() -> Iterator[WorkerProcess]:
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(FIXTURES), env_path) if p)
    w = WorkerProcess()
    try:
        yield w
    finally:
        w.close()  # also releases the socket and pipes of a worker that already exited
        os.environ["PYTHONPATH"] = env_path
