"""The Dask gateway's operations: TLS to a real scheduler, large arguments scattered, batching.

TLS runs against a ``dask scheduler --protocol tls`` and a ``dask worker``
on 127.0.0.1, started here with a throwaway CA and certificate made by the
``openssl`` command. Scattering is seen from inside the task
(tests/fixtures/daskops.py): a scattered argument is an object the Dask
worker holds as data; an inline one is not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dask_helpers import ENV, dask_cli, end, error_of, free_port, gateway, start_cluster, stop
from pyferry.backends.dask_scatter import SCATTER_BYTES
from pyferry.backends.dask_security import TLSFiles, check_address
from pyferry.protocol import ERROR, RESULT

from conftest import WorkerProcess, run_worker

pytest.importorskip("distributed")


@pytest.fixture(autouse=True)
def _fixtures_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers started here (run_worker, as gateways do) see tests/fixtures; restored after."""
    monkeypatch.setenv("PYTHONPATH", ENV["PYTHONPATH"])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _self_signed(name: str, cwd: Path) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=pyferry test {name}", cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a certificate it signed (for scheduler, worker and gateway alike), another CA."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a throwaway CA")
    d = tmp_path_factory.mktemp("tls")
    _self_signed("ca", d)
    _self_signed("other", d)
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=127.0.0.1", cwd=d,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "node.pem", "-days", "2", cwd=d,
    )  # fmt: skip
    return d


def _tls_flags(d: Path, ca: str = "ca") -> list[str]:
    return ["--tls-ca-file", str(d / f"{ca}.pem"), "--tls-cert", str(d / "node.pem"),
            "--tls-key", str(d / "node.key")]  # fmt: skip


@pytest.fixture(scope="module")
def tls_scheduler(certs: Path) -> Iterator[str]:
    """The address of a TLS-only scheduler on 127.0.0.1 with one worker."""
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    procs = [
        dask_cli(
            "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", str(port),
            "--dashboard-address", "127.0.0.1:0", *_tls_flags(certs),
        ),
        dask_cli(
            "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
            "--dashboard-address", "127.0.0.1:0", "--no-nanny", *_tls_flags(certs),
        ),
    ]  # fmt: skip
    try:
        yield address
    finally:
        end(procs)


def _gateway_result(w: WorkerProcess, target: str, args: list[Any], deadline: float) -> Any:
    """The call's result, waiting while the just-started scheduler is not listening yet."""
    while True:
        reply, _ = w.answer(w.start(target, args))
        if reply[0] == RESULT:
            return reply[2]
        assert reply[2]["code"] == "PYFERRY_BACKEND_UNAVAILABLE", reply
        assert time.monotonic() < deadline, reply


# -- TLS ----------------------------------------------------------------------------------------


def test_a_call_over_tls_succeeds(tls_scheduler: str, certs: Path) -> None:
    w = gateway(tls_scheduler, *_tls_flags(certs))
    try:
        assert _gateway_result(w, "numpy.sum", [[1, 2, 3]], time.monotonic() + 60) == 6
        x = np.arange(10.0)
        np.testing.assert_array_equal(w.result("numpy.cumsum", [x]), np.cumsum(x))
    finally:
        w.close()


def test_a_certificate_from_another_ca_is_backend_unavailable_naming_the_address(
    tls_scheduler: str, certs: Path
) -> None:
    w = gateway(tls_scheduler, *_tls_flags(certs, ca="other"), "--scheduler-timeout-ms", "3000")
    try:
        info = error_of(w, "numpy.sum", [[1]])
        assert info["code"] == "PYFERRY_BACKEND_UNAVAILABLE", info
        assert tls_scheduler in info["message"]
    finally:
        w.close()


def test_plain_tcp_to_the_tls_scheduler_fails_without_a_call_running(tls_scheduler: str) -> None:
    plain = tls_scheduler.replace("tls://", "tcp://")
    w = gateway(plain, "--scheduler-timeout-ms", "2000")
    try:
        assert error_of(w, "numpy.sum", [[1]])["code"] == "PYFERRY_BACKEND_UNAVAILABLE"
    finally:
        w.close()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--scheduler", "tls://127.0.0.1:8786"], "no TLS files were given"),
        (["--scheduler", "tls://127.0.0.1:8786", "--tls-ca-file", "{d}/ca.pem"], "--tls-cert"),
        (["--scheduler", "tls://127.0.0.1:8786", "--tls-ca-file", "{d}/nope.pem",
          "--tls-cert", "{d}/node.pem"], "nope.pem' is not a file"),
        (["--scheduler", "tcp://127.0.0.1:8786", "--tls-ca-file", "{d}/ca.pem",
          "--tls-cert", "{d}/node.pem"], "encryption is required"),
        (["--scheduler", "tcp://10.1.2.3:8786"], "tls:// with --tls-ca-file"),
    ],
)  # fmt: skip
def test_tls_misuse_exits_2_saying_what_to_do(certs: Path, args: list[str], words: str) -> None:
    out = run_worker("--backend", "dask", *[a.format(d=certs) for a in args])
    assert out.returncode == 2, out.stderr
    assert "pyferry worker: error:" in out.stderr
    assert words in out.stderr


def test_tls_options_without_backend_dask_exit_2(certs: Path) -> None:
    out = run_worker("--tls-ca-file", str(certs / "ca.pem"))
    assert out.returncode == 2
    assert "need --backend dask" in out.stderr


