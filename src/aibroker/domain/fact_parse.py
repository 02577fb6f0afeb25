"""Parsing one customer message into `CustomerFacts` (see `aibroker.domain.customer_facts`).

Amounts: "$1.2m", "1,200,000", "S$800k", "8k a month", "1.2 million". Each amount is classified by
the words around it; without a cue, below S$100,000 is read as a monthly income and above as a
price, which is how these numbers appear in a home-loan chat.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from aibroker.domain.customer_facts import CustomerFacts, Slot
from aibroker.domain.fact_dates import DATE, around, parse_dates, parse_durations
from aibroker.domain.number_words import digits_for_words

_MULT = {"k": 1000, "m": 10**6, "mil": 10**6, "mio": 10**6, "million": 10**6, "mn": 10**6}
_AMOUNT = re.compile(r"(?<![\w.])(s\$|sgd\s?|\$)?\s?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
                     r"(?:\s?(million|mil|mio|mn|k|m)\b)?(\s?%|\s?percent\b|\s?per\s?cent\b)?", re.I)
_NOT_AGE = r"(?!\s*(?:years?\b|yrs?\b|k\b|%|mil|m\b|,\d|\.\d|\d))"
_AGE = re.compile(r"\b(?:age[ds]?|i\s?am|i'?m|we\s+are|we'?re|both|me|my\s+(?:wife|husband|spouse|partner|hubby|"
                  r"wifey|mother|father|mum|mom|dad|son|daughter|brother|sister)(?:\s+is)?|(?:wife|husband|spouse|"
                  r"partner|hubby)(?:\s+is)?|she'?s|he'?s|she\s+is|he\s+is)\s*(\d{2})" + _NOT_AGE
                  + r"(?:\s*(?:and|&|,)\s*(\d{2})" + _NOT_AGE + r")?\b"
                  r"|\b(\d{2})\s*(?:years?\s*old|yo\b|y/o\b|yrs?\s*old)", re.I)
_ORDINAL = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3}
_WORD_NUM = {"no": 0, "zero": 0, "one": 1, "a": 1, "an": 1, "two": 2, "three": 3}


# Splits after each sentence's end. (`findall("[^.!?]*\?")` found the same questions, but tried every position of a
# sentence that ended otherwise, to its end: quadratic, ~0.2 ms for a greeting, on every reply.)
_AFTER_SENTENCE = re.compile(r"(?<=[.!?])")


def asked_slots(bot_text: str) -> frozenset[Slot]:
    """Which inputs the bot's questions asked for, so a bare reply ("8k, 35") lands in the right slots.

    Only sentences ending in "?" count: the disclaimer's "final loan amount" is not a question.
    """
    text = " ".join(sentence for sentence in _AFTER_SENTENCE.split(bot_text.lower()) if sentence.endswith("?"))
    if not text:
        return frozenset()
    cues: tuple[tuple[Slot, tuple[str, ...]], ...] = (
        ("income", ("income", "earn", "salary")), ("price", ("price", "budget", "how much is the property")),
        ("age", ("how old", "your age", "age")), ("loan_amount", ("loan amount", "how much you'd like to "
                                                                                 "borrow")),
        ("loans", ("outstanding housing loan", "existing housing loan", "other housing loan")),
        ("owned", ("how many properties", "how many residential properties", "properties you own",
                   "properties do you own")),
        ("residency", ("citizen", "residency", " pr ", " pr,", " pr?")), ("lease", ("remaining lease", "lease left")),
        ("dates", ("when did you buy", "purchase date", "date you bought")))
    return frozenset(slot for slot, words in cues if any(word in text for word in words))


def parse(text: str, *, asked: frozenset[Slot] = frozenset(), today: date | None = None) -> CustomerFacts:
    """The slots one customer message fills (see the module docstring)."""
    text = digits_for_words(text)
    low = text.lower()
    seen: set[str] = set()
    values: dict[str, object] = {}
    incomes: list[Decimal] = []
    ages = [int(a) for m in _AGE.finditer(text) for a in m.groups() if a and 18 <= int(a) <= 100]
    age_spans = [m.span() for m in _AGE.finditer(text)]
    date_spans = [m.span() for m in DATE.finditer(text)]

    for m in _AMOUNT.finditer(text):
        if any(s <= m.start() < e for s, e in age_spans + date_spans):
            continue
        currency, digits, suffix, percent = m.groups()
        value = Decimal(digits.replace(",", "")) * _MULT.get((suffix or "").lower(), 1)
        pre, post = around(text, m.start(), m.end())
        if percent:
            if value < 30 and not re.search(r"ltv|tdsr|msr|absd|bsd|ssd|down", pre):
                values["rate_pct"] = value
            continue
        if not (currency or suffix) and value < 100 and re.match(
                r"\s*[-\s]?(?:years?|yrs?|months?|mths?|properties|property|loans?|units?)\b", post):
            continue  # a count or a duration, handled below
        if not (currency or suffix) and ("." not in digits and "," not in digits and 1990 <= value <= 2100):
            continue  # a year ("bought in 2021"), not money
        monthly = re.match(r"\s*(?:a|per|/|each)\s*(?:month|mth)|\s*monthly", post)
        if not (currency or suffix or monthly) and value < 1000:
            _bare_answer(int(value) if value == int(value) else None, asked, ages, values,
                         listed=_listed(text, m.start(), m.end()))
            continue
        slot = _classify_amount(pre, post, value, asked)
        if slot == "income":
            incomes.append(value)
        elif slot == "variable":
            values["variable_income"] = value
        elif slot == "debts":
            values["monthly_debts"] = value
        else:
            values[slot] = value
    if incomes:
        values["incomes"] = tuple(incomes)
    if ages:
        values["ages"] = tuple(dict.fromkeys(ages))

    _parse_words(low, values)
    if word := re.fullmatch(r"\W*(none|no|zero|nil|not yet|nope|one|two|three)\b.*", low):
        count = _WORD_NUM.get(word.group(1), 0)
        for slot, key in (("owned", "properties_owned"), ("loans", "loans_outstanding")):
            if slot in asked:
                values.setdefault(key, count)
                break
    parse_durations(low, values, today)
    parse_dates(text, values, today)
    for key in values:
        seen.add(key)
    return CustomerFacts(**values, seen=frozenset(seen))  # type: ignore[arg-type]


_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("variable", re.compile(r"commission|bonus|variable|overtime|\bot\b|incentive")),
    ("debts", re.compile(r"car loan|debts?|commitments?|owe|credit card|other loans?|student "
                         r"loan|renovation")),
    ("loan_amount", re.compile(r"loan of|borrow(?:ing)?(?: about| around)?\s*$|loan amount|instal+ments?\b|mortgage of|"
                               r"outstanding|principal|loan is|"
                               r"loan left|remaining loan|instal+ments? (?:on|for)|repayments? (?:on|for)|"
                               r"payments? (?:on|for)|(?:housing |home |bank |hdb )?(?:loan|mortgage)\b")),
    ("income", re.compile(r"income|earn|salary|make|\b(?:my|take[- ]home|net|gross) pay\b|per month|a month|"
                          r"/month|monthly|\bpm\b|"
                          r"p\.m\.|/mth|\bmth\b|each month|household|basic")),
    ("price", re.compile(r"price|cost|buy|purchase|worth|valued|condo|flat|house|property|home|unit|sell|"
                         r"sold|bsd|absd|ssd|stamp")),
)
_CLAUSE = re.compile(r"[.?!;,:+]|\band\b|\bbut\b|\bplus\b")
# Question words that name a loan without giving its amount ("max loan on 1m", "can borrow how much").
_NOT_AN_AMOUNT = re.compile(r"max(?:imum)? loan|how much (?:can|could) (?:i|we) (?:borrow|get)|can (?:borrow|loan)"
                            r"|loan can get|(?:hdb|bank|housing|home) loans?\b(?!\s*(?:of\b|is\b|amount\b|s?\$|\d|$))")
_PER_MONTH = re.compile(r"per month|a month|/month|monthly|\bpm\b|p\.m\.|/mth|\bmth\b|each month")


def _listed(text: str, start: int, end: int) -> bool:
    """Whether a number stands alone as one item of a list of facts ("condo 800k, 10k/month, 35")."""
    return bool(re.search(r"(?:^|[,:;]\s*)$", text[:start]) and re.match(r"\s*(?:[,;?.!]|$)", text[end:]))


def _bare_answer(value: int | None, asked: frozenset[Slot], ages: list[int],
                 values: dict[str, object], *, listed: bool = False) -> None:
    """A small bare number is only meaningful as the answer to the bot's question, or as an age when
    it stands alone in a list of facts."""
    if value is None:
        return
    if listed and not asked and 18 <= value <= 80:
        ages.append(value)
        return
    if "owned" in asked and value <= 5:
        values["properties_owned"] = value
    elif "loans" in asked and value <= 5:
        values["loans_outstanding"] = value
    elif "lease" in asked and 1 <= value <= 99:
        values["remaining_lease"] = value
    elif "age" in asked and 18 <= value <= 100:
        ages.append(value)


def _distance(slot: str, match: re.Match[str], pre_length: int | None) -> float:
    """How far a cue sits from the amount (`pre_length` None: the cue comes after it)."""
    # "car loan of $800": the kind of debt, written before the amount, outweighs the nearer "loan of";
    # after it ("$900 a month on a car loan") it still outweighs "a month", which only says the amount
    # is monthly (income or a debt) and so is a weak cue. A cue before the amount describes it ("price
    # is $800k") more often than one after it, so it wins a tie.
    kind = slot in ("debts", "variable")
    weak = 10 if _PER_MONTH.fullmatch(match.group()) else 0
    if pre_length is None:
        return match.start() + 0.5 - (6 if kind else 0) + weak
    return pre_length - match.end() - (12 if kind else 0) + weak


def _classify_amount(pre: str, post: str, value: Decimal, asked: frozenset[Slot]) -> str:
    """The slot whose cue words sit closest to the amount, within its clause (ties: list order)."""
    pre = _NOT_AN_AMOUNT.sub(lambda m: " " * len(m.group()), _CLAUSE.split(pre)[-1])
    post = _NOT_AN_AMOUNT.sub(lambda m: " " * len(m.group()), _CLAUSE.split(post)[0])
    best: tuple[float, int, str] | None = None
    for rank, (slot, cue) in enumerate(_CUES):
        distances = ([_distance(slot, m, len(pre)) for m in cue.finditer(pre)]
                     + [_distance(slot, m, None) for m in cue.finditer(post)])
        if distances and (best is None or (min(distances), rank) < best[:2]):
            best = (min(distances), rank, slot)
    if best is not None:
        return best[2]
    money_asked = [slot for slot in ("loan_amount", "price", "income") if slot in asked]
    if len(money_asked) == 1:
        return money_asked[0]
    return "income" if value < 100_000 else "price"


def _parse_words(low: str, values: dict[str, object]) -> None:
    if re.search(r"\b(?:singapore(?:an)? citizens?|singaporeans?|citizens?|\bsc\b)", low):
        values["residency"] = "citizen"
    if re.search(r"\b(?:prs?|permanent residents?|sprs?)\b", low):
        values["residency"] = "pr"
    if re.search(r"\b(?:foreigners?|foreign buyer|expats?|employment pass|ep holder)\b", low):
        values["residency"] = "foreigner"
    if m := re.search(r"\b(first|1st|second|2nd|third|3rd|fourth|4th)\s+(?:\w+\s+)?(?:property|home|house|"
                      r"condo|flat|unit|investment|one\b)", low):
        values["properties_owned"] = _ORDINAL[m.group(1)]
    elif m := re.search(r"\b(?:own|have|already have|owns|got)\s+(no|one|a|an|two|three|\d)\s+(?:other\s+)?"
                        r"(?:propert|home|house|condo|flat|hdb|unit|place)", low):
        values["properties_owned"] = _WORD_NUM.get(m.group(1)) if not m.group(1).isdigit() \
            else int(m.group(1))
    elif re.search(r"\b(?:first[- ]time|no property|don'?t own any|do not own any)\b", low):
        values["properties_owned"] = 0
    if re.search(r"\bno (?:other |existing |outstanding )?(?:housing |home |property "
                 r")?(?:loans?|mortgages?)\b"
                 r"|\bfully paid\b|\bdon'?t have any (?:housing )?loans?", low):
        values["loans_outstanding"] = 0
    elif m := re.search(r"\b(one|two|three|\d) (?:existing |outstanding |other )?(?:housing |home )?"
                        r"(?:loans?|mortgages?)\b", low):
        values["loans_outstanding"] = int(m.group(1)) if m.group(1).isdigit() else _WORD_NUM[m.group(1)]
    elif re.search(r"\b(?:existing|outstanding|current|still (?:paying|have)) (?:a |my )?(?:housing |home )?"
                   r"(?:loan|mortgage)\b", low):
        values["loans_outstanding"] = 1
    kinds = ((r"\bbto\b|\bhdb\b|\bflat\b|resale flat", "HDB"), (r"\bec\b|executive condo", "EC"),
             (r"\bcondo|private|apartment", "Private"), (r"\blanded|terrace|bungalow|semi-d", "Landed"))
    for pattern, kind in kinds:
        if re.search(pattern, low):
            values["property_type"] = kind
            break
    if re.search(r"\bbto\b", low):
        values["bto"] = True
    if re.search(r"\bhdb (?:concessionary )?loan|\bhdb's loan|\bloan from hdb|\bhle\b|\bhfe\b", low):
        values["loan_kind"] = "hdb"
    elif re.search(r"\bbank loan|\bfrom (?:a |the )?bank", low):
        values["loan_kind"] = "bank"
    if re.search(r"\brefinanc|\breprice|\brepricing|\brefi\b", low):
        values["refinancing"] = True
