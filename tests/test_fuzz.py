"""Fuzzing the Python readers: frame prefix and length table, Channel.read_frame, codec.decode.

Random bytes, mutated golden vectors, truncations and MessagePack bombs go
through the real code (a real socket pair for the transport, a real worker
process for the last tests). Whatever the input, only pyferry's own errors
(PyferryError) may come out, nothing hangs, and memory stays bounded. A normal
run is bounded (a few seconds); ``PYFERRY_FUZZ=long`` (``make fuzz``) runs 20
times as many examples.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import subprocess
import sys
import textwrap
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fuzzing import (
    BOMBS,
    DECODABLE_FRAMES,
    NESTED_CLAIMS,
    SEED_FRAMES,
    SEED_MESSAGES,
    frame,
    in_envelope,
    mutated,
    peak_rss_growth,
    read_all,
    time_limit,
)
from os_support import needs_proc, needs_rlimit_as
from pyferry.codec import decode
from pyferry.errors import DecodeError, ProtocolError, PyferryError
from pyferry.protocol import ERROR, MAX_BUFFERS, Limits, parse_lengths, parse_prefix

from conftest import FUZZ_LONG, ROOT, WorkerProcess, fuzz_settings

LIMITS = st.sampled_from([8, 64, 4096, 1 << 20, 1 << 30, 2**32 - 1, 2**64])
BOMB_RSS_MIB = 10


# -- the prefix and the length table ------------------------------------------------------


@fuzz_settings(1000)
@given(st.binary(min_size=8, max_size=8), st.binary(max_size=64), LIMITS)
@example(b"PF\xff\xff\xff\xff\xff\xff", b"\xff" * 64, 2**32 - 1)
@example(b"PF\x00\x00\x01\x00\x00\x00", b"", 8)
def test_prefix_and_lengths_are_checked_before_anything_else(
    prefix: bytes, table: bytes, limit: int
) -> None:
    limits = Limits(limit)
    magic, declared_count, declared_len = struct.unpack("<2sHI", prefix)
    if magic != b"PF" or declared_len == 0 or declared_len > limit:
        words = "magic" if magic != b"PF" else "empty" if declared_len == 0 else str(limit)
        with pytest.raises(ProtocolError, match=words):
            parse_prefix(prefix, limits)
        return
    count, header_len = parse_prefix(prefix, limits)
    assert (count, header_len) == (declared_count, declared_len)
    count = min(count, len(table) // 8)
    total = header_len + sum(struct.unpack_from(f"<{count}Q", table))
    if total > limit:
        with pytest.raises(ProtocolError, match=f"frame of {total} bytes exceeds the limit"):
            parse_lengths(table, count, header_len, limits)
        return
    lengths = parse_lengths(table, count, header_len, limits)
    assert len(lengths) == count
    assert header_len + sum(lengths) == total


# -- Channel.read_frame over a socket pair, then codec.decode ----------------------------


def _read_only_named_errors(data: bytes, limit: int = 1 << 20) -> list[Any]:
    try:
        return read_all(data, limit)
    except PyferryError:
        return []


@fuzz_settings(600)
@given(st.binary(max_size=2048), st.sampled_from([16, 4096, 1 << 20]))
def test_channel_random_bytes(data: bytes, limit: int) -> None:
    _read_only_named_errors(data, limit)


@fuzz_settings(600)
@given(st.binary(max_size=64).map(lambda rest: b"PF" + rest))
def test_channel_random_bytes_after_a_good_magic(data: bytes) -> None:
    _read_only_named_errors(data)


@fuzz_settings(1500)
@given(mutated(SEED_FRAMES), st.sampled_from([64, 4096, 1 << 20]))
def test_channel_mutated_frames(data: bytes, limit: int) -> None:
    _read_only_named_errors(data, limit)


@fuzz_settings(500)
@given(st.lists(st.sampled_from(SEED_FRAMES), min_size=2, max_size=4).map(b"".join).flatmap(
    lambda joined: mutated([joined])
))  # fmt: skip
def test_channel_mutated_frame_sequences(data: bytes) -> None:
    _read_only_named_errors(data)


def test_channel_every_truncation_of_every_vector() -> None:
    for data in SEED_FRAMES:
        for cut in range(len(data)):
            with pytest.raises(PyferryError):
                # Every proper prefix of a frame ends in the middle of it, or holds a bad one.
                read_all(data[:cut] if cut else b"PF", 1 << 20)


def test_channel_valid_vectors_still_read_back_to_back() -> None:
    # The harness itself: valid frames in a row all come out, so the tests above can fail.
    messages = read_all(b"".join(DECODABLE_FRAMES))
    assert len(messages) == len(DECODABLE_FRAMES) > 100
    assert all(m[:2] == [2, 7] for m in messages)


# -- codec.decode on its own ---------------------------------------------------------------


@fuzz_settings(1500)
@given(st.binary(max_size=512), st.lists(st.binary(max_size=64), max_size=4))
def test_decode_random_bytes(header: bytes, buffers: list[bytes]) -> None:
    with contextlib.suppress(PyferryError):
        decode(header, buffers)


@fuzz_settings(1500)
@given(st.data())
def test_decode_mutated_headers(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(SEED_MESSAGES) - 1))
    header, buffers = SEED_MESSAGES[index]
    bad = data.draw(mutated([header]))
    if buffers and data.draw(st.booleans()):
        # Writable, aligned buffers as the transport gives them, sometimes of another length.
        shrink = data.draw(st.integers(-8, 8))
        buffers = [np.frombuffer(b + bytes(max(0, shrink)), np.uint8).copy() for b in buffers]
        if shrink < 0:
            buffers = [b[: max(0, len(b) + shrink)] for b in buffers]
    with contextlib.suppress(PyferryError):
        decode(bad, buffers)


@fuzz_settings(500)
@given(st.sampled_from(sorted(BOMBS)), st.booleans(), st.data())
def test_decode_mutated_bombs(name: str, envelope: bool, data: st.DataObject) -> None:
    bomb = in_envelope(BOMBS[name]) if envelope else BOMBS[name]
    bad = data.draw(mutated([bomb[:4096]]))
    with time_limit(5, f"decoding a mutated {name!r}"), contextlib.suppress(PyferryError):
        decode(bad, [b""])


# -- bombs: refused quickly, without memory ------------------------------------------------


@needs_proc
@pytest.mark.parametrize("name", sorted(BOMBS))
@pytest.mark.parametrize("envelope", [False, True], ids=["bare", "in a message"])
def test_bombs_are_decode_errors_without_memory(name: str, envelope: bool) -> None:
    header = in_envelope(BOMBS[name]) if envelope else BOMBS[name]
    buffers = [np.zeros(0, np.uint8)]
    with peak_rss_growth() as growth, time_limit(2, f"decoding {name!r}"):
        with pytest.raises(DecodeError) as info:
            decode(header, buffers)
        # Through the real reader as well: the framing is fine, the header is not.
        ((got_header, got_buffers),) = read_all(frame(header, [b""]), 1 << 22, decoded=False)
        with pytest.raises(DecodeError):
            decode(got_header, got_buffers)
    assert growth() < BOMB_RSS_MIB, f"{name}: peak RSS grew by {growth():.1f} MiB"
    assert str(info.value)


@needs_proc
def test_nested_claims_cost_bounded_memory() -> None:
    # Not a 10 MiB case: msgpack-python allocates each list for its declared count
    # before it reads an item (fuzzing.NESTED_CLAIMS). What matters is that the cost
    # is bounded by its nesting limit, whatever the counts and header size.
    for header in (NESTED_CLAIMS, in_envelope(NESTED_CLAIMS), NESTED_CLAIMS + bytes(1 << 20)):
        with (
            peak_rss_growth() as growth,
            time_limit(2, "decoding nested claims"),
            pytest.raises(DecodeError, match="nested deeper"),
        ):
            decode(header, [])
        assert growth() < 100, f"peak RSS grew by {growth():.1f} MiB"


@needs_proc
@pytest.mark.parametrize(
    ("prefix", "limit", "words"),
    [
        # A header at the u32 maximum with a limit that allows it, then EOF.
        (struct.pack("<2sHI", b"PF", 0, 2**32 - 1), 2**32 - 1, "in the middle of a frame"),
        (struct.pack("<2sHI", b"PF", 0, 2**32 - 1), 1 << 30, "exceeds the limit of 1073741824"),
        (
            struct.pack("<2sHI", b"PF", 1, 1) + struct.pack("<Q", 2**40),
            1 << 30,
            "frame of 1099511627777 bytes exceeds the limit of 1073741824 bytes",
        ),
        (
            struct.pack("<2sHI", b"PF", MAX_BUFFERS, 1) + struct.pack("<Q", 1 << 16) * MAX_BUFFERS,
            1 << 30,
            f"frame of {MAX_BUFFERS * (1 << 16) + 1} bytes exceeds",
        ),
        (
            struct.pack("<2sHI", b"PF", 3, 4) + struct.pack("<3Q", 1 << 29, 1 << 29, 1 << 29),
            1 << 30,
            "frame of 1610612740 bytes exceeds the limit of 1073741824 bytes",
        ),
    ],
    ids=["header 2**32-1 then EOF", "header 2**32-1", "buffer 2**40", "65535 buffers", "sum"],
)
def test_declared_sizes_cost_no_memory(prefix: bytes, limit: int, words: str) -> None:
    with peak_rss_growth() as growth, pytest.raises(ProtocolError, match=words):
        read_all(prefix + b"\x93\x02\x07", limit)
    assert growth() < BOMB_RSS_MIB


@needs_rlimit_as
@needs_proc
def test_a_declared_header_is_not_reserved_before_its_bytes_arrive() -> None:
    # Regression: the reader asked os.read for the whole declared header at once, which
    # allocates that much first: under RLIMIT_AS (the worker's --max-memory) a peer
    # declaring a 1 GiB header made it fail with MemoryError instead of a ProtocolError.
    code = textwrap.dedent(
        """
        import resource, socket, struct
        import numpy
        from pyferry.errors import ProtocolError
        from pyferry.protocol import Limits
        from pyferry.transport import Channel

        def vm():
            for line in open("/proc/self/status"):
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024

        a, b = socket.socketpair()
        a.sendall(struct.pack("<2sHI", b"PF", 0, (1 << 30) - 1) + b"\\x93" * 100)
        a.shutdown(socket.SHUT_WR)
        resource.setrlimit(resource.RLIMIT_AS, (vm() + (256 << 20), resource.RLIM_INFINITY))
        try:
            Channel(b.fileno(), b.fileno(), Limits()).read_frame()
        except ProtocolError as exc:
            print("ProtocolError:", exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "ProtocolError: channel closed in the middle of a frame (100 of" in out.stdout


# -- a real worker -------------------------------------------------------------------------


def _exit_and_peak_rss(w: WorkerProcess, seconds: float) -> tuple[int, float]:
    """Wait for the worker to exit, at most ``seconds``; its exit status and peak RSS in MiB."""
    pidfd = os.pidfd_open(w.proc.pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], seconds)
    finally:
        os.close(pidfd)
    if not ready:
        w.proc.kill()
    _, status, usage = os.wait4(w.proc.pid, 0)
    w.proc.returncode = os.waitstatus_to_exitcode(status)
    assert ready, f"worker {w.proc.pid} still ran {seconds} s later"
    return w.proc.returncode, usage.ru_maxrss / 1024


