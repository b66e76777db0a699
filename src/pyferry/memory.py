"""The worker's memory limit (``--max-memory-bytes``), per operating system.

Running out of memory under the limit is a ``MemoryError`` in the call, not the
OOM killer. How the limit is set depends on the system:

==========  ==========================================================================
Linux       ``RLIMIT_AS`` (address space), capped at the hard limit already in force
Windows     a job object of the worker's own with ``JOB_OBJECT_LIMIT_PROCESS_MEMORY``
            (committed memory), through ctypes; nested inside the job libuv and the
            venv launcher put the process in (Windows 8 and later nest jobs)
macOS       refused: the kernel rejects ``RLIMIT_AS`` (EINVAL) or does not enforce it
other       ``RLIMIT_AS`` where ``resource`` has it (the BSDs), else refused
==========  ==========================================================================

A limit that cannot be set is never ignored and never a crash at start-up:
:func:`limit_memory` raises :class:`MemoryLimitError`, whose message names the
option and what to do instead, and the worker exits with
:data:`MEMORY_LIMIT_FAILED` before its HELLO (docs/protocol.md section 1).
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

__all__ = [
    "JOB_OBJECT_LIMIT_PROCESS_MEMORY",
    "MEMORY_LIMIT_FAILED",
    "ExtendedLimitInformation",
    "MemoryLimitError",
    "job_limit_information",
    "limit_memory",
    "memory_limit_method",
    "memory_limit_summary",
]

# The worker's exit status when --max-memory-bytes cannot be applied (before any HELLO).
MEMORY_LIMIT_FAILED = 6

_INSTEAD = (
    "Leave out maxMemoryBytes (--max-memory-bytes) on this system; to bound a worker that "
    "grows, recycle it with maxCallsPerWorker, or run the workers on Linux (a container), "
    "where the limit is RLIMIT_AS."
)


class MemoryLimitError(OSError):
    """``--max-memory-bytes`` cannot be applied on this system; the message says what to do."""


def memory_limit_method(platform: str, has_rlimit_as: bool = True) -> str | None:
    """How the memory limit is set on ``platform`` (``sys.platform``), or None if it cannot be.

    Args:
        platform: ``sys.platform`` of the system asked about.
        has_rlimit_as: whether ``resource.RLIMIT_AS`` exists there.

    Returns:
        ``"rlimit"``, ``"job"`` (Windows), or None (macOS, or no ``RLIMIT_AS``).
    """
    if platform == "win32":
        return "job"
    if platform == "darwin" or not has_rlimit_as:
        return None
    return "rlimit"


def memory_limit_summary(platform: str = sys.platform) -> str:
    """How ``--max-memory-bytes`` works on ``platform``, in words (for ``pyferry doctor``)."""
    try:
        import resource
    except ImportError:
        has_rlimit_as = False
    else:
        has_rlimit_as = hasattr(resource, "RLIMIT_AS")
    method = memory_limit_method(platform, has_rlimit_as)
    if method == "rlimit":
        return "RLIMIT_AS (address space)"
    if method == "job":
        return "a job object (committed memory of each process)"
    if platform == "darwin":
        return "not supported (macOS does not enforce RLIMIT_AS)"
    return "not supported (this Python has no resource.RLIMIT_AS)"


def limit_memory(max_bytes: int, platform: str = sys.platform) -> None:
    """Limit this process's memory to ``max_bytes``, so that running out is a MemoryError.

    Raises:
        MemoryLimitError: the limit cannot be set here (its message names the option).
    """
    resource: Any
    try:
        import resource
    except ImportError:
        resource = None
    method = memory_limit_method(platform, hasattr(resource, "RLIMIT_AS"))
    if method is None:
        why = (
            "macOS does not enforce RLIMIT_AS"
            if platform == "darwin"
            else "this Python has no resource.RLIMIT_AS"
        )
        raise MemoryLimitError(
            f"--max-memory-bytes is not supported on {platform}: {why}. {_INSTEAD}"
        )
    try:
        if method == "job":
            _limit_job_memory(max_bytes)
        else:
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            limit = max_bytes if hard == resource.RLIM_INFINITY else min(max_bytes, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError, AttributeError) as exc:
        what = "a job-object memory limit" if method == "job" else "RLIMIT_AS"
        raise MemoryLimitError(
            f"--max-memory-bytes {max_bytes}: setting {what} failed on {platform}: {exc}. "
            + _INSTEAD
        ) from exc


# Windows: winnt.h's job-object limit structures (x64 and x86 alike: SIZE_T is c_size_t).
JOB_OBJECT_LIMIT_PROCESS_MEMORY = 0x00000100
_JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9  # JOBOBJECTINFOCLASS JobObjectExtendedLimitInformation


class _BasicLimitInformation(ctypes.Structure):
    _fields_ = (
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    )


class _IoCounters(ctypes.Structure):
    _fields_ = tuple(
        (name, ctypes.c_uint64)
        for name in (
            "ReadOperationCount",
            "WriteOperationCount",
            "OtherOperationCount",
            "ReadTransferCount",
            "WriteTransferCount",
            "OtherTransferCount",
        )
    )


class ExtendedLimitInformation(ctypes.Structure):
    """``JOBOBJECT_EXTENDED_LIMIT_INFORMATION`` (144 bytes on 64-bit Windows)."""

    _fields_ = (
        ("BasicLimitInformation", _BasicLimitInformation),
        ("IoInfo", _IoCounters),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    )


def job_limit_information(max_bytes: int) -> ExtendedLimitInformation:
    """The job limits that cap each process in the job at ``max_bytes`` of committed memory.

    Only the per-process limit: processes that user code starts inherit the job, and
    so a limit of their own, as children inherit ``RLIMIT_AS`` on POSIX.
    """
    info = ExtendedLimitInformation()
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_PROCESS_MEMORY
    info.ProcessMemoryLimit = max_bytes
    return info


_job_handle: int | None = None  # kept open for the life of the worker


def _limit_job_memory(max_bytes: int) -> None:  # pragma: no cover - runs on Windows only
    """Put this process in a new job object limited to ``max_bytes`` per process."""
    global _job_handle
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.CreateJobObjectW.argtypes = (ctypes.c_void_p, wintypes.LPCWSTR)
    kernel32.SetInformationJobObject.restype = wintypes.BOOL
    kernel32.SetInformationJobObject.argtypes = (
        wintypes.HANDLE,
        ctypes.c_int,
        ctypes.c_void_p,
        wintypes.DWORD,
    )
    kernel32.AssignProcessToJobObject.restype = wintypes.BOOL
    kernel32.AssignProcessToJobObject.argtypes = (wintypes.HANDLE, wintypes.HANDLE)
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        raise ctypes.WinError(ctypes.get_last_error())  # type: ignore[attr-defined]
    info = job_limit_information(max_bytes)
    if not kernel32.SetInformationJobObject(
        job, _JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, ctypes.byref(info), ctypes.sizeof(info)
    ) or not kernel32.AssignProcessToJobObject(job, kernel32.GetCurrentProcess()):
        error = ctypes.get_last_error()  # type: ignore[attr-defined]
        kernel32.CloseHandle(job)
        raise ctypes.WinError(error)  # type: ignore[attr-defined]
    _job_handle = job
