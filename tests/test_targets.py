"""The Resolver on its own: dotted names, the public-segment rule and the allow-list.

Targets come from real modules: numpy, scipy, the JS fixture package ``mypkg``
(js/test/fixtures) and small packages each test writes to a temporary
directory, so that what gets imported, and when, can be observed.
"""

from __future__ import annotations

import collections
import functools
import importlib
import itertools
import operator
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pyferry.errors import (
    NotAllowedError,
    PyferryError,
    TargetError,
    TargetForbiddenError,
    TargetNotFoundError,
)
from pyferry.targets import Resolver, identity

ROOT = Path(__file__).resolve().parent.parent
JS_FIXTURES = ROOT / "js" / "test" / "fixtures"
_counter = itertools.count()

MakePackage = Callable[[dict[str, str]], str]


@pytest.fixture(autouse=True)
def _js_fixtures_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(JS_FIXTURES))


@pytest.fixture
def make_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePackage]:
    """Write a package with a unique name; every module records its import in ``imported.log``.

    Returns the package name. ``{pkg}`` in the sources is replaced by it.
    """
    names: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(files: dict[str, str]) -> str:
        name = f"pf_target_pkg_{os.getpid()}_{next(_counter)}"
        names.append(name)
        root = tmp_path / name
        root.mkdir()
        log = tmp_path / "imported.log"
        for rel, source in {"__init__.py": "", **files}.items():
            record = f"with open({str(log)!r}, 'a') as log:\n    log.write(__name__ + ' ')\n"
            body = textwrap.dedent(source).replace("{pkg}", name)
            (root / rel).write_text(record + body, encoding="utf-8")
        importlib.invalidate_caches()
        return name

    yield make
    for mod in [m for m in sys.modules if any(m.split(".")[0] == n for n in names)]:
        del sys.modules[mod]


def imported(tmp_path: Path) -> list[str]:
    log = tmp_path / "imported.log"
    return log.read_text().split() if log.exists() else []


# -- without an allow-list -------------------------------------------------------------


def test_dotted_names_resolve_to_the_object() -> None:
    r = Resolver()
    assert r.resolve("numpy.fft.rfft") is np.fft.rfft
    assert r.resolve("os.path.join") is os.path.join
    assert r.resolve("sum") is sum
    assert r.resolve("builtins.sum") is sum
    assert r.resolve("mypkg.stats.square")(7) == 49


def test_resolutions_are_cached_per_name() -> None:
    r = Resolver(["mypkg.*"])
    first = r.resolve("mypkg.stats.square")
    stats = sys.modules["mypkg.stats"]
    original = stats.square
    try:
        stats.square = lambda n: -n  # type: ignore[attr-defined]
        assert r.resolve("mypkg.stats.square") is first
        assert Resolver().resolve("mypkg.stats.square")(3) == -3
    finally:
        stats.square = original  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("", TargetError, "non-empty dotted name"),
        ("numpy..sum", TargetError, "invalid segment ''"),
        ("numpy.sum()", TargetError, r"invalid segment 'sum\(\)'"),
        ("os._exit", TargetForbiddenError, "segment '_exit' is private"),
        ("mypkg._hidden", TargetForbiddenError, "private"),
        ("numpy.__version__.upper", TargetForbiddenError, "'__version__'"),
        ("no_such_module_pf.f", TargetNotFoundError, "no module 'no_such_module_pf'"),
        ("mypkg.stats.nope", TargetNotFoundError, "'mypkg.stats' has no attribute 'nope'"),
        ("mypkg.VERSION", TargetError, "is a str, not callable"),
        ("os", TargetError, "is a module, not callable"),
    ],
)
def test_bad_names_are_named_errors(name: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words) as info:
        Resolver().resolve(name)
    assert not isinstance(info.value, NotAllowedError)


def test_a_name_that_is_not_a_string_is_a_target_error() -> None:
    for name in (None, 3, ["numpy", "sum"], b"numpy.sum"):
        with pytest.raises(TargetError, match="non-empty dotted name"):
            Resolver().resolve(name)  # type: ignore[arg-type]


