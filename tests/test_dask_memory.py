"""A gateway returns the memory of a call's large arrays to the system (backends/dask_memory.py).

Each case runs in a fresh interpreter: the malloc setting is process-wide.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(os, "confstr") or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="glibc's malloc only",
)

# An 8 MB array passes through twice (as a gateway's argument and result do); the
# resident set after the second one is freed, against before the first, in KiB.
GROWTH = (
    "import sys\n"
    "import numpy as np\n"
    "from pyferry.backends.dask_memory import fix_mmap_threshold\n"
    "if sys.argv[1] == 'fixed':\n"
    "    assert fix_mmap_threshold()\n"
    "def rss():\n"
    "    status = open('/proc/self/status').read()\n"
    "    return int(status.split('VmRSS:')[1].split()[0])\n"
    "before = rss()\n"
    "for _ in range(2):\n"
    "    x = np.empty(1_000_000); x[:] = 1.0\n"
    "    y = np.empty(500_000); y[:] = 2.0\n"
    "    del x, y\n"
    "print(rss() - before)\n"
)


def _growth_kib(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", GROWTH, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_large_arrays_freed_leave_the_gateway_with_the_fixed_threshold() -> None:
    # Without it, glibc raises its threshold at the first free and keeps the pages.
    assert _growth_kib("default") > 8_000
    assert _growth_kib("fixed") < 2_000
