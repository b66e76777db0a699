"""The memory limit per OS (pyferry.memory): the choice of method, the Windows job-object
layout, and a worker that cannot set the limit exiting with a message naming the option."""

from __future__ import annotations

import ctypes
import socket
import subprocess

import pytest

from pyferry.memory import (
    JOB_OBJECT_LIMIT_PROCESS_MEMORY,
    MEMORY_LIMIT_FAILED,
    ExtendedLimitInformation,
    MemoryLimitError,
    job_limit_information,
    limit_memory,
    memory_limit_method,
    memory_limit_summary,
)

from conftest import run_worker


@pytest.mark.parametrize(
    ("platform", "has_rlimit_as", "method"),
    [
        ("linux", True, "rlimit"),
        ("freebsd14", True, "rlimit"),
        ("win32", False, "job"),
        ("darwin", True, None),
        ("linux", False, None),
    ],
)
def test_the_method_per_platform(platform: str, has_rlimit_as: bool, method: str | None) -> None:
    assert memory_limit_method(platform, has_rlimit_as) == method


@pytest.mark.parametrize(
    ("platform", "words"),
    [
        ("linux", "RLIMIT_AS (address space)"),
        ("win32", "a job object (committed memory of each process)"),
        ("darwin", "not supported (macOS does not enforce RLIMIT_AS)"),
    ],
)
def test_the_doctor_says_how_the_limit_works(platform: str, words: str) -> None:
    assert memory_limit_summary(platform) == words


def test_macos_is_refused_with_what_to_do_instead() -> None:
    with pytest.raises(MemoryLimitError) as caught:
        limit_memory(1 << 30, platform="darwin")
    message = str(caught.value)
    assert "--max-memory-bytes is not supported on darwin" in message
    assert "RLIMIT_AS" in message
    assert "Leave out maxMemoryBytes" in message
    assert "maxCallsPerWorker" in message


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="the layout checked is 64-bit's")
def test_the_job_object_limits_have_winnt_h_layout_on_64_bit() -> None:
    # JOBOBJECT_EXTENDED_LIMIT_INFORMATION on x64: 64-byte basic limits, 48-byte
    # IO_COUNTERS, then four SIZE_T.
    assert ctypes.sizeof(ExtendedLimitInformation) == 144
    assert ExtendedLimitInformation.ProcessMemoryLimit.offset == 112
    assert ExtendedLimitInformation.JobMemoryLimit.offset == 120
    basic = type(ExtendedLimitInformation().BasicLimitInformation)
    assert basic.LimitFlags.offset == 16
    assert basic.Affinity.offset == 48
    assert ctypes.sizeof(basic) == 64


def test_the_job_limits_cap_each_process_and_nothing_else() -> None:
    info = job_limit_information(3 << 30)
    assert info.BasicLimitInformation.LimitFlags == JOB_OBJECT_LIMIT_PROCESS_MEMORY == 0x100
    assert info.ProcessMemoryLimit == 3 << 30
    assert info.JobMemoryLimit == 0
    assert info.BasicLimitInformation.ActiveProcessLimit == 0


def test_a_worker_that_cannot_set_the_limit_exits_6_naming_the_option() -> None:
    # A Python without resource.RLIMIT_AS, simulated by hiding the module: the
    # worker must say so and exit before its HELLO, never start half-limited.
    hide = (
        "import sys; sys.modules['resource'] = None; from pyferry.cli import main; sys.exit(main())"
    )
    mine, theirs = socket.socketpair()
    with mine, theirs:
        fd = str(theirs.fileno())
        proc = run_worker(
            "--fd",
            fd,
            "--max-memory-bytes",
            str(1 << 30),
            launch=("-c", hide),
            stdin=subprocess.DEVNULL,
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        mine.settimeout(5)
        assert mine.recv(1) == b"", "the worker sent something (a HELLO?) before exiting"
    assert proc.returncode == MEMORY_LIMIT_FAILED == 6
    assert "pyferry worker: --max-memory-bytes is not supported on" in proc.stderr
    assert "no resource.RLIMIT_AS" in proc.stderr
    assert "Leave out maxMemoryBytes" in proc.stderr
    assert "Traceback" not in proc.stderr