def test_an_import_failing_inside_a_module_is_the_modules_error() -> None:
    with pytest.raises(ModuleNotFoundError, match="pyferry_test_definitely_not_installed"):
        Resolver().resolve("mypkg.needs_missing.f")


def test_a_builtin_name_is_found_without_importing_a_module_of_that_name(
    make_package: MakePackage, tmp_path: Path
) -> None:
    # A module called like a builtin, on sys.path: the builtin wins and nothing is imported.
    (tmp_path / "divmod.py").write_text("raise RuntimeError('imported divmod.py')\n")
    importlib.invalidate_caches()
    assert Resolver().resolve("divmod") is divmod
    assert Resolver(["builtins.*"]).resolve("divmod") is divmod
    assert "divmod" not in sys.modules


# -- the allow-list: the requested name ------------------------------------------------


def test_the_error_class_and_code() -> None:
    with pytest.raises(NotAllowedError) as info:
        Resolver(["numpy.*"]).resolve("os.getcwd")
    assert isinstance(info.value, TargetForbiddenError)
    assert info.value.code == "PYFERRY_NOT_ALLOWED"


def test_a_refused_name_imports_nothing(make_package: MakePackage, tmp_path: Path) -> None:
    pkg = make_package({"stats.py": "def mean(x): return x\n", "other.py": "def f(): return 1\n"})
    r = Resolver([f"{pkg}.stats.*"])
    with pytest.raises(NotAllowedError) as info:
        r.resolve(f"{pkg}.other.f")
    message = str(info.value)
    assert f"{pkg}.other.f" in message
    assert f"{pkg}.stats.*" in message
    assert imported(tmp_path) == []
    assert pkg not in sys.modules
    # The allowed name next to it does import, the package first.
    assert r.resolve(f"{pkg}.stats.mean")(5) == 5
    assert imported(tmp_path) == [pkg, f"{pkg}.stats"]


def test_a_refused_top_level_module_name_imports_nothing(
    make_package: MakePackage, tmp_path: Path
) -> None:
    pkg = make_package({})
    for name in (pkg, f"{pkg}.f", f"{pkg}.sub.deeper.f"):
        with pytest.raises(NotAllowedError, match="matches none of the allowed patterns"):
            Resolver(["numpy.*", "builtins.*"]).resolve(name)
    assert imported(tmp_path) == []


def test_patterns_are_globs_over_the_whole_dotted_name() -> None:
    r = Resolver(["numpy.*"])
    assert r.resolve("numpy.linalg.norm") is np.linalg.norm  # '*' crosses dots
    with pytest.raises(NotAllowedError):
        r.resolve("numpyx.f")
    with pytest.raises(NotAllowedError):
        Resolver(["Numpy.*"]).resolve("numpy.sum")  # case-sensitive
    assert Resolver(["numpy.s?m"]).resolve("numpy.sum") is np.sum
    assert Resolver(["numpy.[st]*"]).resolve("numpy.tan") is np.tan
    assert Resolver(["math.*", "numpy.sum"]).resolve("numpy.sum") is np.sum


def test_a_single_builtin_name_is_matched_as_builtins_dot_name() -> None:
    r = Resolver(["builtins.sum"])
    assert r.resolve("sum") is sum
    assert r.resolve("builtins.sum") is sum
    for name in ("len", "builtins.len"):
        with pytest.raises(NotAllowedError, match="none of the allowed patterns"):
            r.resolve(name)
    with pytest.raises(NotAllowedError, match=r"'sum' \(as 'builtins.sum'\) is not allowed"):
        Resolver(["sum"]).resolve("sum")


def test_the_private_segment_rule_comes_first() -> None:
    for name in ("os._exit", "mypkg._hidden", "_thread.exit"):
        with pytest.raises(TargetForbiddenError, match="private") as info:
            Resolver(["*"]).resolve(name)
        assert not isinstance(info.value, NotAllowedError)