def test_the_address_rules() -> None:
    tls = TLSFiles("ca.pem", "me.pem")
    check_address("tls://10.1.2.3:8786", insecure=False, tls=tls)  # any host, with TLS
    check_address("tcp://127.0.0.1:8786", insecure=False)
    check_address("tcp://10.1.2.3:8786", insecure=True)
    check_address("tcp://127.0.0.1:8786", insecure=False, tls=TLSFiles("a", "b", None, False))
    with pytest.raises(ValueError, match="no TLS files"):
        check_address("tls://127.0.0.1:8786", insecure=True)
    with pytest.raises(ValueError, match="encryption is required"):
        check_address("tcp://127.0.0.1:8786", insecure=True, tls=tls)
    with pytest.raises(ValueError, match="not tcp://HOST:PORT or tls://HOST:PORT"):
        check_address("ucx://127.0.0.1:8786", insecure=True)


# -- large arguments are scattered --------------------------------------------------------------


@pytest.fixture(scope="module")
def one_worker() -> Iterator[str]:
    proc, info = start_cluster(workers=1)
    try:
        yield info["address"]
    finally:
        stop(proc)


def _held_keys(address: str) -> list[str]:
    """The keys the cluster's workers hold, asked by a child process."""
    code = (
        "import json, sys\n"
        "from distributed import Client\n"
        "with Client(sys.argv[1], timeout=10) as c:\n"
        "    keys = c.run(lambda dask_worker: [str(k) for k in dask_worker.data])\n"
        "print(json.dumps(sorted(k for ks in keys.values() for k in ks)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, address], capture_output=True, text=True, check=True, env=ENV
    )
    keys: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return keys


def test_large_arguments_go_to_the_worker_directly_and_are_released(one_worker: str) -> None:
    w = gateway(one_worker)
    try:
        big = np.random.default_rng(2).random(SCATTER_BYTES // 8 + 1)  # just over the threshold
        small = np.arange(1000.0)
        blob = os.urandom(SCATTER_BYTES + 1)
        out = w.result("daskops.scattered", [big, small, [small, big]], {"blob": blob})
        assert out["args"] == [True, False, [False, True]]
        assert out["kwargs"] == {"blob": True}
        assert out["sizes"][:2] == [big.nbytes, small.nbytes]
        total = w.result("numpy.sum", [big])
        assert total == pytest.approx(big.sum())  # the value itself arrives intact
        deadline = time.monotonic() + 30
        while (held := _held_keys(one_worker)) and time.monotonic() < deadline:
            time.sleep(0.1)  # the release reaches the worker in the background
        assert held == []
    finally:
        w.close()


def test_arguments_at_the_threshold_travel_inline(one_worker: str) -> None:
    w = gateway(one_worker)
    try:
        edge = np.zeros(SCATTER_BYTES // 8)
        assert w.result("daskops.scattered", [edge, b"x" * SCATTER_BYTES])["args"] == [False, False]
    finally:
        w.close()


# -- the client's batching interval -------------------------------------------------------------


def test_the_batch_interval_option_reaches_the_gateways_client(one_worker: str) -> None:
    # Each sequential call waits for the interval at least once (the client's
    # release of the previous result and the next submit share one batch).
    w = gateway(one_worker, "--batch-interval-ms", "250")
    try:
        assert w.result("numpy.sum", [[1]]) == 1  # connects
        started = time.monotonic()
        for i in range(4):
            assert w.result("numpy.sum", [[i]]) == i
        assert time.monotonic() - started >= 0.5
    finally:
        w.close()


@pytest.mark.parametrize("value", ["-1", "1001", "nan", "fast"])
def test_a_bad_batch_interval_exits_2(value: str) -> None:
    out = run_worker("--backend", "dask", "--scheduler", "tcp://127.0.0.1:1",
                     "--batch-interval-ms", value)  # fmt: skip
    assert out.returncode == 2
    assert "--batch-interval-ms" in out.stderr


def test_a_call_that_raises_releases_its_scattered_data(one_worker: str) -> None:
    w = gateway(one_worker)
    try:
        big = np.ones(SCATTER_BYTES // 8 + 1)
        reply, _ = w.answer(w.start("numpy.reshape", [big, [3, 7]]))
        assert reply[0] == ERROR
        assert reply[2]["type"] == "builtins.ValueError"
        deadline = time.monotonic() + 30
        while (held := _held_keys(one_worker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert held == []
    finally:
        w.close()


# -- a scheduler file's address follows the same rules ------------------------------------------


def test_a_scheduler_file_is_read_at_the_first_call_and_its_address_checked(
    one_worker: str, tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"address": one_worker}))
    bad.write_text(json.dumps({"address": "tcp://10.1.2.3:8786"}))
    ok = WorkerProcess("--backend", "dask", "--scheduler-file", str(good))
    refused = WorkerProcess("--backend", "dask", "--scheduler-file", str(bad))
    try:
        assert ok.result("numpy.sum", [[1, 2]]) == 3
        started = time.monotonic()
        info = error_of(refused, "numpy.sum", [[1]])
        assert time.monotonic() - started < 5  # refused before any connection attempt
        assert info["code"] == "PYFERRY_BACKEND_UNAVAILABLE"
        assert str(bad) in info["message"]
        assert "not a loopback address" in info["message"]
    finally:
        ok.close()
        refused.close()
