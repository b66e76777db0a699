"""The Dask backend against real clusters on 127.0.0.1: a LocalCluster, and CLI-started ones.

Clusters, gateways and what a child process asks a cluster: tests/dask_helpers.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dask_helpers import (
    ENV,
    cluster_state,
    dask_cli,
    end,
    error_of,
    free_port,
    gateway,
    gateway_fixture,
    start_cluster,
    stop,
)
from pyferry.backends.dask_security import check_address
from pyferry.protocol import DETACHED, ERROR, RESULT

from conftest import WorkerProcess, run_worker

pytest.importorskip("distributed")  # the dask extra; `make test` installs it


@pytest.fixture(scope="session")
def cluster() -> Iterator[dict[str, Any]]:
    proc, info = start_cluster()
    try:
        yield info
    finally:
        stop(proc)


dask_worker = gateway_fixture()


# -- results: the same through Dask as locally ------------------------------------------------


def test_the_seed_call_and_an_fft_give_what_the_local_backend_gives(
    dask_worker: WorkerProcess, worker: WorkerProcess
) -> None:
    seed = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    reply, before = dask_worker.answer(dask_worker.start("numpy.sum", [seed]))
    assert reply[0] == RESULT
    assert [m[0] for m in before] == [DETACHED]  # the main thread was free meanwhile
    assert reply[2] == 45 == worker.result("numpy.sum", [seed])
    x = np.random.default_rng(1).random(1_000_000)
    remote = dask_worker.result("numpy.fft.rfft", [x])
    local = worker.result("numpy.fft.rfft", [x])
    assert remote.dtype == local.dtype == np.complex128
    np.testing.assert_array_equal(remote, local)
    assert dask_worker.result("numpy.pi", options={"op": "get"}) == np.pi


def test_equal_calls_are_separate_tasks(dask_worker: WorkerProcess) -> None:
    first = dask_worker.result("numpy.random.random", [3])
    second = dask_worker.result("numpy.random.random", [3])
    assert not np.array_equal(first, second)  # unique keys, pure=False


def test_the_client_batching_interval_can_be_lowered_in_this_distributed(
    cluster: dict[str, Any],
) -> None:
    # The gateway lowers BatchedSend.interval itself; if a distributed release
    # renames it, the gateway would silently go back to 10 ms a call: fail here.
    code = (
        "import asyncio, sys\n"
        "from distributed import Client\n"
        "from pyferry.backends.dask import set_batch_interval\n"
        "async def main():\n"
        "    async with Client(sys.argv[1], asynchronous=True) as c:\n"
        "        assert set_batch_interval(c, 0.0025)\n"
        "        assert c.scheduler_comm.interval == 0.0025\n"
        "        print('ok')\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, cluster["address"]],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert out.stdout.strip() == "ok", out.stderr


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        ("workmod.raise_chain", [], "builtins.RuntimeError"),
        ("workmod.exit_now", [3], "builtins.SystemExit"),
        ("builtins.int", ["x"], "builtins.ValueError"),
    ],
    ids=lambda case: case[0],
)
def test_a_task_that_raises_is_a_python_error_and_the_dask_workers_live_on(
    cluster: dict[str, Any],
    dask_worker: WorkerProcess,
    worker: WorkerProcess,
    case: tuple[str, list[Any], str],
) -> None:
    target, args, python_type = case
    pids = cluster_state(cluster["address"])["pids"]
    info = error_of(dask_worker, target, args)
    local = error_of(worker, target, args)
    assert info["type"] == local["type"] == python_type
    assert info["code"] == local["code"] == "PYFERRY_PYTHON"
    assert info["message"] == local["message"]
    if target.startswith("workmod."):  # the remote traceback, with the user's frames
        assert "Traceback" in info["traceback"]
        assert "workmod.py" in info["traceback"]
    assert info["traceback"].splitlines()[-1] == local["traceback"].splitlines()[-1]
    assert [e["type"] for e in info["chain"]] == [e["type"] for e in local["chain"]]
    assert cluster_state(cluster["address"])["pids"] == pids
    assert dask_worker.result("numpy.sum", [[1, 2]]) == 3  # and the gateway too


@pytest.mark.parametrize(
    ("target", "allow", "code"),
    [
        ("os._exit", [], "PYFERRY_TARGET_FORBIDDEN"),
        ("numpy._core.multiarray.array", [], "PYFERRY_TARGET_FORBIDDEN"),
        ("os.system", ["--allow", "numpy.*"], "PYFERRY_NOT_ALLOWED"),
        ("sum", ["--allow", "numpy.*"], "PYFERRY_NOT_ALLOWED"),
    ],
)
def test_a_refused_name_submits_nothing_and_is_the_local_error(
    cluster: dict[str, Any], target: str, allow: list[str], code: str
) -> None:
    remote = gateway(cluster["address"], *allow)
    local = WorkerProcess(*allow, env=ENV)
    try:
        before = cluster_state(cluster["address"])["transitions"]
        info = error_of(remote, target, [1])
        assert info["code"] == error_of(local, target, [1])["code"] == code
        assert info["message"] == error_of(local, target, [1])["message"]
        assert cluster_state(cluster["address"])["transitions"] == before  # no task at all
    finally:
        remote.close()
        local.close()


def test_an_identity_outside_the_allow_list_is_refused_on_the_dask_worker(
    cluster: dict[str, Any],
) -> None:
    remote = gateway(cluster["address"], "--allow", "workmod.*")
    try:
        # workmod.os.getpid is posix.getpid: the name passes, what it resolves to does not.
        assert error_of(remote, "workmod.os.getpid", [])["code"] == "PYFERRY_NOT_ALLOWED"
        assert remote.result("workmod.describe", [1]) == ["int", "1"]
    finally:
        remote.close()


@pytest.mark.parametrize("target", [["sum"], [], [1, "x"], {"a": 1}, 5])
def test_a_target_neither_a_name_nor_a_handle_target_is_the_local_error(
    dask_worker: WorkerProcess, worker: WorkerProcess, target: Any
) -> None:
    assert error_of(dask_worker, target, [])["code"] == "PYFERRY_TARGET"
    assert error_of(worker, target, [])["code"] == "PYFERRY_TARGET"


def test_an_unreachable_scheduler_is_backend_unavailable_naming_it() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once it closes
    address = f"tcp://127.0.0.1:{port}"
    w = WorkerProcess("--backend", "dask", "--scheduler", address, "--scheduler-timeout-ms", "500")
    try:
        started = time.monotonic()
        info = error_of(w, "numpy.sum", [[1]])
        assert time.monotonic() - started < 10
        assert info["code"] == "PYFERRY_BACKEND_UNAVAILABLE"
        assert address in info["message"]
    finally:
        w.close()


# -- a scheduler and a worker started by their own CLIs -----------------------------------------


def _start_scheduler_and_worker(port: int, *scheduler_args: str) -> list[subprocess.Popen[bytes]]:
    address = f"tcp://127.0.0.1:{port}"
    scheduler = dask_cli(
        "scheduler", "--host", "127.0.0.1", "--port", str(port),
        "--dashboard-address", "127.0.0.1:0", *scheduler_args,
    )  # fmt: skip
    worker = dask_cli(
        "worker", address, "--nthreads", "2", "--host", "127.0.0.1",
        "--dashboard-address", "127.0.0.1:0", "--no-nanny",
    )  # fmt: skip
    return [scheduler, worker]


def _stderr_at_exit(w: WorkerProcess) -> str:
    """Close ``w``'s channel, wait for it to exit, and return all it wrote to stderr."""
    w.sock.shutdown(socket.SHUT_WR)
    w.proc.wait(timeout=30)
    assert w.proc.stderr is not None
    text = w.proc.stderr.read().decode(errors="replace")
    w.close()
    return text


