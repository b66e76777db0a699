"""Why a value cannot be encoded, and where: the path of an EncodeError.

Called only after an encode failed, :func:`explain` walks the value again:
first its containers alone, without recursion, for a cycle or a nesting past
``MAX_DEPTH``; then, packing part by part, to the first part that does not
encode. Whatever user code raises meanwhile is the reason it reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import msgpack

from pyferry.encoder import DRY_RUN, EXT_MARKER, Encoder, count_exts
from pyferry.errors import EncodeError
from pyferry.protocol import MAX_DEPTH
from pyferry.refs import qualname

__all__ = ["explain"]

_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


def explain(value: Any, root: str, *, handles: bool = False, depth: int = 0) -> EncodeError:
    """Build the error that says which part of ``value`` cannot be encoded, and why.

    This walks the value again, so call it only after an encode failed. A
    cycle, or nesting past ``MAX_DEPTH``, is found first, by a walk that does
    not recurse; then the first part that does not encode. Whatever user code
    raises while this looks (a ``__repr__``, a ``utcoffset``) is the reason it
    reports; only a ``MemoryError`` propagates.

    Args:
        value: what failed to encode.
        root: the name of ``value`` in the path.
        handles: whether objects that cannot cross by value would have become handles
            (so the culprit is elsewhere).
        depth: how many containers enclose ``value`` in its message (1 for a
            result: the message array).
    """
    path = [root]
    try:
        reason = _shape_problem(value, path, depth) or _locate(value, path, _Probe(handles))
    except MemoryError:
        raise
    except BaseException as exc:  # user code that fails again as we look: that is why
        reason = f"{_type_name(value)} cannot cross: {_exception_text(exc)}"
    return EncodeError(reason, _path_text(path))


_CONTAINERS: Final = (list, tuple, dict)


def _shape_problem(value: Any, path: list[str], depth: int) -> str | None:
    """Why ``value`` cannot be packed at all, a cycle or too deep a nesting; ``path`` goes there.

    Looks at containers only, depth first and without recursion, so a value
    nested thousands of levels deep is refused as soon as it passes the limit.
    """
    if not isinstance(value, _CONTAINERS):
        return None
    if depth >= MAX_DEPTH:
        return _TOO_DEEP
    # The open containers, outermost first, each with the iterator over its children.
    stack: list[tuple[Any, Iterator[tuple[Any, Any]]]] = [(value, _children(value))]
    level = {id(value): 0}  # open container -> its index in the stack
    while stack:
        try:
            found = _next_container(stack[-1][1])
        except MemoryError:
            raise
        except BaseException as exc:  # a subclass's items() or __iter__, say
            return f"{_type_name(stack[-1][0])} cannot cross: {_exception_text(exc)}"
        if found is None:
            done = stack.pop()[0]
            del level[id(done)]
            if stack:
                path.pop()
            continue
        key, child = found
        path.append(f"[{key}]" if type(key) is int else f"[{_short_repr(key)}]")
        if id(child) in level:
            up = len(stack) - level[id(child)]
            levels = "1 level" if up == 1 else f"{up} levels"
            return (
                f"the value is cyclic: this {_type_name(child)} holds itself "
                f"(it is the container {levels} up)"
            )
        if depth + len(stack) >= MAX_DEPTH:
            return _TOO_DEEP
        level[id(child)] = len(stack)
        try:
            stack.append((child, _children(child)))
        except MemoryError:
            raise
        except BaseException as exc:
            return f"{_type_name(child)} cannot cross: {_exception_text(exc)}"
    return None


_TOO_DEEP: Final = (
    f"the value nests deeper than {MAX_DEPTH} levels (the message counts as one): "
    "flatten it, or send it in parts"
)


def _next_container(children: Iterator[tuple[Any, Any]]) -> tuple[Any, Any] | None:
    """The next (key, child) whose child is a container, or None when there is none left."""
    for key, child in children:
        if isinstance(child, _CONTAINERS):
            return key, child
    return None


def _children(container: Any) -> Iterator[tuple[Any, Any]]:
    """(index or key, item) of a list, tuple or dict."""
    return iter(container.items()) if isinstance(container, dict) else enumerate(container)


def _locate(value: Any, path: list[str], probe: _Probe) -> str:
    """Why the first part of ``value`` that cannot be encoded fails; ``path`` is extended to it.

    The value holds no cycle and nests within the limit (``_shape_problem``).
    """
    if isinstance(value, msgpack.ExtType):
        return "a raw msgpack.ExtType cannot cross: pyferry writes the extension types itself"
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if not probe.encodes(item):
                path.append(f"[{i}]")
                return _locate(item, path, probe)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not probe.encodes(key):
                return f"dict key {_short_repr(key)}: {_locate(key, [], probe)}"
            if not probe.encodes(item):
                path.append(f"[{_short_repr(key)}]")
                return _locate(item, path, probe)
    elif isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
        return f"int {value} does not fit in 64 bits"
    try:
        probe.pack(value)
    except EncodeError as exc:
        return exc.reason
    except MemoryError:
        raise
    except BaseException as exc:  # msgpack's own TypeError/ValueError, or user code's
        return f"{_type_name(value)} cannot cross: {_exception_text(exc)}"
    return "cannot cross"  # unreachable unless the value changed meanwhile


class _Probe:
    """Packs parts of a value that failed, to find the one at fault; handles go nowhere."""

    __slots__ = ("enc",)

    # Items of these types always encode: the probe need not pack them (a long list of floats).
    SIMPLE: Final = frozenset({float, bool, bytes, type(None)})

    def __init__(self, handles: bool) -> None:
        self.enc = Encoder(DRY_RUN if handles else None)

    def pack(self, value: Any) -> bytes:
        enc = self.enc
        enc.exts = 0
        enc.added = None
        enc.buffers = []
        return enc.packer.pack(value)

    def encodes(self, value: Any) -> bool:
        kind = type(value)
        if kind in self.SIMPLE or (kind is int and _INT_MIN <= value <= _INT_MAX):
            return True
        try:
            header = self.pack(value)
        except MemoryError:
            raise
        except BaseException:
            return False
        return EXT_MARKER.search(header) is None or count_exts(header) == self.enc.exts


# A path longer than this many steps shows its first and last few only.
_PATH_STEPS_SHOWN = 8


def _path_text(path: list[str]) -> str:
    """``path`` as an expression, ``result[0][0]…[0]`` when it is long."""
    if len(path) <= 1 + 2 * _PATH_STEPS_SHOWN:
        return "".join(path)
    hidden = len(path) - 1 - 2 * _PATH_STEPS_SHOWN
    head, tail = path[: 1 + _PATH_STEPS_SHOWN], path[-_PATH_STEPS_SHOWN:]
    return f"{''.join(head)}…({hidden} more)…{''.join(tail)}"


def _type_name(value: Any) -> str:
    return qualname(type(value))


def _short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters; a placeholder if it raises."""
    try:
        text = repr(value)
    except MemoryError:
        raise
    except BaseException:
        text = None
    if not isinstance(text, str):
        return f"<{_type_name(value)} with a failing __repr__>"
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _exception_text(exc: BaseException) -> str:
    """``Type: message`` of an exception met while encoding, whatever its ``__str__`` does."""
    try:
        message = str(exc)
    except BaseException:
        message = ""
    name = type(exc).__qualname__
    return f"{name}: {message}" if message else name
