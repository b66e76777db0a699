"""Reading and writing frames on the worker's private protocol channel.

The channel is a stream socket (the socket pair on descriptor 3, or a loopback
TCP connection, :mod:`pyferry.startup`); a pipe or file descriptor works too,
through a small adapter with the same two methods. Only ``recv_into`` and
``sendmsg``/``sendall`` are used, so the same code runs on every OS.

Reads go through a small internal buffer for the prefix and header; the bytes
of an out-of-band buffer are copied from there only as far as they were already
read, and the rest is read by ``recv_into`` straight into the destination array,
so a large array costs one kernel-to-user copy. A frame without buffers (most
answers) goes out in one ``sendall`` of its prefix and header; the others are
gather writes (``sendmsg``) of the prefix, the header and each buffer's own
memory; where ``sendmsg`` does not exist (Windows), or with
``PYFERRY_PORTABLE=1`` (so that Linux tests run that path), each part goes out
with ``sendall``, under the same lock, so a frame is still never interleaved
with another.

One thread at a time reads (see :mod:`pyferry.inbox`); any thread may write, under a lock.
"""

from __future__ import annotations

import _socket  # the socket type itself; the socket module's enums cost a worker's start ~5 ms
import contextlib
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

from pyferry.errors import ProtocolError
from pyferry.protocol import (
    MAGIC,
    PREFIX,
    PREFIX_SIZE,
    Limits,
    pack_prefix,
    parse_lengths,
    parse_prefix,
)

__all__ = ["Channel", "Endpoint", "endpoint"]

_CHUNK = 1 << 16
# The most one read asks for. recv(n) allocates n bytes before it reads,
# so asking for a whole declared header at once would reserve up to the frame
# limit before the peer has sent anything (a MemoryError under RLIMIT_AS).
_MAX_READ = 1 << 20
_IOV_MAX = 512
# Without sendmsg, parts up to this size are joined into one send (one system call, one TCP
# segment for a small frame); larger ones go out from their own memory, uncopied.
_JOIN_BELOW = 1 << 14


class Endpoint(Protocol):
    """What the channel needs of one side of its stream: the subset of a socket it uses."""

    def fileno(self) -> int: ...
    def recv(self, size: int, /) -> bytes: ...
    def recv_into(self, buffer: Any, /) -> int: ...
    def sendall(self, data: Any, /) -> None: ...


class _Descriptor:
    """A pipe or file descriptor seen as an :class:`Endpoint` (it is not closed here)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def recv(self, size: int) -> bytes:
        return os.read(self._fd, size)

    def recv_into(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        readv = getattr(os, "readv", None)
        if readv is not None:
            return int(readv(self._fd, [view]))
        data = os.read(self._fd, min(len(view), _MAX_READ))
        view[: len(data)] = data
        return len(data)

    def sendall(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(self._fd, view) :]


def endpoint(fd: int) -> Endpoint:
    """The channel end for descriptor ``fd``: a socket that owns it, else the descriptor itself.

    Closing the socket closes ``fd``; a pipe or file descriptor is never closed here.
    """
    try:
        sock = _socket.socket(fileno=fd)
    except (OSError, ValueError):
        return _Descriptor(fd)  # a pipe or a file (or not open), not a socket
    return sock  # blocking or not as the descriptor is


def _new_buffer(size: int) -> Any:
    """A writable, aligned destination for ``size`` bytes: a uint8 ndarray when numpy exists."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return bytearray(size)
    return np.empty(size, dtype=np.uint8)


def _gather_default(sink: Endpoint) -> bool:
    """Whether writes use ``sendmsg``: where it exists, unless ``PYFERRY_PORTABLE=1``."""
    return hasattr(sink, "sendmsg") and os.environ.get("PYFERRY_PORTABLE", "") != "1"


