"""What the fuzz and safety tests share: seed frames, mutations, MessagePack bombs, guards.

Seeds are the golden vectors of spec/vectors (valid frames and malformed
ones). Mutations are the usual ones of a byte fuzzer: bit flips, interesting
bytes and integers written over the data, insertions, deletions, truncations
and splices of another seed, drawn through hypothesis so failures shrink.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from hypothesis import strategies as st

from pyferry.codec import decode
from pyferry.protocol import PREFIX_SIZE, Limits
from pyferry.transport import Channel

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "spec" / "vectors"
_VALUES = json.loads((VECTORS / "values.json").read_text(encoding="utf-8"))
_ERRORS = json.loads((VECTORS / "errors.json").read_text(encoding="utf-8"))

VALUE_FRAMES: list[bytes] = [bytes.fromhex(case["hex"]) for case in _VALUES]
ERROR_FRAMES: list[bytes] = [bytes.fromhex(case["hex"]) for case in _ERRORS]
SEED_FRAMES: list[bytes] = VALUE_FRAMES + ERROR_FRAMES
# Python cannot read back a map with an array key (spec/vectors/README.md).
DECODABLE_FRAMES: list[bytes] = [
    bytes.fromhex(case["hex"]) for case in _VALUES if case["name"] != "dict tuple key"
]


def split_frame(data: bytes) -> tuple[bytes, list[bytes]]:
    """A well-formed frame taken apart: its header and its buffers."""
    count, header_len = struct.unpack_from("<HI", data, 2)
    lengths = struct.unpack_from(f"<{count}Q", data, PREFIX_SIZE)
    at = PREFIX_SIZE + 8 * count
    header = data[at : at + header_len]
    at += header_len
    buffers = []
    for n in lengths:
        buffers.append(data[at : at + n])
        at += n
    return header, buffers


# (header, buffers) of every values.json frame: seeds for the decoder alone.
SEED_MESSAGES: list[tuple[bytes, list[bytes]]] = [split_frame(f) for f in VALUE_FRAMES]

# Bytes and integers that sit on MessagePack and frame-format boundaries.
INTERESTING_BYTES = [
    0x00, 0x01, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC4, 0xC6, 0xC7,
    0xC9, 0xCA, 0xCB, 0xCF, 0xD3, 0xD4, 0xD8, 0xD9, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0,
    0xFF, 0x50, 0x46,
]  # fmt: skip
INTERESTING_INTS = [
    0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
    2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**53, 2**63, 2**64 - 1,
]  # fmt: skip
_INT_FORMS = {1: "B", 2: "H", 4: "I", 8: "Q"}


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """One of ``seeds`` after 1 to 8 random mutations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "byte", "int", "insert", "delete", "cut", "splice"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and at < len(data):
            data[at] = draw(st.sampled_from(INTERESTING_BYTES) | st.integers(0, 255))
        elif op == "int":
            size = draw(st.sampled_from(sorted(_INT_FORMS)))
            value = draw(st.sampled_from(INTERESTING_INTS)) % (1 << (8 * size))
            order = draw(st.sampled_from("<>"))
            data[at : at + size] = struct.pack(order + _INT_FORMS[size], value)
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "cut":
            del data[at:]
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start : start + draw(st.integers(1, 64))]
    return bytes(data)


# MessagePack values that claim far more than they hold, or nest without end.
def _nd(code: int, shape: list[int], index: int = 0) -> bytes:
    payload = struct.pack("<IBB2x", index, code, len(shape)) + struct.pack(
        f"<{len(shape)}Q", *shape
    )
    return b"\xc9" + struct.pack(">I", len(payload)) + b"\x01" + payload


