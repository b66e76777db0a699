"""Worker start-up: ``python -m pyferry worker`` from its descriptors to the serve loop.

Startup keeps the protocol private: the descriptor(s) handed over are
duplicated to non-inheritable descriptors and the originals closed (or, with
``--connect``, the worker connects to its client: a Unix socket, or loopback
TCP proved with the one-time token the client put in ``PYFERRY_TOKEN``, which
is taken out of the environment before any other code runs), descriptor
0 reads from /dev/null, and descriptors 1 and 2 stay as they were so that
``print()`` and C code write lines the client shows as output, never frames;
they write UTF-8 with ``\n`` line ends on every OS.
On Linux the worker also asks the kernel to kill it when its parent dies,
which works even while a C call holds the interpreter; elsewhere EOF on the
channel is what tells it (docs/protocol.md section 1).
"""

from __future__ import annotations

import _socket  # as pyferry.transport: the socket module is loaded only for --connect
import contextlib
import faulthandler
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyferry import cancel
from pyferry.errors import DecodeError, ProtocolError
from pyferry.inbox import SPIN_US
from pyferry.protocol import Limits
from pyferry.transport import Channel, Endpoint, endpoint
from pyferry.worker import Worker

if TYPE_CHECKING:
    from pyferry.backends.dask import DaskOptions

__all__ = ["main"]

TOKEN_VARIABLE = "PYFERRY_TOKEN"
_CONNECT_TIMEOUT = 30.0  # seconds a --connect may take (the client's own deadline is shorter)


def _widen_socket_buffers(ends: Sequence[Endpoint], size: int = 1 << 20) -> None:
    """Ask for larger kernel buffers on protocol sockets (fewer wake-ups per large array)."""
    for end in ends:
        if not isinstance(end, _socket.socket):
            continue  # a pipe, not a socket
        for option in (_socket.SO_SNDBUF, _socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                end.setsockopt(_socket.SOL_SOCKET, option, size)


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


_LOOPBACK_NAMES = ("localhost", "::1")


def parse_connect(address: str) -> tuple[str, str, int]:
    """What ``--connect`` names: ``("unix", path, 0)`` or ``("tcp", host, port)``.

    ``tcp:HOST:PORT`` and ``HOST:PORT`` (no slash, a numeric port) are loopback TCP;
    ``unix:PATH`` or any other value is the path of a Unix-domain socket.

    Raises:
        ValueError: a TCP address without a port, or whose host is not loopback.
    """
    if address.startswith("unix:"):
        return "unix", address[5:], 0
    explicit = address.startswith("tcp:")
    rest = address[4:] if explicit else address
    host, colon, port = rest.rpartition(":")
    looks_tcp = colon and port.isdigit() and host and not any(c in host for c in "/\\")
    if not explicit and not looks_tcp:
        return "unix", address, 0
    if not looks_tcp or not 0 < int(port) < 65536:
        raise ValueError(
            f"--connect {address!r}: a TCP address is tcp:HOST:PORT, e.g. tcp:127.0.0.1:5000"
        )
    host = host.removeprefix("[").removesuffix("]")
    if host not in _LOOPBACK_NAMES and not host.startswith("127."):
        raise ValueError(
            f"--connect {address!r}: the worker connects only to loopback (127.x.x.x, ::1 or "
            "localhost): its channel is neither encrypted nor authenticated beyond the token"
        )
    return "tcp", host, int(port)


def _connect(address: str, token: str | None) -> Endpoint:
    """A stream connection to the client at ``address`` (``--connect``), token sent first.

    Raises:
        ValueError: a malformed address, or TCP without a token.
        OSError: the connection failed.
    """
    import socket

    kind, where, port = parse_connect(address)
    if kind == "tcp" and not token:
        raise ValueError(
            f"--connect {address} needs the one-time token the client puts in {TOKEN_VARIABLE}: "
            "it is unset (only a client that listens for the worker, such as Node's "
            "transport: 'tcp', starts a worker this way)"
        )
    if kind == "tcp":
        sock = socket.create_connection((where, port), timeout=_CONNECT_TIMEOUT)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # type: ignore[attr-defined,unused-ignore]
        sock.settimeout(_CONNECT_TIMEOUT)
        try:
            sock.connect(where)
        except OSError:
            sock.close()
            raise
    sock.settimeout(None)
    try:
        if token:
            sock.sendall(token.encode("utf-8"))
    except OSError:
        sock.close()
        raise
    return sock


def _die_with_parent() -> None:
    """On Linux, have the kernel SIGKILL this process when its parent dies.

    ``prctl`` is looked up here, so a C library without it (or no ctypes) leaves only the
    EOF watcher, as on macOS and Windows (where libuv's job object also ends the worker).
    """
    if not sys.platform.startswith("linux"):
        return
    sigkill = getattr(signal, "SIGKILL", None)
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return
    parent = os.getppid()
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError, TypeError):
        if sigkill is not None:
            prctl(pr_set_pdeathsig, sigkill)
    if os.getppid() != parent:
        os._exit(0)  # the parent died before the request took effect


def _utf8_stdio() -> None:
    """Make ``print()`` write UTF-8 with ``\\n`` line ends, whatever the OS's code page."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(encoding="utf-8", errors="backslashreplace", newline="\n")


def _open_channel(
    fds: Sequence[int], connect: str | None, token: str | None
) -> tuple[Endpoint, Endpoint] | str:
    """The protocol's (input, output) ends, or why they cannot be opened."""
    if connect is not None:
        try:
            end = _connect(connect, token)
        except ValueError as exc:
            return str(exc)
        except OSError as exc:
            return f"cannot connect to {connect!r}: {exc}"
        return end, end
    for fd in dict.fromkeys(fds):
        problem = _unusable_fd(fd)
        if problem is not None:
            return problem
    end_in = _blocking(endpoint(_take_fd(fds[0])))
    if fds[1] == fds[0]:
        return end_in, end_in
    return end_in, _blocking(endpoint(_take_fd(fds[1])))


def _blocking(end: Endpoint) -> Endpoint:
    """``end``, with a socket put in blocking mode (the channel's reads wait for their bytes)."""
    if isinstance(end, _socket.socket):
        end.settimeout(None)
    return end


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
        connect: where to connect to for the protocol, instead of ``fds`` (for clients
            that cannot pass a descriptor): a Unix socket's path, or ``tcp:HOST:PORT`` on
            loopback, proved with the token in ``PYFERRY_TOKEN`` (see :func:`parse_connect`).
        dask: the Dask scheduler to submit calls to (a gateway); None to run them here.
    """
    # The token proves this connection once; no code the worker runs may read it.
    token = os.environ.pop(TOKEN_VARIABLE, None)
    _die_with_parent()
    _utf8_stdio()
    try:
        cancel.choose_kick(os.environ.get("PYFERRY_INTERRUPT"))
    except ValueError as exc:
        print(f"pyferry worker: {exc}", file=sys.stderr)
        return 2
    opened = _open_channel(fds, connect, token)
    if isinstance(opened, str):
        print(f"pyferry worker: {opened}", file=sys.stderr)
        return 2
    end_in, end_out = opened
    # Ctrl-C in a terminal reaches the whole process group; the client decides
    # what happens to its workers, so a call is never interrupted by it (a kick
    # that uses SIGINT replaces this with a handler that raises only in a cancelled call).
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
    _widen_socket_buffers([end_in, end_out])
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
            Channel(end_in, end_out, limits), limits, allow, spin=spin_us / 1e6, dask=dask
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