class Channel:
    """Frames over one stream (often one bidirectional socket).

    Args:
        source: where frames are read from: a socket (any :class:`Endpoint`) or a descriptor.
        sink: where frames are written to: the same kinds (often the very same).
        limits: size bounds for incoming frames.
        gather: write each frame with one ``sendmsg`` (True) or with ``sendall`` of its
            parts (False); None for ``sendmsg`` where it exists, unless ``PYFERRY_PORTABLE=1``.
    """

    def __init__(
        self,
        source: int | Endpoint,
        sink: int | Endpoint,
        limits: Limits,
        *,
        gather: bool | None = None,
    ) -> None:
        self._in = self._borrow(source)
        if sink is source or (isinstance(sink, int) and sink == source):
            self._out = self._in
        else:
            self._out = self._borrow(sink)
        self._limits = limits
        self._buf = bytearray()
        self._pos = 0
        self._write_lock = threading.Lock()
        self._gather = _gather_default(self._out) if gather is None else gather
        if self._gather and not hasattr(self._out, "sendmsg"):
            raise ValueError("gather=True needs a sink with sendmsg (a socket, on a POSIX system)")

    def _borrow(self, end: int | Endpoint) -> Endpoint:
        """``end`` as an Endpoint; a descriptor stays the caller's (released, never closed)."""
        if not isinstance(end, int):
            return end
        made = endpoint(end)
        if isinstance(made, _socket.socket):
            weakref.finalize(self, made.detach)
        return made

    # -- reading ---------------------------------------------------------------

    @property
    def fileno(self) -> int:
        """The descriptor frames are read from."""
        return self._in.fileno()

    @property
    def source(self) -> Endpoint:
        """The end frames are read from (what :mod:`pyferry.inbox` polls)."""
        return self._in

    @property
    def fds(self) -> tuple[int, int]:
        """The descriptors frames are read from and written to."""
        return self._in.fileno(), self._out.fileno()

    @property
    def gather(self) -> bool:
        """Whether frames go out in one ``sendmsg`` (else ``sendall`` of their parts)."""
        return self._gather

    def close(self) -> None:
        """Close the channel's sockets (a descriptor it was given stays open)."""
        for end in {id(self._in): self._in, id(self._out): self._out}.values():
            if isinstance(end, _socket.socket):
                with contextlib.suppress(OSError):
                    end.close()

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
            chunk = self._in.recv(min(max(_CHUNK, n - len(self._buf)), _MAX_READ))
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
            got = self._in.recv_into(view[filled:])
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
        buf, pos = self._buf, self._pos
        have = len(buf) - pos
        if have >= PREFIX_SIZE:
            # Fast path: a frame without buffers that was read whole already (most calls).
            magic, count, header_len = PREFIX.unpack_from(buf, pos)
            start = pos + PREFIX_SIZE
            end = start + header_len
            if (
                not count
                and end <= len(buf)
                and magic == MAGIC
                and 0 < header_len <= self._limits.max_message_bytes
            ):
                header = bytes(memoryview(buf)[start:end])
                if end == len(buf):
                    buf.clear()
                    self._pos = 0
                else:
                    self._pos = end
                return header, []
        elif not have and not self._fill(PREFIX_SIZE):
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
        if not buffers:  # most answers: one part, one send
            head = PREFIX.pack(MAGIC, 0, len(header)) + header
            with self._write_lock:
                self._out.sendall(head)
            return
        head = pack_prefix(len(header), [b.nbytes for b in buffers]) + header
        parts: list[Any] = [head, *(b for b in buffers if b.nbytes)]
        with self._write_lock:
            if not self._gather:
                _send_parts(self._out, parts)
                return
            sendmsg = self._out.sendmsg  # type: ignore[attr-defined]
            while parts:
                written = sendmsg(parts[:_IOV_MAX])
                parts = _advance(parts, written)


def _send_parts(sink: Endpoint, parts: list[Any]) -> None:
    """Send ``parts`` with ``sendall``: small neighbours joined, large ones from their memory."""
    small: list[Any] = []
    for part in parts:
        if memoryview(part).nbytes < _JOIN_BELOW:
            small.append(part)
            continue
        if small:
            sink.sendall(b"".join(small))
            small = []
        sink.sendall(part)
    if small:
        sink.sendall(b"".join(small))


def _advance(parts: list[Any], written: int) -> list[Any]:
    """Drop ``written`` bytes from the front of ``parts`` (after a partial ``sendmsg``)."""
    i = 0
    while i < len(parts) and written >= memoryview(parts[i]).nbytes:
        written -= memoryview(parts[i]).nbytes
        i += 1
    rest = parts[i:]
    if written:
        rest[0] = memoryview(rest[0]).cast("B")[written:]
    return rest