BOMBS: dict[str, bytes] = {
    "array32 claiming 2**32-1 items": b"\xdd\xff\xff\xff\xff",
    "array32 claiming 2**32-1 items, 1 MiB of them there": b"\xdd\xff\xff\xff\xff"
    + b"\xc0" * (1 << 20),
    "map32 claiming 2**32-1 pairs": b"\xdf\xff\xff\xff\xff",
    "map32 claiming 2**32-1 pairs, 1 MiB there": b"\xdf\xff\xff\xff\xff" + b"\xc0" * (1 << 20),
    "100 000 nested arrays": b"\x91" * 100_000 + b"\xc0",
    "100 000 nested array32s": b"\xdd\x00\x00\x00\x01" * 100_000 + b"\xc0",
    "100 000 nested maps": b"\x81\xc0" * 100_000 + b"\xc0",
    "str32 claiming 4 GiB": b"\xdb\xff\xff\xff\xff" + b"x" * 64,
    "bin32 claiming 4 GiB": b"\xc6\xff\xff\xff\xff" + b"x" * 64,
    "ext32 claiming 4 GiB": b"\xc9\xff\xff\xff\xff\x01" + b"x" * 64,
    "ndarray claiming 2**63 float64 elements": _nd(11, [2**63]),
    "ndarray of 64 dimensions of 2**16": _nd(13, [2**16] * 64),
    "ndarray of 255 dimensions": _nd(3, [1] * 255),
    "ndarray with a zero and a 2**64-1 dimension": _nd(11, [0, 2**64 - 1]),
}


# 1100 nested array16s, each claiming 65535 items, then enough bytes that each
# claim is below the header's length. msgpack-python allocates every list for
# its declared count before reading an item, so this costs about 64 KiB per
# level until its nesting limit (about 1000 levels) stops it: tens of MiB for a
# 73 KB header, bounded but not small (see test_fuzz.py).
NESTED_CLAIMS = b"\xdc\xff\xff" * 1100 + b"\xc0" * 70_000


def in_envelope(value: bytes) -> bytes:
    """A RESULT message ``[2, 7, value]`` around a MessagePack value."""
    return b"\x93\x02\x07" + value


def frame(header: bytes, buffers: list[bytes] | None = None) -> bytes:
    buffers = buffers or []
    prefix = struct.pack("<2sHI", b"PF", len(buffers), len(header))
    table = struct.pack(f"<{len(buffers)}Q", *(len(b) for b in buffers))
    return prefix + table + header + b"".join(buffers)


# -- guards ------------------------------------------------------------------------------


class Hang(Exception):
    """An operation under ``time_limit`` did not finish in time."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "operation") -> Iterator[None]:
    """Fail with Hang if the block runs longer than ``seconds`` (main thread only).

    Where there is no SIGALRM (Windows) the block runs unbounded: pytest's
    ``faulthandler_timeout`` still dumps the stacks of a hang.
    """
    if not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"{what} did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    outer, _ = signal.getitimer(signal.ITIMER_REAL)  # an enclosing time_limit's time left
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer) if outer else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            left = outer - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


def _status_kib(field: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[Callable[[], float]]:
    """Measure how far this process's peak RSS rises above its RSS at the start, in MiB.

    The kernel's peak (VmHWM) is reset first (``/proc/self/clear_refs``), so an
    allocation that came and went inside the block still counts. Call the
    yielded function after the block.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        base = _status_kib("VmRSS")
    except OSError:  # no reset: count only what goes past the old peak
        base = _status_kib("VmHWM")
    growth: list[float] = []
    yield lambda: growth[0]
    growth.append((_status_kib("VmHWM") - base) / 1024)


# -- feeding bytes through the real reader ---------------------------------------------


def read_all(
    data: bytes, limit: int = 1 << 20, seconds: float = 5.0, *, decoded: bool = True
) -> list[Any]:
    """Send ``data`` then EOF over a socket pair; read and decode frames until EOF or an error.

    Returns the decoded messages, or with ``decoded=False`` the (header,
    buffers) frames. Raises what the reader and decoder raise (the tests let
    only PyferryError through), or Hang.
    """
    mine, theirs = socket.socketpair()
    sender = None
    try:
        if len(data) <= 64 * 1024:
            theirs.sendall(data)
            theirs.shutdown(socket.SHUT_WR)
        else:

            def send() -> None:
                with contextlib.suppress(OSError):
                    theirs.sendall(data)
                    theirs.shutdown(socket.SHUT_WR)

            sender = threading.Thread(target=send)
            sender.start()
        channel = Channel(mine.fileno(), mine.fileno(), Limits(limit))
        messages = []
        with time_limit(seconds, f"reading {len(data)} bytes"):
            while (got := channel.read_frame()) is not None:
                messages.append(decode(*got) if decoded else got)
        return messages
    finally:
        mine.close()
        if sender is not None:
            sender.join()
        theirs.close()
