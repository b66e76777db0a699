"""The worker's serve loop: handshake, dispatch, results and errors, shutdown.

Two threads share the work::

    protocol fd --> reader thread --(decoded CALLs)--> queue --> main thread
                        |                                           |
                        +--> protocol errors (ERROR id 0), EOF      +--> RESULT / ERROR
                                                                          (write lock)

The reader keeps taking frames while a call runs, so a CANCEL reaches the
running call (see ``pyferry.cancel``) and later protocol features (callback
replies) arrive without waiting for it. Calls run one at a time on the main
thread, in arrival order. EOF on the protocol channel means the client is
gone: the worker stops taking calls and exits, at once if a call is running.
On Linux the worker also asks the kernel to kill it when its parent dies,
which works even while a C call holds the interpreter.

Startup keeps the protocol private: the descriptor(s) handed over are
duplicated to non-inheritable descriptors and the originals closed, descriptor
0 reads from /dev/null, and descriptors 1 and 2 stay as they were so that
``print()`` and C code write lines the client shows as output, never frames.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import os
import platform
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any

from pyferry import __version__
from pyferry.cancel import _state as _call_state
from pyferry.codec import decode, encode, explain, qualname
from pyferry.errors import (
    Cancelled,
    DecodeError,
    EncodeError,
    ProtocolError,
    PyferryError,
    SerializationError,
    VersionMismatchError,
)
from pyferry.protocol import (
    CALL,
    CANCEL,
    ERROR,
    HELLO,
    PROTOCOL_VERSION,
    RESERVED_KINDS,
    RESULT,
    Limits,
)
from pyferry.targets import Resolver
from pyferry.transport import Channel

__all__ = ["Worker", "describe_exception", "hello_info", "main"]

_STOP = None


def hello_info() -> dict[str, Any]:
    """What the worker says about itself in its HELLO message."""
    numpy_version = _installed_version("numpy")
    return {
        "protocol": PROTOCOL_VERSION,
        "pyferry": __version__,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "numpy": numpy_version,
        "pid": os.getpid(),
    }


def _installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, without importing it.

    Reads the ``<name>-<version>.dist-info`` (or ``.egg-info``) directory
    names on ``sys.path``, in path order as the import system would find
    them: ``importlib.metadata`` does the same but costs ~15 ms of imports at
    every worker start.
    """
    module = sys.modules.get(name)
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return str(module.__version__)
    prefix = f"{name}-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for item in names:
            if item.startswith(prefix) and item.endswith((".dist-info", ".egg-info")):
                version = item[len(prefix) :].rsplit(".", 1)[0]
                return version.split("-py", 1)[0]  # egg-info names may end in -pyX.Y
    return None


def describe_exception(exc: BaseException, *, skip_frames: int = 0) -> dict[str, Any]:
    """An exception as data: qualified type, message, traceback text, code and cause chain.

    Never raises, even for an exception whose ``str()`` raises.
    """
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None:
            tb = tb.tb_next
    if isinstance(exc, PyferryError):
        tb = None  # pyferry's own frames tell the caller nothing
    info = _one_exception(exc, tb)
    chain: list[dict[str, Any]] = []
    seen = {id(exc)}
    current: BaseException | None = exc
    while current is not None:
        if current.__cause__ is not None:
            relation, nxt = "cause", current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            relation, nxt = "context", current.__context__
        else:
            break
        if id(nxt) in seen:
            break
        seen.add(id(nxt))
        entry = _one_exception(nxt, nxt.__traceback__)
        entry["relation"] = relation
        chain.append(entry)
        current = nxt
    info["chain"] = chain
    return info


def _one_exception(exc: BaseException, tb: Any) -> dict[str, Any]:
    try:
        message = str(exc)
    except BaseException:
        message = f"<unprintable {type(exc).__name__} object>"
    try:
        text = "".join(traceback.format_exception(type(exc), exc, tb, chain=False))
    except BaseException:
        text = f"{qualname(type(exc))}: {message}\n"
    info: dict[str, Any] = {
        "type": qualname(type(exc)),
        "message": message,
        "traceback": text,
        "code": exc.code if isinstance(exc, (PyferryError, Cancelled)) else "PYFERRY_PYTHON",
    }
    if isinstance(exc, SerializationError) and exc.path:
        info["path"] = exc.path
        info["reason"] = exc.reason
    return info


