"""What a customer message asks for: the offline responder's intent detection.

Whole-word phrase matching (the shared `aibroker.domain.text.PhraseMatcher`, so "now" never matches
"know"), with a fixed priority: a message can carry several intents ("BSD and ABSD on $1.2m?")
and they are answered in the order of `Intent`. Negation is off here: "I don't know my TDSR" is
still a TDSR question.
"""

from __future__ import annotations

from enum import StrEnum

from aibroker.domain.text import PhraseMatcher, normalize


class Intent(StrEnum):
    # Order = answer priority when several match.
    BSD = "bsd"
    ABSD = "absd"
    SSD = "ssd"
    MAX_LOAN = "max_loan"
    INSTALMENT = "instalment"
    TDSR = "tdsr"
    MSR = "msr"
    STRESS_RATE = "stress_rate"
    CPF = "cpf"
    INCOME = "income"
    LTV = "ltv"
    TENURE = "tenure"
    HDB_VS_BANK = "hdb_vs_bank"
    REFINANCING = "refinancing"
    GREETING = "greeting"
    THANKS = "thanks"
    BYE = "bye"
    UNKNOWN = "unknown"


# Intents that compute something, as opposed to small talk.
TOPICAL: frozenset[Intent] = frozenset(Intent) - {Intent.GREETING, Intent.THANKS, Intent.BYE, Intent.UNKNOWN}

_PHRASES: dict[Intent, tuple[str, ...]] = {
    Intent.BSD: ("bsd", "buyers stamp duty", "buyer stamp duty", "stamp duty", "stamp duties"),
    Intent.ABSD: ("absd", "additional buyers stamp duty", "additional buyer stamp duty", "additional stamp "
                                                                                         "duty",
                  "second property", "2nd property", "third property", "3rd property", "second home"),
    Intent.SSD: ("ssd", "sellers stamp duty", "seller stamp duty", "selling stamp duty", "sell within",
                 "sell after", "sell it after", "if i sell", "selling after", "holding period"),
    Intent.MAX_LOAN: ("how much can i borrow", "how much can we borrow", "how much loan", "max loan",
                      "maximum loan", "loan eligibility", "eligible loan", "loan amount can i",
                      "can i afford", "can we afford", "how much can i get", "how much can we get",
                      "qualify for", "afford", "borrow", "loan quantum", "how big a loan",
                      "loan can i get", "loan can we get", "how much hdb loan", "how much bank loan",
                      "can loan how much", "can borrow how much", "loan can get how much", "can get how much",
                      "hdb loan can get", "max loan"),
    Intent.INSTALMENT: ("monthly instalment", "monthly installment", "instalment", "installment",
                        "monthly repayment", "monthly payment", "repayment", "monthly mortgage",
                        "how much per month", "how much a month", "pay per month", "pay monthly",
                        "monthly pay", "monthly how much", "pay each month", "each month"),
    Intent.TDSR: ("tdsr", "total debt servicing ratio", "debt servicing", "debt ratio"),
    Intent.MSR: ("msr", "mortgage servicing ratio"),
    Intent.STRESS_RATE: ("stress test", "stress rate", "stress tested", "medium term interest rate",
                         "floor rate", "assessment rate", "interest rate floor"),
    Intent.LTV: ("ltv", "loan to value", "downpayment", "down payment", "deposit", "how much cash",
                 "cash needed", "minimum cash", "upfront", "how much of the price", "loan cover",
                 "hdb loan cover", "can lend", "lend", "lend me"),
    Intent.TENURE: ("tenure", "how many years", "loan period", "max years", "maximum years", "loan term",
                    "how long can the loan", "how long can i", "how long can my loan", "how long can the hdb loan",
                    "how long can my hdb loan", "how long can we"),
    Intent.HDB_VS_BANK: ("hdb loan", "hdb concessionary", "concessionary loan", "bank loan or hdb",
                         "hdb or bank", "bank or hdb", "hdb vs bank", "bank vs hdb", "hdb interest",
                         "hdb rate"),
    Intent.INCOME: ("recognise", "recognised", "recognize", "recognized", "income banks count",
                    "bank count", "banks count", "income count", "counted as income", "variable income"),
    Intent.CPF: ("cpf", "ordinary account", "valuation limit", "withdrawal limit", "use my oa",
                 "use cpf", "cpf oa"),
    Intent.REFINANCING: ("refinance", "refinancing", "refinanced", "refi", "reprice", "repricing",
                         "switch bank", "switch loan", "lock in", "lock-in", "better rate"),
    Intent.GREETING: ("hi", "hello", "hey", "good morning", "good afternoon", "good evening", "hiya",
                      "yo", "greetings", "hai", "halo", "你好"),
    Intent.THANKS: ("thanks", "thank you", "thx", "tq", "ty", "appreciate it", "much appreciated",
                    "谢谢", "terima kasih"),
    Intent.BYE: ("bye", "goodbye", "see you", "talk later", "ttyl", "thats all", "that is all", "no more "
                                                                                                "questions",
                 "nothing else"),
}
_MATCHERS: dict[Intent, PhraseMatcher] = {
    intent: PhraseMatcher(phrases, negation=False) for intent, phrases in _PHRASES.items()}


def detect_intents(text: str) -> list[Intent]:
    """Every intent in `text`, in priority order; [UNKNOWN] when none (see the module docstring)."""
    spans = {intent: [(m.start, m.end) for m in matcher.find_all(text)]
             for intent, matcher in _MATCHERS.items()}
    # "additional buyer's stamp duty" and "seller's stamp duty" also contain "stamp duty": not a BSD question.
    other_duties = spans[Intent.ABSD] + spans[Intent.SSD]
    norm = normalize(text)
    # "max loan tenure" asks about tenure, not the loan amount.
    spans[Intent.MAX_LOAN] = [s for s in spans[Intent.MAX_LOAN]
                              if not norm[s[1]:].startswith((" tenure", " term", " period"))]
    spans[Intent.BSD] = [s for s in spans[Intent.BSD]
                         if not any(s[0] < e and b < s[1] for b, e in other_duties)]
    found = [intent for intent in Intent if spans.get(intent)]
    topical = [i for i in found if i in TOPICAL]
    if topical:
        found = topical  # "hi, what's the BSD on…": the question is the answer's subject
    if Intent.HDB_VS_BANK in found and found[0] is not Intent.HDB_VS_BANK:
        found.remove(Intent.HDB_VS_BANK)  # "LTV for an HDB loan": the loan kind is a detail, not a topic
    return found or [Intent.UNKNOWN]
