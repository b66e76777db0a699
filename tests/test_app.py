"""An application outside the repository, set up as a user would: the npm tarball and a .venv.

The npm package is packed from a clean copy of ``js/`` and ``src/pyferry`` (no ``dist/``,
no ``python/``: its prepare script builds both), installed into a temporary application
whose ``.venv`` has only numpy and msgpack (pip, no ``pip install pyferry``). Then the
seed call, a user module next to the entry script and ``npx pyferry doctor`` run from
the application, and the set-up is broken three ways (no numpy, a wrong
``PYFERRY_PYTHON``, a runtime of another version): each error must name the problem
and its fix. Every cache (npm, pip) lives in the temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyferry import __version__

from conftest import ROOT

MAIN = """\
import { Python } from 'pyferry'

const py = new Python({ path: ['.'] })
try {
  console.log('Sum of numbers=', Number(await py.call('numpy.sum', [1, 2, 3, 4, 5, 6, 7, 8, 9])))
  console.log('double:', await py.call('usermod.double', 21))
  console.log('runtime:', JSON.stringify(await py.call('usermod.runtime')))
  await py.call('scipy.optimize.minimize')
    .catch((error) => console.log('scipy:', error.code, error.message))
} catch (error) {
  console.log('ERROR', error.name, error.code)
  console.log(error.message)
  process.exitCode = 1
} finally {
  await py.close()
}
"""

USERMOD = """\
import os

import pyferry


def double(x):
    return 2 * x


def runtime():
    return [os.path.dirname(pyferry.__file__), os.environ.get("PYFERRY_RUNTIME")]
