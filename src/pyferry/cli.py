"""The ``pyferry`` command: ``worker`` (what the Node client starts), ``doctor`` and ``version``.

argparse is the reference parser. A ``worker`` command line of well-formed
``--option value`` pairs, which is what clients send, is read without it:
argparse and the gettext and locale modules it imports are ~1.5 ms of every
worker's start. Anything else (help, ``--option=value``, an abbreviation, a bad
value) goes to argparse, so its usage and error messages are the only ones.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pyferry.inbox import SPIN_US
from pyferry.protocol import PREFIX_SIZE

if TYPE_CHECKING:
    import argparse

    from pyferry.backends.dask import DaskOptions
    from pyferry.backends.dask_security import TLSFiles

__all__ = ["main"]


def _fd_pair(text: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"expected FD or IN,OUT descriptors, got {text!r}")
    return int(parts[0]), int(parts[1])


def _message_limit(text: str) -> int:
    if not text.isdigit() or 0 < int(text) < PREFIX_SIZE:
        raise ValueError(f"expected 0 (the default) or at least {PREFIX_SIZE}")
    return int(text)


def _byte_count(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"expected a number of bytes, got {text!r}")
    return int(text)


SPIN_MAX_US = 10_000


def _spin(text: str) -> int:
    if not text.isdigit() or int(text) > SPIN_MAX_US:
        raise ValueError(f"expected microseconds from 0 to {SPIN_MAX_US}, got {text!r}")
    return int(text)


def _backend(text: str) -> str:
    if text not in ("local", "dask"):
        raise ValueError(f"expected local or dask, got {text!r}")
    return text


def _yes_no(text: str) -> bool:
    if text not in ("yes", "no"):
        raise ValueError(f"expected yes or no, got {text!r}")
    return text == "yes"


def _milliseconds(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise ValueError(f"expected a positive number of milliseconds, got {text!r}")
    return int(text)


BATCH_INTERVAL_MAX_MS = 1000.0


def _batch_interval(text: str) -> float:
    try:
        ms = float(text)
    except ValueError:
        ms = -1.0
    if not 0 <= ms <= BATCH_INTERVAL_MAX_MS:  # NaN fails too
        raise ValueError(f"expected milliseconds from 0 to {BATCH_INTERVAL_MAX_MS:g}, got {text!r}")
    return ms


# The worker's options: flag -> (destination, converter, repeatable).
_WORKER_OPTIONS: dict[str, tuple[str, Callable[[str], Any], bool]] = {
    "--fd": ("fd", _fd_pair, False),
    "--connect": ("connect", str, False),
    "--path": ("path", str, True),
    "--max-message-bytes": ("max_message_bytes", _message_limit, False),
    "--allow": ("allow", str, True),
    "--preload": ("preload", str, True),
    "--max-memory-bytes": ("max_memory_bytes", _byte_count, False),
    "--spin-us": ("spin_us", _spin, False),
    "--backend": ("backend", _backend, False),
    "--scheduler": ("scheduler", str, False),
    "--scheduler-file": ("scheduler_file", str, False),
    "--insecure-tcp-scheduler": ("insecure_tcp_scheduler", _yes_no, False),
    "--scheduler-timeout-ms": ("scheduler_timeout_ms", _milliseconds, False),
    "--batch-interval-ms": ("batch_interval_ms", _batch_interval, False),
    "--tls-ca-file": ("tls_ca_file", str, False),
    "--tls-cert": ("tls_cert", str, False),
    "--tls-key": ("tls_key", str, False),
    "--tls-require-encryption": ("tls_require_encryption", _yes_no, False),
}

_TLS_FLAGS = ("--tls-ca-file", "--tls-cert", "--tls-key", "--tls-require-encryption")


def _worker_defaults() -> dict[str, Any]:
    return {
        "fd": (3, 3),
        "connect": None,
        "path": [],
        "max_message_bytes": 0,
        "allow": [],
        "preload": [],
        "max_memory_bytes": 0,
        "spin_us": SPIN_US,
        "backend": "local",
        "scheduler": None,
        "scheduler_file": None,
        "insecure_tcp_scheduler": False,
        "scheduler_timeout_ms": None,  # the Dask backend's own default
        "batch_interval_ms": None,  # the Dask backend's own default
        "tls_ca_file": None,
        "tls_cert": None,
        "tls_key": None,
        "tls_require_encryption": None,  # yes, when TLS files are given
    }


def _quick_worker_args(argv: Sequence[str]) -> dict[str, Any] | None:
    """The worker's options from plain ``--option value`` pairs, or None for argparse to read."""
    values = _worker_defaults()
    if len(argv) % 2:
        return None
    for flag, text in zip(argv[::2], argv[1::2], strict=True):
        if flag not in _WORKER_OPTIONS or text.startswith("-"):
            return None
        name, convert, repeatable = _WORKER_OPTIONS[flag]
        try:
            value = convert(text)
        except ValueError:
            return None
        if repeatable:
            values[name].append(value)
        else:
            values[name] = value
    return values


