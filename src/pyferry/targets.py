"""Resolving a call's dotted name (``numpy.fft.rfft``) to the object to call.

The longest importable module prefix is imported, then the remaining segments
are walked as attributes. A single segment that is not a module names a
builtin (``sum``, ``len``). Every segment must be public: one that starts with
``_`` is refused before anything is imported. Resolutions are cached per name.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Sequence
from typing import Any

from pyferry.errors import TargetError, TargetForbiddenError, TargetNotFoundError

__all__ = ["Resolver"]


class Resolver:
    """Resolves and caches call targets by dotted name."""

    def __init__(self, allow: Sequence[str] = ()) -> None:
        self._allow = tuple(allow)  # checked in a later change
        self._cache: dict[str, Any] = {}

    def resolve(self, name: str) -> Any:
        """Return the callable that ``name`` designates.

        Raises:
            TargetForbiddenError: a segment is private (starts with ``_``).
            TargetNotFoundError: no module or attribute of that name.
            TargetError: the name is malformed or names something not callable.
        """
        try:
            return self._cache[name]
        except KeyError:
            pass
        target = _resolve(name)
        self._cache[name] = target
        return target


def _resolve(name: str) -> Any:
    if not isinstance(name, str) or not name:
        raise TargetError(f"call target must be a non-empty dotted name, got {name!r}")
    parts = name.split(".")
    for part in parts:
        if not part.isidentifier():
            raise TargetError(f"call target {name!r} has an invalid segment {part!r}")
        if part.startswith("_"):
            raise TargetForbiddenError(
                f"call target {name!r} is refused: segment {part!r} is private"
            )
    obj, used = _import_prefix(parts)
    for i in range(used, len(parts)):
        try:
            obj = getattr(obj, parts[i])
        except AttributeError:
            where = ".".join(parts[:i])
            raise TargetNotFoundError(
                f"call target {name!r} not found: {where!r} has no attribute {parts[i]!r}"
            ) from None
    if not callable(obj):
        raise TargetError(f"call target {name!r} is a {type(obj).__name__}, not callable")
    return obj


def _import_prefix(parts: list[str]) -> tuple[Any, int]:
    """Import the longest importable prefix of ``parts``; return it and its segment count."""
    for end in range(len(parts), 0, -1):
        module_name = ".".join(parts[:end])
        try:
            return importlib.import_module(module_name), end
        except ModuleNotFoundError as exc:
            # Only "this very module does not exist" means: try a shorter prefix.
            # A missing import *inside* an existing module is the user's error.
            if exc.name is None or not _is_prefix(exc.name, module_name):
                raise
    if len(parts) == 1 and hasattr(builtins, parts[0]):
        return builtins, 0
    raise TargetNotFoundError(f"call target {'.'.join(parts)!r} not found: no module {parts[0]!r}")


def _is_prefix(missing: str, module_name: str) -> bool:
    return module_name == missing or module_name.startswith(missing + ".")
