"""Every code example of the documentation runs (or type-checks) as written.

JavaScript blocks run in a fresh ``node`` against real workers, each in its
own module: the block's imports first, then the inputs it takes for granted
(tests/docs/inputs.mjs), then its file's preamble (the guide's "every example
assumes") unless the block makes its own client, then the block itself. A
block must end with every call settled: a pending top-level await or an
unhandled rejection fails it. TypeScript blocks type-check under the
project's strict flags; Python blocks run. The modules the examples call are
in tests/docs/mypkg. Blocks marked ``example: not run`` are counted, not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from docexamples import ROOT, Example, examples

from conftest import FIXTURES

DOCS = ROOT / "tests" / "docs"
RUN = DOCS / ".run"
TYPES = ROOT / "js" / "test" / "types" / ".docs"
EXAMPLES = examples()

# What each file's examples assume is already there (the guide says so in its first block).
PREAMBLES = {
    "README.md": "import { Python, kw, opts } from 'pyferry'\nconst py = new Python()\n",
    "js/README.md": "import { Python, kw, opts } from 'pyferry'\nconst py = new Python()\n",
    "docs/guide.md": next(e.code for e in EXAMPLES if e.file == "docs/guide.md"),
}
# What an index.d.ts example may use without importing it: the guide's preamble and inputs.
# Any other name (Kwargs, Remote, NDArray, the error classes) the example imports itself.
TS_PREAMBLE = """\
import { Python, kw, opts } from 'pyferry'
declare const py: Python
declare const data: number[]
declare const samples: Float64Array
declare const path: string
declare const rows: number[][]
declare const signal: AbortSignal
declare const x: number[]
declare function consume(rows: unknown): void
"""
_IMPORT = re.compile(r"^import\s[^;]*?from\s+'[^']+'\s*$", re.M | re.S)


def _ids(examples: list[Example]) -> list[str]:
    return [e.where for e in examples]


def _split_imports(code: str) -> tuple[list[str], str]:
    """The block's import statements, and the rest of it."""
    imports = [m.group(0) for m in _IMPORT.finditer(code)]
    return imports, _IMPORT.sub("", code)


def _makes_client(code: str) -> bool:
    return "from 'pyferry'" in code and "new Python(" in code


JS = [e for e in EXAMPLES if e.language == "js" and not e.skip]
TS = [e for e in EXAMPLES if e.language == "ts" and not e.skip]
PYTHON = [e for e in EXAMPLES if e.language == "python" and not e.skip]


def test_every_example_is_counted() -> None:
    skipped = [e for e in EXAMPLES if e.skip]
    assert len(JS) >= 10, "the documentation lost its JavaScript examples"
    assert len(TS) >= 10, "the documentation lost its TypeScript examples"
    assert PYTHON, "the documentation lost its Python examples"
    # Each one not run says why, next to it.
    assert all(e.skip.strip() for e in skipped)


def _js_module(example: Example) -> str:
    imports, body = _split_imports(example.code)
    preamble = "" if _makes_client(example.code) else PREAMBLES.get(example.file, "")
    pre_imports, pre_body = _split_imports(preamble)
    seen: list[str] = []
    for line in [*pre_imports, *imports]:
        if line not in seen:
            seen.append(line)
    names = "consume, data, hash, path, rows, signal, urls, x"
    closing = "await py.close()\n" if pre_body.strip() else ""
    return (
        "\n".join(seen)
        + f"\nimport {{ {names} }} from '../inputs.mjs'\n"
        + pre_body
        # The block in a scope of its own: its names may shadow the inputs'.
        + "{\n"
        + body
        + "\n}\n"
        + closing
    )


@pytest.mark.parametrize("example", JS, ids=_ids(JS))
def test_javascript_example_runs(example: Example) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    RUN.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9]+", "_", example.where) + ".mjs"
    module = RUN / name
    module.write_text(_js_module(example), encoding="utf-8")
    env = {
        **os.environ,
        "PYFERRY_PYTHON": os.environ.get("PYFERRY_PYTHON", sys.executable),
        "PYTHONPATH": os.pathsep.join([str(DOCS), str(FIXTURES)]),
    }
    run = subprocess.run(
        [node, str(module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, (
        f"{example.where} exited {run.returncode}\n--- module ---\n{module.read_text()}"
        f"\n--- stderr ---\n{run.stderr[-4000:]}"
    )


@pytest.fixture(scope="module")
def tsc_errors() -> dict[str, str]:
    """Type-check every TypeScript block at once; the diagnostics of each, by its file name."""
    if TYPES.exists():
        shutil.rmtree(TYPES)
    TYPES.mkdir(parents=True)
    (TYPES / "tsconfig.json").write_text(
        '{ "extends": "../tsconfig.json", "include": ["*.mts"] }\n', encoding="utf-8"
    )
    for example in TS:
        imports, body = _split_imports(example.code)
        preamble = TS_PREAMBLE
        if _makes_client(example.code):  # its own imports and client: not the preamble's
            preamble = "\n".join(line for line in preamble.splitlines()[2:]) + "\n"
        source = "\n".join(imports) + "\n" + preamble + "export {}\n{\n" + body + "\n}\n"
        (TYPES / _ts_name(example)).write_text(source, encoding="utf-8")
    tsc = ROOT / "js" / "node_modules" / ".bin" / "tsc"
    run = subprocess.run(
        [str(tsc), "--noEmit", "-p", str(TYPES)],
        cwd=ROOT / "js",
        capture_output=True,
        text=True,
        check=False,
    )
    errors: dict[str, str] = {}
    for line in run.stdout.splitlines():
        file = line.split("(", 1)[0].rsplit("/", 1)[-1]
        errors[file] = errors.get(file, "") + line + "\n"
    return errors


def _ts_name(example: Example) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", example.where) + ".mts"


@pytest.mark.parametrize("example", TS, ids=_ids(TS))
def test_typescript_example_type_checks(example: Example, tsc_errors: dict[str, str]) -> None:
    name = _ts_name(example)
    assert name not in tsc_errors, (
        f"{example.where} does not type-check:\n{tsc_errors[name]}"
        f"--- as checked ---\n{(TYPES / name).read_text()}"
    )


@pytest.mark.parametrize("example", PYTHON, ids=_ids(PYTHON))
def test_python_example_runs(example: Example) -> None:
    exec(compile(example.code, example.where, "exec"), {"__name__": "docexample"})


def test_the_extractor_finds_marks_and_fences(tmp_path: Path) -> None:
    # Guards the extractor itself: a marked block is skipped with its reason, an
    # unmarked one is kept, and a fence of another language is not an example.
    from docexamples import _blocks

    text = "<!-- example: not run: needs a GPU -->\n```js\nx()\n```\n```js\ny()\n```\n```\nz\n```\n"
    found = _blocks("doc.md", text.splitlines())
    assert [(e.line, e.code, e.skip) for e in found] == [
        (2, "x()\n", "needs a GPU"),
        (5, "y()\n", None),
    ]
