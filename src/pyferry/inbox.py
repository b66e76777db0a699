"""Who reads the protocol channel, and the main thread's job queue.

Handing each frame from a reader thread to the main thread costs two thread
wake-ups per call, most of a small call's time. So the channel has one
reader at a time, whoever holds the *reading role*:

- the **main thread**, whenever it waits (between calls, or inside a call
  that waits for a JS callback's answer): it polls the channel and a wake-up
  pipe, reads a frame and dispatches it itself, so a call that arrives while
  the main thread is free reaches it with no hand-off;
- the **reader thread**, once the main thread has been busy for a tick
  (``TICK``, 2 ms) without waiting: it reads and dispatches frames (CANCEL,
  callback answers, credit, CALLs for later) until the main thread waits
  again, which wakes it through the wake-up end and takes the role back.

The reader thread wakes once a tick only while the worker is in use; after
``PARK_TICKS`` ticks with the main thread waiting it sleeps until the main
thread next starts a job.

While calls come quickly (its last wait was shorter than the *spin* window,
``SPIN`` by default, or than twice the window if it slept, the wake-up being
part of such a wait), the main thread polls for up to that window before it
sleeps, yielding the CPU between polls to anything else runnable: falling
asleep and being woken again can cost more than a small call itself, tens of
microseconds on a virtual machine, whose idle CPUs halt. Once a wait outlasts
the window the next one sleeps at once, so an idle worker spins at most once.

Frames are dispatched by the role's holder, under the role, so they are
dispatched one at a time and in the order they came. Jobs for the main
thread (calls, stream steps) go through :meth:`Inbox.post` from any thread; a
post while the main thread waits wakes it.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from pyferry.transport import Channel

try:  # the C queue itself: the queue module would also import heapq (~2 ms at start-up)
    from _queue import Empty, SimpleQueue
except ImportError:  # pragma: no cover - an interpreter without the accelerator
    from queue import Empty, SimpleQueue

__all__ = ["SPIN", "SPIN_US", "TICK", "Inbox"]

TICK = 0.002
PARK_TICKS = 25
SPIN_US = 100  # the default spin window, in microseconds (the CLI's --spin-us)
SPIN = SPIN_US / 1e6
# Let another runnable thread have the CPU: sched_yield where the OS has it (not Windows).
_yield: Callable[[], object] = getattr(os, "sched_yield", None) or (lambda: time.sleep(0))


class Inbox:
    """The main thread's jobs and the reading role over one channel.

    Args:
        channel: the protocol channel.
        dispatch: handles one frame (header, buffers); called under the role. What it
            returns, if not None, is a job for the main thread: the main thread runs it
            next if it read the frame itself (its queue was empty), else it is posted.
        at_end: called once, by the holder of the role, with None at EOF or the
            exception that made the stream unreadable; no frame is read after it.
        spin: seconds the main thread polls before it sleeps while calls come quickly; 0 never.
    """

    def __init__(
        self,
        channel: Channel,
        dispatch: Callable[[bytes, list[Any]], Any],
        at_end: Callable[[BaseException | None], None],
        spin: float = SPIN,
    ) -> None:
        self._channel = channel
        self._spin = spin
        # Seconds the main thread's last wait for a frame took (none yet: no spin before a call).
        self._last_wait = float("inf")
        # The next wait spins if the last one was shorter than this: the window if it spun.
        self._quick = spin
        self._dispatch = dispatch
        self._at_end = at_end
        self._jobs: SimpleQueue[Any] = SimpleQueue()
        self._role = threading.Lock()
        self._wake_fd, self._wake, self._drain = _wake_pair()
        self._poll = _poller((channel.source.fileno(), self._wake_fd))
        self._ended = False
        # The main thread's state, read by other threads without a lock:
        self._waiting = False  # in next_job, not running a job
        self._spell = 0  # counts the main thread's busy spells
        self._parked = False  # the reader thread sleeps until the next spell
        self._nudges: SimpleQueue[None] = SimpleQueue()

    def start(self) -> None:
        """Start the reader thread."""
        threading.Thread(target=self._reader, name="pyferry-reader", daemon=True).start()

    # -- any thread --------------------------------------------------------------------

    def post(self, job: Any) -> None:
        """Queue a job for the main thread, waking it if it waits."""
        self._jobs.put(job)
        if self._waiting:
            self._wake()

    def jobs_waiting(self) -> bool:
        return not self._jobs.empty()

    # -- the main thread -----------------------------------------------------------------

    def next_job(self, done: Callable[[], bool] | None = None) -> Any:
        """The next job, reading and dispatching frames while there is none.

        Returns None as soon as ``done()`` is true (checked between frames).
        """
        jobs = self._jobs
        while True:
            if not jobs.empty() or self._ended:
                return jobs.get()  # after the end, what at_end posts
            if done is not None and done():
                return None
            self._waiting = True
            if not self._role.acquire(blocking=False):
                self._wake()  # the reader thread has the role: ask for it
                self._role.acquire()
            try:
                # Look again under the role: the reader thread may have posted a job.
                nothing_else = jobs.empty() and not self._ended and not (done and done())
                if nothing_else and self._main_ready():
                    self._busy()
                    job = self._read_one()
                    if job is not None:
                        return job  # the queue was empty: it is the next job anyway
            finally:
                if self._waiting:
                    self._busy()
                self._role.release()

    def _main_ready(self) -> bool:
        """:meth:`_ready` for the main thread: spinning first while calls come quickly."""
        if self._channel.buffered:
            self._last_wait = 0.0
            return True
        start = time.perf_counter()
        spin = self._last_wait < self._quick
        ready = self._ready(self._spin if spin else 0.0)
        self._last_wait = time.perf_counter() - start
        # A wait that slept includes the wake-up, tens of microseconds on a virtual machine:
        # one of up to twice the window still says that calls come quickly.
        self._quick = self._spin if spin else 2 * self._spin
        return ready

    def _busy(self) -> None:
        self._waiting = False
        self._spell += 1
        if self._parked:
            self._parked = False
            self._nudges.put(None)

    # -- the holder of the role ------------------------------------------------------------

    def _ready(self, spin: float = 0.0) -> bool:
        """Wait until a frame can be read (True) or the wake-up end is woken (False).

        ``spin``: seconds to keep polling, without sleeping, before a blocking wait.
        """
        if self._channel.buffered:
            return True
        events = self._spin_poll(spin) if spin else self._poll(None)
        readable = False
        for fd, _ in events:
            if fd == self._wake_fd:
                self._drain()
            else:
                readable = True  # data, EOF or an error: read_frame says which
        return readable

    def _spin_poll(self, window: float) -> list[tuple[int, int]]:
        """``_poll(None)``: without sleeping for up to ``window`` seconds, then as usual."""
        poll = self._poll
        deadline = time.perf_counter() + window
        while not (events := poll(0)) and time.perf_counter() < deadline:
            _yield()  # whatever else is runnable on this CPU goes first
        return events or poll(None)

    def _read_one(self) -> Any:
        """Read and dispatch one frame; the job dispatch gave for the main thread, if any."""
        try:
            frame = self._channel.read_frame()
            if frame is not None:
                return self._dispatch(*frame)
            error: BaseException | None = None
        except BaseException as exc:
            error = exc
        self._ended = True
        self._at_end(error)
        return None

    # -- the reader thread ----------------------------------------------------------------

    def _reader(self) -> None:
        seen, idle = -1, 0
        while not self._ended:
            with contextlib.suppress(Empty):
                self._nudges.get(timeout=TICK)
            spell = self._spell
            if self._waiting:
                idle += 1
                if idle >= PARK_TICKS:
                    self._park(spell)
                    idle = 0
            elif spell == seen:  # busy for a whole tick: read for it
                idle = 0
                self._read_while_busy(spell)
            seen = spell

    def _park(self, spell: int) -> None:
        self._parked = True
        if self._waiting and self._spell == spell:
            self._nudges.get()  # the main thread's next spell puts one
        self._parked = False  # (a nudge it put meanwhile only ends a tick early)

    def _read_while_busy(self, spell: int) -> None:
        with self._role:
            while not self._ended and not self._waiting and self._spell == spell:
                if self._ready():
                    job = self._read_one()
                    if job is not None:
                        self.post(job)


def _wake_pair() -> tuple[int, Callable[[], None], Callable[[], None]]:
    """A wake-up channel: (the descriptor to poll, ``wake()`` to make it readable, ``drain()``).

    A pipe where :func:`_poller` uses poll(2). Where it falls back to select(2), which on
    Windows takes sockets alone, a socket pair; the socket module is loaded only then
    (it costs a worker's start ~5 ms, mostly its enums).
    """
    if hasattr(select, "poll"):
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)

        def wake() -> None:
            with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
                os.write(w, b"\0")

        def drain() -> None:
            with contextlib.suppress(BlockingIOError):
                os.read(r, 4096)

        return r, wake, drain
    import socket

    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    def wake_socket() -> None:
        with contextlib.suppress(BlockingIOError):
            b.send(b"\0")

    def drain_socket() -> None:
        with contextlib.suppress(BlockingIOError):
            a.recv(4096)

    return a.fileno(), wake_socket, drain_socket


def _poller(fds: tuple[int, ...]) -> Callable[[float | None], list[tuple[int, int]]]:
    """A wait until one of ``fds`` can be read: ``wait(ms)`` gives ``[(fd, events), ...]``.

    ``ms`` is the longest wait in milliseconds, None for no bound, 0 for a look. It is
    poll(2) where the OS has it: one system call, ~1 µs a look against ~2 µs through
    :mod:`selectors`, which the worker then need not import. Windows has only select(2),
    which takes sockets alone; there the channel and the wake-up end are sockets (the
    portable tests run this path on Linux, in a Python without ``select.poll``).
    """
    poll = getattr(select, "poll", None)
    if poll is not None:
        poller = poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        return poller.poll  # type: ignore[no-any-return]

    def wait(ms: float | None) -> list[tuple[int, int]]:
        ready, _, _ = select.select(fds, (), (), None if ms is None else ms / 1000)
        return [(fd, 1) for fd in ready]

    return wait
