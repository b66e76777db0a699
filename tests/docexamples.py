"""The code examples of the documentation, as data: where each is, its language and its text.

Fenced blocks of README.md, js/README.md (the npm page) and docs/*.md, and
the ``@example`` blocks of js/index.d.ts. A block is marked not runnable by an
HTML comment on the line before its fence, ``<!-- example: not run: <why> -->``
(in index.d.ts, a line `` * example: not run: <why>`` before it).
tests/test_docs.py runs the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    "README.md",
    "js/README.md",  # the npm page
    *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")),
]
TYPES = "js/index.d.ts"
LANGUAGES = {
    "js": "js",
    "javascript": "js",
    "ts": "ts",
    "typescript": "ts",
    "python": "python",
    "py": "python",
}

_FENCE = re.compile(r"^(\s*(?:\* )?)```(\S*)\s*$")
_MARK = re.compile(r"example: not run: (.+?)(?: -->)?\s*$")


@dataclass(frozen=True)
class Example:
    """One code block: ``where`` is ``file:line`` of its fence."""

    file: str
    line: int
    language: str
    code: str
    skip: str | None  # why it is not run, or None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def examples() -> list[Example]:
    """Every code block in a language we run, in file order."""
    found: list[Example] = []
    for name in [*SOURCES, TYPES]:
        found.extend(_blocks(name, (ROOT / name).read_text(encoding="utf-8").splitlines()))
    return found


def _blocks(name: str, lines: list[str]) -> list[Example]:
    out: list[Example] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None or (name == TYPES and not m.group(1).strip().startswith("*")):
            i += 1
            continue
        indent, info = m.group(1), m.group(2)
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not _FENCE.match(lines[i]):
            text = lines[i]
            body.append(text[len(indent) :] if text.startswith(indent) else text.lstrip(" *"))
            i += 1
        i += 1  # the closing fence
        language = LANGUAGES.get(info.split(",")[0])
        if language is None:
            continue
        mark = _MARK.search(lines[start - 1]) if start else None
        code = "\n".join(body) + "\n"
        out.append(Example(name, start + 1, language, code, mark.group(1) if mark else None))
    return out


if __name__ == "__main__":
    for ex in examples():
        print(f"{ex.where:28} {ex.language:6} {'skip: ' + ex.skip if ex.skip else ''}")
        print("    " + ex.code.replace("\n", "\n    ").rstrip())
