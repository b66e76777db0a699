"""Skip markers for tests that need what only some systems have, and portable stand-ins.

Where a test runs, its assertions are unchanged; where it cannot (no ``/proc`` on macOS
and Windows, no POSIX signals on Windows), it is skipped with the reason.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

HAS_PROC = Path("/proc/self/status").exists()

needs_proc = pytest.mark.skipif(not HAS_PROC, reason="reads /proc, which only Linux has")
needs_signals = pytest.mark.skipif(
    sys.platform == "win32",
    reason="Windows has no POSIX signals: a crash is an NTSTATUS exit code, a kill "
    "TerminateProcess",
)
needs_rlimit_as = pytest.mark.skipif(
    sys.platform in ("darwin", "win32"),
    reason="RLIMIT_AS: macOS does not enforce it, Windows has a job object instead "
    "(pyferry.memory)",
)

# The signal that kills a process at once; on Windows os.kill() with it is TerminateProcess.
KILL: int = getattr(signal, "SIGKILL", signal.SIGTERM)