"""


@dataclass
class App:
    """The temporary application: its folder, the environment to run it with, the tarball."""

    root: Path
    env: dict[str, str]
    tarball: Path
    elsewhere: Path
    tree: Path

    def run(
        self, *argv: str, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` with the application's environment (plus ``env``), from ``cwd``."""
        return subprocess.run(
            argv,
            cwd=cwd or self.elsewhere,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def node(self, **env: str) -> subprocess.CompletedProcess[str]:
        """``node <app>/main.mjs`` started from another folder than the application's."""
        return self.run("node", str(self.root / "main.mjs"), **env)


def _clean_tree(dest: Path, *, esbuild: bool) -> None:
    """Copy the npm package's and the Python runtime's sources, without anything built.

    ``esbuild``: link the project's js/node_modules in, as ``npm ci`` would give it.
    """
    skip = shutil.ignore_patterns(
        "node_modules", "dist", "python", "__pycache__", ".test-output.log", ".docs"
    )
    shutil.copytree(ROOT / "js", dest / "js", ignore=skip)
    shutil.copytree(ROOT / "src" / "pyferry", dest / "src" / "pyferry", ignore=skip)
    if esbuild:
        (dest / "js" / "node_modules").symlink_to(ROOT / "js" / "node_modules")


def _checked(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (
        f"{done.args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> App:
    if shutil.which("npm") is None:
        pytest.fail("npm is needed for the app-shaped test")
    base = tmp_path_factory.mktemp("app-shaped")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYFERRY_PYTHON", "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX"}
        and not key.startswith(("npm_", "PIP_"))
    }
    env |= {
        "npm_config_cache": str(base / "npm-cache"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "PIP_CACHE_DIR": str(base / "pip-cache"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    tree = base / "tree"
    _clean_tree(tree, esbuild=True)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    probe = App(base / "app", env, base, elsewhere, tree)
    out = _checked(probe.run("npm", "pack", "--pack-destination", str(base), cwd=tree / "js"))
    tarball = base / out.strip().splitlines()[-1]
    root = base / "app"
    root.mkdir()
    (root / "package.json").write_text('{"name": "app", "private": true, "type": "module"}\n')
    (root / "main.mjs").write_text(MAIN)
    (root / "usermod.py").write_text(USERMOD)
    the_app = App(root, env, tarball, elsewhere, tree)
    _checked(the_app.run("npm", "install", str(tarball), cwd=root))
    # The README's one fix: a fresh .venv (from this interpreter) with msgpack and numpy only.
    out = _checked(
        the_app.run("npx", "--no-install", "pyferry", "init", "--python", sys.executable, cwd=root)
    )
    assert '-m pip install --disable-pip-version-check "msgpack>=1.0.5,<2" "numpy>=1.24"' in out
    return the_app


def test_the_tarball_carries_the_python_runtime(app: App) -> None:
    with tarfile.open(app.tarball) as tar:
        names = set(tar.getnames())
    for name in ["python/pyferry/launch.py", "python/pyferry/worker.py", "bin/pyferry.js"]:
        assert f"package/{name}" in names
    assert "package/dist/pyferry.js" in names
    assert not any("__pycache__" in name for name in names)
    # prepare built dist/ and copied the runtime; postpack took the copy out of the tree again.
    assert (app.tree / "js" / "dist" / "pyferry.js").is_file()
    assert not (app.tree / "js" / "python").exists()


def test_seed_call_and_user_module_from_another_folder(app: App) -> None:
    out = _checked(app.node())
    assert "Sum of numbers= 45" in out
    assert "double: 42" in out
    folder, runtime = json.loads(out.split("runtime: ", 1)[1].splitlines()[0])
    assert runtime == "bundled"
    assert Path(folder) == app.root / "node_modules" / "pyferry" / "python" / "pyferry"
    # A library missing from the .venv: the error names the interpreter and the command.
    scipy = out.split("scipy: ", 1)[1]
    assert scipy.startswith("PYFERRY_TARGET_NOT_FOUND")
    assert f"{app.root / '.venv' / 'bin' / 'python'} -m pip install scipy" in scipy


def test_doctor_reports_a_working_set_up(app: App) -> None:
    done = app.run("npx", "--no-install", "pyferry", "doctor", cwd=app.root)
    out = _checked(done)
    assert (
        f"Interpreter: {app.root / '.venv' / 'bin' / 'python'} (from the application's .venv" in out
    )
    assert "$VIRTUAL_ENV (the active virtual environment) — skipped: not set" in out
    assert "the copy in the npm package" in out
    assert "numpy.sum([1, ..., 9]) = 45 in" in out
    # init compiled the npm package's runtime for the .venv: no worker compiles it from source.
    runtime = app.root / "node_modules" / "pyferry" / "python" / "pyferry"
    modules = len(list(runtime.rglob("*.py")))
    assert f"  bytecode for this Python: {modules} of {modules} modules" in out
    assert "Note:" not in out
    assert out.rstrip().endswith("OK: pyferry works here.")
    found = json.loads(
        _checked(app.run("npx", "--no-install", "pyferry", "doctor", "--json", cwd=app.root))
    )
    assert found["ok"] is True
    assert found["python"]["runtime"]["kind"] == "bundled"
    assert found["python"]["modules"]["scipy"] is None
    config = app.root / "pyferry.json"
    config.write_text('{"path": ["."], "allow": ["numpy.*"], "workers": 1}\n')
    out = _checked(
        app.run("npx", "--no-install", "pyferry", "doctor", "--config", str(config), cwd=app.root)
    )
    assert 'Options in force: {"path":["."],"allow":["numpy.*"],"workers":1}' in out


def test_no_numpy(app: App) -> None:
    site = next((app.root / ".venv" / "lib").glob("python3*/site-packages"))
    (site / "numpy").rename(site / "numpy.away")
    try:
        done = app.node()
        doctor = app.run("npx", "--no-install", "pyferry", "doctor", cwd=app.root)
    finally:
        (site / "numpy.away").rename(site / "numpy")
    assert done.returncode == 1
    python = app.root / ".venv" / "bin" / "python"
    assert "WorkerStartError PYFERRY_WORKER_START" in done.stdout
    assert f"{python} cannot import numpy" in done.stdout
    assert f"{python} -m pip install msgpack numpy" in done.stdout
    assert doctor.returncode == 1
    assert f"{python} -m pip install" in doctor.stdout


def test_wrong_pyferry_python(app: App) -> None:
    wrong = str(app.root / "no-such-python")
    done = app.node(PYFERRY_PYTHON=wrong)
    assert done.returncode == 1
    assert "WorkerStartError PYFERRY_WORKER_START" in done.stdout
    assert f"There is no interpreter {wrong}." in done.stdout
    assert f"Interpreter: {wrong} (from $PYFERRY_PYTHON)" in done.stdout
    assert "install Python 3.11 or newer" in done.stdout
    assert "PYFERRY_PYTHON=/path/to/python" in done.stdout
    doctor = app.run("npx", "--no-install", "pyferry", "doctor", cwd=app.root, PYFERRY_PYTHON=wrong)
    assert doctor.returncode == 1
    assert "There is no interpreter" in doctor.stdout


def test_mismatched_runtime(app: App) -> None:
    init = app.root / "node_modules" / "pyferry" / "python" / "pyferry" / "__init__.py"
    text = init.read_text()
    init.write_text(text.replace(f'__version__ = "{__version__}"', '__version__ = "0.0.9"'))
    try:
        done = app.node()
    finally:
        init.write_text(text)
    assert done.returncode == 1
    assert "VersionMismatchError PYFERRY_VERSION_MISMATCH" in done.stdout
    assert (
        f"(pyferry 0.0.9) and this client (the npm package, pyferry {__version__})" in done.stdout
    )
    assert "The Python half is the older one" in done.stdout
    assert f"npm install pyferry@{__version__}" in done.stdout


def test_a_folder_install_of_an_unbuilt_checkout(app: App, tmp_path: Path) -> None:
    # npm runs the folder's prepare without its devDependencies: no esbuild there.
    _clean_tree(tmp_path / "clone", esbuild=False)
    other = tmp_path / "other-app"
    other.mkdir()
    (other / "package.json").write_text('{"name": "other", "private": true}\n')
    (other / "main.mjs").write_text(MAIN)
    (other / "usermod.py").write_text(USERMOD)
    _checked(app.run("npm", "install", str(tmp_path / "clone" / "js"), cwd=other))
    dist = (tmp_path / "clone" / "js" / "dist" / "pyferry.js").read_text()
    assert "export * from '../src/index.js'" in dist
    python = str(app.root / ".venv" / "bin" / "python")
    out = _checked(app.run("node", str(other / "main.mjs"), PYFERRY_PYTHON=python))
    assert "Sum of numbers= 45" in out
    assert '"bundled"' in out