def _checked(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert`` with its ValueError as argparse's ArgumentTypeError, which shows the message."""
    import argparse

    def wrapper(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return wrapper


def _formatter(prog: str) -> argparse.HelpFormatter:
    import argparse

    # argparse's own sizes help to the terminal through shutil, whose import (with zlib,
    # bz2 and lzma) is ~1.5 ms: ask the terminal directly.
    try:
        width = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(1).columns
    except (OSError, ValueError):
        width = 80
    return argparse.HelpFormatter(prog, width=width - 2)


def _parser() -> argparse.ArgumentParser:
    import argparse

    from pyferry import __version__

    parser = argparse.ArgumentParser(
        prog="pyferry",
        description="The Python half of pyferry. The Node client (npm package pyferry) starts "
        "'pyferry worker' itself; 'pyferry doctor' checks this interpreter.",
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"pyferry {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    worker = commands.add_parser(
        "worker",
        help="serve calls on a protocol descriptor (the Node client starts it)",
        formatter_class=_formatter,
    )
    helps = {
        "--fd": "protocol descriptor, or IN,OUT for two pipes (default: 3, one socket)",
        "--connect": "connect to the client and speak the protocol there, instead of on a "
        "descriptor (for clients that cannot pass one): tcp:HOST:PORT on loopback, proved with "
        "the token in PYFERRY_TOKEN, or the path of a Unix socket",
        "--path": "directory to add to sys.path (repeatable)",
        "--max-message-bytes": "largest message accepted or sent (default 1 GiB)",
        "--allow": "glob of callable targets, e.g. 'numpy.*' (repeatable; default: any "
        "public name)",
        "--preload": "module to import before serving (repeatable); exit 3 if it fails",
        "--max-memory-bytes": "memory limit (RLIMIT_AS; a job object on Windows), so that "
        "running out is a MemoryError (default none; exit 6 where it cannot be set)",
        "--spin-us": "microseconds to keep polling for the next call before sleeping, while "
        f"calls come quickly (default {SPIN_US}; 0: sleep at once)",
        "--backend": "where calls run: local (in this process, the default) or dask (submitted "
        "to a Dask scheduler)",
        "--scheduler": "the Dask scheduler's address, tcp://HOST:PORT (loopback unless "
        "--insecure-tcp-scheduler yes)",
        "--scheduler-file": "a Dask scheduler file, instead of --scheduler",
        "--insecure-tcp-scheduler": "yes: allow a tcp:// scheduler that is not on loopback "
        "(plain, unauthenticated TCP to a process that runs what it is sent; default no)",
        "--scheduler-timeout-ms": "how long connecting to the Dask scheduler may take "
        "(default: the Dask backend's, 10 s)",
        "--batch-interval-ms": "how long the gateway's Dask client batches its messages to the "
        "scheduler, 0 to 1000 (default 1; Dask's own is 10)",
        "--tls-ca-file": "CA certificate (PEM) that the tls:// scheduler's certificate must be "
        "signed by",
        "--tls-cert": "the gateway's client certificate (PEM), for a tls:// scheduler",
        "--tls-key": "the client certificate's private key (PEM), unless --tls-cert holds it",
        "--tls-require-encryption": "no: allow plain tcp:// connections despite the TLS files "
        "(default yes)",
    }
    metavars = {
        "--allow": "PATTERN",
        "--preload": "MODULE",
        "--spin-us": "US",
        "--scheduler": "ADDR",
        "--scheduler-file": "PATH",
        "--insecure-tcp-scheduler": "yes|no",
        "--scheduler-timeout-ms": "MS",
        "--batch-interval-ms": "MS",
        "--tls-ca-file": "PATH",
        "--tls-cert": "PATH",
        "--tls-key": "PATH",
        "--tls-require-encryption": "yes|no",
        "--connect": "ADDRESS",
    }
    defaults = _worker_defaults()
    for flag, (name, convert, repeatable) in _WORKER_OPTIONS.items():
        worker.add_argument(
            flag,
            action="append" if repeatable else "store",
            type=_checked(convert),
            default=defaults[name],
            metavar=metavars.get(flag),
            help=helps[flag],
        )
    commands.add_parser("version", help="print versions as JSON", formatter_class=_formatter)
    doctor = commands.add_parser(
        "doctor",
        help="check this interpreter: runtime, dependencies, a seed call; exit 0 if it works",
        formatter_class=_formatter,
    )
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.add_argument(
        "--backend", choices=["local", "dask"], default="local", help="with dask: --scheduler"
    )
    doctor.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="also report this Dask scheduler, its workers and whether pyferry and numpy "
        "import on them",
    )
    doctor.add_argument(
        "--insecure-tcp-scheduler",
        choices=["yes", "no"],
        default="no",
        help="allow a scheduler that is not on loopback (as for the worker)",
    )
    doctor.add_argument(
        "--scheduler-timeout-ms",
        metavar="MS",
        type=_checked(_milliseconds),
        help="how long connecting to the scheduler may take (default: 10000)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    options = _quick_worker_args(argv[1:]) if argv[:1] == ["worker"] else None
    if options is None:
        args = vars(_parser().parse_args(argv))
        command = args.pop("command")
        if command == "version":
            import json

            from pyferry.hello import hello_info

            print(json.dumps(hello_info()))
            return 0
        if command == "doctor":
            from pyferry.doctor import run

            if (args["backend"] == "dask") != (args["scheduler"] is not None):
                print(
                    "pyferry doctor: error: --backend dask and --scheduler go together",
                    file=sys.stderr,
                )
                return 2
            return run(
                as_json=args["json"],
                scheduler=args["scheduler"],
                insecure=args["insecure_tcp_scheduler"] == "yes",
                timeout_ms=args["scheduler_timeout_ms"],
            )
        options = args

    try:
        dask = _dask_options(options)
    except ValueError as exc:
        print(f"pyferry worker: error: {exc}", file=sys.stderr)
        return 2

    from pyferry.startup import main as worker_main

    return worker_main(
        options["fd"],
        options["path"],
        options["max_message_bytes"],
        allow=options["allow"],
        preload=options["preload"],
        max_memory_bytes=options["max_memory_bytes"],
        # A gateway's main thread only hands calls on: spinning would take the GIL from
        # the event loop thread, where its Dask client works (measured: ~15% more CPU a call).
        spin_us=options["spin_us"] if dask is None else 0,
        connect=options["connect"],
        dask=dask,
    )


def _dask_options(options: dict[str, Any]) -> DaskOptions | None:
    """The Dask backend's options from the worker's, or None for the local backend.

    Raises:
        ValueError: they do not fit together, a TLS file is missing, or the address
            is refused (:func:`pyferry.backends.dask_security.check_address`).
    """
    scheduler, scheduler_file = options["scheduler"], options["scheduler_file"]
    tls_given = [f for f in _TLS_FLAGS if options[_WORKER_OPTIONS[f][0]] is not None]
    if options["backend"] != "dask":
        if scheduler is not None or scheduler_file is not None or tls_given:
            raise ValueError(
                "--scheduler, --scheduler-file and the --tls-* options need --backend dask"
            )
        return None
    import dataclasses

    from pyferry.backends.dask import DaskOptions
    from pyferry.backends.dask_security import check_address

    if (scheduler is None) == (scheduler_file is None):
        raise ValueError("--backend dask needs one of --scheduler ADDR and --scheduler-file PATH")
    tls = _tls_files(options) if tls_given else None
    insecure = options["insecure_tcp_scheduler"]
    if scheduler is not None:
        check_address(scheduler, insecure, tls)
    chosen = DaskOptions(
        scheduler=scheduler, scheduler_file=scheduler_file, insecure=insecure, tls=tls
    )
    timeout, interval = options["scheduler_timeout_ms"], options["batch_interval_ms"]
    if timeout is not None:
        chosen = dataclasses.replace(chosen, connect_timeout=timeout / 1000)
    if interval is not None:
        chosen = dataclasses.replace(chosen, batch_interval=interval / 1000)
    return chosen


def _tls_files(options: dict[str, Any]) -> TLSFiles:
    """The TLS files of the ``--tls-*`` options, checked.

    Raises:
        ValueError: ``--tls-ca-file`` or ``--tls-cert`` is missing, or a file does not exist.
    """
    from pyferry.backends.dask_security import TLSFiles

    ca, cert = options["tls_ca_file"], options["tls_cert"]
    if ca is None or cert is None:
        raise ValueError(
            "TLS needs both --tls-ca-file and --tls-cert (and --tls-key unless the "
            "certificate file holds the key)"
        )
    require = options["tls_require_encryption"]
    tls = TLSFiles(ca, cert, options["tls_key"], require_encryption=require is not False)
    tls.check()
    return tls
