"""Handoff triggers: explicit requests in four languages, frustration, compliance topics, no progress,
and the tricky negatives that must stay with the bot. Also the shared phrase matcher."""

from __future__ import annotations

import pytest

from aibroker.domain.handoff import (
    ConversationProgress,
    HandoffDecision,
    HandoffReason,
    detect_handoff,
)
from aibroker.domain.text import PhraseMatcher, normalize

EXPLICIT, FRUSTRATION, COMPLIANCE = (HandoffReason.EXPLICIT_REQUEST, HandoffReason.FRUSTRATION,
                                     HandoffReason.COMPLIANCE)

TRIGGERS: list[tuple[str, HandoffReason]] = [
    # English
    ("Can I speak to a human?", EXPLICIT), ("I want a real person", EXPLICIT),
    ("talk to an agent please", EXPLICIT), ("call me", EXPLICIT), ("Please call me back.", EXPLICIT),
    ("can you call me at 9123 4567", EXPLICIT), ("I want to speak to your manager", EXPLICIT),
    ("supervisor please", EXPLICIT), ("can I speak to someone", EXPLICIT),
    ("Connect me with a consultant", EXPLICIT), ("I need a human agent", EXPLICIT),
    ("Human?", EXPLICIT), ("agent", EXPLICIT), ("I don't want to talk to a bot", EXPLICIT),
    ("no, I want to speak to a human", EXPLICIT), ("Can't I talk to a human?", EXPLICIT),
    ("is it not possible to speak to someone?", EXPLICIT), ("please escalate this", EXPLICIT),
    ("why don't you just call me?", EXPLICIT),
    # Singlish
    ("can get real person or not", EXPLICIT), ("got human or not", EXPLICIT),
    ("want talk to real person lah", EXPLICIT), ("can talk to human anot", EXPLICIT),
    # Chinese
    ("人工", EXPLICIT), ("我要转人工", EXPLICIT), ("人工客服", EXPLICIT), ("有真人吗", EXPLICIT),
    ("为什么不能转人工", EXPLICIT),
    # Malay
    ("nak cakap dengan orang", EXPLICIT), ("boleh saya bercakap dengan ejen", EXPLICIT),
    ("saya mahu orang sebenar", EXPLICIT),
    # frustration
    ("I am frustrated", FRUSTRATION), ("not happy with this", FRUSTRATION),
    ("I want to file a complaint", FRUSTRATION), ("this is useless", FRUSTRATION),
    ("This is ridiculous", FRUSTRATION), ("you are wasting my time", FRUSTRATION), ("hello???", FRUSTRATION),
    ("hello？？？", FRUSTRATION), ("WHY IS NOBODY ANSWERING ME", FRUSTRATION),
    ("walao so slow", FRUSTRATION), ("我要投诉", FRUSTRATION), ("saya tak puas hati", FRUSTRATION),
    # compliance (FACTS §A.11)
    ("Can I get ABSD remission?", COMPLIANCE),
    ("will the ABSD be refunded if I sell within 6 months", COMPLIANCE),
    ("I want to buy in trust for my son", COMPLIANCE), ("can I buy under my company", COMPLIANCE),
    ("I'm a foreigner, can I buy a condo", COMPLIANCE), ("my wife is on an employment pass", COMPLIANCE),
    ("the flat has a short lease", COMPLIANCE), ("will my CPF usage be pro-rated", COMPLIANCE),
    ("do I need to set aside my BRS", COMPLIANCE), ("lease until age 95 for my CPF?", COMPLIANCE),
    ("can I refinance after MOP", COMPLIANCE), ("MOP is over, switch to a bank loan?", COMPLIANCE),
    ("how does decoupling work", COMPLIANCE), ("can I transfer my share to my wife", COMPLIANCE),
]

NEGATIVES = [
    "I am not frustrated", "I'm not frustrated at all, just asking",
    "I work in the human resources department",
    "my agent (property agent) said the price is fair", "the property agent fee is 1%", "no need to call me",
    "I know", "I don't need a manager", "I'm a manager at a bank", "I have no complaints",
    "you can call me Jon", "I don't want to speak to a human", "Sorry if this is a stupid question",
    "I trust you", "I am Singaporean, not a foreigner", "What is the ABSD for my second property?",
    # issue #14: a foreign buyer's plain rate question is answered, not handed off
    "ABSD for a foreigner on a $2m condo?", "I'm a foreigner, what's the ABSD rate?", "I'm an expat",
    "how long is the MOP for a BTO?", "HDB BTO EC CPF OTP", "WHAT IS TDSR", "OK THANKS",
    "is this ok?", "你是人工智能吗", "不需要人工", "saya tak nak cakap dengan orang",
    "I need help with my loan", "what's the remaining tenure I can get", "",
]


@pytest.mark.parametrize(("text", "reason"), TRIGGERS)
def test_triggers(text: str, reason: HandoffReason) -> None:
    decision = detect_handoff(text)
    assert decision is not None, text
    assert decision.reason is reason, (text, decision)
    assert decision.matched


@pytest.mark.parametrize("text", NEGATIVES)
def test_tricky_negatives_stay_with_the_bot(text: str) -> None:
    assert detect_handoff(text) is None, (text, detect_handoff(text))


