"""``pyferry doctor --scheduler ADDR``: the Dask scheduler, its workers, and what they can import.

A gateway (``--backend dask``) only forwards calls: the cluster's workers run them
with :mod:`pyferry.backends.remote`, so pyferry and numpy must import *there*. This
connects to the scheduler (the address checked as a gateway checks it), lists its
workers, and runs :func:`probe` on each. ``probe`` travels by reference, as every
function Dask sends does: on a worker without pyferry it cannot even be loaded, and
that error, returned for that worker, is the finding.
"""

from __future__ import annotations

from typing import Any

__all__ = ["probe", "report"]


def probe() -> dict[str, Any]:
    """On a Dask worker: its interpreter and the versions of pyferry and numpy (None: missing)."""
    import importlib
    import sys

    found: dict[str, Any] = {"executable": sys.executable}
    for name in ("pyferry", "numpy"):
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # any import failure is the finding
            found[name] = None
            found[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
        else:
            found[name] = str(getattr(module, "__version__", "unknown version"))
    return found


def report(address: str, *, insecure: bool = False, timeout: float = 10.0) -> dict[str, Any]:
    """The scheduler at ``address``, its workers and each one's :func:`probe`, with problems.

    Raises:
        ValueError: the address is refused (:func:`pyferry.backends.dask_security.check_address`).
    """
    import os

    import pyferry
    from pyferry import __version__
    from pyferry.backends.dask_security import check_address

    runtime = os.path.dirname(os.path.dirname(os.path.abspath(pyferry.__file__)))

    check_address(address, insecure)
    found: dict[str, Any] = {"scheduler": address, "workers": {}, "problems": []}
    problems: list[dict[str, str]] = found["problems"]
    try:
        from distributed import Client
    except ImportError:
        problems.append(
            {
                "problem": "distributed is not installed in this interpreter",
                "fix": "python -m pip install 'distributed>=2024.8'",
            }
        )
        return found
    try:
        client = Client(address, timeout=timeout)  # type: ignore[no-untyped-call]
    except Exception as exc:  # unreachable, refused, timed out: all one finding
        problems.append(
            {
                "problem": f"the scheduler {address} cannot be reached: "
                f"{type(exc).__name__}: {exc}",
                "fix": "start one: python -m pyferry.backends.dask_cluster (or check the address)",
            }
        )
        return found
    try:
        info = client.scheduler_info()
        found["scheduler_id"] = info.get("id")
        probes = client.run(probe, on_error="return")
    finally:
        client.close()  # type: ignore[no-untyped-call]
    if not probes:
        problems.append(
            {
                "problem": f"the scheduler {address} has no workers",
                "fix": f"start one: dask worker {address}",
            }
        )
    for worker, outcome in sorted(probes.items()):
        seen = outcome
        if isinstance(outcome, BaseException):
            # Most likely pyferry itself is missing there: probe() could not be loaded.
            seen = {"pyferry": None, "numpy": None, "error": f"{type(outcome).__name__}: {outcome}"}
        found["workers"][worker] = seen
        exe = seen.get("executable", "python")
        if seen.get("pyferry") is None:
            problems.append(
                {
                    "problem": f"pyferry does not import on the Dask worker {worker}",
                    "fix": f"start that worker with this runtime on its path: PYTHONPATH={runtime} "
                    f"dask worker {address} (or {exe} -m pip install pyferry=={__version__})",
                }
            )
        if seen.get("numpy") is None:
            problems.append(
                {
                    "problem": f"numpy does not import on the Dask worker {worker}",
                    "fix": f"on that machine: {exe} -m pip install numpy",
                }
            )
    return found