class Worker:
    """Serves calls on a channel until it reaches EOF.

    Args:
        channel: the framed protocol channel to the client.
        limits: bounds on frames, applied to what the worker sends as well.
        allow: glob patterns of the targets that may be called; empty for any public one.
    """

    def __init__(self, channel: Channel, limits: Limits, allow: Sequence[str] = ()) -> None:
        self._channel = channel
        self._limit = limits.max_message_bytes
        self._calls: queue.SimpleQueue[tuple[int, str, list[Any], dict[str, Any]] | None]
        self._calls = queue.SimpleQueue()
        self._resolver = Resolver(allow=allow)
        self._busy = False
        # Ids of calls taken by the reader but not yet started, and those of them
        # the client cancelled; both guarded by the lock (reader and main thread).
        self._lock = threading.Lock()
        self._queued: set[int] = set()
        self._cancelled: set[int] = set()

    def _send(self, message: list[Any]) -> None:
        header, buffers = encode(message)
        size = len(header) + sum(b.nbytes for b in buffers)
        if size > self._limit:
            # The client would refuse the frame and could not tell which call it was for.
            raise EncodeError(f"message of {size} bytes exceeds the limit of {self._limit} bytes")
        self._channel.write_frame(header, buffers)

    def _send_error(self, call_id: int, exc: BaseException, skip_frames: int = 0) -> None:
        self._send([ERROR, call_id, describe_exception(exc, skip_frames=skip_frames)])

    def handshake(self) -> None:
        """Send HELLO, then read and check the client's HELLO.

        Raises:
            EOFError: the client closed the channel first.
            VersionMismatchError: the client speaks another protocol version.
            ProtocolError: the first frame is not a HELLO.
        """
        self._send([HELLO, 0, hello_info()])
        frame = self._channel.read_frame()
        if frame is None:
            raise EOFError("channel closed before the client's HELLO")
        message = decode(*frame)
        if not (isinstance(message, list) and len(message) >= 3 and message[0] == HELLO):
            raise ProtocolError(f"expected the client's HELLO first, got {message!r:.80}")
        info = message[2] if isinstance(message[2], dict) else {}
        theirs = info.get("protocol")
        if theirs != PROTOCOL_VERSION:
            raise VersionMismatchError(
                f"client speaks protocol version {theirs!r}, "
                f"this worker (pyferry {__version__}) speaks {PROTOCOL_VERSION}"
            )

    def serve(self) -> None:
        """Run calls until the channel reaches EOF; protocol failures end the worker."""
        if threading.current_thread() is threading.main_thread():
            _call_state.install()
        reader = threading.Thread(target=self._read_loop, name="pyferry-reader", daemon=True)
        reader.start()
        while True:
            item = self._calls.get()
            if item is _STOP:
                return
            with self._lock:
                self._queued.discard(item[0])
                cancelled = item[0] in self._cancelled
                self._cancelled.discard(item[0])
            try:
                if cancelled:
                    self._send_error(item[0], Cancelled("the call was cancelled before it started"))
                else:
                    self._run(*item)
            except OSError:
                return  # a reply could not be written: the client is gone

    def _run(self, call_id: int, target: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        self._busy = True
        try:
            try:
                result = _invoke(call_id, self._resolver, target, args, kwargs)
            except BaseException as exc:
                self._send_error(call_id, exc, skip_frames=2)
                return
            try:
                self._send([RESULT, call_id, result])
            except EncodeError as exc:
                # A part of the result that cannot cross has a path; a whole-message
                # problem (too large, too many arrays) is about the result as a whole.
                whole = not exc.path
                self._send_error(
                    call_id,
                    EncodeError(exc.reason, "result") if whole else explain(result, "result"),
                )
        finally:
            self._busy = False

    def _read_loop(self) -> None:
        try:
            while True:
                frame = self._channel.read_frame()
                if frame is None:
                    break
                self._dispatch(*frame)
        except BaseException as exc:
            # The stream can no longer be trusted: say why, then stop serving.
            with contextlib.suppress(BaseException):
                self._send_error(0, exc)
            self._exit(2)
        self._exit(0)

    def _exit(self, status: int) -> None:
        if self._busy or status:
            # The client is gone (or the stream is broken) while a call runs:
            # nobody can receive its result, so end the process now.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
        self._calls.put(_STOP)

    def _dispatch(self, header: bytes, buffers: list[Any]) -> None:
        try:
            message = decode(header, buffers)
        except DecodeError as exc:
            call_id = _peek_call_id(header)
            if call_id is None:
                raise ProtocolError(f"undecodable frame: {exc}") from exc
            self._send_error(call_id, DecodeError(f"the call cannot be decoded: {exc.reason}"))
            return
        if not isinstance(message, list) or len(message) < 2:
            raise ProtocolError(f"a message must be an array [kind, id, ...], got {message!r:.80}")
        kind, call_id = message[0], message[1]
        if kind == CANCEL and isinstance(call_id, int) and call_id > 0:
            self._cancel(call_id)
            return
        if kind != CALL:
            if kind in RESERVED_KINDS:
                name = RESERVED_KINDS[kind]
                raise ProtocolError(f"message kind {kind} ({name}) is reserved, not in version 1")
            raise ProtocolError(f"unexpected message kind {kind!r} from the client")
        if len(message) != 5 or not isinstance(call_id, int) or call_id <= 0:
            raise ProtocolError(f"malformed CALL message {message!r:.80}")
        _, _, target, args, kwargs = message
        if not isinstance(args, list) or not isinstance(kwargs, (dict, type(None))):
            self._send_error(call_id, DecodeError("CALL args must be an array, kwargs a map"))
            return
        if kwargs and not all(isinstance(k, str) for k in kwargs):
            self._send_error(call_id, DecodeError("keyword argument names must be strings"))
            return
        with self._lock:
            self._queued.add(call_id)
        self._calls.put((call_id, target, args, kwargs or {}))

    def _cancel(self, call_id: int) -> None:
        """Cancel a call: not started yet, it is answered without running; running, interrupted.

        A CANCEL for a call that has already been answered is ignored: it crossed the reply.
        """
        with self._lock:
            if call_id in self._queued:
                self._cancelled.add(call_id)
                return
        _call_state.request(call_id)


def _invoke(
    call_id: int, resolver: Resolver, target: str, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    """Resolve and call ``target`` as call ``call_id``; a CANCEL for that id interrupts both.

    Resolving may import a slow module, so it is inside the window too. Once
    ``current`` is reset, a late interrupt no longer applies, so ``Cancelled``
    can come out of this function only for this call.
    """
    _call_state.current = call_id
    try:
        if _call_state.cancelled():  # cancelled between leaving the queue and this point
            raise Cancelled(f"call {call_id} was cancelled by the client")
        return resolver.resolve(target)(*args, **kwargs)
    finally:
        _call_state.current = 0


def _peek_call_id(header: bytes) -> int | None:
    """The id of a CALL whose arguments could not be decoded, if its envelope is intact."""
    import msgpack

    try:
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(header), 1))
        unpacker.feed(header)
        if unpacker.read_array_header() < 2 or unpacker.unpack() != CALL:
            return None
        call_id = unpacker.unpack()
    except Exception:
        return None
    return call_id if isinstance(call_id, int) and call_id > 0 else None


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


