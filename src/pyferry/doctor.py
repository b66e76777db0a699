"""``pyferry doctor``: the Python side's view of a set-up, with a fix for each problem.

It reports the interpreter, the pyferry runtime it runs (the interpreter's own or the
copy inside the npm package, see :mod:`pyferry.launch`), the versions of the runtime's
dependencies and of the optional libraries, then makes the seed call (``numpy.sum`` of
1..9) in this process. ``npx pyferry doctor`` runs it (``--json``) through the same
launcher a worker uses and adds the Node side: how the interpreter was found and a
real worker's call.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from typing import Any

from pyferry import __version__
from pyferry.hello import installed_version
from pyferry.memory import memory_limit_summary

__all__ = ["report", "run"]

# module -> what needs it ("runtime" ones must be there); pip names are the same.
MODULES = {
    "msgpack": "runtime",
    "numpy": "runtime",
    "scipy": "optional: scipy.* calls (extra 'scipy')",
    "pandas": "optional: DataFrames (extra 'dataframe')",
    "pyarrow": "optional: DataFrames and Arrow tables (extra 'dataframe')",
    "distributed": "optional: backend 'dask' (extra 'dask')",
}


def _command() -> str:
    return _quoted(sys.executable)


def _quoted(path: str) -> str:
    """``path`` as a word of a command to paste (in double quotes if it has a space)."""
    return f'"{path}"' if " " in path else path


def _find(name: str) -> str | None:
    """The version of ``name`` if it can be imported here, else None (it is not imported)."""
    import importlib.util

    if importlib.util.find_spec(name) is None:
        return None
    return installed_version(name) or "unknown version"


def _bytecode(folder: str) -> dict[str, Any]:
    """How many of the runtime's modules have up-to-date bytecode for this interpreter.

    A module without it is compiled from source by every worker that cannot write its
    ``.pyc`` (a folder the user cannot write, ``PYTHONDONTWRITEBYTECODE``): ~75 ms more per
    worker start for the whole runtime (bench/README.md, W5).
    """
    missing: list[str] = []
    modules = 0
    for where, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if f != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                modules += 1
                source = os.path.join(where, name)
                if not _compiled(source):
                    missing.append(os.path.relpath(source, folder))
    return {"modules": modules, "compiled": modules - len(missing), "missing": sorted(missing)}


def _compiled(source: str) -> bool:
    """Whether ``source`` has a ``.pyc`` this interpreter would load instead of compiling it."""
    import importlib.util

    try:
        with open(importlib.util.cache_from_source(source), "rb") as f:
            head = f.read(16)
        stat = os.stat(source)
    except (OSError, NotImplementedError):  # no .pyc, or an interpreter without a cache tag
        return False
    if len(head) < 16 or head[:4] != importlib.util.MAGIC_NUMBER:
        return False
    if int.from_bytes(head[4:8], "little") & 1:
        return True  # hash-based: whether it is checked is the import system's business
    mask = 0xFFFFFFFF
    return int.from_bytes(head[8:12], "little") == int(stat.st_mtime) & mask and (
        int.from_bytes(head[12:16], "little") == stat.st_size & mask
    )


def report() -> dict[str, Any]:
    """The doctor's findings as data: interpreter, runtime, modules, seed call, problems.

    ``notes`` are findings that leave pyferry working (``ok`` does not count them).
    """
    import pyferry

    problems: list[dict[str, str]] = []
    notes: list[dict[str, str]] = []
    folder = os.path.dirname(os.path.abspath(pyferry.__file__))
    bytecode = _bytecode(folder)
    if bytecode["missing"]:
        notes.append(
            {
                "note": f"{len(bytecode['missing'])} of the runtime's {bytecode['modules']} "
                f"modules have no up-to-date bytecode for this Python; where a worker cannot "
                f"write it (a read-only folder, PYTHONDONTWRITEBYTECODE) every start compiles "
                f"them from source",
                "fix": f"{_command()} -m compileall -q {_quoted(folder)}",
            }
        )
    modules = {name: _find(name) for name in MODULES}
    missing = [name for name, need in MODULES.items() if need == "runtime" and not modules[name]]
    if missing:
        problems.append(
            {
                "problem": f"{', '.join(missing)} cannot be imported (the runtime needs it)",
                "fix": f"{_command()} -m pip install msgpack numpy",
            }
        )
    seed: dict[str, Any] = {"call": "numpy.sum([1, ..., 9])", "ok": False}
    if modules["numpy"]:
        start = time.perf_counter()
        try:
            import numpy

            seed["result"] = int(numpy.sum(list(range(1, 10))))
            seed["ok"] = seed["result"] == 45
        except Exception as exc:  # a broken numpy is a finding, not a crash
            seed["error"] = f"{type(exc).__name__}: {exc}"
            problems.append(
                {
                    "problem": f"numpy fails to import: {seed['error']}",
                    "fix": f"{_command()} -m pip install --force-reinstall numpy",
                }
            )
        seed["ms"] = round((time.perf_counter() - start) * 1000, 2)
    return {
        "interpreter": {
            "executable": sys.executable,
            "version": platform.python_version(),
            "implementation": sys.implementation.name,
            "prefix": sys.prefix,
            "venv": sys.prefix != sys.base_prefix,
        },
        "runtime": {
            "pyferry": __version__,
            "folder": folder,
            "kind": os.environ.get("PYFERRY_RUNTIME", "installed"),
        },
        "bytecode": bytecode,
        "system": {"platform": sys.platform, "memory_limit": memory_limit_summary()},
        "modules": modules,
        "seed": seed,
        "problems": problems,
        "notes": notes,
        "ok": seed["ok"] and not problems,
    }


def _text(found: dict[str, Any]) -> str:
    interp, runtime = found["interpreter"], found["runtime"]
    env = " (a virtual environment)" if interp["venv"] else ""
    lines = [
        f"Interpreter: {interp['executable']}{env}",
        f"  Python {interp['version']} ({interp['implementation']})",
        f"Runtime: pyferry {runtime['pyferry']}, {runtime['kind']}, {runtime['folder']}",
        f"  bytecode for this Python: {found['bytecode']['compiled']} of "
        f"{found['bytecode']['modules']} modules",
        f"System: {found['system']['platform']}; "
        f"--max-memory-bytes: {found['system']['memory_limit']}",
        "Modules:",
    ]
    for name, need in MODULES.items():
        version = found["modules"][name]
        lines.append(f"  {name:<12} {version or 'missing':<16} {need}")
    seed = found["seed"]
    if seed["ok"]:
        lines.append(f"Seed call: {seed['call']} = {seed['result']} in {seed['ms']} ms")
    else:
        lines.append(f"Seed call: {seed['call']} not made or failed")
    for i, item in enumerate(found["problems"], 1):
        lines.append(f"Problem {i}: {item['problem']}\n  fix: {item['fix']}")
    for item in found["notes"]:
        lines.append(f"Note: {item['note']}\n  fix: {item['fix']}")
    lines.append("OK" if found["ok"] else "NOT OK")
    return "\n".join(lines)


def _dask_text(found: dict[str, Any]) -> str:
    lines = [f"Dask scheduler: {found['scheduler']}, {len(found['workers'])} worker(s)"]
    for worker, seen in found["workers"].items():
        versions = ", ".join(f"{n} {seen.get(n) or 'missing'}" for n in ("pyferry", "numpy"))
        lines.append(f"  {worker}: {versions} ({seen.get('executable', seen.get('error'))})")
    return "\n".join(lines)


def run(
    as_json: bool = False,
    scheduler: str | None = None,
    insecure: bool = False,
    timeout_ms: int | None = None,
) -> int:
    """Print the report (text, or JSON with ``as_json``); 0 if the seed call worked, else 1.

    Args:
        as_json: print JSON instead of text.
        scheduler: also report this Dask scheduler and its workers
            (:func:`pyferry.backends.dask_doctor.report`).
        insecure: allow a scheduler address that is not on loopback.
        timeout_ms: how long connecting to the scheduler may take (default 10 s).
    """
    found = report()
    if scheduler is not None:
        from pyferry.backends.dask_doctor import report as dask_report

        try:
            timeout = 10.0 if timeout_ms is None else timeout_ms / 1000
            found["dask"] = dask_report(scheduler, insecure=insecure, timeout=timeout)
        except ValueError as exc:
            found["dask"] = {"scheduler": scheduler, "workers": {}, "problems": []}
            found["dask"]["problems"].append(
                {"problem": str(exc), "fix": "--insecure-tcp-scheduler yes, if you mean it"}
            )
        found["problems"].extend(found["dask"]["problems"])
        found["ok"] = found["ok"] and not found["dask"]["problems"]
    if as_json:
        print(json.dumps(found))
    else:
        text = _text(found)
        print(text if "dask" not in found else f"{_dask_text(found['dask'])}\n{text}")
    return 0 if found["ok"] else 1
