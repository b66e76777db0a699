"""A child that user code makes with ``os.fork()`` never speaks the protocol.

A fork child starts as a copy of the worker in the middle of the call that
forked, with the protocol socket open, but with only the forking thread (no
reader thread, locks possibly held by threads that are gone). Were it to
return into the worker, it would answer the parent's call a second time and
then read the parent's frames. So, in the child, as it starts
(``os.register_at_fork``):

- the protocol descriptors are pointed at ``/dev/null``: whatever the child
  writes goes nowhere and a read sees EOF, and their numbers stay taken, so a
  file the child opens cannot be mistaken for the channel;
- when the child's code returns (or raises) into the worker, the worker calls
  :func:`leave_if_child`, which ends the child at once: status 0, or the code
  of a ``SystemExit``, as if it had ended by itself.

The parent goes on serving; its call settles as usual. ``subprocess`` does
not run these hooks: the children it starts ``exec`` at once.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable

__all__ = ["install", "leave_if_child"]

_installed = False
_child = False
_fds: tuple[int, ...] = ()


def install(fds: Iterable[int]) -> None:
    """Guard the protocol descriptors ``fds`` against fork children (once per process)."""
    global _installed, _fds
    _fds = tuple(sorted(set(fds)))
    register = getattr(os, "register_at_fork", None)  # none on Windows: no fork there
    if not _installed and register is not None:
        _installed = True
        register(before=_flush, after_in_child=_in_child)


def leave_if_child(failure: BaseException | None = None) -> None:
    """End this process if it is a fork child returning into the worker.

    Args:
        failure: what the child's code raised, if anything: a ``SystemExit``
            gives its exit status, any other exception status 1.
    """
    if not _child:
        return
    status = 0
    if isinstance(failure, SystemExit):
        code = failure.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
    elif failure is not None:
        status = 1
    _flush()
    os._exit(status)


def _flush() -> None:
    """Write out what Python buffers for stdout and stderr: no copy of it is printed twice."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


def _in_child() -> None:
    global _child
    _child = True
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in _fds:
            with contextlib.suppress(OSError):
                os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)
