"""Reading and writing frames on the worker's private protocol descriptor(s).

Reads go through a small internal buffer for the prefix and header; the bytes
of an out-of-band buffer are copied from there only as far as they were already
read, and the rest is read by ``readv`` straight into the destination array,
so a large array costs one kernel-to-user copy. Writes are gather writes
(``writev``) of the prefix, the header and each buffer's own memory.

One thread at a time reads (see :mod:`pyferry.inbox`); any thread may write, under a lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from pyferry.errors import ProtocolError
from pyferry.protocol import PREFIX_SIZE, Limits, pack_prefix, parse_lengths, parse_prefix

__all__ = ["Channel"]

_CHUNK = 1 << 16
# The most one read asks for. os.read(fd, n) allocates n bytes before it reads,
# so asking for a whole declared header at once would reserve up to the frame
# limit before the peer has sent anything (a MemoryError under RLIMIT_AS).
_MAX_READ = 1 << 20
_IOV_MAX = 512


def _new_buffer(size: int) -> Any:
    """A writable, aligned destination for ``size`` bytes: a uint8 ndarray when numpy exists."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return bytearray(size)
    return np.empty(size, dtype=np.uint8)


class Channel:
    """Frames over one descriptor pair (often one bidirectional socket).

    Args:
        fd_in: descriptor frames are read from.
        fd_out: descriptor frames are written to.
        limits: size bounds for incoming frames.
    """

    def __init__(self, fd_in: int, fd_out: int, limits: Limits) -> None:
        self._in = fd_in
        self._out = fd_out
        self._limits = limits
        self._buf = bytearray()
        self._pos = 0
        self._write_lock = threading.Lock()

    # -- reading ---------------------------------------------------------------

    @property
    def fileno(self) -> int:
        """The descriptor frames are read from."""
        return self._in

    @property
    def fds(self) -> tuple[int, int]:
        """The descriptors frames are read from and written to."""
        return self._in, self._out

    @property
    def buffered(self) -> bool:
        """Whether bytes of the next frame have been read already (no need to wait for them)."""
        return self._pos < len(self._buf)

    def _fill(self, n: int) -> bool:
        """Make ``n`` unread bytes available; False on EOF before any of them arrived."""
        have = len(self._buf) - self._pos
        if have >= n:
            return True
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        while len(self._buf) < n:
            chunk = os.read(self._in, min(max(_CHUNK, n - len(self._buf)), _MAX_READ))
            if not chunk:
                if not self._buf:
                    return False
                raise ProtocolError(
                    f"channel closed in the middle of a frame ({len(self._buf)} of {n} bytes)"
                )
            self._buf += chunk
        return True

    def _take(self, n: int) -> memoryview:
        if not self._fill(n):
            raise ProtocolError("channel closed in the middle of a frame")
        start = self._pos
        self._pos += n
        return memoryview(self._buf)[start : self._pos]

    def _read_into(self, dest: Any) -> None:
        view = memoryview(dest).cast("B")
        have = min(len(self._buf) - self._pos, len(view))
        view[:have] = memoryview(self._buf)[self._pos : self._pos + have]
        self._pos += have
        filled = have
        while filled < len(view):
            got = os.readv(self._in, [view[filled:]])
            if got == 0:
                raise ProtocolError(
                    f"channel closed in the middle of a buffer ({filled} of {len(view)} bytes)"
                )
            filled += got

    def read_frame(self) -> tuple[bytes, list[Any]] | None:
        """Read one frame; None on a clean EOF between frames.

        Returns:
            The header bytes and the list of buffers (writable uint8 arrays).

        Raises:
            ProtocolError: malformed prefix, sizes over the limit, or EOF inside a frame.
        """
        if self._pos == len(self._buf) and not self._fill(PREFIX_SIZE):
            return None
        count, header_len = parse_prefix(self._take(PREFIX_SIZE), self._limits)
        lengths = parse_lengths(self._take(8 * count), count, header_len, self._limits)
        header = bytes(self._take(header_len))
        buffers = []
        for size in lengths:
            dest = _new_buffer(size)
            self._read_into(dest)
            buffers.append(dest)
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        return header, buffers

    # -- writing ---------------------------------------------------------------

    def write_frame(self, header: bytes, buffers: Sequence[memoryview] = ()) -> None:
        """Write one frame atomically with respect to other writers.

        Raises:
            ProtocolError: more buffers than a frame can hold.
            OSError: the peer is gone (``BrokenPipeError``).
        """
        head = pack_prefix(len(header), [b.nbytes for b in buffers]) + header
        parts: list[Any] = [head, *(b for b in buffers if b.nbytes)]
        with self._write_lock:
            while parts:
                batch = parts[:_IOV_MAX]
                written = os.writev(self._out, batch)
                parts = _advance(parts, written)


def _advance(parts: list[Any], written: int) -> list[Any]:
    """Drop ``written`` bytes from the front of ``parts`` (after a partial ``writev``)."""
    i = 0
    while i < len(parts) and written >= memoryview(parts[i]).nbytes:
        written -= memoryview(parts[i]).nbytes
        i += 1
    rest = parts[i:]
    if written:
        rest[0] = memoryview(rest[0]).cast("B")[written:]
    return rest
