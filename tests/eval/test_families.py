"""The family evaluation (issue #14): every FACTS §A rule, five or more phrasings each, both responders.

Offline: each phrasing is a real conversation; the responder answers every customer turn, so an
input given two turns ago (or in the lead form) must be remembered. Tool path: the fake OpenAI
server plays a model that calls the family's calculator, leaving out every customer input the
conversation's memory holds (so a wrongly remembered one gives a wrong figure), and states the
figures; they must come from this turn's tool results, pass the guard, and the facts the customer
gave must reach the model in the system prompt. Gates (FACTS §A, issue #14): offline ≥ 97 % of cases, no reply with a
figure the calculators did not produce, false handoffs ≤ 1 %. Run with -s to see the report; it is
also written to tests/eval/report/.
"""

from __future__ import annotations

import json

from aibroker.adapters.llm import GuardOutcome, OfflineResponder, OpenAICompatResponder, ReplyMetrics
from aibroker.adapters.llm.guard import AllowedFigures
from aibroker.adapters.llm.openai_compat import _knowledge_figures
from aibroker.adapters.llm.tool_defaults import tool_defaults
from aibroker.domain.conversation import ChatMessage, Role
from aibroker.domain.leads import LeadForm
from aibroker.domain.number_words import digits_for_words
from aibroker.domain.ports import Reply, ReplyContext
from tests.adapters.llm.support import NOW, RACHEL, llm, message
from tests.eval.families import FAMILIES, Family, Phrasing
from tests.eval.holdout import HOLDOUT
from tests.eval.holdout_fresh import HOLDOUT_FRESH
from tests.eval.scoring import Report, Verdict, check, expected
from tests.fakes.fake_openai import FakeOpenAI

CASES = [(family, phrasing) for family in FAMILIES for phrasing in family.phrasings]


def _context(phrasing: Phrasing, history: list[ChatMessage], text: str) -> ReplyContext:
    form = LeadForm.model_validate(phrasing.lead) if phrasing.lead else None
    return ReplyContext(persona=RACHEL, customer_first_name="Wei Ming", lead=form, history=list(history),
                        new_messages=[message(Role.CUSTOMER, text)], now=NOW)


def _allowed(phrasing: Phrasing) -> AllowedFigures:
    allowed = _knowledge_figures().copy()
    for turn in phrasing.turns:
        allowed.add_text(digits_for_words(turn))
    if phrasing.lead:
        allowed.add_value([phrasing.lead.get("propertyPrice"), phrasing.lead.get("actualIncomes")])
    return allowed


def converse_offline(phrasing: Phrasing) -> list[Reply]:
    responder = OfflineResponder()
    history: list[ChatMessage] = []
    replies = []
    for turn in phrasing.turns:
        ctx = _context(phrasing, history, turn)
        reply = responder.answer(ctx)
        replies.append(reply)
        if reply.handoff is not None:
            break  # a human takes over: the bot says nothing more
        history += [*ctx.new_messages, message(Role.BOT, reply.text)]
    return replies


def test_the_families_are_enough_and_varied() -> None:
    assert len(CASES) >= 200
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    for family in FAMILIES:
        assert len(family.phrasings) >= 5, family.name
        assert {p.style for p in family.phrasings} == {"terse", "chatty", "singlish", "words", "spread"}


def test_offline_family_eval() -> None:
    report = Report("offline")
    for family, phrasing in CASES:
        replies = converse_offline(phrasing)
        report.add(family, phrasing.style, check(family, expected(family), replies, _allowed(phrasing)))
    path = report.write("offline.txt")
    print(f"\n{report.text()}\n(written to {path})")
    assert report.passed >= 0.97 * report.cases, report.text()
    assert not report.invented, report.text()
    assert report.false_handoffs <= 0.01 * report.answerable, report.text()


# What the customer tells us (as opposed to what the model chooses, like a stress rate or a tenure to test):
# the scripted model leaves these out whenever the memory has them, so the memory must have them right.
CUSTOMER_INPUTS = frozenset({
    "price", "purchase_price", "selling_price", "ages", "age", "monthly_incomes", "monthly_income",
    "other_monthly_debts", "loans_outstanding", "profile", "property_count_after_purchase", "purchase_date",
    "sale_date", "principal", "years", "remaining_lease_years", "fixed", "variable"})


