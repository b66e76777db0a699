"""A gateway hands the memory of a call's large arrays back to the system when it ends.

A gateway holds a large array only while it passes through: decoded from the
client, sent to a Dask worker, then the result read from the cluster and
written to the client. glibc's malloc serves blocks over its mmap threshold
(128 KiB) by ``mmap`` and returns them at ``free``, but the first such free
raises the threshold to that block's size (up to 32 MiB) and the heap's trim
threshold to twice that: from then on, arrays of that size come from the
heap, and after the call their pages stay resident. A gateway that passed an
8 MB argument and a 4 MB result kept ~14 MiB more than one that did only small
calls (bench/README.md, "Dask", D6).

:func:`fix_mmap_threshold` sets the threshold once, at the gateway's start,
which also ends glibc's adjusting of it: arrays over 1 MiB are mapped and
returned to the system when freed. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import os

__all__ = ["MMAP_THRESHOLD", "fix_mmap_threshold"]

# Bytes from which an allocation is its own mapping (glibc's M_MMAP_THRESHOLD).
MMAP_THRESHOLD = 2**20
_M_MMAP_THRESHOLD = -3  # malloc.h


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc malloc's mmap threshold at ``size`` bytes; False where it is not glibc."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (AttributeError, ValueError, OSError):  # not glibc, or not POSIX
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, size))
    except (OSError, AttributeError):
        return False
