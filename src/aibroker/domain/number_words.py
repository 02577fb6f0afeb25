"""Numbers written in words, turned into digits before a message is parsed (issue #14).

"one point two million" → "1,200,000", "eight hundred and fifty thousand" → "850,000", "thirty-five" →
"35", "two and a half years" → "2.5 years", "twelve hundred" → "1,200", "three percent" → "3 percent".
A lone "one" or "a" is left alone ("one loan", "a flat"): the parsers read those as counts already;
so is a scale word after digits ("1.2 million").
Pure text in, text out; everything else in the message is unchanged.
"""

from __future__ import annotations

import re
from decimal import Decimal

_UNITS = {w: i for i, w in enumerate(("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                      "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
                                      "sixteen", "seventeen", "eighteen", "nineteen"))}
_TENS = {w: 10 * i for i, w in enumerate(("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
                                          "eighty", "ninety")) if w}
_SCALES = {"thousand": 1000, "million": 10**6, "mil": 10**6}
_NUMBER = (*_UNITS, *_TENS, "hundred", *_SCALES)
_RUN = re.compile(
    r"\b(?:" + "|".join(_NUMBER) + r")(?:(?:[\s-]+|\s+and\s+(?=(?:a\s+half|" + "|".join(_NUMBER) + r")\b)"
    r"|\s+point\s+)(?:a\s+half|" + "|".join(_NUMBER) + r"))*\b", re.IGNORECASE)


def _value(words: list[str]) -> Decimal | None:
    total, current, fraction, decimals = Decimal(0), Decimal(0), "", False
    for word in words:
        if word == "point":
            decimals = True
        elif decimals and word in _UNITS and _UNITS[word] < 10:
            fraction += str(_UNITS[word])
        elif word == "half":
            current += Decimal("0.5")
        elif word in ("and", "a"):
            continue
        elif word in _UNITS or word in _TENS:
            if decimals:
                return None
            current += _UNITS.get(word, _TENS.get(word, 0))
        elif word == "hundred":
            current = (current or Decimal(1)) * 100
        elif word in _SCALES:
            if fraction:
                current += Decimal(f"0.{fraction}")
                fraction, decimals = "", False
            total += (current or Decimal(1)) * _SCALES[word]
            current = Decimal(0)
    if fraction:
        current += Decimal(f"0.{fraction}")
    return total + current


def digits_for_words(text: str) -> str:
    def convert(match: re.Match[str]) -> str:
        words = re.findall(r"[a-z]+", match.group(0).lower())
        counted = [w for w in words if w in _UNITS or w in _TENS]
        if not counted or words in (["one"], ["a"]):  # "S$1.2 million": the digits are already there
            return match.group(0)
        value = _value(words)
        if value is None:
            return match.group(0)
        if value >= 1000 and value == value.to_integral_value():
            return f"{value:,.0f}"  # grouped, so "two thousand" is never read as the year 2000
        return f"{value.normalize():f}"
    return _RUN.sub(convert, text)