def _script(fake: FakeOpenAI, family: Family, remembered: dict[str, object]) -> None:
    exp = expected(family)
    if family.kind == "handoff":
        fake.push_tool_calls(("handoff_to_human", {"reason": "customer_asked_for_human"}))
        fake.push_text("I'll bring in one of our human specialists; they'll continue right here.")
    elif family.kind == "ask" or family.calc[0] == "none":
        fake.push_text(f"Happy to work that out. Could you tell me the {family.ask}?")
    else:
        name, args = family.calc
        fake.push_tool_calls((name, {k: v for k, v in args.items()
                                     if k not in CUSTOMER_INPUTS or k not in remembered}))
        stated = ", ".join([f.text for f in exp.figures] + list(exp.phrases))
        fake.push_text(f"That comes to {stated}. Indicative only; final loan amount subject to bank/HDB "
                       "assessment.")


async def test_tool_path_family_eval(fake_openai: FakeOpenAI) -> None:
    report = Report("tool path")
    metrics = ReplyMetrics()
    responder = llm(fake_openai.base_url, safe=False, metrics=metrics)  # one client: the eval stays fast
    try:
        for family, phrasing in CASES:
            report.add(family, phrasing.style, await _tool_path_case(fake_openai, responder, metrics, family,
                                                                     phrasing))
    finally:
        await responder.aclose()
    path = report.write("tool_path.txt")
    print(f"\n{report.text()}\n(written to {path})")
    assert report.passed == report.cases, report.text()


async def _tool_path_case(fake_openai: FakeOpenAI, responder: OpenAICompatResponder, metrics: ReplyMetrics,
                          family: Family, phrasing: Phrasing) -> Verdict:
    fake_openai.reset()
    history: list[ChatMessage] = []
    for turn in phrasing.turns[:-1]:
        history += [message(Role.CUSTOMER, turn), message(Role.BOT, "Noted, thanks.")]
    ctx = _context(phrasing, history, phrasing.turns[-1])
    _script(fake_openai, family, tool_defaults(ctx.known_facts(), ctx.now.date()))
    before = metrics.guard
    passed_before = before.get(GuardOutcome.PASSED, 0)
    reply = await responder.generate(ctx)
    guard = metrics.guard
    exp = expected(family)
    verdict = check(family, exp, [reply], _allowed(phrasing))
    tool_results = AllowedFigures()
    for sent in fake_openai.requests[-1]["messages"]:
        if sent["role"] == "tool":
            assert "error" not in json.loads(sent["content"]), sent["content"]
            tool_results.add_json(sent["content"])
    if family.kind == "figures":
        verdict.problems += [f"{f.text} not from this turn's tools" for f in exp.figures
                             if not tool_results.allows(f)]
        if sum(guard.values()) != sum(before.values()) + 1 or guard.get(GuardOutcome.PASSED, 0) != passed_before + 1:
            verdict.problems.append(f"guard did not pass on the first draft: {guard}")
    system = fake_openai.requests[0]["messages"][0]["content"]
    if ctx.known_facts().seen and "What we know so far" not in system:
        verdict.problems.append("the customer's facts did not reach the model")
    return verdict


def test_verdict_counts_a_handoff_on_an_answerable_question() -> None:
    assert not Verdict(false_handoff=True).ok


def test_offline_holdout_eval() -> None:
    """Reported, not tuned on (see holdout.py); gated loosely so a collapse still fails the build."""
    report = Report("offline, held-out families")
    for family in HOLDOUT:
        for phrasing in family.phrasings:
            report.add(family, phrasing.style, check(family, expected(family), converse_offline(phrasing),
                                                     _allowed(phrasing)))
    path = report.write("offline_holdout.txt")
    print(f"\n{report.text()}\n(written to {path})")
    assert not report.invented, report.text()
    assert report.false_handoffs == 0, report.text()


def test_offline_fresh_holdout_eval() -> None:
    """Never tuned on (see holdout_fresh.py): the out-of-sample figure, reported; only safety is gated."""
    report = Report("offline, fresh held-out families (never tuned on)")
    for family in HOLDOUT_FRESH:
        for phrasing in family.phrasings:
            report.add(family, phrasing.style, check(family, expected(family), converse_offline(phrasing),
                                                     _allowed(phrasing)))
    path = report.write("offline_fresh_holdout.txt")
    print(f"\n{report.text()}\n(written to {path})")
    assert not report.invented, report.text()
    assert report.false_handoffs == 0, report.text()
