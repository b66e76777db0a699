"""The ``pyferry`` command: ``worker`` (what the Node client starts) and ``version``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from pyferry.protocol import PREFIX_SIZE

__all__ = ["main"]


def _fd_pair(text: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected FD or IN,OUT descriptors, got {text!r}")
    return int(parts[0]), int(parts[1])


def _message_limit(text: str) -> int:
    if not text.isdigit() or 0 < int(text) < PREFIX_SIZE:
        raise argparse.ArgumentTypeError(f"expected 0 (the default) or at least {PREFIX_SIZE}")
    return int(text)


def _byte_count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of bytes, got {text!r}")
    return int(text)


def _formatter(prog: str) -> argparse.HelpFormatter:
    # argparse's own sizes help to the terminal through shutil, whose import (with zlib,
    # bz2 and lzma) is ~1.5 ms of every worker start: ask the terminal directly.
    try:
        width = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(1).columns
    except (OSError, ValueError):
        width = 80
    return argparse.HelpFormatter(prog, width=width - 2)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="pyferry", description=__doc__, formatter_class=_formatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser(
        "worker", help="serve calls on a protocol descriptor", formatter_class=_formatter
    )
    worker.add_argument(
        "--fd",
        type=_fd_pair,
        default=(3, 3),
        help="protocol descriptor, or IN,OUT for two pipes (default: 3, one socket)",
    )
    worker.add_argument(
        "--path", action="append", default=[], help="directory to add to sys.path (repeatable)"
    )
    worker.add_argument(
        "--max-message-bytes",
        type=_message_limit,
        default=0,
        help="largest message accepted or sent (default 1 GiB)",
    )
    worker.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PATTERN",
        help="glob of callable targets, e.g. 'numpy.*' (repeatable; default: any public name)",
    )
    worker.add_argument(
        "--preload",
        action="append",
        default=[],
        metavar="MODULE",
        help="module to import before serving (repeatable); exit 3 if it fails",
    )
    worker.add_argument(
        "--max-memory-bytes",
        type=_byte_count,
        default=0,
        help="address-space limit (RLIMIT_AS), so that running out is a MemoryError (default none)",
    )
    commands.add_parser("version", help="print versions as JSON", formatter_class=_formatter)
    args = parser.parse_args(argv)

    if args.command == "worker":
        from pyferry.startup import main as worker_main

        return worker_main(
            args.fd,
            args.path,
            args.max_message_bytes,
            allow=args.allow,
            preload=args.preload,
            max_memory_bytes=args.max_memory_bytes,
        )
    import json

    from pyferry.worker import hello_info

    print(json.dumps(hello_info()))
    return 0
