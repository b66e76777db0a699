"""Test helpers: a minimal Python client that drives a real ``python -m pyferry worker``.

The client decodes with the plain codec, so a HANDLE arrives as a
``pyferry.codec.HandleRef`` (id, type, repr) that can be sent back as it is,
and a ``CallbackRef(id)`` in a call's arguments stands for a JS function.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from pyferry.codec import decode, encode
from pyferry.protocol import (
    CALL,
    CALLBACK,
    CALLBACK_ERROR,
    CALLBACK_RESULT,
    ERROR,
    HELLO,
    PROTOCOL_VERSION,
    RESULT,
    STREAM_END,
    Limits,
)
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


def run_worker(
    *args: str, launch: Sequence[str] = ("-m", "pyferry"), **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pyferry worker ARGS`` to its end (a worker that refuses to start, say).

    ``launch``: what runs ``pyferry`` instead of ``-m pyferry`` (a ``-c`` script, say).
    """
    return subprocess.run(
        [sys.executable, *launch, "worker", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **popen,
    )


class WorkerProcess:
    """A worker process on one end of a socketpair, with a blocking call() for tests."""

    def __init__(
        self, *extra: str, hello: dict[str, Any] | None = None, env: dict[str, str] | None = None
    ) -> None:
        mine, theirs = socket.socketpair()
        self.sock = mine
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyferry", "worker", "--fd", str(theirs.fileno()), *extra],
            pass_fds=[theirs.fileno()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,  # None: this process's environment
        )
        theirs.close()
        self.channel = Channel(mine.fileno(), mine.fileno(), Limits())
        self.next_id = 1
        # Messages read while waiting for another one, in arrival order.
        self.backlog: list[list[Any]] = []
        frame = self.channel.read_frame()
        assert frame is not None, "worker sent no HELLO"
        self.hello = decode(*frame)
        assert self.hello[0] == HELLO
        self.send([HELLO, 0, hello if hello is not None else {"protocol": PROTOCOL_VERSION}])

    def send(self, message: list[Any]) -> None:
        header, buffers = encode(message)
        self.channel.write_frame(header, buffers)

    def receive(self) -> list[Any]:
        if self.backlog:
            return self.backlog.pop(0)
        return self._read()

    def _read(self) -> list[Any]:
        frame = self.channel.read_frame()
        assert frame is not None, "worker closed the channel"
        message = decode(*frame)
        assert isinstance(message, list)
        return message

    def wait_for(self, wanted: Callable[[list[Any]], bool]) -> list[Any]:
        """The first message (backlog first) that ``wanted`` accepts; others stay for later."""
        for i, message in enumerate(self.backlog):
            if wanted(message):
                return self.backlog.pop(i)
        while True:
            message = self._read()
            if wanted(message):
                return message
            self.backlog.append(message)

    def start(
        self,
        target: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> int:
        """Send a CALL (with options when given); return its id."""
        call_id = self.next_id
        self.next_id += 1
        message = [CALL, call_id, target, list(args), kwargs or None]
        if options is not None:
            message.append(options)
        self.send(message)
        return call_id

    def answer(self, call_id: int) -> tuple[list[Any], list[list[Any]]]:
        """Wait for call ``call_id``'s answer (RESULT, ERROR or STREAM_END).

        Returns the answer and the messages for that call that came before it
        (DETACHED, PROGRESS, STREAM_ITEMS), in order. Messages for other calls
        stay in the backlog.
        """
        before: list[list[Any]] = []
        while True:
            message = self.wait_for(lambda m: m[1] == call_id and m[0] != CALLBACK)
            if message[0] in (RESULT, ERROR, STREAM_END):
                return message, before
            before.append(message)

    def result(
        self,
        target: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> Any:
        """Call and return the RESULT value (an ERROR fails the test)."""
        reply, _ = self.answer(self.start(target, args, kwargs, options))
        if reply[0] == ERROR:
            raise AssertionError(f"call failed: {reply[2]['type']}: {reply[2]['message']}")
        assert reply[0] == RESULT
        return reply[2]

    def serve_callback(self, reply: Callable[..., Any]) -> list[Any]:
        """Answer the next CALLBACK as a JS client would: ``reply(callback_id, *args)``.

        A ``reply`` that raises answers CALLBACK_ERROR (type, message, traceback).
        Returns the CALLBACK message.
        """
        message = self.wait_for(lambda m: m[0] == CALLBACK)
        _, cid, callback_id, args = message
        try:
            value = reply(callback_id, *args)
        except Exception as exc:
            info = {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": f"{type(exc).__name__}: {exc}\n    at test (test.js:1:1)",
                "code": "PYFERRY_JS",
            }
            self.send([CALLBACK_ERROR, cid, info])
        else:
            self.send([CALLBACK_RESULT, cid, value])
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