def test_the_tables_are_large_enough() -> None:
    assert len(TRIGGERS) + len(NEGATIVES) >= 40


@pytest.mark.parametrize(("text", "matched", "topic"), [
    ("ABSD refund please", "absd + refund", "absd_remission_refund"),
    ("buy it through a company", "through a company", "trusts_entities"),
    ("I'm an expat, can I buy landed?", "expat + can i buy", "foreign_buyer"),
    ("will my CPF be pro rated", "pro rated", "cpf_edge_case"),
    ("refinancing after the minimum occupation period", "minimum occupation period + refinancing",
     "refinancing_after_mop"),
    ("we want to decouple", "decouple", "decoupling"),
])
def test_compliance_names_the_topic(text: str, matched: str, topic: str) -> None:
    assert detect_handoff(text) == HandoffDecision(COMPLIANCE, matched, topic)


def test_explicit_request_wins_over_frustration_and_compliance() -> None:
    decision = detect_handoff("This is useless, I'm a foreigner, let me talk to a human")
    assert decision == HandoffDecision(EXPLICIT, "let me talk to a human")


def test_shouting_reports_the_loud_words() -> None:
    decision = detect_handoff("WHY DOES NOBODY REPLY about HDB")
    assert decision == HandoffDecision(FRUSTRATION, "WHY DOES NOBODY REPLY", "shouting")


def _after(*messages: str, answered: bool = True) -> ConversationProgress:
    progress = ConversationProgress()
    for message in messages:
        progress = progress.observe(message, bot_answered=answered)
    return progress


QUESTION = "How much can I borrow for a 4-room flat?"


def test_the_same_question_three_times_after_the_first_hands_off() -> None:
    progress = _after(QUESTION, QUESTION, "how much can I borrow for a 4 room flat??", QUESTION)
    assert progress.stalled_bot_turns == 3
    decision = detect_handoff(QUESTION, progress)
    assert decision is not None and decision.reason is HandoffReason.NO_PROGRESS
    assert decision.matched == "repeated question"


def test_two_stalled_turns_are_not_enough() -> None:
    progress = _after(QUESTION, QUESTION, QUESTION)
    assert progress.stalled_bot_turns == 2
    assert detect_handoff(QUESTION, progress) is None


def test_a_new_question_resets_the_count() -> None:
    progress = _after(QUESTION, QUESTION, QUESTION, "OK, and what about the CPF I can use?")
    assert progress.stalled_bot_turns == 0


def test_customer_saying_it_was_not_answered_counts() -> None:
    progress = _after("what is the BSD on 1.2m?", "you didn't answer my question",
                      "that's not what I asked", "你没回答")
    assert progress.stalled_bot_turns == 3
    decision = detect_handoff("你没回答", progress)
    assert decision is not None and decision.reason is HandoffReason.NO_PROGRESS
    assert decision.matched == "你没回答"


def test_bot_fallbacks_count_and_short_repeats_do_not() -> None:
    assert _after("a", "b", "c", answered=False).stalled_bot_turns == 3
    assert _after("ok", "ok", "ok", "ok").stalled_bot_turns == 0


def test_job_failure_and_operator_decisions() -> None:
    failed = HandoffDecision.for_job_failure("TimeoutError: " + "x" * 500)
    assert failed.reason is HandoffReason.JOB_FAILED and len(failed.detail) == 200
    taken = HandoffDecision.by_operator("ops@example.com")
    assert taken.reason is HandoffReason.OPERATOR and "operator" in taken.note
    explicit = detect_handoff("speak to a human")
    assert explicit is not None
    assert explicit.note == "Handed to a human (explicit_request): 'speak to a human'"


@pytest.mark.parametrize(("raw", "normal"), [
    ("Don’t  KNOW", "dont know"), ("non-resident", "non resident"), ("ＨＤＢ？", "hdb?"),
    ("today's", "todays"),
])
def test_normalize(raw: str, normal: str) -> None:
    assert normalize(raw) == normal


def test_phrase_matcher_rules() -> None:
    matcher = PhraseMatcher(["call me $", "人工", "now"], exclusions=["人工智能"])
    assert matcher.find("ok, call me.") is not None
    assert matcher.find("call me Jon") is None
    assert matcher.find("转人工") is not None and matcher.find("人工智能") is None
    assert "do it now" in matcher and "I know" not in matcher
    assert [m.phrase for m in matcher.find_all("now, call me")] == ["now", "call me"]
    with pytest.raises(ValueError):
        PhraseMatcher([])
    with pytest.raises(ValueError):
        PhraseMatcher([" - "])


@pytest.mark.parametrize("text", [
    "the flat has 60 years remaining lease, how long can my loan be?",
    "how much lease left before I can't get an HDB loan?",
])
def test_remaining_lease_alone_is_a_tenure_question_not_a_handoff(text: str) -> None:
    assert detect_handoff(text) is None


def test_remaining_lease_with_cpf_use_is_a_cpf_edge_case() -> None:
    decision = detect_handoff("can I still use my CPF if the remaining lease is 40 years?")
    assert decision is not None and decision.reason.value == "compliance" and decision.detail == "cpf_edge_case"
