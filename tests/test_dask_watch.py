"""dask_watch.while_listed against a real LocalCluster in this process (inproc comms).

A call to a Dask worker that is gone must not wait for distributed's 30 s
connect timeout: the wait ends once the scheduler no longer lists the worker.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from distributed import Client, LocalCluster

from pyferry.backends.dask_watch import CHECK_EVERY, while_listed


async def _with_client(body):  # type: ignore[no-untyped-def]
    async with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            asynchronous=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster, asynchronous=True) as client,
    ):
        return await body(client)


def test_a_listed_workers_call_is_awaited_to_its_end() -> None:
    async def body(client):  # type: ignore[no-untyped-def]
        (live,) = (await client.scheduler.identity())["workers"]
        return await while_listed(client, live, asyncio.sleep(3 * CHECK_EVERY, "done"))

    assert asyncio.run(_with_client(body)) == "done"


def test_a_call_to_a_worker_the_scheduler_does_not_list_ends_within_a_check() -> None:
    async def body(client):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        with pytest.raises(OSError, match="no longer in the cluster"):
            await while_listed(client, "tcp://127.0.0.1:1", asyncio.sleep(30))
        return time.monotonic() - started

    assert asyncio.run(_with_client(body)) < 3 * CHECK_EVERY
