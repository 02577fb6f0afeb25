"""The routing rules (domain/rollout.py) and the lead an inbox webhook yields (domain/adoption.py)."""

from __future__ import annotations

import math

import pytest

from aibroker.domain.adoption import UNKNOWN_LOAN_TYPE, lead_from_inbox
from aibroker.domain.rollout import Route, Switches, bucket, effective_route, legacy_url_problem, route_new
from aibroker.domain.rollout_status import Figures, percentile, recommendations

CONVERSATIONS = [str(n) for n in range(1, 401)]  # 400 Chatwoot conversation ids


@pytest.mark.parametrize("percentage", [0, 10, 50, 100])
def test_split_matches_the_percentage(percentage: int) -> None:
    switches = Switches(rollout_percentage=percentage)
    ours = sum(route_new(switches, "chatwoot", c) == Route.AIBROKER for c in CONVERSATIONS)
    # Tolerance: 4 binomial standard deviations (n = 400). The hash is deterministic, so this never flakes.
    n, p = len(CONVERSATIONS), percentage / 100
    assert abs(ours - n * p) <= 4 * math.sqrt(n * p * (1 - p)), (percentage, ours)
    if percentage in (0, 100):
        assert ours == n * p


def test_routing_is_stable_across_processes_and_monotonic_in_the_percentage() -> None:
    # sha256, not Python's salted hash: a fixed value here means every process computes the same bucket.
    assert bucket("chatwoot", "42") == bucket("chatwoot", "42")
    assert [bucket("chatwoot", c) for c in ("1", "2", "3")] == [bucket("chatwoot", c) for c in ("1", "2", "3")]
    at_10 = {c for c in CONVERSATIONS if route_new(Switches(rollout_percentage=10), "chatwoot", c) == Route.AIBROKER}
    at_50 = {c for c in CONVERSATIONS if route_new(Switches(rollout_percentage=50), "chatwoot", c) == Route.AIBROKER}
    assert at_10 < at_50  # going 10 → 50 % only adds conversations


def test_a_recorded_route_sticks_until_the_kill_switch() -> None:
    for percentage in (0, 10, 100):
        switches = Switches(rollout_percentage=percentage)
        assert effective_route(switches, "aibroker") == Route.AIBROKER
        assert effective_route(switches, "legacy") == Route.LEGACY
        assert effective_route(switches, None) == Route.AIBROKER  # from before routing existed
    killed = Switches(enable_bullmq_broker=False)
    assert {effective_route(killed, r) for r in ("aibroker", "legacy", None)} == {Route.LEGACY}
    assert route_new(killed, "chatwoot", "1") == Route.LEGACY


def test_legacy_routes_need_the_n8n_url() -> None:
    assert legacy_url_problem(Switches(), None) is None
    assert legacy_url_problem(Switches(rollout_percentage=10), "http://n8n/webhook") is None
    problem = legacy_url_problem(Switches(rollout_percentage=10), None)
    assert problem and "BULLMQ_ROLLOUT_PERCENTAGE=10" in problem and "N8N_AI_BROKER_WEBHOOK_URL" in problem
    problem = legacy_url_problem(Switches(enable_bullmq_broker=False), None)
    assert problem and "ENABLE_BULLMQ_BROKER=false" in problem and "N8N_AI_BROKER_WEBHOOK_URL" in problem


def test_an_inbox_lead_keeps_what_is_known_and_scores_it() -> None:
    bare = lead_from_inbox("Bob Lim", None, None, None)
    assert bare.lead == {"name": "Bob Lim"} and bare.loan_type == UNKNOWN_LOAN_TYPE
    assert 0 < bare.score.total < 45  # nothing known: the "none" rows only
    rich = lead_from_inbox("Bob Lim", "bob@example.com", "+65 9111 2222", {
        "loanType": "refinance", "timeline": "this_month", "propertyType": "landed", "actualIncomes": [20000],
        "actual_ages": [300], "colour": "blue"})
    assert rich.loan_type == "refinance" and rich.lead["phone"] == "+6591112222"
    assert "actual_ages" not in rich.lead and "colour" not in rich.lead  # invalid or unknown: left out
    assert rich.score.total > bare.score.total
    assert lead_from_inbox(None, "not-an-email", None, {"timeline": "someday"}).lead == {}


def _figures(**changes: object) -> Figures:
    base: dict[str, object] = {"switches": Switches(rollout_percentage=10), "workers": 2, "n8n_configured": True,
                               "n8n_reachable": True, "replies_24h": 400, "failed_24h": 2, "forwards_failing": 0,
                               "p95_ms": 3200}
    return Figures(**{**base, **changes})  # type: ignore[arg-type]


def test_recommendations_in_plain_words() -> None:
    assert recommendations(_figures()) == ["24 h within targets: ready for 50 %"]
    assert recommendations(_figures(switches=Switches(rollout_percentage=50))) == \
        ["24 h within targets: ready for 100 %"]
    assert recommendations(_figures(failed_24h=13)) == \
        ["failure rate 3.2 % is above 2 %: roll back (aibroker rollout set --no-broker)"]
    assert "P95 6.1 s is above 5 s" in recommendations(_figures(p95_ms=6100))[0]
    assert recommendations(_figures(replies_24h=5, failed_24h=0))[0].startswith("too few aibroker replies")
    assert recommendations(_figures(workers=0))[0].startswith("no worker heartbeat")
    assert recommendations(_figures(n8n_reachable=False))[0].startswith("n8n is unreachable")
    assert recommendations(_figures(n8n_configured=False, n8n_reachable=None))[0].startswith(
        "the switches route conversations to n8n")
    assert recommendations(_figures(switches=Switches(enable_bullmq_broker=False)))[0].startswith("rolled back")
    assert percentile([], 0.95) is None and percentile(list(range(1, 101)), 0.95) == 95
