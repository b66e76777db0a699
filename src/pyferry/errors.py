"""The exceptions pyferry raises, as one tree.

::

    PyferryError                 base of everything pyferry raises itself
    ├── ProtocolError            bytes on the channel that break the protocol
    │   └── VersionMismatchError the peer speaks another protocol version
    ├── SerializationError       a value that cannot cross (``path`` says where)
    │   ├── EncodeError          ... when turning a Python value into a frame
    │   └── DecodeError          ... when turning a frame into Python values
    ├── TargetError              the call's target cannot be called
    │   ├── TargetNotFoundError  nothing importable or no such attribute
    │   └── TargetForbiddenError a private name (a segment starting with ``_``)
    │       └── NotAllowedError  outside the worker's allow-list
    ├── HandleError              a handle id that is not in the worker's table
    │   ├── HandleInvalidatedError the process that held the object is gone (a Dask worker)
    │   └── MixedHandlesError    one call names objects of two Dask workers
    ├── CallbackExpiredError     a JS callback called after its call was answered
    ├── BackendUnavailableError  the backend's cluster cannot be reached (Dask scheduler)
    └── WorkerCrashedError       a cluster worker died running the call (Dask KilledWorker)

    Cancelled                    raised inside a running call the client cancelled;
                                 a BaseException, so ``except Exception`` lets it pass
    JSError                      a JS callback threw; not a PyferryError: it is the
                                 JS code's failure, as a Python exception is the
                                 called code's

Exceptions raised by the code a client calls are *not* wrapped here: the
worker sends them as data (qualified type, message, traceback text and the
cause chain) and the client raises its own ``PythonError``. Every pyferry class
has a stable ``code`` that travels with it, so the client can map it to its own
class.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "CallbackExpiredError",
    "Cancelled",
    "DecodeError",
    "EncodeError",
    "HandleError",
    "HandleInvalidatedError",
    "JSError",
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


class HandleError(PyferryError):
    """A HANDLE names an id that is not in the worker's handle table (released, or never sent)."""

    code = "PYFERRY_HANDLE"


class HandleInvalidatedError(HandleError):
    """The object behind a handle is gone with the process that held it (a lost Dask worker)."""

    code = "PYFERRY_HANDLE_INVALIDATED"


class MixedHandlesError(HandleError):
    """One call names objects that live on two Dask workers: a call runs where its objects are."""

    code = "PYFERRY_HANDLE_MIXED"


class CallbackExpiredError(PyferryError):
    """A JS callback was called after the call that received it was answered."""

    code = "PYFERRY_CALLBACK"


class BackendUnavailableError(PyferryError):
    """The cluster a backend sends calls to cannot be reached, or was lost during the call.

    The Dask backend's ERROR for a scheduler it cannot connect to or whose
    connection broke; the message names the address. The next call connects afresh.
    """

    code = "PYFERRY_BACKEND_UNAVAILABLE"


class WorkerCrashedError(PyferryError):
    """A cluster's worker process died while it ran the call (Dask's ``KilledWorker``).

    Also the answer to a ``once`` call whose Dask worker died after starting it
    (:mod:`pyferry.backends.dask_delivery`): it is not started again.

    The local backend never raises it: there the client sees its own worker
    exit. The JS client maps it to its ``WorkerCrashedError`` with ``backend: 'dask'``.
    """

    code = "PYFERRY_WORKER_CRASHED"


class JSError(Exception):
    """A JS callback threw (or its promise rejected); raised where Python called it.

    Args:
        js_type: the JS error's name (``TypeError``; ``Error`` for a thrown non-Error).
        js_message: its message.
        js_stack: its stack text, or empty.
    """

    def __init__(self, js_type: str, js_message: str, js_stack: str = "") -> None:
        super().__init__(f"{js_type}: {js_message}")
        self.js_type = js_type
        self.js_message = js_message
        self.js_stack = js_stack

    def __reduce__(self) -> tuple[type[JSError], tuple[str, str, str]]:
        return (type(self), (self.js_type, self.js_message, self.js_stack))


class Cancelled(BaseException):
    """Raised inside a running call when its client cancels it (timeout or abort).

    It derives from ``BaseException`` so that ``except Exception`` in user code
    does not swallow it; code that must clean up can catch it and re-raise.
    """

    code = "PYFERRY_CANCELLED"
