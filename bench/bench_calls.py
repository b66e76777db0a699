"""Python code the benchmark runs, both through pyferry and in the raw floor.

bench/ is on the pyferry workers' ``path``, so ``bench_calls.rfft_abs`` is a
call target; ``floor_worker.py`` imports the same functions, so both sides do
exactly the same work.
"""

import time
from collections.abc import Callable, Iterator

import numpy as np


def rfft_abs(x: np.ndarray) -> np.ndarray:
    """W3: the magnitude spectrum of a real signal."""
    return np.abs(np.fft.rfft(x))


def burn(seconds: float) -> int:
    """W4: keep one core busy in pure Python for ``seconds``; returns the loop count."""
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def spin(n: int) -> int:
    """W7: a fixed amount of pure-Python CPU work (no time checks, so contention shows)."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def calibrate(ms: float) -> int:
    """The ``n`` for which ``spin(n)`` takes about ``ms`` milliseconds here, unloaded."""
    n = 100_000
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        spin(n)
        best = min(best, time.perf_counter() - start)
    return max(1, round(n * ms / 1000 / best))


def call_back(fn: Callable[[int], object], n: int) -> int:
    """W8: call a JS function ``n`` times, one round trip each; returns ``n``."""
    for i in range(n):
        fn(i)
    return n


def count(n: int) -> Iterator[int]:
    """W9: the ints 0 .. n-1, one stream item each."""
    yield from range(n)


def seed(xs: list[float]) -> int:
    """W1/W2 for the peers (bench/peers.mjs): numpy.sum, as a plain int their JSON carries."""
    return int(np.sum(xs))
