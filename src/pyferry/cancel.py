"""Cancellation of running calls: the interrupt handler and ``pyferry.cancelled()``.

When the client cancels a call that runs on the main thread (a timeout or an
AbortSignal in Node), the worker's reader thread marks the call and, if it
is the innermost call there, *kicks* the main thread (a CANCEL the main
thread reads itself, while it waits, needs no kick). The kick is per OS, and
``PYFERRY_INTERRUPT`` chooses it (for tests):

- ``signal`` (POSIX, the default there): ``pthread_kill(main, SIGUSR1)``. The
  signal lands on the main thread itself, so it also ends the system call it
  waits in: ``time.sleep``, ``select``, a lock's ``acquire``, a socket read.
- ``sigint`` (Windows, where SIGUSR1 does not exist; the default wherever
  ``SIGUSR1`` or ``pthread_kill`` is missing): ``signal.raise_signal(SIGINT)``
  from the reader thread, handled by the runtime's own SIGINT handler (a
  terminal's Ctrl-C never becomes a ``KeyboardInterrupt`` in a call). The
  main thread runs the handler at its next bytecode, so a pure-Python loop
  stops; on POSIX a wait in a system call does not (the signal is delivered to
  the reader thread); on Windows CPython also sets the event ``time.sleep``
  waits on, so a sleep ends too (read from CPython's source, not run here).
- ``simulate``: ``_thread.interrupt_main(SIGINT)``, the same handler run
  without any OS signal: what ``sigint`` reaches on POSIX, on every OS. Tests
  use it to exercise the path of systems without SIGUSR1.

The handler
raises :class:`~pyferry.errors.Cancelled` only if the innermost call on the
main thread at that moment is one the client cancelled, so a request that
arrives after its call ended can never interrupt another call; and only while
the main thread is in the called code, never in the worker's own
bookkeeping (a frame half written, a call taken off the queue and not yet
registered). Where the worker's own code runs inside a call (a JS callback's
wait, ``pyferry.progress``), it checks for a cancel itself when it is done.
An outer call cancelled while a call nested inside it runs (section 3.3)
sees ``Cancelled`` when the nested call returns.

Python runs signal handlers between bytecodes and, for ``signal``, when a
blocking system call (``time.sleep``, ``select``, a lock) is interrupted, so
pure-Python loops (and, with ``signal``, sleeps) stop promptly. A long C call
that holds the thread (a BLAS routine, a C extension's loop) does not; code
that loops in a way Python cannot interrupt, or in other threads, can poll
:func:`cancelled` instead. What neither reaches, the client ends by killing
the worker after its grace period (`killGrace`).

Calls that run as asyncio tasks are cancelled with ``Task.cancel()`` and
streams are closed; the worker does that without a signal.
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, TypeGuard

from pyferry import calls
from pyferry.calls import Call
from pyferry.errors import Cancelled

__all__ = [
    "KICKS",
    "cancelled",
    "choose_kick",
    "install",
    "interrupt",
    "pending",
    "raise_if_cancelled",
    "user_code_boundary",
]

# The ways to interrupt the main thread (PYFERRY_INTERRUPT), see above.
KICKS = ("signal", "sigint", "simulate")

# Frames of these modules are the worker's own code, or the import system: a
# cancel never raises there. An import stopped half way leaves a package broken
# for every later call (a name its __init__ had not bound yet), so a cancel that
# comes during an import waits: for the end of target resolution, which checks,
# or for the kill after the client's grace period.
_WORKER_MODULES = frozenset(
    {
        "importlib._bootstrap",
        "importlib._bootstrap_external",
        "pyferry.aio",
        "pyferry.arrow",
        "pyferry.backends",
        "pyferry.backends.local",
        "pyferry.callbacks",
        "pyferry.calls",
        "pyferry.cancel",
        "pyferry.codec",
        "pyferry.errorinfo",
        "pyferry.errors",
        "pyferry.forks",
        "pyferry.handles",
        "pyferry.hello",
        "pyferry.inbox",
        "pyferry.protocol",
        "pyferry.replies",
        "pyferry.startup",
        "pyferry.streams",
        "pyferry.transport",
        "pyferry.worker",
    }
)
# Code objects of the worker functions that call user code: below them is the call's code.
_BOUNDARIES: set[CodeType] = set()


def user_code_boundary(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``func`` as the worker function that calls a call's code (a decorator).

    The frames that ``func`` calls, directly or not, are the call's code, where
    a cancel raises; ``func`` itself does no bookkeeping that an exception could
    leave half done.
    """
    _BOUNDARIES.add(func.__code__)
    return func


