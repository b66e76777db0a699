"""A Dask cluster on loopback for people and tests: ``python -m pyferry.backends.dask_cluster``.

Starts a ``distributed.LocalCluster`` bound to 127.0.0.1 (worker processes,
one thread each, the dashboard on 127.0.0.1 at a free port), prints
``{"address": "tcp://127.0.0.1:PORT", "dashboard": ..., "workers": [pids]}``
as one JSON line on stdout, and runs until its stdin closes, then closes the
cluster and exits. A parent (pytest, a Node test, a shell) therefore never
leaves a cluster behind: its end closes the pipe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the cluster until stdin closes; return the exit status.

    Args:
        argv: the command line (``--workers N``); ``sys.argv[1:]`` if None.
    """
    parser = argparse.ArgumentParser(
        prog="python -m pyferry.backends.dask_cluster", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args(argv)
    # The JSON line goes to the original stdout; descriptor 1 (which the cluster's
    # worker processes inherit, and where print() in a task writes) goes to stderr,
    # so a parent that stopped reading after the line never breaks a task's print.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("pyferry: this needs distributed: pip install 'pyferry[dask]'", file=sys.stderr)
        return 4
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        with Client(cluster) as client:  # type: ignore[no-untyped-call]
            pids = sorted(client.run(os.getpid).values())
        print(
            json.dumps(
                {
                    "address": cluster.scheduler_address,
                    "dashboard": cluster.dashboard_link,
                    "workers": pids,
                }
            ),
            file=out,
            flush=True,
        )
        out.close()
        sys.stdin.read()  # until EOF: the parent closed the pipe, or went away
    return 0


if __name__ == "__main__":
    sys.exit(main())
