"""Dates and durations in chat text, for the slots that need them (SSD holding period, tenure, lease).

"bought on 10 Aug 2025", "selling 1 Sep 2026", "held for 3 years", "sell after 2 years", "a 25-year
loan", "80 years of lease". A date with "sell"/"sold" just before it is the sale date; otherwise the
first date is the purchase and the next the sale. A holding period stated relative to the purchase
("sell 8 months after we buy", "2.5 years on", "18 months after buying", "sell within 2 years")
counts from the purchase date, or from today when the customer is buying now; it is never the time
from the purchase until today. "by next March" is a sale on 1 March after today; "buy now" and
"sell now" are today.
"""

from __future__ import annotations

import re
from datetime import date

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), start=1)}
_MON = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
DATE = re.compile(rf"\b(?:(\d{{1,2}})\s+{_MON}\s+(\d{{4}})|{_MON}\s+(\d{{4}})|(\d{{4}})-(\d{{2}})-(\d{{2}})"
                   rf"|(\d{{1,2}})/(\d{{1,2}})/(\d{{4}}))\b", re.I)
_YEARS = re.compile(r"(?<![\d.])(\d{1,2})[\s-]*(?:years?|yrs?)\b(?!\s*old)", re.I)
_HOLDING = re.compile(r"\b(\d{1,2}(?:\.\d+)?)[\s-]*(years?|yrs?|months?|mths?)\s+(?:after|on\b|later|from)"
                      r"|\b(?:sell|sold|selling|sale)\b[^.?!]{0,20}?\b(?:after|in|within)\s+(\d{1,2}(?:\.\d+)?)"
                      r"[\s-]*(years?|yrs?|months?|mths?)\b", re.I)
_NEXT_MONTH = re.compile(r"\b(?:by|in|around|before)\s+(?:next\s+)?(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
                         r"[a-z]*\b(?!\s+\d)|\bnext\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b",
                         re.I)
_BUY_NOW = re.compile(r"\b(?:buy|buying|purchase|purchasing|bought)\b(?:\s+\w+){0,4}?\s+(?:now|today)\b", re.I)
_SELL_NOW = re.compile(r"\b(?:sell|selling|sold)\b(?:\s+\w+){0,3}?\s+(?:now|today)\b", re.I)


def around(text: str, start: int, end: int, before: int = 32, after: int = 24) -> tuple[str, str]:
    """The lower-cased text just before and just after a match, where its cue words are."""
    return text[max(0, start - before):start].lower(), text[end:end + after].lower()


def _months(number: str, unit: str) -> int:
    return round(float(number) * (1 if unit.startswith("m") else 12))


def parse_durations(low: str, values: dict[str, object], today: date | None) -> None:
    if today is not None:
        _relative(low, values, today)
    held = [m.span() for m in _HOLDING.finditer(low)]
    for m in _YEARS.finditer(low):
        if any(s <= m.start() < e for s, e in held):
            continue
        n = int(m.group(1))
        pre, post = around(low, m.start(), m.end(), 30, 25)
        if re.search(r"lease|left on", pre + post):
            values["remaining_lease"] = n
        elif re.search(r"\bago\b", post) and today is not None:
            values["purchase_date"] = shift(today, -n)
            values.setdefault("sale_date", today)
        elif re.search(r"\b(?:held|hold|had|owned|kept)\b", pre) and today is not None:
            values["purchase_date"] = shift(today, -n)  # held for n years up to now
            values.setdefault("sale_date", today)
        elif 1 <= n <= 35 and (re.search(r"tenure|loan|over|for|term|repay|mortgage", pre + post[:8])
                               or not re.search(r"\b(?:age|aged|old|lease)\b", pre[-12:] + post[:12])):
            values["tenure_years"] = n  # a bare "30 years" in a loan chat is the tenure
    if lock := re.search(r"(\d{1,2})\s*(?:months?|mths?) (?:of )?lock", low):
        values["lock_in_months"] = int(lock.group(1))


def _relative(low: str, values: dict[str, object], today: date) -> None:
    """Holding periods counted from the purchase, "by next March", "buy now", "sell now"."""
    if m := _HOLDING.search(low):
        number, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        values["_holding_months"] = _months(number, unit)
    if m := _NEXT_MONTH.search(low):
        month = _MONTHS[(m.group(1) or m.group(2))[:3].lower()]
        year = today.year + (1 if month <= today.month else 0)
        values["sale_date"] = date(year, month, 1)
    if _BUY_NOW.search(low):
        values["purchase_date"] = today
    if _SELL_NOW.search(low):
        values["sale_date"] = today


def parse_dates(text: str, values: dict[str, object], today: date | None) -> None:
    found: list[tuple[date, str]] = []
    for m in DATE.finditer(text):
        g = m.groups()
        try:
            if g[0]:
                when = date(int(g[2]), _MONTHS[g[1][:3].lower()], int(g[0]))
            elif g[3]:
                when = date(int(g[4]), _MONTHS[g[3][:3].lower()], 1)
            elif g[5]:
                when = date(int(g[5]), int(g[6]), int(g[7]))
            else:
                when = date(int(g[10]), int(g[9]), int(g[8]))
        except (ValueError, KeyError):
            continue
        found.append((when, text[max(0, m.start() - 30):m.start()].lower()))
    for when, pre in found:
        selling = re.search(r"sell|sold|sale", pre) and not re.search(r"bought|buy|purchas", pre[-12:])
        key = "sale_date" if selling else None
        key = key or ("purchase_date" if "purchase_date" not in values else "sale_date")
        values[key] = when
    if isinstance(holding := values.pop("_holding_months", None), int):
        values["holding_months"] = holding


def shift(day: date, years: int = 0, months: int = 0) -> date:
    """`day` moved by whole years and months (29 Feb and 31st fall back to the month's last day)."""
    total = day.year * 12 + day.month - 1 + years * 12 + months
    year, month = divmod(total, 12)
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")
