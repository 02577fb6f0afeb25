"""Dates and durations in chat text, for the slots that need them (SSD holding period, tenure, lease).

"bought on 10 Aug 2025", "selling 1 Sep 2026", "held for 3 years", "sell after 2 years", "a 25-year
loan", "80 years of lease". A date with "sell"/"sold" just before it is the sale date; otherwise the
first date is the purchase and the next the sale. "sell after N years" counts from the purchase date,
or from today when the customer is asking before buying.
"""

from __future__ import annotations

import re
from datetime import date

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), start=1)}
_MON = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
DATE = re.compile(rf"\b(?:(\d{{1,2}})\s+{_MON}\s+(\d{{4}})|{_MON}\s+(\d{{4}})|(\d{{4}})-(\d{{2}})-(\d{{2}})"
                   rf"|(\d{{1,2}})/(\d{{1,2}})/(\d{{4}}))\b", re.I)
_YEARS = re.compile(r"\b(\d{1,2})[\s-]*(?:years?|yrs?)\b", re.I)


def around(text: str, start: int, end: int, before: int = 32, after: int = 24) -> tuple[str, str]:
    """The lower-cased text just before and just after a match, where its cue words are."""
    return text[max(0, start - before):start].lower(), text[end:end + after].lower()


def parse_durations(low: str, values: dict[str, object], today: date | None) -> None:
    for m in _YEARS.finditer(low):
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
        elif re.search(r"sell|sold|after|within", pre) and today is not None:
            values["_holding_years"] = n
        elif re.search(r"tenure|loan|over|for|term|repay|mortgage", pre + post[:8]) and 1 <= n <= 35:
            values["tenure_years"] = n
    if lock := re.search(r"(\d{1,2})\s*(?:months?|mths?) (?:of )?lock", low):
        values["lock_in_months"] = int(lock.group(1))


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
    holding = values.pop("_holding_years", None)
    if isinstance(holding, int) and today is not None:
        start = values.get("purchase_date")
        start = start if isinstance(start, date) else today
        values.setdefault("purchase_date", start)
        values["sale_date"] = shift(start, holding)


def shift(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 Feb
        return day.replace(year=day.year + years, day=28)
