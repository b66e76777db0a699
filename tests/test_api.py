"""The public Python API is exactly what __all__ says, and the CLI answers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import pyferry
from pyferry import cli, errors
from pyferry.protocol import ERROR

from conftest import WorkerProcess, run_worker


def test_all_is_pinned() -> None:
    assert sorted(pyferry.__all__) == sorted(
        [
            "PROTOCOL_VERSION",
            "BackendUnavailableError",
            "CallbackExpiredError",
            "Cancelled",
            "DecodeError",
            "EncodeError",
            "HandleError",
            "HandleInvalidatedError",
            "JSError",
            "JSFunction",
            "MixedHandlesError",
            "NotAllowedError",
            "ProtocolError",
            "PyferryError",
            "SerializationError",
            "TargetError",
            "TargetForbiddenError",
            "TargetNotFoundError",
            "VersionMismatchError",
            "WorkerCrashedError",
            "__version__",
            "cancelled",
            "progress",
            "worker_stats",
        ]
    )
    for name in pyferry.__all__:
        assert hasattr(pyferry, name)


def test_every_error_has_its_own_code() -> None:
    # JSError is the JS code's failure, not pyferry's: it crosses as a Python error.
    classes = [getattr(errors, name) for name in errors.__all__ if name != "JSError"]
    assert all(issubclass(c, (errors.PyferryError, errors.Cancelled)) for c in classes)
    assert not issubclass(errors.JSError, errors.PyferryError)
    distinct = {c.code for c in classes if "code" in vars(c)}
    assert len(distinct) == len([c for c in classes if "code" in vars(c)])


def test_version_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyferry", "version"], capture_output=True, check=True, text=True
    ).stdout
    info = json.loads(out)
    assert info["pyferry"] == pyferry.__version__
    assert info["protocol"] == pyferry.PROTOCOL_VERSION


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--fd", "x"], "--fd"),
        (["--max-message-bytes", "3"], "--max-message-bytes"),
        (["--max-memory-bytes", "lots"], "--max-memory-bytes"),
        (["--spin-us", "10001"], "--spin-us"),
        (["--spin-us", "0.5"], "--spin-us"),
    ],
)
def test_bad_worker_arguments_are_refused(args: list[str], option: str) -> None:
    proc = run_worker(*args)
    assert proc.returncode == 2
    assert option in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--fd", "3"],
        ["--fd", "4,5", "--fd", "6"],
        ["--path", "/a", "--path", "b c", "--allow", "numpy.*", "--preload", "json"],
        ["--max-message-bytes", "0", "--max-memory-bytes", "67108864"],
        ["--max-message-bytes", "1048576", "--allow", "", "--path", ""],
        ["--spin-us", "0", "--fd", "3"],
        ["--spin-us", "10000"],
        ["--backend", "dask", "--scheduler", "tcp://127.0.0.1:8786"],
        ["--backend", "local", "--scheduler-file", "/tmp/s.json", "--scheduler-timeout-ms", "5"],
        ["--insecure-tcp-scheduler", "yes", "--insecure-tcp-scheduler", "no"],
    ],
)
def test_the_quick_worker_parser_reads_what_argparse_reads(args: list[str]) -> None:
    quick = cli._quick_worker_args(args)
    assert quick is not None
    reference = vars(cli._parser().parse_args(["worker", *args]))
    assert reference.pop("command") == "worker"
    assert quick == reference


@pytest.mark.parametrize(
    "args",
    [
        ["--fd"],
        ["--fd=3"],
        ["--max-mess", "8"],
        ["--fd", "x"],
        ["--max-message-bytes", "3"],
        ["--spin-us", "-1"],
        ["--path", "-x"],
        ["-h"],
        ["--help", "x"],
        ["--unknown", "1"],
        ["--backend", "cluster"],
        ["--insecure-tcp-scheduler", "true"],
        ["--scheduler-timeout-ms", "0"],
    ],
)
def test_the_quick_worker_parser_leaves_everything_else_to_argparse(args: list[str]) -> None:
    assert cli._quick_worker_args(args) is None


def test_the_command_lines_spin_default_is_the_inboxs() -> None:
    from pyferry.inbox import SPIN

    assert cli._worker_defaults()["spin_us"] == round(SPIN * 1e6)


@pytest.mark.parametrize("name", ["numpy", "msgpack", "pytest"])
def test_hello_versions_match_the_installed_distributions(name: str) -> None:
    from importlib import metadata

    from pyferry.hello import installed_version

    assert installed_version(name) == metadata.version(name)


def test_a_missing_distribution_has_no_version() -> None:
    from pyferry.hello import installed_version

    assert installed_version("pyferry_surely_not_installed") is None


def test_worker_start_up_imports_nothing_it_does_not_need() -> None:
    """asyncio, inspect and the stream machinery load only when a call needs them (cold start)."""
    code = (
        "import sys, pyferry.worker\n"
        "heavy = ['asyncio', 'inspect', 'concurrent.futures', 'subprocess', 'pyferry.streams',"
        " 'numpy', 'pandas', 'pyarrow', 'distributed', 'dask', 'pyferry.backends.dask']\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)
    assert out.stdout.strip() == ""


def test_a_worker_starts_without_what_only_some_calls_need(worker: WorkerProcess) -> None:
    # The same for a real worker's start, which goes through the command line (cli.py)
    # and start-up as well: each loads when a call needs it (an error, an allow-list, a
    # coroutine). numpy is not checked here: workmod imports it.
    for module in ("traceback", "json", "fnmatch", "shutil", "asyncio", "argparse", "gettext"):
        assert worker.call("workmod.loaded", module) is False, module
    assert worker.call_raw("workmod.raise_chain")[0] == ERROR
    assert worker.call("workmod.loaded", "traceback") is True