def choose_kick(asked: str | None = None) -> str:
    """The kick to use: ``asked`` (``PYFERRY_INTERRUPT``'s value) if given, else this OS's.

    Raises:
        ValueError: ``asked`` is not one of :data:`KICKS`, or ``signal`` where this
            Python has no ``SIGUSR1`` or ``pthread_kill``.
    """
    posix = hasattr(signal, "SIGUSR1") and hasattr(signal, "pthread_kill")
    if not asked:
        return "signal" if posix else "sigint"
    if asked not in KICKS:
        raise ValueError(
            f"PYFERRY_INTERRUPT={asked!r} is not one of {', '.join(KICKS)} (or unset for this "
            "OS's default)"
        )
    if asked == "signal" and not posix:
        raise ValueError(
            "PYFERRY_INTERRUPT=signal needs signal.SIGUSR1 and signal.pthread_kill, which this "
            "Python lacks: use sigint or simulate (or leave it unset)"
        )
    return asked


_kick: Callable[[], None] | None = None  # set by install()


def install(kick: str | None = None) -> None:
    """Install the handler that raises ``Cancelled`` (from the main thread only).

    Args:
        kick: one of :data:`KICKS`; None for ``PYFERRY_INTERRUPT``, else this OS's default.

    Raises:
        ValueError: as :func:`choose_kick`.
    """
    global _kick
    chosen = choose_kick(kick if kick is not None else os.environ.get("PYFERRY_INTERRUPT"))
    main = threading.get_ident()
    if chosen == "signal":
        usr1 = signal.SIGUSR1
        signal.signal(usr1, _on_signal)
        _kick = lambda: signal.pthread_kill(main, usr1)  # noqa: E731
        return
    # SIGINT is the runtime's from now on: a terminal's Ctrl-C runs this handler too, which
    # raises only in a call the client cancelled (as the SIG_IGN it replaces, otherwise).
    signal.signal(signal.SIGINT, _on_signal)
    if chosen == "sigint":
        _kick = lambda: signal.raise_signal(signal.SIGINT)  # noqa: E731
    else:
        _kick = lambda: _thread.interrupt_main(signal.SIGINT)  # noqa: E731


_MAIN = threading.main_thread().ident


def interrupt(call: Call) -> None:
    """Kick the main thread if ``call`` is its innermost call.

    Not from the main thread itself: it reads frames only while it waits, in
    the worker's own code, which checks for a cancel when the wait ends.
    """
    stack = calls.main_calls
    kick = _kick
    if (
        kick is not None
        and stack
        and stack[-1] is call
        and _MAIN is not None
        and threading.get_ident() != _MAIN
    ):
        kick()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    stack = calls.main_calls
    if not stack:
        return
    call = stack[-1]
    if call.cancel_requested and _in_call_code(frame):
        call.interrupted = True
        raise Cancelled(f"call {call.id} was cancelled by the client")


def _in_call_code(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs below a boundary without worker code in between."""
    while frame is not None:
        code = frame.f_code
        if code in _BOUNDARIES:
            return True
        if frame.f_globals.get("__name__") in _WORKER_MODULES:
            return False
        frame = frame.f_back
    return False


def pending(call: Call | None) -> TypeGuard[Call]:
    """Whether the client cancelled ``call`` and its code has not been told yet."""
    return call is not None and call.cancel_requested and not call.interrupted


def raise_if_cancelled(call: Call | None) -> None:
    """Raise ``Cancelled`` in ``call``'s code if it was cancelled and has not been told yet.

    For the worker's own code running inside a call, where the handler does not raise.
    """
    if pending(call):
        call.interrupted = True
        raise Cancelled(f"call {call.id} was cancelled by the client")


def cancelled() -> bool:
    """Return True once the client has cancelled the call that is running.

    For cooperative checks in long loops, including loops in threads the call
    started; outside a worker, or between calls, it is False. In an asyncio
    task it is the task's call.
    """
    call = calls.current_call()
    return call is not None and call.cancel_requested