def test_bad_allow_arguments() -> None:
    with pytest.raises(TypeError, match="not the string"):
        Resolver("numpy.*")
    for bad in ([""], [None], [b"numpy.*"]):
        with pytest.raises(TypeError, match="non-empty strings"):
            Resolver(bad)  # type: ignore[arg-type]
    assert Resolver(("numpy.*", "scipy.*")).allow == ("numpy.*", "scipy.*")


# -- the allow-list: what the name resolves to -----------------------------------------


def test_a_public_name_leading_out_of_an_allowed_package_is_refused() -> None:
    import mypkg

    assert mypkg.os is os, "the fixture re-exports os"
    r = Resolver(["mypkg.*"])
    with pytest.raises(NotAllowedError) as info:
        r.resolve("mypkg.os.system")
    message = str(info.value)
    assert "'mypkg.os.system'" in message
    assert f"'{os.system.__module__}.system'" in message  # posix.system
    assert "['mypkg.*']" in message
    assert r.resolve("mypkg.stats.fit") is sys.modules["mypkg.stats"].fit
    # Also a module imported by a module: mypkg.stats imports numpy as np.
    with pytest.raises(NotAllowedError, match=r"resolves to 'numpy\.sum'"):
        Resolver(["mypkg.stats.*"]).resolve("mypkg.stats.np.sum")


def test_an_identity_that_is_not_the_requested_name_must_be_allowed_too() -> None:
    # numpy.abs is the ufunc numpy.absolute: allowing the alias alone is not enough.
    with pytest.raises(NotAllowedError, match=r"resolves to 'numpy\.absolute'"):
        Resolver(["numpy.abs"]).resolve("numpy.abs")
    assert Resolver(["numpy.abs", "numpy.absolute"]).resolve("numpy.abs") is np.abs


def test_identities() -> None:
    import scipy.signal
    import scipy.special

    cases: list[tuple[Any, Any, str]] = [
        (np.sum, np, "numpy.sum"),
        (np.fft.rfft, np.fft, "numpy.fft.rfft"),
        (np.abs, np, "numpy.absolute"),
        (np.random.rand, np.random, "numpy.random.RandomState.rand"),
        (np.array, np, "numpy.array"),
        (np.add.reduce, np.add, "numpy.ufunc.reduce"),
        (np.ndarray, np, "numpy.ndarray"),
        (scipy.signal.periodogram, scipy.signal, "scipy.signal._spectral_py.periodogram"),
        (scipy.special.gamma, scipy.special, "scipy.special.gamma"),
        (scipy.special.gamma, None, "numpy.gamma"),
        (sum, None, "builtins.sum"),
        (dict.fromkeys, dict, "builtins.dict.fromkeys"),
        (str.upper, str, "builtins.str.upper"),
        ("text".upper, None, "builtins.str.upper"),
        (os.system, os, f"{os.system.__module__}.system"),
        (collections.OrderedDict, collections, "collections.OrderedDict"),
        (operator.itemgetter(1), operator, "operator.itemgetter"),
        (functools.partial(functools.partial(len), []), None, "builtins.len"),
    ]
    for obj, parent, expected in cases:
        assert identity(obj, parent) == expected, obj


def test_common_numpy_and_scipy_targets_pass() -> None:
    r = Resolver(["numpy.*"])
    for name in ("numpy.sum", "numpy.fft.rfft", "numpy.abs", "numpy.random.rand"):
        assert callable(r.resolve(name))
    assert r.resolve("numpy.sum")([1, 2, 3]) == 6
    signal = Resolver(["scipy.signal.*"])
    assert signal.resolve("scipy.signal.periodogram").__module__ == "scipy.signal._spectral_py"
    special = Resolver(["scipy.special.*"])
    assert special.resolve("scipy.special.gamma")(5.0) == 24.0


