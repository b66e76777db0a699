"""The Python package as ``python -m build`` makes it: a wheel and an sdist of src/pyferry.

Built once per run, offline (``--no-isolation``, with the dev group's ``build`` and
``hatchling``), into a temporary folder. Each archive holds the package's modules and
``py.typed``, no tests, and the version of the npm package (js/package.json): the two
halves are released together.
"""

from __future__ import annotations

import email.parser
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

import pytest

import pyferry

from conftest import ROOT

PACKAGE = ROOT / "src" / "pyferry"
NPM_VERSION = json.loads((ROOT / "js" / "package.json").read_text(encoding="utf-8"))["version"]


def _package_files() -> set[str]:
    """The files of src/pyferry that belong in a release, as ``pyferry/...`` paths."""
    return {
        "pyferry/" + p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel (built from that sdist), by kind."""
    missing = [m for m in ("build", "hatchling") if importlib.util.find_spec(m) is None]
    if missing:
        why = f"{', '.join(missing)} missing: install the dev group (pip install --group dev -e .)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert run.returncode == 0, f"python -m build failed:\n{output}"
    wheels = list(out.glob("*.whl"))
    sdists = list(out.glob("*.tar.gz"))
    assert len(wheels) == 1, wheels
    assert len(sdists) == 1, sdists
    return {"wheel": wheels[0], "sdist": sdists[0]}


def _metadata(text: str) -> Message:
    return email.parser.Parser().parsestr(text)


def test_the_versions_of_both_halves_agree() -> None:
    assert pyferry.__version__ == NPM_VERSION


def test_the_wheel_holds_the_package_and_nothing_else(built: dict[str, Path]) -> None:
    wheel = built["wheel"]
    assert wheel.name == f"pyferry-{NPM_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"pyferry-{NPM_VERSION}.dist-info"
        metadata = _metadata(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    code = {n for n in names if not n.startswith(f"{info}/")}
    assert code == _package_files()
    assert {"pyferry/py.typed", "pyferry/__main__.py", "pyferry/worker.py"} <= code
    assert not any("test" in part for n in code for part in n.split("/")[:-1]), "no test folders"
    assert metadata["Name"] == "pyferry"
    assert metadata["Version"] == NPM_VERSION
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "MIT"
    requires = metadata.get_all("Requires-Dist") or []
    assert any(r.startswith("msgpack") for r in requires)
    assert any(r.startswith("numpy") for r in requires)
    assert "Typing :: Typed" in (metadata.get_all("Classifier") or [])
    assert "numpy" in metadata["Keywords"].split(",")
    assert "pyferry = pyferry.cli:main" in entry_points


def test_the_sdist_holds_the_package_source_and_no_tests(built: dict[str, Path]) -> None:
    sdist = built["sdist"]
    top = f"pyferry-{NPM_VERSION}"
    assert sdist.name == f"{top}.tar.gz"
    with tarfile.open(sdist) as archive:
        names = {n.removeprefix(f"{top}/") for n in archive.getnames() if n != top}
        pkg_info = archive.extractfile(f"{top}/PKG-INFO")
        assert pkg_info is not None
        metadata = _metadata(pkg_info.read().decode())
    source = {n.removeprefix("src/") for n in names if n.startswith("src/")}
    assert source == _package_files()
    rest = names - {f"src/{n}" for n in source}
    expected = {"PKG-INFO", "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", ".gitignore"}
    assert rest == expected, f"unexpected files in the sdist: {sorted(rest - expected)}"
    assert metadata["Version"] == NPM_VERSION
