"""Result envelopes shared by every calculator.

Each result is a frozen pydantic model so the chat layer can hand it to the LLM as JSON
(`result.model_dump(mode="json")`) without a mapping step. Every result carries the facts it used
(section, effective date, source, confidence) so the bot can cite them, and the FACTS A.11
disclaimer, so no figure can leave the calculators without it.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

Confidence = Literal["H", "M", "L"]

# FACTS A.11: the bot must always say this next to any figure.
DISCLAIMER = "Indicative only; final loan amount subject to bank/HDB assessment."


class Citation(BaseModel):
    """One fact as the bot should quote it: what, from when, and on whose authority."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    section: str
    summary: str
    effective_from: date | None
    effective_note: str
    source: str
    confidence: Confidence


class CalcResult(BaseModel):
    """Base of every calculator output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    facts: tuple[Citation, ...]
    notes: tuple[str, ...] = ()
    indicative_only: bool = True
    disclaimer: str = DISCLAIMER


def merge_citations(*groups: tuple[Citation, ...]) -> tuple[Citation, ...]:
    """Concatenate the citations of sub-results, keeping the first of each key."""
    seen: dict[str, Citation] = {}
    for group in groups:
        for citation in group:
            seen.setdefault(citation.key, citation)
    return tuple(seen.values())


def merge_notes(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(note for group in groups for note in group))
