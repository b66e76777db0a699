"""Where scattering an argument starts to pay: ``python bench/dask_scatter.py`` (~1 minute).

The measurement behind ``pyferry.backends.dask_scatter.SCATTER_BYTES``. On a
LocalCluster of two worker processes on 127.0.0.1, one asynchronous client
(batching interval 1 ms, as pyferry's gateway) sends a float64 array of each
size to a task that returns its ``nbytes``, either inline in the task or
scattered first (``scatter(direct=True, hash=False)``), nine times each, and
prints the median and fastest round trip and how much the scheduler's RSS grew
during the call. The script is not part of ``make bench``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from typing import Any

import numpy as np

SIZES_MIB = [1, 2, 4, 6, 8, 12, 16, 32]
RUNS = 9


def nbytes(x: np.ndarray) -> int:
    """The task: as little work as possible on the array."""
    return int(x.nbytes)


def _scheduler_rss(dask_scheduler: Any) -> int:
    import os

    import psutil

    return int(psutil.Process(os.getpid()).memory_info().rss)


async def _one(client: Any, x: np.ndarray, scatter: bool) -> tuple[float, float]:
    before = await client.run_on_scheduler(_scheduler_rss)
    start = time.perf_counter()
    if scatter:
        future = await client.scatter(x, direct=True, hash=False)
        await client.submit(nbytes, future, pure=False)
        future.release()
    else:
        await client.submit(nbytes, x, pure=False)
    took = time.perf_counter() - start
    after = await client.run_on_scheduler(_scheduler_rss)
    return took * 1e3, (after - before) / 2**20


async def main() -> None:
    from distributed import Client, LocalCluster

    warnings.simplefilter("ignore")  # "Sending large graph": what the inline rows show
    logging.getLogger("distributed").setLevel(logging.ERROR)
    async with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            asynchronous=True,
        ) as cluster,
        Client(cluster, asynchronous=True) as client,  # type: ignore[no-untyped-call]
    ):
        client.scheduler_comm.interval = 0.001
        print(
            "| MiB | inline ms, median (min) | scattered ms, median (min) "
            "| scheduler RSS growth, inline / scattered (MiB) |"
        )
        print("| --- | --- | --- | --- |")
        for mib in SIZES_MIB:
            x = np.random.default_rng(0).random(mib * 2**20 // 8)
            cells = []
            grew = []
            for scatter in (False, True):
                results = [await _one(client, x, scatter) for _ in range(RUNS)]
                times = sorted(t for t, _ in results)
                cells.append(f"{times[RUNS // 2]:.1f} ({times[0]:.1f})")
                grew.append(f"{max(g for _, g in results):.0f}")
            print(f"| {mib} | {cells[0]} | {cells[1]} | {' / '.join(grew)} |", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
