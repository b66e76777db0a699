"""Exceptions as data: the error info a worker sends in an ERROR message.

``describe_exception`` turns an exception into its qualified type, message,
traceback text, error code and cause chain; it never raises, and its text is
always valid UTF-8 (a lone surrogate, as ``os.fsdecode`` makes of a file name
that is not UTF-8, becomes ``\\udcff``): an error must never be lost because
its message cannot be encoded.
"""

from __future__ import annotations

from typing import Any

from pyferry.errors import Cancelled, PyferryError, SerializationError
from pyferry.refs import qualname

__all__ = ["describe_briefly", "describe_exception", "utf8"]


def describe_exception(exc: BaseException, *, skip_frames: int = 0) -> dict[str, Any]:
    """An exception as data: qualified type, message, traceback text, code and cause chain.

    Never raises, even for an exception whose ``str()`` raises.
    """
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None:
            tb = tb.tb_next
    if isinstance(exc, PyferryError):
        tb = None  # pyferry's own frames tell the caller nothing
    info = _one_exception(exc, tb)
    chain: list[dict[str, Any]] = []
    seen = {id(exc)}
    current: BaseException | None = exc
    while current is not None:
        if current.__cause__ is not None:
            relation, nxt = "cause", current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            relation, nxt = "context", current.__context__
        else:
            break
        if id(nxt) in seen:
            break
        seen.add(id(nxt))
        entry = _one_exception(nxt, nxt.__traceback__)
        entry["relation"] = relation
        chain.append(entry)
        current = nxt
    info["chain"] = chain
    return info


def describe_briefly(exc: BaseException, limit: int = 1000) -> dict[str, Any]:
    """The error info of ``exc`` without its traceback and chain, the message cut to ``limit``.

    For an ERROR whose full info cannot be sent (larger than the frame limit,
    say): the type and the start of the message still say what happened.
    """
    try:
        message = str(exc)
    except BaseException:
        message = f"<unprintable {type(exc).__name__} object>"
    return {
        "type": _type_name(exc),
        "message": utf8(message[:limit]),
        "traceback": "",
        "code": exc.code if isinstance(exc, (PyferryError, Cancelled)) else "PYFERRY_PYTHON",
        "chain": [],
    }


def _one_exception(exc: BaseException, tb: Any) -> dict[str, Any]:
    try:
        message = str(exc)
    except BaseException:
        message = f"<unprintable {type(exc).__name__} object>"
    try:
        import traceback  # at the first error, not at start-up

        text = "".join(traceback.format_exception(type(exc), exc, tb, chain=False))
    except BaseException:
        text = f"{_type_name(exc)}: {message}\n"
    info: dict[str, Any] = {
        "type": _type_name(exc),
        "message": utf8(message),
        "traceback": utf8(text),
        "code": exc.code if isinstance(exc, (PyferryError, Cancelled)) else "PYFERRY_PYTHON",
    }
    if isinstance(exc, SerializationError) and exc.path:
        info["path"] = utf8(exc.path)
        info["reason"] = utf8(exc.reason)
    return info


def _type_name(exc: BaseException) -> str:
    try:
        return utf8(qualname(type(exc)))
    except BaseException:  # a class whose __module__ cannot be formatted
        return type(exc).__name__


def utf8(text: str) -> str:
    """``text`` with what UTF-8 cannot hold (lone surrogates) backslash-escaped."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
