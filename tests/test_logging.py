"""PII (e-mail, phone) never reaches a log line."""

from __future__ import annotations

import logging

import pytest

from aibroker.logging import RedactingFormatter, redact


@pytest.mark.parametrize(("text", "hidden"), [
    ("lead from ann.tan@example.com", "ann.tan@example.com"),
    ("call +65 9123 4567", "9123 4567"),
    ("phone +6591234567", "6591234567"),
    ("local 91234567", "91234567"),
    ("local 9123-4567", "9123-4567"),
])
def test_pii_is_masked(text: str, hidden: str) -> None:
    assert hidden not in redact(text)


@pytest.mark.parametrize("text", ["2026-11-22 04:25:40,479", "conversation 12345", "BSD is S$32,600"])
def test_ordinary_numbers_stay(text: str) -> None:
    assert redact(text) == text


def test_formatter_redacts_arguments_too() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "contact %s created", ("bob@example.org",), None)
    line = RedactingFormatter("%(message)s").format(record)
    assert "bob@example.org" not in line and line.startswith("contact ***@e***")
