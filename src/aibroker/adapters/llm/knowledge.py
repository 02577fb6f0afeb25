"""A small knowledge base of Singapore home-loan facts for the `lookup_facts` tool and the offline bot.

Built from `aibroker.domain.mortgage.facts.ALL_FACTS`, so every figure the bot may quote has one
home (the facts module) with its FACTS §A section, effective date and source; nothing is restated
here. `_EXTRA` holds the few FACTS §A rows the calculators have no use for (CPF lease rule, grants,
payment deadline…), each with its section and source; if the facts module later gains the same key,
its entry wins.

Search is keyword overlap weighted by rarity (a tiny TF-IDF), with a synonym table for the words
customers use ("downpayment" → LTV, "stamp duty" → BSD/ABSD/SSD). Good enough for ~50 entries; the
LLM words the answer, the KB only has to put the right rows in front of it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import cache

from aibroker.domain.mortgage.facts import ALL_FACTS


@dataclass(frozen=True, slots=True)
class KBEntry:
    key: str
    text: str
    section: str
    effective_from: date | None
    effective_note: str
    source: str
    confidence: str

    @property
    def effective(self) -> str:
        """How to quote the date: the note when it already names the date, else "from <date>; <note>"."""
        if self.effective_from is None:
            return self.effective_note
        day = f"{self.effective_from.day} {self.effective_from:%b %Y}"
        return self.effective_note if day in self.effective_note else f"from {day}; {self.effective_note}"

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "fact": self.text, "section": f"FACTS {self.section}",
                "effective": self.effective, "source": self.source, "confidence": self.confidence}


_EXTRA: tuple[KBEntry, ...] = (
    KBEntry("cpf_lease_age_95", "CPF can be used in full only if the remaining lease covers the youngest "
            "buyer to age 95; otherwise CPF use is pro-rated, and no CPF can be used if the remaining lease "
            "is under 20 years", "A.7", date(2019, 5, 10), "purchases from 10 May 2019",
            "CPF FAQ 'How does CPF Board compute … age of 95'; buycondo.sg", "H"),
    KBEntry("cpf_refund_on_sale", "When the property is sold, the CPF principal used plus accrued interest "
            "is refunded to the Ordinary Account", "A.7", None, "current CPF practice",
            "legacy JSON; CPF practice", "M"),
    KBEntry("bsd_payment_deadline", "Stamp duty is payable within 14 days of signing", "A.4", None,
            "IRAS rule from secondary sources", "secondary sources (IRAS page not checked)", "M"),
    KBEntry("tdsr_exceptions", "TDSR above 55% is allowed only in exceptional cases, with enhanced credit "
            "evaluation, a board-approved policy, a debt-reduction plan for refinancing, and reporting to "
            "MAS", "A.1", date(2021, 12, 16), "OTP on/after 16 Dec 2021",
            "mas.gov.sg/regulation/explainers/tdsr-for-property-loans/calculating-tdsr-thresholds", "H"),
    KBEntry("tdsr_existing_loan_excluded", "An existing property loan is left out of TDSR if that property "
            "is being sold (e.g. HDB has approved the sale) or the loan has been discharged", "A.1", None,
            "current MAS rules", "mas.gov.sg/…/calculating-tdsr", "H"),
    KBEntry("hdb_grants_ehg", "Enhanced CPF Housing Grant (EHG): up to $120,000 for families and $60,000 "
            "for singles", "A.3", date(2024, 8, 20), "from 20 Aug 2024", "EdgeProp; Straits Times", "M"),
)

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "downpayment": ("ltv", "cash", "minimum"), "deposit": ("ltv", "cash", "minimum"),
    "borrow": ("ltv", "loan", "tdsr", "msr"), "afford": ("tdsr", "msr", "income"),
    "stamp": ("bsd", "absd", "ssd", "duty"), "sell": ("ssd", "selling", "sale"), "selling": ("ssd",),
    "seller": ("ssd",), "buyer": ("bsd", "absd"), "second": ("absd", "2nd"), "third": ("absd", "3rd"),
    "pr": ("prs", "absd"), "citizen": ("citizens", "absd"), "foreigner": ("foreigners", "absd"),
    "stress": ("floor", "assessed"), "interest": ("rate",), "instalment": ("formula", "monthly"),
    "repayment": ("instalment", "monthly"), "tenure": ("tenure", "years"), "age": ("age", "iwaa"),
    "bonus": ("variable",), "commission": ("variable",), "rent": ("rental",), "grant": ("ehg", "grants"),
    "lease": ("lease", "remaining"), "cpf": ("cpf", "oa"), "hdb": ("hdb", "concessionary"),
}
_TOKEN = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "if",
    "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "the", "their", "there", "this", "to",
    "was", "we", "what", "whats", "when", "where", "which", "who", "will", "with", "you", "your", "like",
    "about", "tell", "know", "please", "get", "much", "many", "any", "need", "want", "would", "should",
    "could", "has", "have", "am", "im"))


def _stem(token: str) -> str:
    """Crude plural folding ("ceilings" → "ceiling", "loans" → "loan"); enough for this vocabulary."""
    return token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token


def _tokens(text: str) -> list[str]:
    return [_stem(t) for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]


@cache
def entries() -> tuple[KBEntry, ...]:
    """Every KB entry: the facts module first, then the extra FACTS rows it does not cover."""
    from_facts = [KBEntry(f.key, f.summary, f.section, f.effective_from, f.effective_note, f.source,
                          f.confidence) for f in ALL_FACTS]
    known = {e.key for e in from_facts}
    return (*from_facts, *(e for e in _EXTRA if e.key not in known))


@cache
def _index() -> tuple[list[Counter[str]], dict[str, float]]:
    docs = [Counter(_tokens(f"{e.key.replace('_', ' ')} {e.text}")) for e in entries()]
    df: Counter[str] = Counter(token for doc in docs for token in doc)
    idf = {token: math.log((1 + len(docs)) / (1 + count)) + 1 for token, count in df.items()}
    return docs, idf


def search(query: str, limit: int = 3) -> list[KBEntry]:
    """The entries that best match `query`, best first; empty when nothing matches."""
    words = _tokens(query)
    expanded: dict[str, float] = {}
    for word in words:
        expanded[word] = expanded.get(word, 0.0) + 1.0
        for extra in _SYNONYMS.get(word, ()):
            extra = _stem(extra)
            expanded[extra] = expanded.get(extra, 0.0) + 0.5  # a synonym counts half
    docs, idf = _index()
    scored: list[tuple[float, int]] = []
    for i, doc in enumerate(docs):
        score = sum(weight * idf.get(token, 0.0) for token, weight in expanded.items() if token in doc)
        if score > 0:
            scored.append((score, i))
    scored.sort(key=lambda s: (-s[0], s[1]))
    all_entries = entries()
    return [all_entries[i] for _, i in scored[:limit]]


def get(key: str) -> KBEntry | None:
    return next((e for e in entries() if e.key == key), None)


def all_texts() -> list[str]:
    """The text of every entry: the guard allows the figures they contain."""
    return [e.text for e in entries()]
