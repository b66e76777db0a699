"""Worker start-up: ``python -m pyferry worker`` from its descriptors to the serve loop.

Startup keeps the protocol private: the descriptor(s) handed over are
duplicated to non-inheritable descriptors and the originals closed, descriptor
0 reads from /dev/null, and descriptors 1 and 2 stay as they were so that
``print()`` and C code write lines the client shows as output, never frames.
On Linux the worker also asks the kernel to kill it when its parent dies,
which works even while a C call holds the interpreter.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyferry.errors import DecodeError, ProtocolError
from pyferry.inbox import SPIN_US
from pyferry.protocol import Limits
from pyferry.transport import Channel
from pyferry.worker import Worker

if TYPE_CHECKING:
    from pyferry.backends.dask import DaskOptions

__all__ = ["main"]


def _widen_socket_buffers(fds: set[int], size: int = 1 << 20) -> None:
    """Ask for larger kernel buffers on protocol sockets (fewer wake-ups per large array)."""
    import socket

    for fd in fds:
        dup = os.dup(fd)
        try:
            sock = socket.socket(fileno=dup)
        except OSError:
            os.close(dup)
            continue  # a pipe, not a socket
        with sock:
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, size)


def _take_fd(fd: int) -> int:
    """Move a protocol descriptor to a non-inheritable duplicate and close the original."""
    new = os.dup(fd)
    os.close(fd)
    return new


def _unusable_fd(fd: int) -> str | None:
    """Why ``fd`` cannot carry the protocol (0-2 are the stdio; it must be open), or None."""
    if fd <= 2:
        return (
            f"descriptor {fd} is the worker's stdio (0 is pointed at /dev/null, 1 and 2 carry "
            "what user code prints): pass the channel on descriptor 3 or above, or use --connect"
        )
    try:
        os.fstat(fd)
    except OSError:
        return (
            f"descriptor {fd} is not open in the worker: the client must pass it to the child "
            "(in Node, a 'pipe' at that index of spawn's stdio), or use --connect.\n"
            "'pyferry worker' is not run by hand: the Node client (new Python() from the npm "
            "package pyferry) starts it and talks to it. To check a set-up, run "
            "'npx pyferry doctor' (or 'python -m pyferry doctor')."
        )
    return None


def _connect(path: str) -> int:
    """The descriptor of a stream connection to the Unix socket at ``path`` (non-inheritable)."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock.detach()


def _die_with_parent() -> None:
    """On Linux, have the kernel SIGKILL this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)  # the parent died before the request took effect


def main(
    fds: Sequence[int] = (3, 3),
    paths: Sequence[str] = (),
    max_message_bytes: int = 0,
    *,
    allow: Sequence[str] = (),
    preload: Sequence[str] = (),
    max_memory_bytes: int = 0,
    spin_us: int = SPIN_US,
    connect: str | None = None,
    dask: DaskOptions | None = None,
) -> int:
    """Run a worker on the given protocol descriptors; return the exit status.

    Exit statuses: 0 after EOF, 2 on a protocol failure or a channel it cannot use, 3 when
    a preload failed, 4 when the backend cannot be used (distributed missing), 6 when
    ``max_memory_bytes`` cannot be applied on this system (:mod:`pyferry.memory`).

    Args:
        fds: (input, output) protocol descriptors; the same number twice for one socket.
        paths: directories to put in front of ``sys.path``.
        max_message_bytes: bound on incoming frames; 0 for the default.
        allow: glob patterns of callable targets; empty for every public name.
        preload: modules to import before the handshake, so the first call finds them loaded.
        max_memory_bytes: memory limit (:mod:`pyferry.memory`: ``RLIMIT_AS``, a Windows
            job object); 0 for none.
        spin_us: microseconds the main thread polls for the next call before it
            sleeps, while calls come quickly (:mod:`pyferry.inbox`); 0 for never.
        connect: the path of a Unix socket to connect to for the protocol, instead
            of ``fds`` (for clients that cannot pass a descriptor).
        dask: the Dask scheduler to submit calls to (a gateway); None to run them here.
    """
    _die_with_parent()
    if connect is not None:
        try:
            fd_in = fd_out = _connect(connect)
        except OSError as exc:
            print(f"pyferry worker: cannot connect to {connect!r}: {exc}", file=sys.stderr)
            return 2
    else:
        for fd in dict.fromkeys(fds):
            problem = _unusable_fd(fd)
            if problem is not None:
                print(f"pyferry worker: {problem}", file=sys.stderr)
                return 2
        fd_in = _take_fd(fds[0])
        fd_out = fd_in if fds[1] == fds[0] else _take_fd(fds[1])
    # Ctrl-C in a terminal reaches the whole process group; the client decides
    # what happens to its workers, so a call is never interrupted by it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A segfault or abort in native code prints the Python stack to stderr,
    # where the client keeps the last lines for its WorkerCrashedError.
    faulthandler.enable(file=sys.stderr, all_threads=False)
    if max_memory_bytes:
        from pyferry.memory import MEMORY_LIMIT_FAILED, MemoryLimitError, limit_memory

        try:
            limit_memory(max_memory_bytes)
        except MemoryLimitError as exc:
            print(f"pyferry worker: {exc}", file=sys.stderr)
            return MEMORY_LIMIT_FAILED
    _widen_socket_buffers({fd_in, fd_out})
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.path[:0] = [os.path.abspath(p) for p in paths]
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    for name in preload:
        try:
            importlib.import_module(name)
        except BaseException:
            import traceback  # only now: a worker that starts never needs it

            print(f"pyferry worker: preloading {name!r} failed:", file=sys.stderr)
            traceback.print_exc()
            sys.stderr.flush()
            return 3
    limits = Limits(max_message_bytes) if max_message_bytes else Limits()
    try:
        worker = Worker(
            Channel(fd_in, fd_out, limits), limits, allow, spin=spin_us / 1e6, dask=dask
        )
    except ImportError as exc:
        print(f"pyferry worker: {exc}", file=sys.stderr)
        return 4
    try:
        worker.handshake()
    except (OSError, EOFError):
        return 0  # the client went away before the handshake finished
    except (ProtocolError, DecodeError) as exc:
        with contextlib.suppress(OSError):
            worker.send_error(0, exc)
        print(f"pyferry worker: {exc}", file=sys.stderr)
        return 2
    worker.serve()
    return 0