def test_a_lost_scheduler_fails_the_call_promptly_and_a_restarted_one_serves() -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = _start_scheduler_and_worker(port)
    w = gateway(address)
    try:
        assert w.result("numpy.sum", [[1, 2, 3]]) == 6  # waits for the worker to join
        call_id = w.start("workmod.sleep", [30])
        assert w.result("numpy.sum", [[1]]) == 1  # on the second thread: the sleep runs
        procs[0].kill()
        started = time.monotonic()
        reply, _ = w.answer(call_id)
        assert time.monotonic() - started < 2
        assert reply[0] == ERROR, reply
        assert reply[2]["code"] == "PYFERRY_BACKEND_UNAVAILABLE", reply
        assert address in reply[2]["message"]
        assert "check that the scheduler is still running" in reply[2]["message"]
        end(procs)
        procs = _start_scheduler_and_worker(port)
        deadline = time.monotonic() + 30
        while True:  # the new scheduler takes a moment to listen, and its worker to join
            reply, _ = w.answer(w.start("numpy.sum", [[4, 5]]))
            if reply[0] == RESULT or time.monotonic() > deadline:
                break
            assert reply[2]["code"] == "PYFERRY_BACKEND_UNAVAILABLE"
        assert reply[0] == RESULT
        assert reply[2] == 9
        # Connect, loss, reconnect: none of it is distributed's log lines on the gateway's stderr.
        assert "distributed" not in _stderr_at_exit(w)
    finally:
        w.close()
        end(procs)


