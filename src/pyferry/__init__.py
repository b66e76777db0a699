"""pyferry: the Python side of a Node.js <-> Python bridge for numerical work.

Node starts ``python -m pyferry worker`` processes and calls Python functions
in them by dotted name; arrays cross as raw bytes. This package holds the
worker runtime, the wire protocol and the codec. See ``docs/protocol.md``.
"""

from __future__ import annotations

from pyferry.callbacks import JSFunction
from pyferry.calls import progress, worker_stats
from pyferry.cancel import cancelled
from pyferry.errors import (
    BackendUnavailableError,
    CallbackExpiredError,
    Cancelled,
    DecodeError,
    EncodeError,
    HandleError,
    HandleInvalidatedError,
    JSError,
    MixedHandlesError,
    NotAllowedError,
    ProtocolError,
    PyferryError,
    SerializationError,
    TargetError,
    TargetForbiddenError,
    TargetNotFoundError,
    VersionMismatchError,
    WorkerCrashedError,
)
from pyferry.protocol import PROTOCOL_VERSION

__version__ = "0.1.0"

__all__ = [
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
