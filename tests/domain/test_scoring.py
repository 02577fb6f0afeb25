"""Lead scoring: the table in scoring.py's docstring, its bounds, and the queue priority."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aibroker.domain.leads import (
    EmploymentType,
    LeadForm,
    LoanType,
    PropertyCategory,
    PropertyType,
    Timeline,
)
from aibroker.domain.scoring import (
    QUALIFICATION_MAX,
    URGENCY_MAX,
    VALUE_MAX,
    LeadScore,
    Routing,
    queue_priority,
    routing_for,
    score_lead,
)


def lead(**fields: Any) -> LeadForm:
    base: dict[str, Any] = {"name": "Jane Tan", "email": "jane@example.com", "loan_type": "new_purchase"}
    return LeadForm(**{**base, **fields})


HOT = {"loan_type": "refinance", "lock_in_months_left": 0, "timeline": "this_month",
       "actual_incomes": [15_000, 10_000], "actual_ages": [40, 38], "property_type": "Landed",
       "property_price": 3_000_000, "employment_type": "employed"}


def test_hot_lead_scores_the_maximum_and_goes_first() -> None:
    score = score_lead(lead(**HOT))
    assert (score.urgency, score.value, score.qualification, score.total) == (40, 40, 20, 100)
    assert score.routing is Routing.IMMEDIATE
    assert queue_priority(score) == 1
    assert score.persona.name == "Michelle Chen"


def test_cold_lead_is_nurtured() -> None:
    score = score_lead(lead(timeline="exploring", property_type="HDB"))
    # exploring 3; HDB 4, no income, no deal; nothing qualifies
    assert (score.urgency, score.value, score.qualification, score.total) == (3, 4, 0, 7)
    assert score.routing is Routing.NURTURE
    assert queue_priority(score) == 4
    assert score.persona.name == "Grace Lim"


def test_typical_first_timer_matches_the_table() -> None:
    score = score_lead(lead(timeline="next_3_months", property_type="HDB", property_category="bto",
                            actual_incomes=[4_500, 3_800], actual_ages=[29, 28], employment_type="employed",
                            property_price=450_000))
    # urgency 20 + 5 (priced); value 12 (8.3k) + 4 (HDB) + 2 (deal < 500k); qualification 8 + 6 + 3 + 3
    assert (score.urgency, score.value, score.qualification) == (25, 18, 20)
    assert score.total == 63 and score.routing is Routing.PRIORITY


@pytest.mark.parametrize(("timeline", "points"), [
    ("this_month", 30), ("next_3_months", 20), ("3_6_months", 10), ("exploring", 3), (None, 5),
])
def test_timeline_drives_urgency(timeline: str | None, points: int) -> None:
    assert score_lead(lead(timeline=timeline)).urgency == points


def test_sooner_is_always_more_urgent() -> None:
    order = [Timeline.THIS_MONTH, Timeline.NEXT_3_MONTHS, Timeline.THREE_TO_SIX_MONTHS, Timeline.EXPLORING]
    urgencies = [score_lead(lead(timeline=t)).urgency for t in order]
    assert urgencies == sorted(urgencies, reverse=True) and len(set(urgencies)) == 4


@pytest.mark.parametrize(("lock_in", "bonus"), [(0, 10), (3, 10), (4, 0), (None, 0)])
def test_refinance_close_to_lock_in_end_is_urgent(lock_in: int | None, bonus: int) -> None:
    score = score_lead(lead(loan_type="refinance", timeline="3_6_months", lock_in_months_left=lock_in))
    assert score.urgency == 10 + bonus


def test_a_priced_property_adds_urgency_once() -> None:
    assert score_lead(lead(timeline="exploring", property_price=800_000)).urgency == 8
    # a refinance still in lock-in with a price: the price bonus, not the lock-in bonus
    assert score_lead(lead(loan_type="refinance", lock_in_months_left=12, timeline="exploring",
                           property_price=800_000)).urgency == 8


@pytest.mark.parametrize(("incomes", "points"), [
    ([], 0), ([0], 0), ([3_000], 4), ([5_000], 8), ([4_000, 4_000], 12), ([12_000], 16),
    ([10_000, 10_000], 20),
])
def test_combined_income_drives_value(incomes: list[float], points: int) -> None:
    ages = [30] * len(incomes)
    no_property_type = 3
    assert score_lead(lead(actual_incomes=incomes, actual_ages=ages)).value == points + no_property_type


@pytest.mark.parametrize(("ptype", "points"), [
    ("Landed", 12), ("Private", 10), ("Commercial", 10), ("EC", 7), ("HDB", 4), (None, 3),
])
def test_property_type_drives_value(ptype: str | None, points: int) -> None:
    assert score_lead(lead(property_type=ptype)).value == points


def test_private_and_landed_are_worth_more_than_hdb() -> None:
    values = {p: score_lead(lead(property_type=p, actual_incomes=[9_000])).value for p in PropertyType}
    assert values[PropertyType.LANDED] > values[PropertyType.PRIVATE] > values[PropertyType.EC] > values[
        PropertyType.HDB]


@pytest.mark.parametrize(("fields", "points"), [
    ({"property_price": 2_500_000}, 8), ({"property_price": 1_200_000}, 6), ({"property_price": 600_000}, 4),
    ({"property_price": 300_000}, 2), ({"outstanding_loan": 1_000_000}, 6), ({}, 0),
])
def test_deal_size_drives_value(fields: dict[str, float], points: int) -> None:
    assert score_lead(lead(property_type="HDB", **fields)).value == 4 + points


@pytest.mark.parametrize(("employment", "points"), [
    ("employed", 8), ("self_employed", 6), ("contract", 5), ("retired", 3), ("other", 2), ("unemployed", 0),
    (None, 0),
])
def test_employment_drives_qualification(employment: str | None, points: int) -> None:
    assert score_lead(lead(employment_type=employment)).qualification == points


@pytest.mark.parametrize(("ages", "points"), [([30], 6), ([30, 55], 6), ([30, 60], 4), ([66], 3), ([], 0)])
def test_ages_and_tenure_room_drive_qualification(ages: list[int], points: int) -> None:
    assert score_lead(lead(actual_ages=ages)).qualification == points


def test_employed_with_income_and_ages_is_fully_qualified() -> None:
    score = score_lead(lead(employment_type="employed", actual_incomes=[6_000], actual_ages=[35]))
    assert score.qualification == QUALIFICATION_MAX


def test_breakdown_explains_every_point() -> None:
    score = score_lead(lead(**HOT))
    for component in ("urgency", "value", "qualification"):
        assert sum(r.points for r in score.breakdown if r.component == component) == getattr(score, component)
    assert any("this_month" in r.reason for r in score.breakdown)


def test_camel_case_form_from_the_site_scores() -> None:
    form = LeadForm.model_validate({
        "name": "Wei Ming Lim", "email": "wm@example.com", "phone": "+65 9123 4567",
        "loanType": "new_purchase",
        "propertyCategory": "resale", "propertyType": "private", "actualIncomes": [9000, 7000],
        "actualAges": [34, 33], "employmentType": "employed", "timeline": "this_month", "sessionId": "abc",
    })
    score = score_lead(form)
    assert score.total == 30 + 16 + 10 + 20
    assert score.routing is Routing.IMMEDIATE


def test_score_travels_as_json() -> None:
    score = score_lead(lead(**HOT))
    assert LeadScore.model_validate_json(score.model_dump_json()) == score


@pytest.mark.parametrize(("total", "routing", "priority"), [
    (100, Routing.IMMEDIATE, 1), (76, Routing.IMMEDIATE, 1), (75, Routing.PRIORITY, 2),
    (60, Routing.PRIORITY, 2),
    (59, Routing.STANDARD, 3), (45, Routing.STANDARD, 3), (44, Routing.NURTURE, 4), (0, Routing.NURTURE, 4),
])
def test_routing_and_queue_priority(total: int, routing: Routing, priority: int) -> None:
    assert routing_for(total) is routing
    assert queue_priority(total) == priority


@st.composite
def lead_forms(draw: st.DrawFn) -> LeadForm:
    applicants = draw(st.integers(0, 2))
    incomes = draw(st.lists(st.floats(0, 10_000_000, allow_nan=False), min_size=applicants,
                            max_size=applicants))
    ages = draw(st.one_of(st.just([]), st.lists(st.integers(18, 100), min_size=applicants,
                                                max_size=applicants)))
    money = st.none() | st.floats(0, 1_000_000_000, allow_nan=False)
    return LeadForm(
        name="Test Lead", email="lead@example.com",
        loan_type=draw(st.sampled_from(LoanType)),
        property_category=draw(st.none() | st.sampled_from(PropertyCategory)),
        property_type=draw(st.none() | st.sampled_from(PropertyType)),
        actual_incomes=incomes, actual_ages=ages,
        employment_type=draw(st.none() | st.sampled_from(EmploymentType)),
        timeline=draw(st.none() | st.sampled_from(Timeline)),
        property_price=draw(money), outstanding_loan=draw(money),
        lock_in_months_left=draw(st.none() | st.integers(0, 120)),
    )


@given(lead_forms())
def test_any_lead_scores_within_bounds(form: LeadForm) -> None:
    score = score_lead(form)
    assert 0 <= score.urgency <= URGENCY_MAX
    assert 0 <= score.value <= VALUE_MAX
    assert 0 <= score.qualification <= QUALIFICATION_MAX
    assert score.total == score.urgency + score.value + score.qualification
    assert 0 <= score.total <= 100
    assert score.routing is routing_for(score.total)
    assert 1 <= queue_priority(score) <= 4
    assert sum(r.points for r in score.breakdown) == score.total


@given(lead_forms(), st.floats(0, 1_000_000, allow_nan=False))
def test_more_income_never_lowers_the_score(form: LeadForm, extra: float) -> None:
    if not form.actual_incomes:
        return
    richer = form.model_copy(update={"actual_incomes": [form.actual_incomes[0] + extra,
                                                        *form.actual_incomes[1:]]})
    assert score_lead(richer).total >= score_lead(form).total
