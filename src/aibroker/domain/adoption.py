"""A lead built from what an inbox webhook carries, for conversations that begin in the inbox (issue #11). Pure.

Whatever is missing is unknown, never an error: each lead-form field found in the conversation's custom attributes
is kept only if it is valid on its own, and the score counts what is known (FACTS §P's "none" rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from aibroker.domain.leads import LeadForm, LoanType
from aibroker.domain.scoring import LeadScore, score_lead

UNKNOWN_LOAN_TYPE = ""  # (the greeting then speaks of a home loan in general terms)
# A stand-in for the form's required fields while one optional field is checked; never stored.
_PROBE = {"name": "x", "email": "probe@example.com", "loan_type": LoanType.NEW_PURCHASE.value}


@dataclass(frozen=True, slots=True)
class InboxLead:
    lead: dict[str, Any]  # the known fields, as `LeadForm` names them (snake_case)
    score: LeadScore
    loan_type: str  # `UNKNOWN_LOAN_TYPE` when not given


def _valid_field(name: str, value: object) -> object | None:
    """`value` as the lead form would accept it in field `name`, or None."""
    try:
        probe = LeadForm.model_validate({**_PROBE, name: value})
    except ValidationError:
        return None
    return probe.model_dump(mode="json")[name]


def lead_from_inbox(name: str | None, email: str | None, phone: str | None,
                    attributes: Mapping[str, Any] | None) -> InboxLead:
    fields = LeadForm.model_fields
    by_alias = {(field.alias or key): key for key, field in fields.items()}
    known: dict[str, Any] = {}
    for raw_key, value in (attributes or {}).items():
        key = by_alias.get(raw_key, raw_key)
        if key in fields and key not in ("name", "email", "phone") and value not in (None, ""):
            checked = _valid_field(key, value)
            if checked is not None:
                known[key] = checked
    for key, value in (("name", name), ("email", email), ("phone", phone)):
        if value and (checked := _valid_field(key, value)) is not None:
            known[key] = checked
    # Scored on the known fields; the stand-ins for missing required ones score nothing (name, e-mail) or are
    # removed (the loan type only counts for a refinance).
    scored = LeadForm.model_validate({**_PROBE, **known})
    if "loan_type" not in known:
        scored = scored.model_copy(update={"loan_type": None})
    return InboxLead(lead=known, score=score_lead(scored), loan_type=known.get("loan_type", UNKNOWN_LOAN_TYPE))
