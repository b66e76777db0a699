"""Delivery on Dask: ``once`` calls, which a Dask worker's death never starts twice.

Dask runs a task again when the worker running it dies, up to
``distributed.scheduler.allowed-failures`` times: by default a call is
delivered *at least once*. A call with the ``once`` option is started at most
once. The scheduler keeps the set of ``once`` tasks that have started (a
scheduler plugin); each such task asks the scheduler to mark its key before
it calls anything, and refuses to run if the key was marked already::

    gateway (dask.py)         scheduler (OncePlugin)               Dask worker (remote.py)
    ensure_plugin(client) --> start(): add the handler
    submit remote.run(once=True) ---------------------------------> begin_once():
                               mark(key): first start? ----------<  the task's key
                               True: add the key; False: refuse -->  True: call the target
                                                                     False: WorkerCrashedError
    the future ends, the key is forgotten --> transition(..., "forgotten"): drop the key

A refused start is answered as ``WorkerCrashedError`` (the worker that
started the call died), never by a second run; a start that cannot be
marked (no plugin, no scheduler) is ``BackendUnavailableError`` and does not
run either. The plugin's class is pickled
by reference: ``once`` needs pyferry importable on the scheduler, as it is on
the Dask workers. This module imports ``distributed``: only the Dask backend's
paths that use ``once`` import it.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import SchedulerPlugin

from pyferry.errors import BackendUnavailableError, PyferryError, WorkerCrashedError

if TYPE_CHECKING:
    import asyncio

    from distributed.scheduler import Scheduler

__all__ = ["HANDLER", "PLUGIN_NAME", "OncePlugin", "begin_once", "ensure_plugin"]

PLUGIN_NAME = "pyferry-once"
# The scheduler RPC handler the plugin adds: mark(key) -> True on a key's first start.
HANDLER = "pyferry_once_start"
# Seconds a task waits for the scheduler's answer before it refuses to run.
MARK_TIMEOUT = 30.0


class OncePlugin(SchedulerPlugin):
    """The scheduler's record of the ``once`` tasks that have started.

    Registered by each gateway's client by name and idempotently: one
    instance per scheduler, whichever gateway came first.
    """

    idempotent = True
    name = PLUGIN_NAME

    def __init__(self) -> None:
        self._started: set[Any] = set()
        self._scheduler: Scheduler | None = None

    async def start(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        scheduler.handlers[HANDLER] = self.mark

    async def close(self) -> None:
        if self._scheduler is not None and self._scheduler.handlers.get(HANDLER) == self.mark:
            del self._scheduler.handlers[HANDLER]
        self._started.clear()

    def mark(self, key: Any = None) -> bool:
        """Mark ``key`` started: True the first time, False for a start after one already was.

        A key the scheduler no longer knows is refused too: its client has
        let go of it, and nobody waits for what it would compute.
        """
        scheduler = self._scheduler
        if key in self._started or scheduler is None or key not in scheduler.tasks:
            return False
        self._started.add(key)
        return True

    def transition(
        self, key: Any, start: str, finish: str, *args: Any, stimulus_id: str, **kwargs: Any
    ) -> None:
        if finish == "forgotten":
            self._started.discard(key)

    @property
    def started(self) -> int:
        """How many ``once`` keys are marked (for tests: 0 once their futures are gone)."""
        return len(self._started)


# Each client's registration, with the id of the scheduler it was made on: a client that
# reconnected by itself to a restarted scheduler registers again there.
_registered: weakref.WeakKeyDictionary[Any, tuple[Any, asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)


async def ensure_plugin(client: Any, where: str) -> None:
    """Register :class:`OncePlugin` on ``client``'s scheduler, once per client and scheduler.

    Concurrent callers share one registration; a failed one is tried again by the next.
    A broken connection (``OSError``) propagates as it is: the caller's "lost" path.

    Args:
        client: the gateway's connected, asynchronous ``distributed.Client``.
        where: how errors name the scheduler.

    Raises:
        BackendUnavailableError: the scheduler refused the plugin (pyferry not
            importable there).
        OSError: the connection to the scheduler broke.
    """
    import asyncio

    scheduler_id = client.scheduler_info().get("id")  # cached: no round trip
    entry = _registered.get(client)
    task = entry[1] if entry is not None and entry[0] == scheduler_id else None
    if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
        task = asyncio.get_running_loop().create_task(client.register_plugin(OncePlugin()))
        _registered[client] = (scheduler_id, task)
    try:
        await asyncio.shield(task)
    except OSError:
        raise
    except Exception as exc:
        raise BackendUnavailableError(
            f"the Dask scheduler at {where} could not take pyferry's once plugin, which "
            f"once: true needs ({type(exc).__name__}: {exc}); check that pyferry is "
            "installed where the scheduler runs (as on the Dask workers)"
        ) from exc


def begin_once() -> PyferryError | None:
    """Mark the running task started on the scheduler; None, or the error to answer with.

    Runs in a Dask worker's task thread (remote.run, for a ``once`` call). The
    error is ``WorkerCrashedError`` when the task had started before, and
    ``BackendUnavailableError`` when its start could not be marked (then it
    does not start either: it could not be known to be the first).
    """
    from distributed import get_worker
    from distributed.utils import sync

    worker = get_worker()
    key = worker.get_current_task()
    try:
        first = sync(
            worker.loop,
            getattr(worker.scheduler, HANDLER),
            key=key,
            callback_timeout=MARK_TIMEOUT,
        )
    except Exception as exc:
        return BackendUnavailableError(
            f"this once call was not started: its Dask worker could not mark its start on the "
            f"scheduler ({type(exc).__name__}: {exc})"
        )
    if first is True:
        return None
    if first is False:
        return WorkerCrashedError(
            "the Dask worker running this call died after it had started it, and the call "
            "has once: true, so it was not started again (without once, Dask runs it again)"
        )
    return BackendUnavailableError(
        f"this once call was not started: the Dask scheduler has no {PLUGIN_NAME} plugin "
        f"to mark its start (its answer: {first!r:.100})"
    )
