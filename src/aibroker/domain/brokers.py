"""What is recorded about a lead when a broker is assigned (FACTS §P `broker_conversations`)."""

from __future__ import annotations

from dataclasses import dataclass

from aibroker.domain.conversation import ConversationRecord


@dataclass(frozen=True, slots=True)
class AssignmentFacts:
    lead_score: int
    loan_type: str | None
    property_type: str | None
    monthly_income: float | None
    timeline: str | None

    @classmethod
    def of(cls, conversation: ConversationRecord) -> AssignmentFacts:
        lead = conversation.lead
        incomes = lead.get("actual_incomes")
        return cls(lead_score=conversation.lead_score, loan_type=conversation.loan_type,
                   property_type=str(lead["property_type"]) if lead.get("property_type") else None,
                   monthly_income=float(sum(incomes)) if isinstance(incomes, list) and incomes else None,
                   timeline=str(lead["timeline"]) if lead.get("timeline") else None)
