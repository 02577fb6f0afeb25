"""Lead score: total 0–100 = urgency 0–40 + value 0–40 + qualification 0–20 (FACTS §P structure).

The legacy system kept the structure but not its rules; these are ours. Every row adds points,
each component is capped at its maximum, and every row that scored is listed in `breakdown`.

| Component | Input | Points |
|---|---|---|
| urgency ≤ 40 | timeline | this_month 30 · next_3_months 20 · 3_6_months 10 · exploring 3 · none 5 |
| | deal in view | refinance, lock-in ≤ 3 months left +10; else a property price given +5 |
| value ≤ 40 | combined monthly income | ≥ 20k 20 · ≥ 12k 16 · ≥ 8k 12 · ≥ 5k 8 · > 0 4 · none 0 |
| | property type | Landed 12 · Private 10 · Commercial 10 · EC 7 · HDB 4 · none 3 |
| | deal size (price, else loan) | ≥ 2M 8 · ≥ 1M 6 · ≥ 500k 4 · > 0 2 · none 0 |
| qualification ≤ 20 | employment | employed 8 · self_employed 6 · contract 5 · retired 3 · other 2 · else 0 |
| | income stated (> 0) | +6 |
| | ages stated | +3 |
| | oldest applicant | ≤ 55 +3 · 56–65 +1 · older 0 (tenure room before 65) |

Routing: > 75 immediate · 60–75 priority · 45–59 standard · < 45 nurture. The 60 and 45 edges are
the persona bands' (FACTS §P); immediate starts above 75 because "lead score above 75 goes first"
(FACTS §P), which `queue_priority` turns into a BullMQ priority.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from aibroker.domain.leads import EmploymentType, LeadForm, LoanType, PropertyType, Timeline
from aibroker.domain.personas import Persona, persona_for_score

URGENCY_MAX, VALUE_MAX, QUALIFICATION_MAX = 40, 40, 20

_TIMELINE_POINTS: dict[Timeline | None, int] = {
    Timeline.THIS_MONTH: 30, Timeline.NEXT_3_MONTHS: 20, Timeline.THREE_TO_SIX_MONTHS: 10,
    Timeline.EXPLORING: 3, None: 5,
}
# (threshold, points), highest first; a value scores the first row it reaches.
_INCOME_POINTS = ((20_000, 20), (12_000, 16), (8_000, 12), (5_000, 8))
_DEAL_POINTS = ((2_000_000, 8), (1_000_000, 6), (500_000, 4))
_PROPERTY_POINTS: dict[PropertyType | None, int] = {
    PropertyType.LANDED: 12, PropertyType.PRIVATE: 10, PropertyType.COMMERCIAL: 10, PropertyType.EC: 7,
    PropertyType.HDB: 4, None: 3,
}
_EMPLOYMENT_POINTS: dict[EmploymentType | None, int] = {
    EmploymentType.EMPLOYED: 8, EmploymentType.SELF_EMPLOYED: 6, EmploymentType.CONTRACT: 5,
    EmploymentType.RETIRED: 3, EmploymentType.OTHER: 2, EmploymentType.UNEMPLOYED: 0, None: 0,
}


class Routing(StrEnum):
    IMMEDIATE = "immediate"
    PRIORITY = "priority"
    STANDARD = "standard"
    NURTURE = "nurture"


class ScoreReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    component: str  # urgency | value | qualification
    points: int
    reason: str


class LeadScore(BaseModel):
    """A scored lead; a pydantic model so it travels in job payloads as JSON."""

    model_config = ConfigDict(frozen=True)

    urgency: int = Field(ge=0, le=URGENCY_MAX)
    value: int = Field(ge=0, le=VALUE_MAX)
    qualification: int = Field(ge=0, le=QUALIFICATION_MAX)
    total: int = Field(ge=0, le=100)
    routing: Routing
    breakdown: tuple[ScoreReason, ...] = ()

    @property
    def persona(self) -> Persona:
        return persona_for_score(self.total)


def routing_for(total: int) -> Routing:
    if total > 75:
        return Routing.IMMEDIATE
    if total >= 60:
        return Routing.PRIORITY
    if total >= 45:
        return Routing.STANDARD
    return Routing.NURTURE


_QUEUE_PRIORITY = {Routing.IMMEDIATE: 1, Routing.PRIORITY: 2, Routing.STANDARD: 3, Routing.NURTURE: 4}


def queue_priority(score: int | LeadScore) -> int:
    """BullMQ job priority: lower is served first; score > 75 → 1, then 2, 3, 4 by routing.

    Never 0: BullMQ runs jobs without a priority before all prioritized ones, so 0 would let a
    cold lead overtake a hot one.
    """
    total = score.total if isinstance(score, LeadScore) else score
    return _QUEUE_PRIORITY[routing_for(total)]


def _tier(amount: float, table: tuple[tuple[int, int], ...], any_positive: int) -> int:
    for threshold, points in table:
        if amount >= threshold:
            return points
    return any_positive if amount > 0 else 0


def score_lead(lead: LeadForm) -> LeadScore:
    """Score `lead` by the table in the module docstring. Pure and deterministic."""
    reasons: list[ScoreReason] = []

    def add(component: str, points: int, reason: str) -> int:
        if points:
            reasons.append(ScoreReason(component=component, points=points, reason=reason))
        return points

    timeline = lead.timeline.value if lead.timeline else "not given"
    urgency = add("urgency", _TIMELINE_POINTS[lead.timeline], f"timeline {timeline}")
    lock_in = lead.lock_in_months_left
    if lead.loan_type is LoanType.REFINANCE and lock_in is not None and lock_in <= 3:
        urgency += add("urgency", 10, f"refinance, lock-in ends within 3 months ({lock_in} left)")
    elif lead.property_price:
        urgency += add("urgency", 5, "a specific property priced")

    income = lead.total_monthly_income
    value = add("value", _tier(income, _INCOME_POINTS, 4), f"combined monthly income {income:,.0f}")
    ptype = lead.property_type.value if lead.property_type else "not given"
    value += add("value", _PROPERTY_POINTS[lead.property_type], f"property type {ptype}")
    deal = lead.property_price or lead.outstanding_loan or 0.0
    value += add("value", _tier(deal, _DEAL_POINTS, 2), f"deal size {deal:,.0f}")

    employment = lead.employment_type.value if lead.employment_type else "not given"
    qualification = add("qualification", _EMPLOYMENT_POINTS[lead.employment_type], f"employment {employment}")
    if income > 0:
        qualification += add("qualification", 6, "income stated")
    if lead.actual_ages:
        qualification += add("qualification", 3, "ages stated")
        oldest = max(lead.actual_ages)
        fit = 3 if oldest <= 55 else 1 if oldest <= 65 else 0
        qualification += add("qualification", fit, f"oldest applicant {oldest}")

    urgency, value = min(urgency, URGENCY_MAX), min(value, VALUE_MAX)
    qualification = min(qualification, QUALIFICATION_MAX)
    total = urgency + value + qualification
    return LeadScore(urgency=urgency, value=value, qualification=qualification, total=total,
                     routing=routing_for(total), breakdown=tuple(reasons))
