"""The Dask backend: a worker that submits its calls to a Dask cluster (DESIGN decision 9).

A worker started with ``--backend dask`` is a *gateway*: it decodes calls as
any worker does, checks them, and submits each to the cluster's scheduler
through one asynchronous ``distributed.Client``, which lives on the worker's
event loop thread::

    main thread: start(call) -- refuse what Dask cannot do yet, check the name,
       |                        DETACHED (the client may send the next call)
       v
    event loop thread: connect (the first call), submit remote.run by reference
       with a unique key, pure=False, no retries (a once call: after registering
       dask_delivery's scheduler plugin); await the future
       |
       v
    Dask worker: pyferry.backends.remote.run resolves, calls, encodes the RESULT
       frame (or the error info) as plain data; progress goes as Dask events
       |
       v
    event loop thread: PROGRESS (pyferry.backends.dask_tasks), then RESULT / ERROR;
       a small RESULT comes as a Dask event, ahead of the future (dask_results)

A cancel answers the call at once; in the background the task is interrupted
where it runs and its future cancelled (:func:`pyferry.backends.dask_tasks.stop`).

A call that names handles runs instead on the Dask worker that holds their
objects, and a result's objects that cannot cross by value, or a stream's
iterator, stay there: :mod:`pyferry.backends.dask_handles`.

The client connects at the first call, not at start: a gateway starts as fast
as a local worker and a scheduler started after the pool still works. It
sets its own scheduler-comm batching interval (``DaskOptions.batch_interval``,
1 ms where Dask's 10 ms would cost ~9 ms of each sequential call); the
scheduler's and workers' intervals are theirs. Large arguments are scattered
to a worker first (:mod:`pyferry.backends.dask_scatter`), and a result that
does not come as an event (:mod:`pyferry.backends.dask_results`) is fetched
from its worker directly, not through the scheduler; which schedulers it
may reach, and how over TLS, is :mod:`pyferry.backends.dask_security`'s. A
scheduler that cannot be reached, or whose connection breaks during a call, is
a ``BackendUnavailableError`` naming its address, and the next call connects
afresh. ``distributed`` is imported by the first call only: a worker that does
not use Dask never loads it; its logging is then set for a gateway
(:mod:`pyferry.backends.dask_logging`).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyferry.aio import EventLoopThread
from pyferry.backends.dask_handles import DaskObjects, DaskStream
from pyferry.backends.dask_results import Results
from pyferry.backends.dask_scatter import release, scatter_large
from pyferry.backends.dask_security import TLSFiles, check_scheduler_file, security
from pyferry.backends.dask_tasks import Progress, stop
from pyferry.callbacks import JSFunction
from pyferry.calls import TASK, Call
from pyferry.errors import (
    BackendUnavailableError,
    Cancelled,
    HandleError,
    SerializationError,
    TargetError,
    WorkerCrashedError,
)
from pyferry.refs import TargetHandle
from pyferry.replies import Replies
from pyferry.targets import Resolver

if TYPE_CHECKING:
    import asyncio

__all__ = ["INSTALL_HINT", "DaskBackend", "DaskOptions", "set_batch_interval"]

INSTALL_HINT = "the Dask backend needs distributed: pip install 'pyferry[dask]'"
# The client's scheduler-comm batching interval, in seconds (Dask's default: 10 ms).
DEFAULT_BATCH_INTERVAL = 0.001
DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class DaskOptions:
    """Where the gateway's scheduler is, from the worker's command line.

    Args:
        scheduler: the scheduler's address (``tcp://127.0.0.1:8786``), or None.
        scheduler_file: a scheduler file (``dask scheduler --scheduler-file``), or None.
        insecure: allow a ``tcp://`` address that is not loopback (plain TCP,
            unauthenticated: see :func:`pyferry.backends.dask_security.check_address`).
        connect_timeout: seconds a connection to the scheduler may take.
        batch_interval: seconds this client's scheduler comm batches messages
            for (:func:`set_batch_interval`).
        tls: the TLS files to connect with (``tls://``), or None.
    """

    scheduler: str | None = None
    scheduler_file: str | None = None
    insecure: bool = False
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    batch_interval: float = DEFAULT_BATCH_INTERVAL
    tls: TLSFiles | None = None

    @property
    def where(self) -> str:
        """How errors name the scheduler."""
        if self.scheduler is not None:
            return self.scheduler
        return f"the one in scheduler file {self.scheduler_file}"


class DaskBackend:
    """Submits started calls to a Dask cluster and answers them when their futures end.

    Args:
        replies: where answers go.
        resolver: the worker's resolver; its allow-list travels with each task.
        loop: the worker's event loop thread, where the Dask client lives.
        options: the scheduler to use.
        limit: the most an answer may hold, in bytes (the client's limit).

    Raises:
        ImportError: ``distributed`` is not installed (the message says how to install it).
    """

    def __init__(
        self,
        replies: Replies,
        resolver: Resolver,
        loop: EventLoopThread,
        options: DaskOptions,
        limit: int,
    ) -> None:
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            raise ImportError(INSTALL_HINT)
        from pyferry.backends.dask_memory import fix_mmap_threshold

        fix_mmap_threshold()  # a call's large arrays go back to the system when it ends
        self._replies = replies
        self._resolver = resolver
        self._loop = loop
        self._options = options
        self._limit = limit
        # The loop thread's alone: the connected client, or the task connecting one.
        self._client: Any = None
        self._connecting: asyncio.Task[Any] | None = None
        # A call's answer comes from the loop thread, its Cancelled from the reader's.
        self._answer_lock = threading.Lock()
        # Handles and streams: their objects stay on the Dask workers (dask_handles).
        self._objects = DaskObjects(loop, replies, self._answer, resolver.allow, limit)
        self._progress = Progress(replies)  # the loop thread's
        self._results = Results()  # the loop thread's: small results as Dask events

    # -- Backend ------------------------------------------------------------------------

    def start(self, call: Call) -> None:
        problem = _unsupported(call)
        if problem is None:
            try:
                if type(call.target) is str:  # refused here: nothing is submitted
                    self._resolver.check_name(call.target)
                self._objects.owner_of(call)  # handles of two Dask workers, or a lost one
            except (TargetError, HandleError) as exc:
                problem = exc
        if problem is not None:
            self._answer(call, lambda: self._replies.error(call, problem))
            return
        call.where = TASK
        # Under the answer lock: a CANCEL read meanwhile has answered the call, and a
        # DETACHED after its answer would be a protocol error for the client.
        self._answer(call, lambda: self._replies.detached(call))
        self._loop.call_soon(self._spawn, call)

    def cancel(self, call: Call) -> None:
        if type(call.stream) is DaskStream:
            call.stream.close("cancel")  # the stream answers once its iterator is closed
            return
        # Future.cancel() does not stop a task that runs already: the call is
        # answered now, and its future is cancelled in the background.
        self._answer(call, lambda: self._replies.error(call, _cancelled(call)))
        self._loop.call_soon(_cancel_task, call)

    # -- on the event loop thread ----------------------------------------------------------

    def _spawn(self, call: Call) -> None:
        import asyncio  # on the loop's thread: loaded already

        task = asyncio.get_running_loop().create_task(self._run(call))
        call.task = task
        if call.cancel_requested:
            task.cancel()

    async def _run(self, call: Call) -> None:
        import asyncio

        from pyferry.backends import remote

        future: Any = None
        client: Any = None
        error: BaseException
        name = call.target if type(call.target) is str else "handle"
        key = f"pyferry-{name}-{uuid.uuid4().hex}"
        scattered: list[Any] = []
        try:
            client = await self._connected()
            if call.once:
                from pyferry.backends.dask_delivery import ensure_plugin

                await ensure_plugin(client, self._options.where)
            topic = self._progress.topic(client, key, call)
            owner = self._objects.owner_of(call)
            if owner is not None:  # it names objects of that Dask worker: it runs there
                ran = await self._objects.run(client, owner, call, task=key, progress_topic=topic)
            else:
                args, kwargs = await scatter_large(client, call.args, call.kwargs, scattered)
                self._results.expect(key)
                future = client.submit(
                    remote.run,
                    call.id,
                    call.target,
                    args,
                    kwargs,
                    op_get=call.op_get,
                    allow=self._resolver.allow,
                    limit=self._limit,
                    token=self._objects.token,
                    task=key,
                    mode=call.result,
                    window=call.window,
                    progress_topic=topic,
                    once=call.once,
                    result_topic=self._results.topic(client),
                    key=key,
                    pure=False,
                )
                ran = await self._results.first(key, future)
            outcome = await self._progress.settle(key, ran)
            if await self._objects.take(client, call, outcome):
                return  # answered: it named objects or a stream
        except asyncio.CancelledError as exc:
            self._progress.forget(key)
            self._results.forget(key)
            if _ours(exc):  # the client cancelled it (answered by cancel() already)
                if client is not None:
                    stop(client, key, future)
                error = _cancelled(call)
            else:  # Dask cancelled the future: its client lost the scheduler
                error = self._lost(client, exc)
        except BaseException as exc:
            self._progress.forget(key)
            self._results.forget(key)
            error = self._failure(client, exc)
        else:
            self._answer(call, lambda: self._reply(call, outcome))
            return
        finally:
            release(scattered)
        self._answer(call, lambda: self._replies.error(call, error))

    def _reply(self, call: Call, outcome: Any) -> None:
        """Answer ``call`` with what remote.run returned (plain data, checked)."""
        if type(outcome) is tuple and len(outcome) == 3 and outcome[0] == "result":
            _, header, buffers = outcome
            if type(header) is bytes and type(buffers) is list:
                self._replies.encoded(call, header, [memoryview(b) for b in buffers])
                return
        elif (
            type(outcome) is tuple
            and len(outcome) == 2
            and outcome[0] == "error"
            and type(outcome[1]) is dict
        ):
            self._replies.error_info(call, outcome[1])
            return
        unexpected = TypeError(f"unexpected outcome from the cluster: {outcome!r:.200}")
        self._replies.error(call, unexpected)

    async def _connected(self) -> Any:
        """The client, connected by the first caller; others wait for the same connection."""
        import asyncio

        client = self._client
        if client is not None and client.status == "running":
            return client
        if client is not None:
            self._drop(client)
        if self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self._connect())
        connecting = self._connecting
        try:
            # shield: a call cancelled while it waits does not stop the others' connection.
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _connect(self) -> Any:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ImportError(INSTALL_HINT) from exc
        from pyferry.backends.dask_logging import quiet

        quiet()  # distributed's INFO lines are not for the application's stderr
        options = self._options
        if options.scheduler_file is not None:  # its address is known only now
            await _scheduler_file_exists(options.scheduler_file, options.connect_timeout)
            check_scheduler_file(options.scheduler_file, options.insecure, options.tls)
        try:
            client = await Client(  # type: ignore[no-untyped-call]
                options.scheduler,
                scheduler_file=options.scheduler_file,
                asynchronous=True,
                timeout=options.connect_timeout,
                set_as_default=False,
                # A result comes straight from its Dask worker, not through the scheduler
                # (one transfer instead of two); large arguments go straight to one too.
                direct_to_workers=True,
                security=security(options.tls),
            )
        except (OSError, TimeoutError) as exc:
            raise BackendUnavailableError(
                f"cannot reach the Dask scheduler at {options.where}: {exc}; check that a "
                "scheduler runs there and listens on that address (dask scheduler, or python "
                "-m pyferry.backends.dask_cluster)"
            ) from exc
        if options.scheduler_file is not None:  # again: Dask may have waited for the file
            try:
                check_scheduler_file(
                    options.scheduler_file, options.insecure, options.tls, client.scheduler.address
                )
            except BackendUnavailableError:
                await _close(client)
                raise
        set_batch_interval(client, options.batch_interval)
        self._client = client
        return client

    def _failure(self, client: Any, exc: BaseException) -> BaseException:
        """The error a call is answered with when submitting or awaiting it raised ``exc``."""
        from distributed import KilledWorker

        if isinstance(exc, KilledWorker):
            return WorkerCrashedError(
                f"Dask workers died while running this call, which Dask ran again on "
                f"another each time until its limit (KilledWorker: {exc})"
            )
        if isinstance(exc, BackendUnavailableError | ImportError):
            return exc
        # distributed's FutureCancelledError (a concurrent.futures.CancelledError):
        # the client cancels every future when it loses its scheduler.
        lost = getattr(exc, "reason", None) == "scheduler-connection-lost"
        if lost or isinstance(exc, OSError):
            return self._lost(client, exc)
        return exc

    def _lost(self, client: Any, exc: BaseException) -> BackendUnavailableError:
        """The client lost its scheduler: the call fails, the next one connects afresh."""
        if client is not None:
            self._drop(client)
        return BackendUnavailableError(
            f"lost the connection to the Dask scheduler at {self._options.where} during the "
            f"call: {exc}; check that the scheduler is still running (the next call connects "
            "afresh)"
        )

    def _drop(self, client: Any) -> None:
        """Forget ``client`` and close it in the background (it would try to reconnect)."""
        import asyncio

        if self._client is client:
            self._client = None
        task = asyncio.get_running_loop().create_task(_close(client))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    def _answer(self, call: Call, send: Any) -> None:
        """Run ``send`` unless the call was answered already (a cancel and an end, racing)."""
        with self._answer_lock:
            if call.answered:
                return
            with contextlib.suppress(OSError):  # the client is gone; its EOF ends the worker
                send()


_closing: set[asyncio.Task[None]] = set()


async def _scheduler_file_exists(path: str, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for ``path`` (distributed itself would wait forever).

    Raises:
        BackendUnavailableError: it does not exist by then.
    """
    import asyncio
    import os
    import time

    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise BackendUnavailableError(
                f"the Dask scheduler file {path} does not exist (waited {timeout:g} s): check "
                "the path, and that the scheduler was started with --scheduler-file and is up"
            )
        await asyncio.sleep(0.05)


def set_batch_interval(client: Any, seconds: float) -> bool:
    """Set ``client``'s own scheduler-comm batching interval; False if this distributed cannot.

    The attribute is distributed's (``BatchedSend.interval``, read at every
    send); tests/test_dask.py fails if an installed version lacks it.
    """
    comm = getattr(client, "scheduler_comm", None)
    if comm is None or not isinstance(getattr(comm, "interval", None), int | float):
        return False
    comm.interval = seconds
    return True


async def _close(client: Any) -> None:
    with contextlib.suppress(BaseException):
        await client.close(timeout=2)


def _ours(exc: BaseException) -> bool:
    """Whether a CancelledError is the task's own (a client cancel), not Dask's future's."""
    import asyncio

    task = asyncio.current_task()
    if task is not None and task.cancelling():
        return True
    return type(exc) is asyncio.CancelledError


def _cancel_task(call: Call) -> None:
    if call.task is not None:
        call.task.cancel()


def _cancelled(call: Call) -> Cancelled:
    return Cancelled(f"call {call.id} was cancelled by the client")


def _unsupported(call: Call) -> BaseException | None:
    """Why ``call`` cannot run on Dask in this slice, or None."""
    target = call.target
    if type(target) is not str and not (
        type(target) is list and target and type(target[0]) is TargetHandle
    ):
        return TargetError(
            f"a call target must be a dotted name or [handle, name, ...] with a HANDLE "
            f"first, got {target!r:.100}"
        )
    path = _callback_path(call.args, "args")
    if path is None:
        path = _callback_path(call.kwargs, "kwargs")
    if path is not None:
        return SerializationError("a JS function (callback) does not cross to a Dask cluster", path)
    return None


def _callback_path(value: Any, path: str, depth: int = 0) -> str | None:
    """Where the first JS function in ``value`` (arguments as decoded) sits, or None."""
    if type(value) is JSFunction:
        return path
    if depth > 100:
        return None  # the decoder bounds nesting already
    if type(value) is list or type(value) is tuple:
        for i, item in enumerate(value):
            found = _callback_path(item, f"{path}[{i}]", depth + 1)
            if found is not None:
                return found
    elif type(value) is dict:
        for key, item in value.items():
            found = _callback_path(item, f"{path}[{key!r}]", depth + 1)
            if found is not None:
                return found
    return None
