"""Start ``pyferry`` from the copy inside the npm package: ``python <copy>/pyferry/launch.py``.

The npm package carries this runtime in ``python/pyferry/``. The Node client starts
workers (and ``npx pyferry doctor`` its probe) as ``<python> .../launch.py worker ...``
rather than ``python -m pyferry worker``, so that no ``pip install pyferry`` is needed.

Which pyferry runs, in this order:

1. the interpreter's own pyferry (on ``sys.path``: ``pip install``, an editable install
   or ``PYTHONPATH``), if it is this very version;
2. otherwise this copy, put first on ``sys.path``.

It first checks the Python version (3.11 or newer), then that the runtime's
dependencies can be found (without importing numpy), and exits with status 5
(``MISSING_DEPENDENCIES``), saying which, if not. Only the
standard library is used before that choice, and nothing of pyferry.
"""

from __future__ import annotations

import os
import sys

MISSING_DEPENDENCIES = 5


def package_version(package_dir: str) -> str | None:
    """The ``__version__`` that ``package_dir/__init__.py`` assigns, read as text, or None."""
    # Plain string work: `re` would be ~1 ms more of every worker's start.
    try:
        with open(os.path.join(package_dir, "__init__.py"), encoding="utf-8") as file:
            for line in file:
                name, equals, value = line.partition("=")
                if equals and name.strip() == "__version__":
                    return value.strip().strip("\"'") or None
    except OSError:
        return None
    return None


def choose_runtime(bundle_root: str, path: list[str]) -> tuple[str, str]:
    """Which pyferry to run: ("installed" or "bundled", its folder).

    Args:
        bundle_root: the folder holding this copy's ``pyferry/``.
        path: ``sys.path`` without ``bundle_root``, in import order.
    """
    bundled = os.path.join(bundle_root, "pyferry")
    ours = package_version(bundled)
    for entry in path:
        candidate = os.path.join(entry or os.getcwd(), "pyferry")
        if os.path.isfile(os.path.join(candidate, "__init__.py")):
            # The one `import pyferry` would find: used if it is this version.
            if ours is not None and package_version(candidate) == ours:
                return "installed", candidate
            break
    return "bundled", bundled


def too_old(version: tuple[int, ...]) -> str | None:
    """Why Python ``version`` cannot run pyferry (older than 3.11), or None."""
    if version >= (3, 11):
        return None
    shown = ".".join(str(part) for part in version[:3])
    return (
        f"pyferry worker: Python {shown} ({sys.executable}) is too old: pyferry needs Python "
        "3.11 or newer"
    )


def missing_dependencies(path: list[str]) -> list[str]:
    """The runtime's dependencies (msgpack, numpy) that no ``path`` folder holds."""
    missing = []
    for name in ("msgpack", "numpy"):
        found = False
        for entry in path:
            base = os.path.join(entry or os.getcwd(), name)
            if os.path.isfile(os.path.join(base, "__init__.py")) or os.path.isfile(base + ".py"):
                found = True
                break
        if not found:
            missing.append(name)
    return missing


def main() -> int:
    """Put the chosen pyferry on ``sys.path``, check its dependencies, run its command line."""
    old = too_old(sys.version_info[:3])
    if old is not None:
        print(old, file=sys.stderr)
        return MISSING_DEPENDENCIES
    bundle_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # As `python -m` would have it: the current folder first, not this script's.
    sys.path[0] = os.getcwd()
    rest = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != bundle_root]
    runtime, _ = choose_runtime(bundle_root, rest)
    if runtime == "bundled":
        sys.path.insert(0, bundle_root)
    os.environ["PYFERRY_RUNTIME"] = runtime
    missing = missing_dependencies(sys.path)
    if missing:
        print(
            f"pyferry worker: missing modules: {', '.join(missing)} (the pyferry runtime needs "
            f"them in {sys.executable}; install them with: {sys.executable} -m pip install "
            "msgpack numpy)",
            file=sys.stderr,
        )
        return MISSING_DEPENDENCIES
    from pyferry.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
