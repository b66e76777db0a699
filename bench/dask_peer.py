"""The Dask rows' baseline: a bare asynchronous ``distributed.Client`` (bench/dask.mjs).

``python bench/dask_peer.py ADDRESS`` connects to the scheduler and answers
one JSON request per stdin line with one JSON line on stdout, until stdin
closes. It does what pyferry's gateway does for a call, with nothing else::

    {"op": "seed", "calls": N, "interval": S}   N sequential submit(np.sum, [1..9]):
                                                 {"p50": µs, "p99": µs}
    {"op": "rate", "total": N, "width": W, "interval": S}
                                                 N seed calls, W in flight: {"rate": calls/s}
    {"op": "fft", "n": N, "runs": R, "scatter": bool}
                                                 R round trips of bench_calls.rfft_abs on N
                                                 float64 made here: {"ms": median}

``interval`` is the client's scheduler-comm batching interval in seconds
(Dask's default is 0.01) for that request. Every task is ``pure=False``, as
pyferry's are. ``python bench/dask_peer.py --cold ADDRESS`` instead starts,
connects, prints the seed's sum as soon as it has it, and exits: the cold
start row's baseline.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import numpy as np

SEED = [1, 2, 3, 4, 5, 6, 7, 8, 9]


def _percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, -(-len(s) * p // 100) - 1))]  # nearest rank, as stats.mjs


async def seed(client: Any, calls: int) -> dict[str, float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        await client.submit(np.sum, SEED, pure=False)
        times.append((time.perf_counter() - start) * 1e6)
    return {"p50": _percentile(times, 50), "p99": _percentile(times, 99)}


async def rate(client: Any, total: int, width: int) -> dict[str, float]:
    started = 0

    async def lane() -> None:
        nonlocal started
        while started < total:
            started += 1
            await client.submit(np.sum, SEED, pure=False)

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(width)))
    return {"rate": total / (time.perf_counter() - start)}


async def fft(client: Any, n: int, runs: int, scatter: bool) -> dict[str, float]:
    import bench_calls

    x = np.random.default_rng(0).random(n) - 0.5
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        arg = await client.scatter(x, direct=True, hash=False) if scatter else x
        y = await client.submit(bench_calls.rfft_abs, arg, pure=False)
        times.append((time.perf_counter() - start) * 1e3)
        if y.shape != (n // 2 + 1,):
            raise RuntimeError(f"rfft of {n} came back with shape {y.shape}")
        del arg
    return {"ms": sorted(times)[len(times) // 2]}


async def serve(address: str) -> None:
    from distributed import Client

    async with Client(address, asynchronous=True, set_as_default=False) as client:
        default = client.scheduler_comm.interval
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            request = json.loads(line)
            client.scheduler_comm.interval = request.get("interval", default)
            op = request["op"]
            if op == "seed":
                answer = await seed(client, request["calls"])
            elif op == "rate":
                answer = await rate(client, request["total"], request["width"])
            else:
                answer = await fft(client, request["n"], request["runs"], request["scatter"])
            print(json.dumps(answer), flush=True)


async def cold(address: str) -> None:
    from distributed import Client

    async with Client(address, asynchronous=True, set_as_default=False) as client:
        print(await client.submit(np.sum, SEED, pure=False), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--cold":
        asyncio.run(cold(sys.argv[2]))
    else:
        asyncio.run(serve(sys.argv[1]))