@pytest.mark.parametrize(
    "module", ["numpy", "numpy.fft", "numpy.linalg", "numpy.random", "numpy.polynomial"]
)
def test_every_public_callable_of_numpy_passes_numpy_star(module: str) -> None:
    mod = importlib.import_module(module)
    r = Resolver(["numpy.*"])
    names = [n for n in dir(mod) if not n.startswith("_") and callable(getattr(mod, n))]
    assert len(names) > 5
    for n in names:
        assert r.resolve(f"{module}.{n}") is getattr(mod, n)


@pytest.mark.parametrize("module", ["scipy.signal", "scipy.special", "scipy.fft"])
def test_scipy_public_callables_pass_their_package_pattern_unless_re_exported(
    module: str,
) -> None:
    mod = importlib.import_module(module)
    r = Resolver([f"{module}.*"])
    refused: dict[str, tuple[str | None, str]] = {}
    names = [n for n in dir(mod) if not n.startswith("_") and callable(getattr(mod, n))]
    for n in names:
        try:
            r.resolve(f"{module}.{n}")
        except NotAllowedError as exc:
            refused[n] = (identity(getattr(mod, n), mod), str(exc))
    assert all(f"resolves to {ident!r}" in message for ident, message in refused.values())
    # Only objects that live elsewhere are refused: scipy's test runner and numpy re-exports.
    assert refused["test"][0] == "scipy._lib._testutils.PytestTester"
    assert all(n == "test" or str(ident).startswith("numpy.") for n, (ident, _) in refused.items())
    assert len(refused) < 5 < len(names)


def test_partials_callable_instances_and_bound_methods(
    make_package: MakePackage,
) -> None:
    pkg = make_package(
        {
            "tools.py": """
            import functools
            import operator
            import os
            import numpy as np
            from subprocess import Popen

            def scale(x, factor):
                return x * factor

            class Doubler:
                def __call__(self, x):
                    return 2 * x

                def triple(self, x):
                    return 3 * x

            double = Doubler()
            triple = double.triple
            double_it = functools.partial(scale, factor=2)
            run = functools.partial(os.system, "true")
            nested_run = functools.partial(functools.partial(os.system), "true")
            first = operator.itemgetter(0)
            NAMES = []
            remember = NAMES.append
            shell = np.frompyfunc(os.system, 1, 1)
            """
        }
    )
    r = Resolver([f"{pkg}.*", "numpy.*"])
    assert r.resolve(f"{pkg}.tools.double")(4) == 8
    assert r.resolve(f"{pkg}.tools.triple")(4) == 12
    assert r.resolve(f"{pkg}.tools.double_it")(4) == 8
    assert r.resolve(f"{pkg}.tools.scale")(4, 3) == 12
    refused = {
        "run": f"{os.system.__module__}.system",
        "nested_run": f"{os.system.__module__}.system",
        "first": "operator.itemgetter",
        "remember": "builtins.list.append",
        "Popen": "subprocess.Popen",
    }
    for attr, ident in refused.items():
        with pytest.raises(NotAllowedError, match=f"resolves to '{ident}'"):
            r.resolve(f"{pkg}.tools.{attr}")
    with pytest.raises(NotAllowedError, match="has no module and qualified name"):
        r.resolve(f"{pkg}.tools.shell")
    # Without an allow-list all of them resolve: only the public-segment rule applies.
    for attr in (*refused, "shell"):
        assert callable(Resolver().resolve(f"{pkg}.tools.{attr}"))


def test_a_refusal_is_not_cached_as_a_success() -> None:
    r = Resolver(["mypkg.*"])
    for _ in range(2):
        with pytest.raises(NotAllowedError):
            r.resolve("mypkg.os.system")


def test_only_pyferry_errors_for_odd_names() -> None:
    # Names from the wire can be anything; the resolver answers each with a named error.
    r = Resolver(["numpy.*"])
    for name in ("numpy.", ".numpy", "numpy.sum.", "numpy .sum", "numpy.sum\x00", "n" * 10_000):
        with pytest.raises(PyferryError):
            r.resolve(name)
