"""PII (e-mail, phone) never reaches a log line."""

from __future__ import annotations

import logging

import pytest

from aibroker.logging import RedactingFormatter, StripQueryString, redact


@pytest.mark.parametrize(("text", "hidden"), [
    ("lead from ann.tan@example.com", "ann.tan@example.com"),
    ("call +65 9123 4567", "9123 4567"),
    ("phone +6591234567", "6591234567"),
    ("local 91234567", "91234567"),
    ("local 9123-4567", "9123-4567"),
    ("no plus 6598765432", "98765432"),
    ("dialled 006591234567", "91234567"),
    ("spaced +65 9876 5432", "9876 5432"),
    ("dashed 65-9876-5432", "9876-5432"),
    ("in a sentence: call 6591234567.", "91234567"),
    ("from anna@bücher.de", "anna@bücher.de"),
    ("from x@例え.jp", "x@例え.jp"),
    ("unicode local part jürgen@example.de", "jürgen"),
])
def test_pii_is_masked(text: str, hidden: str) -> None:
    assert hidden not in redact(text)


@pytest.mark.parametrize("text", [
    "2026-11-22 04:25:40,479", "conversation 12345", "BSD is S$32,600", "2026-11-22T04:25:40.123456+00:00",
    "unix time 1764713424", "at 1764713424123 ms", "job new-conversation-7 message 1234567890",
    "loan S$1,234,567.89 over 25 years", "price 650000000", "id 3f2a9c1e-1b2c-4d5e-8f90-123456789abc",
    "message 00123", "GET /api/conversations/42/messages 200",
])
def test_ordinary_numbers_stay(text: str) -> None:
    assert redact(text) == text


def test_formatter_redacts_arguments_too() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "contact %s created", ("bob@example.org",), None)
    line = RedactingFormatter("%(message)s").format(record)
    assert "bob@example.org" not in line and line.startswith("contact ***@e***")


def test_access_log_lines_lose_their_query_string() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/api/x?email=a%40b.sg&token=s3cret", "1.1", 200), None)
    assert StripQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/x HTTP/1.1" 200'


def test_a_long_line_without_an_address_is_redacted_quickly() -> None:
    text = "x" * 200_000 + " conversation 7"
    assert redact(text) == text  # linear: the e-mail pattern starts only at a token's beginning