def test_a_scheduler_file_names_a_cli_started_scheduler(tmp_path: Path) -> None:
    port = free_port()
    scheduler_file = tmp_path / "scheduler.json"
    # This scheduler cannot import pyferry's once plugin (as if pyferry were not installed there).
    procs = _start_scheduler_and_worker(
        port, "--scheduler-file", str(scheduler_file), "--preload", "hide_once_plugin"
    )
    w = WorkerProcess("--backend", "dask", "--scheduler-file", str(scheduler_file), env=ENV)
    try:
        deadline = time.monotonic() + 30
        while not scheduler_file.exists():  # the scheduler writes it once it listens
            assert time.monotonic() < deadline, "the scheduler wrote no scheduler file"
            time.sleep(0.05)
        assert w.result("numpy.sum", [[1, 2, 3, 4, 5, 6, 7, 8, 9]]) == 45
        info = error_of(w, "numpy.sum", [[1]], once=True)
        assert info["code"] == "PYFERRY_BACKEND_UNAVAILABLE", info
        assert "check that pyferry is installed where the scheduler runs" in info["message"]
        assert w.result("numpy.sum", [[2]]) == 2  # calls without once still run
    finally:
        w.close()
        end(procs)


def test_a_missing_scheduler_file_is_backend_unavailable_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    w = WorkerProcess(
        "--backend", "dask", "--scheduler-file", str(missing), "--scheduler-timeout-ms", "500",
        env=ENV,
    )  # fmt: skip
    try:
        info = error_of(w, "numpy.sum", [[1]])
        assert info["code"] == "PYFERRY_BACKEND_UNAVAILABLE", info
        assert str(missing) in info["message"]
    finally:
        w.close()


def test_the_gateway_logs_distributed_warnings_and_errors_only() -> None:
    # In a child: quiet() changes this process's logging.
    code = (
        "import asyncio, logging\n"
        "from pyferry.backends.dask_logging import quiet\n"
        "logging.basicConfig(format='%(name)s %(levelname)s %(message)s')\n"
        "logging.getLogger('distributed').setLevel(logging.INFO)  # distributed's default\n"
        "quiet()\n"
        "log = logging.getLogger('distributed.client')\n"
        "logging.getLogger('distributed.scheduler').info('chatter')\n"
        "log.warning('a warning')\n"
        "log.error('Failed to reconnect to scheduler after %.2f seconds, closing client', 10)\n"
        "for exc in (asyncio.CancelledError(), RuntimeError('real')):\n"
        "    try:\n"
        "        raise exc\n"
        "    except BaseException:\n"
        "        log.exception('failed')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DASK_LOGGING__DISTRIBUTED"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert "chatter" not in out.stderr
    assert "distributed.client WARNING a warning" in out.stderr
    assert "RuntimeError: real" in out.stderr
    assert "CancelledError" not in out.stderr
    assert "Failed to reconnect" not in out.stderr


# -- the worker's command line ----------------------------------------------------------------


@pytest.mark.parametrize(
    "address", ["tcp://127.0.0.1:8786", "tcp://localhost:8786", "tcp://[::1]:8786"]
)
def test_loopback_addresses_are_accepted(address: str) -> None:
    check_address(address, insecure=False)


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("tcp://10.1.2.3:8786", "--insecure-tcp-scheduler"),
        ("tcp://scheduler.example:8786", "not a loopback address"),
        ("tls://127.0.0.1:8786", "no TLS files were given"),
        ("127.0.0.1:8786", "tcp://HOST:PORT"),
    ],
)
def test_other_addresses_are_refused(address: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        check_address(address, insecure=False)


def test_the_insecure_opt_in_allows_a_remote_tcp_address() -> None:
    check_address("tcp://10.1.2.3:8786", insecure=True)
    with pytest.raises(ValueError, match="no TLS files were given"):
        check_address("tls://10.1.2.3:8786", insecure=True)


@pytest.mark.parametrize(
    "args",
    [
        ["--backend", "dask", "--scheduler", "tcp://10.1.2.3:8786"],
        ["--backend", "dask"],
        ["--scheduler", "tcp://127.0.0.1:8786"],
    ],
)
def test_a_worker_with_unusable_dask_options_exits_2_saying_why(args: list[str]) -> None:
    out = run_worker(*args)
    assert out.returncode == 2
    assert "pyferry worker: error:" in out.stderr