def _release(w: WorkerProcess) -> str:
    w.sock.close()
    assert w.proc.stdout is not None
    assert w.proc.stderr is not None
    w.proc.stdout.close()
    err = w.proc.stderr.read().decode(errors="replace")
    w.proc.stderr.close()
    return err


@pytest.fixture(scope="module")
def baseline_rss() -> float:
    """The peak RSS, in MiB, of a worker that does its handshake and then sees EOF."""
    w = WorkerProcess()
    try:
        w.sock.shutdown(socket.SHUT_WR)
        status, rss = _exit_and_peak_rss(w, 30)
    finally:
        _release(w)
    assert status == 0
    return rss


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        # H is a u32: the largest header a prefix can declare.
        (struct.pack("<2sHI", b"PF", 0, 2**32 - 1), f"header of {2**32 - 1} bytes"),
        # 2**40 bytes declared in the length table.
        (struct.pack("<2sHI", b"PF", 1, 4) + struct.pack("<Q", 2**40), f"{2**40 + 4} bytes"),
        # Buffers each under the limit, their sum past it.
        (
            struct.pack("<2sHI", b"PF", 3, 4) + struct.pack("<3Q", 1 << 29, 1 << 29, 1 << 29),
            f"{3 * (1 << 29) + 4} bytes",
        ),
    ],
    ids=["header 2**32-1", "buffer 2**40", "buffers past the limit"],
)
def test_worker_refuses_declared_sizes_over_the_limit(
    data: bytes, declared: str, baseline_rss: float
) -> None:
    w = WorkerProcess()
    try:
        assert w.call("builtins.abs", -3) == 3
        started = time.monotonic()
        w.sock.sendall(data + b"\x93\x02\x07")
        kind, call_id, info = w.receive()
        status, rss = _exit_and_peak_rss(w, 1.0)
        elapsed = time.monotonic() - started
    finally:
        stderr = _release(w)
    assert (kind, call_id, info["code"]) == (ERROR, 0, "PYFERRY_PROTOCOL")
    assert declared in info["message"]
    assert "limit of 1073741824 bytes" in info["message"]
    assert status == 2, stderr
    assert elapsed < 1.0
    assert rss - baseline_rss < BOMB_RSS_MIB, f"peak RSS {rss:.1f} MiB, baseline {baseline_rss:.1f}"


