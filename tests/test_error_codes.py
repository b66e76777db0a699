"""spec/error-codes.json against the Python side: every code, its class, what a client sends.

js/test/error-codes.test.js checks the same table against the JS side.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import pyferry
from pyferry import errors
from pyferry.callbacks import js_error

from conftest import ROOT

TABLE: list[dict[str, Any]] = json.loads(
    (ROOT / "spec" / "error-codes.json").read_text(encoding="utf-8")
)["codes"]


def test_codes_are_unique() -> None:
    codes = [row["code"] for row in TABLE]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("row", [r for r in TABLE if r["python"]], ids=lambda r: r["code"])
def test_each_python_class_is_exported_with_its_code(row: dict[str, Any]) -> None:
    cls = getattr(pyferry, row["python"])
    assert cls is getattr(errors, row["python"])
    assert vars(cls)["code"] == row["code"]


def test_every_python_code_is_in_the_table() -> None:
    own = {c.code: name for name in errors.__all__ if "code" in vars(c := getattr(errors, name))}
    assert own == {row["code"]: row["python"] for row in TABLE if row["python"]}


@pytest.mark.parametrize("row", [r for r in TABLE if r["from_client"]], ids=lambda r: r["code"])
def test_a_callback_error_with_the_code_raises_its_class(row: dict[str, Any]) -> None:
    info = {"type": "Error", "message": "m", "traceback": "", "code": row["code"]}
    assert type(js_error(info)).__name__ == row["from_client"]


def test_a_callback_error_with_any_other_code_is_a_js_error() -> None:
    info = {"type": "TypeError", "message": "m", "traceback": "", "code": "PYFERRY_TIMEOUT"}
    assert isinstance(js_error(info), errors.JSError)
