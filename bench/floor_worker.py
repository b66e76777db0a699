"""The raw floor: a Python child answering length-prefixed requests on descriptor 3.

Descriptor 3 is the same kind of channel pyferry's worker uses: a Unix socket
pair that Node makes for a ``'pipe'`` stdio entry, with the same 1 MiB kernel
buffers. There is no protocol, codec or dispatch. A request is an 8-byte head
(u32 op, u32 length) and that many bytes; a reply is a u32 length and its bytes.

    op 0 ECHO   the payload back as is
    op 1 SEED   9 float64 in, their numpy.sum as one float64 out
    op 2 FFT    n float64 in, np.abs(np.fft.rfft(x)) out
    op 3 BURN   a float64 of seconds of pure-Python CPU, then 8 bytes out
    op 4 COPY   a u64 size: median seconds of np.copyto over that many bytes
    op 5 INFO   JSON: the channel's socket family and type, Python and numpy versions
    op 6 FILES  two file paths, NUL-separated: open them for op 7 (bench/shm.mjs)
    op 7 FILE_ECHO  a u64 size: that many bytes of the first file into a fresh
                np.empty (preadv), then from it into the second file (pwritev)
    op 8 MAP_ECHO   a u64 size: both files mapped (once), the first's bytes copied
                straight into the second's (one copy in Python instead of two)

A payload over 4 KiB lands in a fresh ``np.empty`` (what was already read is
copied, the rest read straight into it), as in pyferry's worker. The replies to
every request one read completed go back in one ``writev``.
"""

import json
import mmap
import os
import platform
import socket
import struct
import time

import numpy as np
from bench_calls import burn, rfft_abs

FD = 3
SMALL = 4096
HEAD = struct.Struct("<II")
LEN = struct.Struct("<I")

with socket.socket(fileno=os.dup(FD)) as sock:
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, 1 << 20)
    CHANNEL = {"family": sock.family.name, "type": sock.type.name}


def copy_seconds(size: int) -> float:
    src = np.ones(size, dtype=np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch every page first
    times = []
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - start)
    return sorted(times)[2]


FILES: list[int] = []


def file_echo(size: int) -> None:
    """The first file's bytes into a fresh array, and the array into the second file."""
    data = np.empty(size, dtype=np.uint8)
    view = memoryview(data)
    done = 0
    while done < size:
        got = os.preadv(FILES[0], [view[done:]], done)
        if got == 0:
            raise SystemExit(f"floor_worker: the input file ends at {done} of {size} bytes")
        done += got
    done = 0
    while done < size:
        done += os.pwritev(FILES[1], [view[done:]], done)


MAPS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def map_echo(size: int) -> None:
    """The first file's bytes copied into the second through shared mappings of both.

    The mappings are kept for the next request of the same size (an arena's would
    be), so their pages are faulted in once.
    """
    if size not in MAPS:
        os.ftruncate(FILES[1], max(size, os.fstat(FILES[1]).st_size))
        source, dest = (mmap.mmap(fd, size) for fd in FILES)
        MAPS[size] = (np.frombuffer(source, dtype=np.uint8), np.frombuffer(dest, dtype=np.uint8))
    source_array, dest_array = MAPS[size]
    np.copyto(dest_array, source_array)


def answer(op: int, payload: memoryview | np.ndarray) -> list:
    """The reply's parts (length first) for one request."""
    if op == 0:
        body = payload
    elif op == 1:
        body = struct.pack("<d", np.sum(np.frombuffer(payload, dtype=np.float64)))
    elif op == 2:
        body = rfft_abs(np.frombuffer(payload, dtype=np.float64))
    elif op == 3:
        burn(struct.unpack("<d", payload)[0])
        body = bytes(8)
    elif op == 4:
        body = struct.pack("<d", copy_seconds(struct.unpack("<Q", payload)[0]))
    elif op == 5:
        info = {**CHANNEL, "python": platform.python_version(), "numpy": np.__version__}
        body = json.dumps(info).encode()
    elif op == 6:
        FILES[:] = [os.open(path, os.O_RDWR) for path in bytes(payload).split(b"\0")]
        body = b""
    elif op == 7:
        file_echo(struct.unpack("<Q", payload)[0])
        body = b""
    elif op == 8:
        map_echo(struct.unpack("<Q", payload)[0])
        body = b""
    else:
        raise SystemExit(f"floor_worker: unknown op {op}")
    return [LEN.pack(memoryview(body).nbytes), body]


def read_into(dest: np.ndarray, have: memoryview) -> None:
    view = memoryview(dest)
    view[: len(have)] = have
    filled = len(have)
    while filled < len(view):
        got = os.readv(FD, [view[filled:]])
        if got == 0:
            raise SystemExit("floor_worker: EOF inside a request")
        filled += got


def serve() -> None:
    pending = bytearray()
    while True:
        data = os.read(FD, 1 << 16)
        if not data:
            return
        pending += data
        replies: list = []
        pos = 0
        while len(pending) - pos >= HEAD.size:
            op, size = HEAD.unpack_from(pending, pos)
            start = pos + HEAD.size
            if size > SMALL:
                big = np.empty(size, dtype=np.uint8)
                with memoryview(pending) as view:
                    read_into(big, view[start : start + size])
                pos = min(len(pending), start + size)
                replies += answer(op, big)
            elif len(pending) - start >= size:
                replies += answer(op, memoryview(bytes(pending[start : start + size])))
                pos = start + size
            else:
                break
        del pending[:pos]
        while replies:
            written = os.writev(FD, replies[:512])
            replies = advance(replies, written)


def advance(parts: list, written: int) -> list:
    """Drop ``written`` bytes from the front of ``parts`` (after a partial writev)."""
    while parts and written >= memoryview(parts[0]).nbytes:
        written -= memoryview(parts[0]).nbytes
        parts = parts[1:]
    if written:
        parts[0] = memoryview(parts[0]).cast("B")[written:]
    return parts


serve()