def _limit_memory(max_bytes: int) -> None:
    """Cap the address space, so that running out of memory is a MemoryError, not the OOM killer."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = max_bytes if hard == resource.RLIM_INFINITY else min(max_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(
    fds: Sequence[int] = (3, 3),
    paths: Sequence[str] = (),
    max_message_bytes: int = 0,
    *,
    allow: Sequence[str] = (),
    preload: Sequence[str] = (),
    max_memory_bytes: int = 0,
) -> int:
    """Run a worker on the given protocol descriptors; return the exit status.

    Exit statuses: 0 after EOF, 2 on a protocol failure, 3 when a preload failed.

    Args:
        fds: (input, output) protocol descriptors; the same number twice for one socket.
        paths: directories to put in front of ``sys.path``.
        max_message_bytes: bound on incoming frames; 0 for the default.
        allow: glob patterns of callable targets; empty for every public name.
        preload: modules to import before the handshake, so the first call finds them loaded.
        max_memory_bytes: address-space limit (``RLIMIT_AS``); 0 for none.
    """
    _die_with_parent()
    fd_in, fd_out = fds
    fd_in = _take_fd(fd_in)
    fd_out = fd_in if fds[1] == fds[0] else _take_fd(fd_out)
    # Ctrl-C in a terminal reaches the whole process group; the client decides
    # what happens to its workers, so a call is never interrupted by it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A segfault or abort in native code prints the Python stack to stderr,
    # where the client keeps the last lines for its WorkerCrashedError.
    faulthandler.enable(file=sys.stderr, all_threads=False)
    if max_memory_bytes:
        _limit_memory(max_memory_bytes)
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
            print(f"pyferry worker: preloading {name!r} failed:", file=sys.stderr)
            traceback.print_exc()
            sys.stderr.flush()
            return 3
    limits = Limits(max_message_bytes) if max_message_bytes else Limits()
    worker = Worker(Channel(fd_in, fd_out, limits), limits, allow)
    try:
        worker.handshake()
    except (OSError, EOFError):
        return 0  # the client went away before the handshake finished
    except (ProtocolError, DecodeError) as exc:
        with contextlib.suppress(OSError):
            worker._send_error(0, exc)
        print(f"pyferry worker: {exc}", file=sys.stderr)
        return 2
    worker.serve()
    return 0
