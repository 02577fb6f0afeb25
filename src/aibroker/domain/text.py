"""Whole-word and phrase matching for chat text: the one matcher pacing and handoff share.

Why not substrings: the legacy bot matched "now" inside "know" and "snow" (FACTS §P). Here a
phrase matches only at word boundaries, after both the text and the phrase go through the same
`normalize`, so phrase lists can be written naturally ("don't", "non-resident", "OTP").

Rules, in order:
- `normalize`: Unicode NFKC (full-width "？" becomes "?"), case-folded, apostrophes dropped
  ("don't" → "dont", "today's" → "todays", so "today" does not match "today's"), hyphens and
  underscores become spaces, whitespace collapsed.
- A phrase ending in " $" matches only at the end of a clause: "call me $" matches "call me."
  and "please call me" but not "call me John".
- Latin phrases need word boundaries on both sides; a CJK edge needs none, because Chinese is
  written without spaces ("我要转人工" holds "转人工").
- Exclusions veto overlapping matches: "人工智能" (artificial intelligence) vetoes "人工",
  "human resources" vetoes "talk to human".
- Phrases are indexed by their first word (first character for CJK), so the cost of a message
  grows with its length, not with the length of the phrase lists.
- Negation: a match is dropped when one of the three words before it, in the same clause, is a
  negator ("I am not frustrated", "no need to call me", "no rush"), or when a Chinese negator
  comes right before it ("不急", "不要人工"). A question keeps its match, because a negative
  question is still a request ("can't I talk to a human?", "why don't you call me?").
  "can't"/"cannot" are not negators for the same reason ("I can't get a real person").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

_APOSTROPHES = re.compile(r"['’‘`´]")
_DASHES = re.compile(r"[-‐‑‒–—_]")
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Clause boundaries limit how far a negator reaches: "no, I want a human" is a request.
_CLAUSE_BREAK = re.compile(r"[.,;:!?()\[\]…。，！？；、]|\bbut\b|\bhowever\b")
_END_OF_CLAUSE = r"(?=\s*(?:[.,;:!?…。，！？]|$))"

# Written as they look after `normalize` (apostrophes dropped).
NEGATORS: frozenset[str] = frozenset({
    "not", "no", "never", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent",
    "without", "nor", "neither", "hardly", "tak", "tidak", "bukan", "jangan", "usah",
})
# A CJK negator right before the match; the intensifiers in between are skipped ("不是很急").
_CJK_NEGATORS: tuple[str, ...] = ("不需要", "不用", "不要", "无需", "没有", "别", "不", "没")
_CJK_FILLERS = "很太是那么这么怎么"
NEGATION_WINDOW = 3


def normalize(text: str) -> str:
    """The comparable form of chat text or of a phrase (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _APOSTROPHES.sub("", text)
    text = _DASHES.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def is_cjk(char: str) -> bool:
    return bool(_CJK.match(char))


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    phrase: str  # the phrase as listed (normalized, without the "$" marker)
    start: int  # offsets in the normalized text
    end: int


@dataclass(frozen=True, slots=True)
class _Phrase:
    core: str
    pattern: re.Pattern[str]
    key: str  # the first word, or the first character of a CJK phrase


_RUN = re.compile(r"\w+")


def _compile(phrase: str) -> _Phrase:
    at_clause_end = phrase.endswith(" $")
    core = normalize(phrase[:-2] if at_clause_end else phrase)
    first_word = _RUN.match(core)
    if first_word is None:
        raise ValueError(f"a phrase must start with a letter or digit: {phrase!r}")
    cjk_start = is_cjk(core[0])
    body = r"\s+".join(re.escape(word) for word in core.split(" "))
    left = "" if cjk_start else r"(?<!\w)"
    right = _END_OF_CLAUSE if at_clause_end else ("" if is_cjk(core[-1]) else r"(?!\w)")
    return _Phrase(core, re.compile(left + body + right), core[0] if cjk_start else first_word.group())


@dataclass(frozen=True, slots=True)
class _Index:
    """Phrases keyed by where they can start, so a message costs one lookup per word, not one
    regex scan per phrase: Latin phrases by their first word, CJK phrases by their first character."""

    latin: Mapping[str, tuple[_Phrase, ...]]
    cjk: Mapping[str, tuple[_Phrase, ...]]

    @classmethod
    def build(cls, phrases: Iterable[str]) -> _Index:
        latin: dict[str, list[_Phrase]] = {}
        cjk: dict[str, list[_Phrase]] = {}
        for phrase in map(_compile, phrases):
            table = cjk if is_cjk(phrase.key) else latin
            table.setdefault(phrase.key, []).append(phrase)
        return cls(MappingProxyType({k: tuple(v) for k, v in latin.items()}),
                   MappingProxyType({k: tuple(v) for k, v in cjk.items()}))

    def __bool__(self) -> bool:
        return bool(self.latin or self.cjk)

    def scan(self, norm: str) -> Iterator[tuple[str, int, int]]:
        """(phrase, start, end) of every match, overlapping ones included (in no particular order)."""
        for table, starts in zip((self.latin, self.cjk), _starts(norm), strict=True):
            for key in starts.keys() & table.keys():
                for at in starts[key]:
                    for phrase in table[key]:
                        if (m := phrase.pattern.match(norm, at)) is not None:
                            yield phrase.core, m.start(), m.end()


@lru_cache(maxsize=256)
def _starts(norm: str) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Where each word (Latin) and each CJK character starts in `norm`. One message goes through some thirty
    matchers (handoff, intents, facts): splitting it once, and looking up only the words a matcher has phrases for,
    made a reply's matching several times cheaper than a lookup per word per matcher."""
    latin: dict[str, list[int]] = {}
    cjk: dict[str, list[int]] = {}
    for table, pattern in ((latin, _RUN), (cjk, _CJK)):
        for at in pattern.finditer(norm):
            table.setdefault(at.group(), []).append(at.start())
    return {k: tuple(v) for k, v in latin.items()}, {k: tuple(v) for k, v in cjk.items()}


def _negated(text: str, start: int, end: int) -> bool:
    clause_after = _CLAUSE_BREAK.search(text, end)
    if clause_after and text[clause_after.start()] in "?？":
        return False
    before = _CLAUSE_BREAK.split(text[:start])[-1].rstrip()
    if before and is_cjk(before[-1]):
        return before.rstrip(_CJK_FILLERS).endswith(_CJK_NEGATORS)
    return any(word in NEGATORS for word in before.split()[-NEGATION_WINDOW:])


class PhraseMatcher:
    """Finds listed phrases in chat text. Immutable once built; build once per phrase list."""

    __slots__ = ("_exclusions", "_negation", "_phrases")

    def __init__(self, phrases: Iterable[str], *, exclusions: Iterable[str] = (),
                 negation: bool = True) -> None:
        self._phrases = _Index.build(phrases)
        self._exclusions = _Index.build(exclusions)
        self._negation = negation
        if not self._phrases:
            raise ValueError("a PhraseMatcher needs at least one phrase")

    def find_all(self, text: str) -> list[PhraseMatch]:
        """Every surviving match in `text`, leftmost first, longer first at the same place."""
        norm = normalize(text)
        vetoed = [(start, end) for _, start, end in self._exclusions.scan(norm)]
        found = [
            PhraseMatch(phrase, start, end) for phrase, start, end in self._phrases.scan(norm)
            if not any(start < v_end and v_start < end for v_start, v_end in vetoed)
            and not (self._negation and _negated(norm, start, end))
        ]
        found.sort(key=lambda pm: (pm.start, pm.start - pm.end))
        return found

    def find(self, text: str) -> PhraseMatch | None:
        """The first surviving match, or None."""
        matches = self.find_all(text)
        return matches[0] if matches else None

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self.find(text) is not None
