"""Structured (key=value) logs with PII redaction: e-mail addresses and phone numbers never reach a log line."""

from __future__ import annotations

import logging
import re
import sys

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# International numbers (+ then 8-15 digits, spaces/dashes allowed) and local 8-digit SG numbers
# ("91234567", "9123 4567"). Dates and times ("2026-11-22 04:25") do not match either shape.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d(?:[ \-]?\d){7,14}|\d{4}[ \-]?\d{4})(?![\w])")


def redact(text: str) -> str:
    """Mask e-mails (keep the domain's first letter for debugging) and phone numbers (keep last 2 digits)."""
    text = _EMAIL.sub(lambda m: "***@" + m.group(0).split("@", 1)[1][:1] + "***", text)
    return _PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group(0))[-2:], text)


class RedactingFormatter(logging.Formatter):
    """Redacts the message and any exception text; the timestamp and logger name are left alone."""

    def format(self, record: logging.LogRecord) -> str:
        record.msg = redact(record.getMessage())
        record.args = None
        formatted = super().format(record)
        return redact(formatted) if record.exc_info or record.exc_text else formatted


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party loggers that would otherwise echo request bodies or URLs with query strings.
    for noisy in ("httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
