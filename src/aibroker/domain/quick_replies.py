"""Quick-reply chips under the broker's latest message (issue #12, item 6): pure, from the text of that message.

Under the greeting: the persona's starters. Under an answer: follow-ups that fit what it said (a maximum-loan
figure invites "What if I'm 45?", a stamp duty invites ABSD), topped up with starters the customer has not asked
yet, two to four in all. Nothing under a handoff or an apology: a person is about to take over.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aibroker.domain.personas import Persona

MIN_CHIPS, MAX_CHIPS = 2, 4
NO_CHIPS_SOURCES = frozenset({"handoff", "apology"})
AGE_STEP = 10  # "What if I'm 45?" after an answer for a 35-year-old
_AGE = re.compile(r"\bage (\d{2})\b")
_AGE_CHIP = re.compile(r"^What if I'm (\d{2})\?$")

# (pattern over the answer's text, lower-cased) → follow-ups, in the order they are offered.
_FOLLOW_UPS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"could borrow|max(imum)? loan|loan up to"),
     ("How much cash do I need upfront?", "What if I already have a home loan?")),
    (re.compile(r"a month\b|monthly instalment"), ("What if I take a 25-year loan?", "What is the stress test rate?")),
    (re.compile(r"buyer's stamp duty|\bbsd\b"), ("What ABSD applies to a second property?",)),
    (re.compile(r"\babsd\b"), ("What if it's my second property?", "Do PRs pay more ABSD?")),
    (re.compile(r"\bssd\b|seller's stamp duty"), ("What if I sell after 4 years?",)),
    (re.compile(r"\btdsr\b|\bmsr\b"), ("How is bonus income counted?", "How much can I borrow?")),
    (re.compile(r"\bltv\b"), ("What if I already have a home loan?",)),
    (re.compile(r"\bcpf\b"), ("Can I use my CPF?",)),
    (re.compile(r"hdb loan"), ("HDB loan or bank loan?",)),
    (re.compile(r"lock-in|refinanc"), ("When should I refinance?",)),
)
FOLLOW_UPS: frozenset[str] = frozenset(chip for _, chips in _FOLLOW_UPS for chip in chips)


def quick_replies(persona: Persona, answer: str, *, source: str, asked: Iterable[str] = ()) -> list[str]:
    """Chips for the broker's message `answer` (`source` as the reply path names it: greeting, offline, llm,
    handoff, …); `asked` are the customer's earlier messages, whose questions are not offered again."""
    if source in NO_CHIPS_SOURCES:
        return []
    seen = {_key(text) for text in asked}
    chips: list[str] = []

    def offer(chip: str) -> None:
        if len(chips) < MAX_CHIPS and _key(chip) not in seen and chip not in chips:
            chips.append(chip)

    if source != "greeting":
        text = answer.lower()
        if (age := _AGE.search(text)) and re.search(r"could borrow|max(imum)? loan", text):
            offer(f"What if I'm {int(age.group(1)) + AGE_STEP}?")
        for pattern, follow_ups in _FOLLOW_UPS:
            if pattern.search(text):
                for chip in follow_ups:
                    offer(chip)
    for chip in persona.starters:
        if source == "greeting" or len(chips) < MIN_CHIPS:
            offer(chip)
    return chips if len(chips) >= MIN_CHIPS else []


def is_quick_reply(text: str, personas: Iterable[Persona]) -> bool:
    """Whether `text` is a chip we offer (only those are counted as clicks, whatever a client claims)."""
    return text in FOLLOW_UPS or bool(_AGE_CHIP.match(text)) or any(text in p.starters for p in personas)


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
