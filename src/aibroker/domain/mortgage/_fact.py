"""The `Fact` record: one sourced, dated figure from FACTS.md §A, and how results cite it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

from aibroker.domain.mortgage.results import Citation, Confidence

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Fact(Generic[T]):
    """One sourced, dated figure. `summary` is the sentence the bot may quote."""

    key: str
    value: T
    section: str
    summary: str
    effective_from: date | None
    effective_note: str
    source: str
    confidence: Confidence

    def cite(self) -> Citation:
        return Citation(key=self.key, section=self.section, summary=self.summary,
                        effective_from=self.effective_from, effective_note=self.effective_note,
                        source=self.source, confidence=self.confidence)


def citations(*facts: Fact[Any]) -> tuple[Citation, ...]:
    """Citations in first-use order, each fact once (results merge the facts of sub-results)."""
    seen: dict[str, Citation] = {}
    for fact in facts:
        seen.setdefault(fact.key, fact.cite())
    return tuple(seen.values())
