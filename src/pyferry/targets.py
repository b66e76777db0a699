"""Resolving a call's dotted name (``numpy.fft.rfft``) to the object to call.

The longest importable module prefix is imported, then the remaining segments
are walked as attributes. A single segment that names a builtin (``sum``,
``len``) is that builtin, found without importing anything; any other single
segment is imported as a module (which is not callable, so it is refused).
Every segment must be public: one that starts with ``_`` is refused before
anything is imported. Resolutions are cached per name.

Allow-list
----------

A :class:`Resolver` built with ``allow`` patterns (``fnmatch`` globs matched
case-sensitively against full dotted names, where ``*`` also crosses dots:
``numpy.*``, ``mypkg.stats.*``, ``builtins.sum``) admits a target only if

1. the name as requested matches a pattern, checked before anything is
   imported, so a refused name runs no import; a single builtin name is
   matched as ``builtins.<name>`` (``sum`` as ``builtins.sum``), and
2. the *identity* of the object it resolves to matches a pattern, so that a
   public name cannot lead elsewhere: with ``mypkg.*`` allowed,
   ``mypkg.os.system`` is refused because it is ``posix.system``.

Otherwise :class:`~pyferry.errors.NotAllowedError` names the requested name,
the identity when that was the reason, and the patterns.

The identity of a callable is ``<module>.<qualified name>``, found as follows:

- ``functools.partial``: the identity of the function it wraps (the code that
  runs), unwrapping nested partials.
- builtin functions: their ``__module__`` (or their module's name) and
  ``__qualname__``: ``os.system`` is ``posix.system``, ``len`` is
  ``builtins.len``.
- bound builtin methods: the module of the class they are bound to (the
  ``__self__`` itself when it is a class, else its type) and their
  ``__qualname__``: ``numpy.add.reduce`` is ``numpy.ufunc.reduce``,
  ``dict.fromkeys`` is ``builtins.dict.fromkeys``.
- unbound methods of builtin types (method descriptors): the module of the
  class they belong to (``__objclass__``) and their ``__qualname__``:
  ``str.upper`` is ``builtins.str.upper``.
- numpy ufuncs: ``__module__`` and ``__name__`` when the ufunc has a module
  (numpy's own: ``numpy.abs`` is ``numpy.absolute``); else the name of the
  module it was found in (``scipy.special.gamma``); else ``numpy.<name>``. A
  ufunc whose name is not an identifier (``numpy.frompyfunc`` ones, which wrap
  arbitrary Python code) has no identity.
- other objects with their own string ``__module__`` and ``__qualname__``:
  those. This covers Python functions and bound methods (the function's), classes,
  Cython functions and numpy's dispatchers: ``scipy.signal.periodogram`` is
  ``scipy.signal._spectral_py.periodogram``.
- any other callable (an instance of a class with ``__call__``): the module
  and qualified name of its type.

An object with no identity by these rules is refused whenever an allow-list is
set. Without one, only the public-segment rule applies.

Handle targets and ``get``
--------------------------

A call may also name an object the client holds a handle to, followed by
attribute names (``[handle, "most_common"]``, protocol section 3):
:meth:`Resolver.resolve_in` walks them with the same public-segment rule and,
under an allow-list, checks the identity of what is called (the method
``fit`` of a scikit-learn model is
``sklearn.linear_model._base.LinearRegression.fit``). A call with ``op:
"get"`` answers with the object itself (:meth:`Resolver.get`), which need not
be callable; under an allow-list its name must match, and its identity too
when it is callable.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import sys
import types
from collections.abc import Sequence
from typing import Any

from pyferry.errors import (
    NotAllowedError,
    TargetError,
    TargetForbiddenError,
    TargetNotFoundError,
)

__all__ = ["Resolver", "identity"]

_MAX_PARTIAL_DEPTH = 100


class Resolver:
    """Resolves and caches call targets by dotted name.

    Args:
        allow: ``fnmatch`` patterns of the targets that may be called (see the
            module docstring); empty for every public name.

    Raises:
        TypeError: ``allow`` is a single string, or holds something other than
            non-empty strings.
    """

    def __init__(self, allow: Sequence[str] = ()) -> None:
        if isinstance(allow, str | bytes):
            raise TypeError(f"allow must be a sequence of patterns, not the string {allow!r}")
        patterns = tuple(allow)
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern:
                raise TypeError(f"allow patterns must be non-empty strings, got {pattern!r}")
        self._allow = patterns
        self._cache: dict[str, Any] = {}

    @property
    def allow(self) -> tuple[str, ...]:
        """The allow-list patterns; empty when every public name may be called."""
        return self._allow

    def get(self, name: str) -> Any:
        """Return the object ``name`` designates, callable or not (``op: "get"``; not cached).

        Raises:
            the errors of :meth:`resolve`, except that a non-callable is no error.
        """
        return _resolve(name, self._allow, need_callable=False)

    def resolve_in(self, obj: Any, names: Sequence[Any], label: str, *, get: bool = False) -> Any:
        """Walk attribute ``names`` from ``obj`` (a handle's object) to what the call uses.

        Args:
            obj: the object behind the handle.
            names: attribute names, each public; none means ``obj`` itself.
            label: how errors name the start (``handle 3 (collections.Counter)``).
            get: the call answers with the object instead of calling it, so it
                need not be callable.

        Raises:
            TargetError: a name is not a non-empty string, or (not ``get``) the
                object is not callable.
            TargetForbiddenError: a name starts with ``_``.
            TargetNotFoundError: an attribute is missing.
            NotAllowedError: under an allow-list, what is called (or got, when
                callable) has no identity or one that matches no pattern.
        """
        path = label
        parent: Any = None
        for name in names:
            if not isinstance(name, str) or not name:
                raise TargetError(
                    f"call target {path}: attribute names must be non-empty strings, "
                    f"got {name!r:.100}"
                )
            if name.startswith("_"):
                raise TargetForbiddenError(
                    f"call target {path}.{name} is refused: attribute {name!r} is private"
                )
            parent = obj
            try:
                obj = getattr(obj, name)
            except AttributeError:
                raise TargetNotFoundError(
                    f"call target {path}.{name} not found: {path} has no attribute {name!r}"
                ) from None
            path = f"{path}.{name}"
        if not get and not callable(obj):
            raise TargetError(f"call target {path} is a {type(obj).__name__}, not callable")
        if self._allow and (not get or callable(obj)):
            _check_identity(path, obj, parent, self._allow)
        return obj

    def check_name(self, name: str) -> None:
        """Check ``name`` as :meth:`resolve` does before it imports anything.

        For a backend that resolves elsewhere (a Dask worker): what is refused
        here is never sent there. The identity check needs the object, so it is
        left to the side that resolves it.

        Raises:
            TargetForbiddenError: a segment is private (starts with ``_``).
            NotAllowedError: the name is outside the allow-list.
            TargetError: the name is malformed.
        """
        _check_name(name, self._allow)

    def resolve(self, name: str) -> Any:
        """Return the callable that ``name`` designates.

        Raises:
            TargetForbiddenError: a segment is private (starts with ``_``).
            NotAllowedError: the name, or what it resolves to, is outside the allow-list.
            TargetNotFoundError: no module or attribute of that name.
            TargetError: the name is malformed or names something not callable.
        """
        try:
            return self._cache[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name, refused below
            pass
        target = _resolve(name, self._allow)
        self._cache[name] = target
        return target


def _resolve(name: str, allow: tuple[str, ...], *, need_callable: bool = True) -> Any:
    builtin = _check_name(name, allow)
    if builtin:
        obj, parent = getattr(builtins, name), builtins
    else:
        obj, parent = _walk(name, name.split("."))
    if not callable(obj):
        if need_callable:
            raise TargetError(f"call target {name!r} is a {type(obj).__name__}, not callable")
        return obj  # got, not called: only the name is checked against an allow-list
    if allow:
        _check_identity(name, obj, parent, allow)
    return obj


def _check_name(name: str, allow: tuple[str, ...]) -> bool:
    """Check ``name`` without importing anything; return whether it names a builtin."""
    if not isinstance(name, str) or not name:
        raise TargetError(f"call target must be a non-empty dotted name, got {name!r:.100}")
    parts = name.split(".")
    for part in parts:
        if not part.isidentifier():
            raise TargetError(f"call target {name!r} has an invalid segment {part!r}")
        if part.startswith("_"):
            raise TargetForbiddenError(
                f"call target {name!r} is refused: segment {part!r} is private"
            )
    builtin = len(parts) == 1 and hasattr(builtins, parts[0])
    if allow:
        requested = f"builtins.{name}" if builtin else name
        if not _matches(requested, allow):
            shown = f" (as {requested!r})" if requested != name else ""
            raise NotAllowedError(
                f"call target {name!r}{shown} is not allowed: it matches none of "
                f"the allowed patterns {list(allow)}"
            )
    return builtin


def _walk(name: str, parts: list[str]) -> tuple[Any, Any]:
    """Import the longest module prefix of ``parts`` and walk the rest; return (object, parent)."""
    obj, used = _import_prefix(parts)
    parent: Any = None
    for i in range(used, len(parts)):
        parent = obj
        try:
            obj = getattr(obj, parts[i])
        except AttributeError:
            where = ".".join(parts[:i])
            raise TargetNotFoundError(
                f"call target {name!r} not found: {where!r} has no attribute {parts[i]!r}"
                f"{_did_you_mean(obj, parts[i])}"
            ) from None
    return obj, parent


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
    raise TargetNotFoundError(_no_module(".".join(parts), parts[0]))


def _no_module(name: str, top: str) -> str:
    """The message for a target whose top-level module this interpreter cannot import."""
    import sys

    exe = sys.executable
    command = f'"{exe}"' if " " in exe else exe
    return (
        f"call target {name!r} not found: no module {top!r} in this worker's interpreter "
        f"{exe}. If {top!r} is a library, install it there: {command} -m pip install {top} "
        "(the pip name may differ); if it is your own module, add its folder to the "
        "`path` option."
    )


def _did_you_mean(obj: Any, missing: str) -> str:
    """`` (did you mean 'x'?)`` for the public attribute of ``obj`` closest to ``missing``."""
    import difflib  # only on this error path

    try:
        names = [n for n in dir(obj) if not n.startswith("_")]
    except Exception:  # a hostile __dir__ must not hide the real error
        return ""
    close = difflib.get_close_matches(missing, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_prefix(missing: str, module_name: str) -> bool:
    return module_name == missing or module_name.startswith(missing + ".")


def _matches(dotted: str, patterns: tuple[str, ...]) -> bool:
    import fnmatch  # only with an allow-list

    return any(fnmatch.fnmatchcase(dotted, pattern) for pattern in patterns)


def _check_identity(name: str, obj: Any, parent: Any, allow: tuple[str, ...]) -> None:
    ident = identity(obj, parent)
    if ident is None:
        raise NotAllowedError(
            f"call target {name!r} is not allowed: what it resolves to "
            f"(a {type(obj).__module__}.{type(obj).__qualname__}) has no module and "
            f"qualified name to check against the allowed patterns {list(allow)}"
        )
    if not _matches(ident, allow):
        raise NotAllowedError(
            f"call target {name!r} is not allowed: it resolves to {ident!r}, which "
            f"matches none of the allowed patterns {list(allow)}"
        )


def identity(obj: Any, parent: Any = None) -> str | None:
    """The ``module.qualname`` an allow-list checks for ``obj``, or None if it has none.

    Args:
        obj: a callable.
        parent: the object ``obj`` was read from as an attribute, if any; used
            only for numpy ufuncs that do not say which module they belong to.

    See the module docstring for the rules.
    """
    for _ in range(_MAX_PARTIAL_DEPTH):
        if not isinstance(obj, functools.partial):
            break
        obj, parent = obj.func, None
    else:
        return None
    if isinstance(obj, types.BuiltinFunctionType):  # also bound builtin methods
        owner = obj.__self__
        if owner is None or isinstance(owner, types.ModuleType):
            module: str | None = _own_str(obj, "__module__")
            if module is None and owner is not None:
                module = owner.__name__
            return _join(module, obj.__qualname__)
        cls = owner if isinstance(owner, type) else type(owner)
        return _join(cls.__module__, obj.__qualname__)
    if isinstance(
        obj,
        types.MethodDescriptorType | types.ClassMethodDescriptorType | types.WrapperDescriptorType,
    ):
        return _join(obj.__objclass__.__module__, obj.__qualname__)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, np.ufunc):
        return _ufunc_identity(obj, parent)
    module = _own_str(obj, "__module__")
    qualname = _own_str(obj, "__qualname__")
    if module is not None and qualname is not None:
        return _join(module, qualname)
    cls = type(obj)
    return _join(cls.__module__, cls.__qualname__)


def _ufunc_identity(ufunc: Any, parent: Any) -> str | None:
    name = ufunc.__name__
    if not isinstance(name, str) or not name.isidentifier():
        return None  # numpy.frompyfunc: wraps arbitrary Python code
    module = _own_str(ufunc, "__module__")
    if module is None and isinstance(parent, types.ModuleType):
        module = parent.__name__
    return _join(module or "numpy", name)


def _own_str(obj: Any, attr: str) -> str | None:
    try:
        value = getattr(obj, attr)
    except Exception:
        return None
    return value if isinstance(value, str) and value else None


def _join(module: Any, qualname: Any) -> str | None:
    if isinstance(module, str) and module and isinstance(qualname, str) and qualname:
        return f"{module}.{qualname}"
    return None
