"""Output guard: every percentage and dollar figure in a reply must come from somewhere we trust.

FACTS §A: the bot must never invent numbers. A figure in a draft reply is allowed only if it is in a
tool result of this turn, in a knowledge-base/FACTS entry, or was given by the customer (their own
numbers may be echoed back: "on your S$8,000 income"). Anything else (a made-up bank rate, a
miscalculated instalment) fails the check, and the responder regenerates or replaces the reply.

What counts as a figure in the reply:
- percentages: "4%", "4.0 %", "4 percent", "4 per cent";
- money: with a currency mark ("S$32,600", "$32.6k", "SGD 600,000", "$1.2m"), with a k/m/million
  suffix ("800k"), with thousands separators ("32,600"), or a bare number of 4+ digits ("32600")
  unless it looks like a year (1900–2100: "since 2021").
Not checked: spelled-out numbers ("four percent"), small bare numbers (years of tenure, ages).

Matching is by value with the precision written: "$32.6k" matches anything that rounds to
32,600 at the hundreds; "$2,847" matches 2,846.53 (whole-dollar rounding either way, since the
calculators round payments up and loans down); "4%" needs a value that rounds to 4 at the
units, so 3.5 does not pass as "4%". Numbers in tool-result JSON have no unit, so they count as
both money and percent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

FigureKind = Literal["money", "percent"]

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_SUFFIX = r"(?:billion|million|bn|mil|mn|b|k|m)"
_MULTIPLIER = {"k": Decimal(1000), "m": Decimal(10**6), "mn": Decimal(10**6), "mil": Decimal(10**6),
               "million": Decimal(10**6), "b": Decimal(10**9), "bn": Decimal(10**9),
               "billion": Decimal(10**9)}

_PERCENT = re.compile(rf"(?<![\w.])({_NUM})\s?(?:%|percent\b|per\s?cent\b)", re.IGNORECASE)
_CURRENCY = re.compile(rf"(?:S\$|SGD\s?|US\$|\$)\s?({_NUM})(?:\s?({_SUFFIX})\b)?", re.IGNORECASE)
_SUFFIXED = re.compile(rf"(?<![\w.$])({_NUM})\s?({_SUFFIX})\b", re.IGNORECASE)
_GROUPED = re.compile(r"(?<![\w.$])(\d{1,3}(?:,\d{3})+(?:\.\d+)?)(?![\w%])")
_BARE = re.compile(r"(?<![\w.$])(?<!\d,)(\d{4,}(?:\.\d+)?)(?![\w%]|,\d)")


@dataclass(frozen=True, slots=True)
class Figure:
    kind: FigureKind
    value: Decimal
    unit: Decimal  # the precision as written: 1 for "$32,600", 100 for "$32.6k", 0.1 for "4.0%"
    text: str


def _unit_of(digits: str, multiplier: Decimal) -> Decimal:
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return Decimal(1).scaleb(-decimals) * multiplier


def _decimal(digits: str) -> Decimal | None:
    try:
        return Decimal(digits.replace(",", ""))
    except InvalidOperation:
        return None


def extract_figures(text: str) -> list[Figure]:
    """Every percentage and money figure in `text`, in order of kind then position."""
    found: list[Figure] = []
    masked = text

    def take(pattern: re.Pattern[str], kind: FigureKind, *, skip_years: bool = False) -> None:
        nonlocal masked
        for m in pattern.finditer(masked):
            digits = m.group(1)
            suffix = (m.group(2) or "").lower() if pattern.groups >= 2 else ""
            multiplier = _MULTIPLIER.get(suffix, Decimal(1))
            value = _decimal(digits)
            if value is None:
                continue
            if skip_years and "." not in digits and 1900 <= value <= 2100:
                continue
            found.append(Figure(kind, value * multiplier, _unit_of(digits, multiplier), m.group(0).strip()))
            masked = masked[:m.start()] + " " * (m.end() - m.start()) + masked[m.end():]

    take(_PERCENT, "percent")
    take(_CURRENCY, "money")
    take(_SUFFIXED, "money")
    take(_GROUPED, "money")
    take(_BARE, "money", skip_years=True)
    return found


@dataclass
class AllowedFigures:
    """The figures a reply may state this turn. Build one per turn; `add_*` as sources arrive."""

    money: set[Decimal] = field(default_factory=set)
    percent: set[Decimal] = field(default_factory=set)
    numbers: set[Decimal] = field(default_factory=set)  # unitless (JSON): allowed as either kind

    def add_text(self, text: str) -> None:
        for figure in extract_figures(text):
            (self.money if figure.kind == "money" else self.percent).add(figure.value)

    def add_value(self, value: object) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float, Decimal)):
            self.numbers.add(abs(Decimal(str(value))))
        elif isinstance(value, str):
            number = _decimal(value.strip()) if re.fullmatch(r"-?[\d,]*\.?\d+", value.strip()) else None
            if number is not None:
                self.numbers.add(abs(number))
            else:
                self.add_text(value)
        elif isinstance(value, dict):
            for item in value.values():
                self.add_value(item)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                self.add_value(item)

    def add_json(self, payload: str) -> None:
        try:
            self.add_value(json.loads(payload))
        except ValueError:
            self.add_text(payload)

    def update(self, other: AllowedFigures) -> None:
        self.money |= other.money
        self.percent |= other.percent
        self.numbers |= other.numbers

    def copy(self) -> AllowedFigures:
        return AllowedFigures(set(self.money), set(self.percent), set(self.numbers))

    def allows(self, figure: Figure) -> bool:
        pool = (self.money if figure.kind == "money" else self.percent) | self.numbers
        if figure.kind == "percent":
            half = figure.unit / 2
            return any(a == figure.value or abs(a - figure.value) < half for a in pool)
        # Money: a rounded quote ("$32.6k") must round correctly; whole dollars may be rounded
        # either way because the calculators round payments up and loan amounts down (FACTS A.9).
        tolerance = Decimal(1) if figure.unit <= 1 else figure.unit / 2
        return any(abs(a - figure.value) < tolerance or a == figure.value for a in pool)


@dataclass(frozen=True, slots=True)
class GuardResult:
    ok: bool
    figures: tuple[Figure, ...]
    unsupported: tuple[Figure, ...]

    def describe(self) -> str:
        """For the corrective instruction and the logs: which figures had no source."""
        return ", ".join(f.text for f in self.unsupported)


def check(reply: str, allowed: AllowedFigures) -> GuardResult:
    figures = tuple(extract_figures(reply))
    unsupported = tuple(f for f in figures if not allowed.allows(f))
    return GuardResult(ok=not unsupported, figures=figures, unsupported=unsupported)


def allowed_from(texts: Iterable[str] = (), values: Iterable[Any] = ()) -> AllowedFigures:
    """Convenience: allowed figures from trusted texts and JSON-like values."""
    allowed = AllowedFigures()
    for text in texts:
        allowed.add_text(text)
    for value in values:
        allowed.add_value(value)
    return allowed
