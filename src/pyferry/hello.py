"""The handshake: what a worker says about itself in HELLO, and the check of the client's.

The worker speaks first (protocol section 4): its HELLO names the protocol
version, its pyferry, Python and numpy versions and its pid; then it reads the
client's HELLO and refuses another protocol version loudly.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from pyferry import __version__
from pyferry.codec import decode, encode
from pyferry.errors import ProtocolError, VersionMismatchError
from pyferry.protocol import HELLO, PROTOCOL_VERSION
from pyferry.transport import Channel

__all__ = ["handshake", "hello_info", "installed_version"]


def handshake(channel: Channel, limit: int) -> None:
    """Send HELLO, then read and check the client's HELLO.

    Raises:
        EOFError: the client closed the channel first.
        VersionMismatchError: the client speaks another protocol version.
        ProtocolError: the first frame is not a HELLO.
    """
    channel.write_frame(*encode([HELLO, 0, hello_info()], limit=limit))
    frame = channel.read_frame()
    if frame is None:
        raise EOFError("channel closed before the client's HELLO")
    message = decode(*frame)
    if not (isinstance(message, list) and len(message) >= 3 and message[0] == HELLO):
        raise ProtocolError(f"expected the client's HELLO first, got {message!r:.80}")
    info = message[2] if isinstance(message[2], dict) else {}
    theirs = info.get("protocol")
    if theirs != PROTOCOL_VERSION:
        raise VersionMismatchError(
            f"client speaks protocol version {theirs!r}, "
            f"this worker (pyferry {__version__}) speaks {PROTOCOL_VERSION}"
        )


def hello_info() -> dict[str, Any]:
    """What the worker says about itself in its HELLO message."""
    numpy_version = installed_version("numpy")
    return {
        "protocol": PROTOCOL_VERSION,
        "pyferry": __version__,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "numpy": numpy_version,
        "pid": os.getpid(),
    }


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, without importing it.

    Reads the ``<name>-<version>.dist-info`` (or ``.egg-info``) directory
    names on ``sys.path``, in path order as the import system would find
    them: ``importlib.metadata`` does the same but costs ~15 ms of imports at
    every worker start.
    """
    module = sys.modules.get(name)
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return str(module.__version__)
    prefix = f"{name}-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for item in names:
            if item.startswith(prefix) and item.endswith((".dist-info", ".egg-info")):
                version = item[len(prefix) :].rsplit(".", 1)[0]
                return version.split("-py", 1)[0]  # egg-info names may end in -pyX.Y
    return None
