"""Structured (key=value) logs with PII redaction: e-mail addresses, phone numbers and query strings never
reach a log line."""

from __future__ import annotations

import logging
import re
import sys

# `\w` is Unicode: internationalised domains (anna@bücher.de, x@例え.jp) are addresses too. The look-behind
# starts a match only at the beginning of a token, which keeps a long line without "@" linear.
_EMAIL = re.compile(r"(?<![\w.%+\-])[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.\w{2,}")
# Phone numbers, as whole tokens: international with "+" or "00" (8-15 digits, spaces/dashes allowed), Singapore
# numbers with the country code but no "+" (65 then 8 digits starting 3, 6, 8 or 9: "6598765432", "65-9876-5432"),
# and local 8-digit ones ("91234567", "9123 4567"). Timestamps, dates, ids and amounts ("2026-11-22 04:25",
# "1764713424", "S$32,600") match none of these shapes.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d(?:[ \-]?\d){7,14}|00[1-9](?:[ \-]?\d){7,13}"
                    r"|65[ \-]?[3689]\d{3}[ \-]?\d{4}|\d{4}[ \-]?\d{4})(?!\w)")
# Loggers that print SQL parameters at DEBUG: aiosqlite logs each call with its arguments.
_PARAMETER_LOGGERS = ("aiosqlite",)


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


class StripQueryString(logging.Filter):
    """uvicorn's access log line is `client - "METHOD path?query HTTP/x" status`: the query can hold a
    conversation token or an e-mail, so only the path is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) >= 3 \
                and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def configure_logging(level: str = "INFO", *, log_sql: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(StripQueryString())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # On the logger as well: a filter on our handler would not cover another handler (a test's capture).
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, StripQueryString) for f in access.filters):
        access.addFilter(StripQueryString())
    # Third-party loggers that would otherwise echo request bodies or URLs with query strings.
    for noisy in ("httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    for name in _PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    # SQLAlchemy's statement log (INFO: statements, DEBUG: rows) only with LOG_SQL; through our handler, so it is
    # redacted (not `echo=True`, which adds a handler of its own). Its parameters are hidden by `create_engine`.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO if log_sql else logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
