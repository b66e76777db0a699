"""Who reads the protocol channel, and the main thread's job queue.

Handing each frame from a reader thread to the main thread costs two thread
wake-ups per call, most of a small call's time. So the channel has one
reader at a time, whoever holds the *reading role*:

- the **main thread**, whenever it waits (between calls, or inside a call
  that waits for a JS callback's answer): it polls the channel and a wake-up
  socket, reads a frame and dispatches it itself, so a call that arrives while
  the main thread is free reaches it with no hand-off;
- the **reader thread**, once the main thread has been busy for a tick
  (``TICK``, 2 ms) without waiting: it reads and dispatches frames (CANCEL,
  callback answers, credit, CALLs for later) until the main thread waits
  again, which wakes it through the wake-up socket and takes the role back.

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
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from pyferry.transport import Channel

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
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._role = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(channel.source, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._ended = False
        # The main thread's state, read by other threads without a lock:
        self._waiting = False  # in next_job, not running a job
        self._spell = 0  # counts the main thread's busy spells
        self._parked = False  # the reader thread sleeps until the next spell
        self._nudges: queue.SimpleQueue[None] = queue.SimpleQueue()

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

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
            self._wake_w.send(b"\0")

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
        """``_ready(block=True)`` for the main thread: spinning first while calls come quickly."""
        if self._channel.buffered:
            self._last_wait = 0.0
            return True
        start = time.perf_counter()
        spin = self._last_wait < self._quick
        ready = self._ready(block=True, spin=self._spin if spin else 0.0)
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

    def _ready(self, block: bool, spin: float = 0.0) -> bool:
        """Whether a frame can be read now; False when woken through the wake-up socket instead.

        ``spin``: seconds to keep polling, without sleeping, before a blocking wait.
        """
        if self._channel.buffered:
            return True
        if spin and block:
            events = self._spin_poll(spin)
        else:
            events = self._selector.select(None if block else 0)
        readable = False
        for key, _ in events:
            if key.fileobj is self._wake_r:
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)
            else:
                readable = True  # data, EOF or an error: read_frame says which
        return readable

    def _spin_poll(self, window: float) -> list[tuple[selectors.SelectorKey, int]]:
        """``select()``: without sleeping for up to ``window`` seconds, then as usual."""
        select = self._selector.select
        deadline = time.perf_counter() + window
        while not (events := select(0)) and time.perf_counter() < deadline:
            _yield()  # whatever else is runnable on this CPU goes first
        return events or select(None)

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
            with contextlib.suppress(queue.Empty):
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
                if self._ready(block=True):
                    job = self._read_one()
                    if job is not None:
                        self.post(job)