def test_worker_survives_a_bomb_in_a_call(baseline_rss: float) -> None:
    # A CALL whose argument is a bomb: that call fails, the worker keeps serving, cheaply.
    w = WorkerProcess()
    try:
        for i, name in enumerate(sorted(BOMBS), start=1):
            header = b"\x95\x01" + bytes([i]) + b"\xa3abs\x91" + BOMBS[name][:65536] + b"\xc0"
            w.sock.sendall(frame(header, [b""]))
            kind, call_id, info = w.receive()
            assert (kind, call_id, info["code"]) == (ERROR, i, "PYFERRY_SERIALIZATION"), name
        assert w.call("builtins.abs", -3) == 3
        w.sock.shutdown(socket.SHUT_WR)
        status, rss = _exit_and_peak_rss(w, 30)
    finally:
        _release(w)
    assert status == 0
    assert rss - baseline_rss < BOMB_RSS_MIB, f"peak RSS {rss:.1f} MiB, baseline {baseline_rss:.1f}"


def test_make_fuzz_runs_both_long_runs() -> None:
    # The bounded run stays bounded unless asked; `make fuzz` asks, for both decoders.
    assert (os.environ.get("PYFERRY_FUZZ", "").strip().lower() == "long") is FUZZ_LONG
    makefile = (ROOT / "Makefile").read_text()
    target = makefile[makefile.index("\nfuzz:") :].split("\n\n")[0]
    assert "PYFERRY_FUZZ=long $(PY) -m pytest" in target
    assert "tests/test_fuzz.py tests/test_safety.py" in target
    assert "PYFERRY_FUZZ=long node --test test/fuzz.test.js" in target
