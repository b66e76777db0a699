"""What a new user meets: the launcher's choice of runtime, ``pyferry doctor``, the command
line's ``--version`` and help, ``pyferry worker`` run by hand, and errors with their fix."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import pyferry
from pyferry import TargetNotFoundError, __version__
from pyferry.launch import MISSING_DEPENDENCIES, choose_runtime, missing_dependencies, too_old
from pyferry.targets import Resolver

from conftest import ROOT, run_worker


def _package(folder: Path, version: str | None) -> Path:
    (folder / "pyferry").mkdir(parents=True)
    text = "" if version is None else f'__version__ = "{version}"\n'
    (folder / "pyferry" / "__init__.py").write_text(text)
    return folder


def test_the_interpreters_own_pyferry_of_the_same_version_runs(tmp_path: Path) -> None:
    bundle = _package(tmp_path / "bundle", "1.2.3")
    same = _package(tmp_path / "same", "1.2.3")
    assert choose_runtime(str(bundle), [str(tmp_path / "empty"), str(same)]) == (
        "installed",
        str(same / "pyferry"),
    )


@pytest.mark.parametrize("version", ["1.2.2", None])
def test_another_version_first_on_the_path_means_the_bundled_copy(
    tmp_path: Path, version: str | None
) -> None:
    bundle = _package(tmp_path / "bundle", "1.2.3")
    other = _package(tmp_path / "other", version)
    same = _package(tmp_path / "same", "1.2.3")  # shadowed by `other`: import would not find it
    kind, folder = choose_runtime(str(bundle), [str(other), str(same)])
    assert (kind, folder) == ("bundled", str(bundle / "pyferry"))
    assert choose_runtime(str(bundle), [])[0] == "bundled"


def test_missing_dependencies_are_named(tmp_path: Path) -> None:
    (tmp_path / "msgpack").mkdir()
    (tmp_path / "msgpack" / "__init__.py").write_text("")
    assert missing_dependencies([str(tmp_path)]) == ["numpy"]
    assert missing_dependencies(sys.path) == []


def _runtime_copy(bundle: Path) -> Path:
    """src/pyferry copied into ``bundle``, as the npm package's python/ folder holds it: no
    bytecode. Returns the copy's package folder."""
    shutil.copytree(
        ROOT / "src" / "pyferry", bundle / "pyferry", ignore=shutil.ignore_patterns("__pycache__")
    )
    return bundle / "pyferry"


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False
    )


def test_the_launcher_runs_the_bundled_copy_and_refuses_missing_numpy(tmp_path: Path) -> None:
    launcher = str(_runtime_copy(tmp_path / "python") / "launch.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # -S: no site-packages, so neither the project's editable pyferry nor numpy is there.
    done = _run([sys.executable, "-S", launcher, "doctor", "--json"], env, tmp_path)
    assert done.returncode == MISSING_DEPENDENCIES, done.stderr
    assert "pyferry worker: missing modules: msgpack, numpy" in done.stderr
    assert f"{sys.executable} -m pip install msgpack numpy" in done.stderr
    # With site-packages (numpy there), the version matches the editable install: it runs that.
    done = _run(
        [sys.executable, launcher, "doctor", "--json"],
        {**env, "PYTHONPATH": str(ROOT / "src")},
        tmp_path,
    )
    found = json.loads(done.stdout)
    assert found["runtime"] == {
        "pyferry": __version__,
        "folder": str(ROOT / "src" / "pyferry"),
        "kind": "installed",
    }
    assert found["ok"] is True


def test_doctor_counts_the_runtimes_bytecode_and_gives_the_command_that_compiles_it(
    tmp_path: Path,
) -> None:
    folder = _runtime_copy(tmp_path / "python")
    modules = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.py"))
    # No .pyc written by the doctor's own imports: what it counts is what was there before.
    env = {**os.environ, "PYTHONPATH": str(folder.parent), "PYTHONDONTWRITEBYTECODE": "1"}

    def doctor() -> dict[str, Any]:
        done = _run([sys.executable, "-m", "pyferry", "doctor", "--json"], env, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        found: dict[str, Any] = json.loads(done.stdout)
        assert found["runtime"]["folder"] == str(folder)
        return found

    found = doctor()
    assert found["bytecode"] == {"modules": len(modules), "compiled": 0, "missing": modules}
    assert found["ok"] is True, "missing bytecode is a note: pyferry works without it"
    [note] = found["notes"]
    assert note["note"].startswith(f"{len(modules)} of the runtime's {len(modules)} modules")
    assert note["fix"] == f"{sys.executable} -m compileall -q {folder}"
    subprocess.run(shlex.split(note["fix"]), check=True, capture_output=True, timeout=120)
    found = doctor()
    assert found["bytecode"]["compiled"] == len(modules)
    assert found["notes"] == []
    # A module edited since its .pyc was written is compiled again at every start: counted.
    hello = folder / "hello.py"
    hello.write_text(hello.read_text() + "\n")
    assert doctor()["bytecode"]["missing"] == ["hello.py"]


def test_doctor_reports_this_interpreter() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pyferry", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Interpreter: {sys.executable}" in done.stdout
    assert (
        f"Runtime: pyferry {__version__}, installed, {Path(pyferry.__file__).parent}" in done.stdout
    )
    assert "numpy.sum([1, ..., 9]) = 45" in done.stdout
    if sys.platform.startswith("linux"):
        assert "System: linux; --max-memory-bytes: RLIMIT_AS (address space)" in done.stdout
    assert done.stdout.rstrip().endswith("OK")


def test_version_and_help() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pyferry", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    version = run("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"pyferry {__version__}")
    helped = run("--help")
    assert helped.returncode == 0
    assert "doctor" in helped.stdout
    assert "``" not in helped.stdout


def test_worker_by_hand_says_that_node_starts_it() -> None:
    done = run_worker(stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "is not run by hand: the Node client" in done.stderr
    assert "npx pyferry doctor" in done.stderr


def test_a_missing_library_names_the_interpreter_and_the_command() -> None:
    with pytest.raises(TargetNotFoundError) as info:
        Resolver().resolve("no_such_library_pf.f")
    message = str(info.value)
    assert f"interpreter {sys.executable}" in message
    assert f"{sys.executable} -m pip install no_such_library_pf" in message


def test_a_mistyped_attribute_gets_a_suggestion() -> None:
    with pytest.raises(
        TargetNotFoundError, match=r"has no attribute 'summ' \(did you mean 'sum'\?\)"
    ):
        Resolver().resolve("numpy.summ")
    with pytest.raises(TargetNotFoundError) as info:
        Resolver().resolve("numpy.zzzqqq")
    assert "did you mean" not in str(info.value)


def test_a_python_older_than_3_11_is_refused_by_the_launcher() -> None:
    assert too_old((3, 11, 0)) is None
    assert too_old((3, 13, 1)) is None
    message = too_old((3, 9, 2))
    assert message is not None
    assert "Python 3.9.2" in message
    assert "pyferry needs Python 3.11 or newer" in message
