"""A small result comes back as a Dask event (backends/dask_results.py), on a real LocalCluster.

What the scheduler's events hold is asked by a child process, as in
test_dask.py: distributed is never imported in this process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from dask_helpers import ENV, gateway, start_cluster, stop
from pyferry.backends.dask_results import EVENT_BYTES
from pyferry.protocol import ERROR

pytest.importorskip("distributed")

EVENTS = (
    "import json, sys\n"
    "from distributed import Client\n"
    "with Client(sys.argv[1], timeout=10) as c:\n"
    "    events = c.get_events()\n"
    "print(json.dumps({t: [e[1][0] for e in got] for t, got in events.items()\n"
    "                  if t.startswith('pyferry-results-')}))\n"
)


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[str]:
    proc, info = start_cluster(workers=1)
    try:
        yield info["address"]
    finally:
        stop(proc)


def _result_events(address: str) -> dict[str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", EVENTS, address], capture_output=True, text=True, check=True, env=ENV
    )
    events: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return events


def test_a_small_result_comes_as_an_event_and_a_large_one_through_the_future(
    own_cluster: str,
) -> None:
    w = gateway(own_cluster)
    try:
        assert w.result("numpy.sum", [[1, 2, 3, 4, 5, 6, 7, 8, 9]]) == 45
        big = EVENT_BYTES // 8 + 100  # float64: its RESULT is over EVENT_BYTES
        ones = w.result("numpy.ones", [big])
        np.testing.assert_array_equal(ones, np.ones(big))
        assert w.result("numpy.pi", options={"op": "get"}) == np.pi
        reply, _ = w.answer(w.start("builtins.int", ["x"]))
        assert reply[0] == ERROR
        assert reply[2]["type"] == "builtins.ValueError"
    finally:
        w.close()
    events = _result_events(own_cluster)
    assert len(events) == 1, events  # one gateway, one client: one topic
    (keys,) = events.values()
    # The sum and the get came as events; the large array and the error did not.
    assert [k.split("-")[1] for k in keys] == ["numpy.sum", "numpy.pi"], keys
