"""The exceptions pyferry raises, as one tree.

::

    PyferryError                 base of everything pyferry raises itself
    ├── ProtocolError            bytes on the channel that break the protocol
    │   └── VersionMismatchError the peer speaks another protocol version
    ├── SerializationError       a value that cannot cross (``path`` says where)
    │   ├── EncodeError          ... when turning a Python value into a frame
    │   └── DecodeError          ... when turning a frame into Python values
    └── TargetError              the call's dotted name cannot be called
        ├── TargetNotFoundError  nothing importable or no such attribute
        └── TargetForbiddenError a private name (a segment starting with ``_``)
            └── NotAllowedError  outside the worker's allow-list

    Cancelled                    raised inside a running call the client cancelled;
                                 a BaseException, so ``except Exception`` lets it pass

Exceptions raised by the code a client calls are *not* wrapped here: the
worker sends them as data (qualified type, message, traceback text and the
cause chain) and the client raises its own ``PythonError``. Every class has a
stable ``code`` that travels with it, so the client can map it to its own class.
"""

from __future__ import annotations

__all__ = [
    "Cancelled",
    "DecodeError",
    "EncodeError",
    "NotAllowedError",
    "ProtocolError",
    "PyferryError",
    "SerializationError",
    "TargetError",
    "TargetForbiddenError",
    "TargetNotFoundError",
    "VersionMismatchError",
]


class PyferryError(Exception):
    """Base class of every exception pyferry raises itself."""

    code = "PYFERRY_ERROR"


class ProtocolError(PyferryError):
    """A frame or message broke the protocol (bad magic, sizes over limits, wrong shape)."""

    code = "PYFERRY_PROTOCOL"


class VersionMismatchError(ProtocolError):
    """The two sides speak different protocol versions."""

    code = "PYFERRY_VERSION_MISMATCH"


class SerializationError(PyferryError):
    """A value cannot cross the channel.

    Args:
        message: what is wrong with the value.
        path: where it sits, as an expression such as ``result[2]['foo']``.
    """

    code = "PYFERRY_SERIALIZATION"

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{message} at {path}" if path else message)
        self.path = path
        self.reason = message


class EncodeError(SerializationError):
    """A Python value cannot be turned into wire form."""


class DecodeError(SerializationError):
    """Wire data cannot be turned into a Python value."""


class TargetError(PyferryError):
    """The dotted name of a call cannot be resolved to something callable."""

    code = "PYFERRY_TARGET"


class TargetNotFoundError(TargetError):
    """No module prefix of the name imports, or an attribute on the way is missing."""

    code = "PYFERRY_TARGET_NOT_FOUND"


class TargetForbiddenError(TargetError):
    """The name has a private segment (leading ``_``)."""

    code = "PYFERRY_TARGET_FORBIDDEN"


class NotAllowedError(TargetForbiddenError):
    """The worker has an allow-list and the name, or what it resolves to, is not on it."""

    code = "PYFERRY_NOT_ALLOWED"


class Cancelled(BaseException):
    """Raised inside a running call when its client cancels it (timeout or abort).

    It derives from ``BaseException`` so that ``except Exception`` in user code
    does not swallow it; code that must clean up can catch it and re-raise.
    """

    code = "PYFERRY_CANCELLED"
