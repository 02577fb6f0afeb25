"""Pacing: whole-word urgency, the legacy delay table, the SLA clip, and the greeting timing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aibroker.domain.live_events import SLA_WARNING_SHARE, sla_level
from aibroker.domain.pacing import (
    DEFAULT_PACING,
    DEFAULT_SAFETY_MARGIN_MS,
    LEGACY_DELAYS_MS,
    PacingPolicy,
    ReplyPacer,
    detect_urgency,
    find_urgency,
    greeting_choreography,
    reply_delay,
)
from aibroker.domain.personas import PersonaType

URGENT = [
    "urgent", "This is URGENT!", "very urgent pls", "need it asap", "ASAP please", "can you reply now?",
    "I need an answer right now", "I need the loan today", "please do it right away",
    "respond immediately", "my deadline is Friday", "OTP expiring tomorrow", "my OTP expires on Monday",
    "the OTP is expiring soon", "I need to exercise the OTP", "I'm in a hurry", "in a rush, sorry",
    "as soon as possible", "it's an emergency", "time-sensitive matter", "need it by tomorrow",
    "can finish this week?", "chop chop", "not urgent but I need it today",
    "我很急", "今天要", "马上回复", "请尽快", "perlu segera", "boleh cepat sikit", "hari ini boleh?",
]
NOT_URGENT = [
    "I don't know", "I know the price", "snow in Japan", "I acknowledge the terms", "knowledge is power",
    "nowhere near ready", "not urgent", "it's not urgent", "no rush", "no hurry at all",
    "3 months from now", "just now I asked about CPF", "for now I'm only exploring",
    "now that you mention it",
    "what are today's packages?", "there is no deadline", "don't hurry", "我不急", "我不是很急",
    "tidak segera", "", "hello",
]


@pytest.mark.parametrize("text", URGENT)
def test_urgent_phrases(text: str) -> None:
    assert detect_urgency(text), text


@pytest.mark.parametrize("text", NOT_URGENT)
def test_not_urgent_phrases(text: str) -> None:
    assert not detect_urgency(text), (text, find_urgency(text))


def test_find_urgency_names_the_phrase() -> None:
    hit = find_urgency("My OTP expires on Monday")
    assert hit is not None and hit.phrase == "otp expires"


EXACT = PacingPolicy(jitter_ratio=0)
ROOMY = 100_000  # a budget that never clips


@pytest.mark.parametrize(("persona_type", "calm", "hurried"), [
    (PersonaType.AGGRESSIVE, 2000, 1000), (PersonaType.BALANCED, 4000, 2000),
    (PersonaType.CONSERVATIVE, 6000, 3000),
])
def test_legacy_table_without_jitter_or_clip(persona_type: PersonaType, calm: int, hurried: int) -> None:
    rng = random.Random(1)
    assert LEGACY_DELAYS_MS[persona_type] == (calm, hurried)
    assert EXACT.reply_delay(persona_type, False, 0, ROOMY, 0, rng=rng).ms == calm
    assert EXACT.reply_delay(persona_type, True, 0, ROOMY, 0, rng=rng).ms == hurried


def test_conservative_delay_is_clipped_to_the_sla() -> None:
    delay = EXACT.reply_delay(PersonaType.CONSERVATIVE, False, 1500, 5000, 500, rng=random.Random(0))
    assert delay.ms == 3000 and delay.base_ms == 6000 and delay.clipped and not delay.over_budget
    assert delay.seconds == 3.0


def test_delay_is_zero_when_generation_alone_breaks_the_budget() -> None:
    delay = reply_delay(PersonaType.AGGRESSIVE, True, 6000, rng=random.Random(0))
    assert delay.ms == 0 and delay.clipped and delay.over_budget


def test_jitter_is_small_and_replays_with_the_seed() -> None:
    first = reply_delay(PersonaType.BALANCED, False, 0, ROOMY, 0, rng=random.Random(42))
    again = reply_delay(PersonaType.BALANCED, False, 0, ROOMY, 0, rng=random.Random(42))
    assert first == again
    assert 3400 <= first.ms <= 4600 and not first.clipped
    spread = {reply_delay(PersonaType.BALANCED, False, 0, ROOMY, 0, rng=random.Random(seed)).ms
              for seed in range(20)}
    assert len(spread) > 1


def test_one_random_draw_per_call() -> None:
    rng, twin = random.Random(7), random.Random(7)
    reply_delay(PersonaType.AGGRESSIVE, False, 100, rng=rng)
    twin.random()
    assert rng.random() == twin.random()


@pytest.mark.parametrize(("generation", "budget", "margin"), [(-1, 5000, 0), (0, 0, 0), (0, 5000, -1)])
def test_invalid_inputs_are_refused(generation: int, budget: int, margin: int) -> None:
    with pytest.raises(ValueError):
        reply_delay(PersonaType.BALANCED, False, generation, budget, margin, rng=random.Random(0))


def test_policy_refuses_urgent_slower_than_calm_and_wild_jitter() -> None:
    table = {**LEGACY_DELAYS_MS, PersonaType.BALANCED: (1000, 2000)}
    with pytest.raises(ValueError):
        PacingPolicy(delays_ms=table)
    with pytest.raises(ValueError):
        PacingPolicy(jitter_ratio=1.5)


def test_custom_policy_is_used() -> None:
    fast = {t: (800, 400) for t in PersonaType}
    delay = PacingPolicy(delays_ms=fast, jitter_ratio=0).reply_delay(
        PersonaType.CONSERVATIVE, True, 0, rng=random.Random(0))
    assert delay.ms == 400


persona_types = st.sampled_from(PersonaType)
ms = st.integers(0, 20_000)


@given(persona_types, st.booleans(), ms, st.integers(1, 20_000), st.integers(0, 5_000), st.integers(0, 2**32))
def test_delay_is_never_negative_and_fits_the_budget(persona_type: PersonaType, urgent: bool, generation: int,
                                                     budget: int, margin: int, seed: int) -> None:
    delay = reply_delay(persona_type, urgent, generation, budget, margin, rng=random.Random(seed))
    assert delay.ms >= 0
    assert delay.ms <= delay.jittered_ms
    assert abs(delay.jittered_ms - delay.base_ms) <= 0.15 * delay.base_ms + 1
    if generation + margin <= budget:
        assert delay.ms + generation + margin <= budget
        assert not delay.over_budget
    else:
        assert delay.ms == 0 and delay.over_budget


@given(persona_types, ms, st.integers(1, 20_000), st.integers(0, 5_000), st.integers(0, 2**32))
def test_urgent_never_waits_longer_than_calm(persona_type: PersonaType, generation: int, budget: int,
                                             margin: int, seed: int) -> None:
    hurried = reply_delay(persona_type, True, generation, budget, margin, rng=random.Random(seed))
    calm = reply_delay(persona_type, False, generation, budget, margin, rng=random.Random(seed))
    assert hurried.ms <= calm.ms


@given(persona_types, st.booleans(), st.integers(0, 2**32))
def test_a_roomy_budget_keeps_the_persona_pace(persona_type: PersonaType, urgent: bool, seed: int) -> None:
    delay = reply_delay(persona_type, urgent, 0, ROOMY, 0, rng=random.Random(seed))
    assert not delay.clipped and delay.ms == delay.jittered_ms


def test_greeting_choreography_follows_the_service_levels() -> None:
    schedule = greeting_choreography(rng=random.Random(3))
    assert 425 <= schedule.joined_after_ms <= 575
    assert 1700 <= schedule.greeting_after_ms <= 2300
    assert schedule.typing_ms == schedule.greeting_after_ms - schedule.joined_after_ms > 0
    assert greeting_choreography(rng=random.Random(3)) == schedule


@given(st.integers(0, 2**32), st.floats(0, 0.99), st.integers(0, 5_000), st.integers(0, 5_000))
def test_greeting_always_comes_after_joined(seed: int, ratio: float, joined: int, greeting: int) -> None:
    schedule = PacingPolicy(jitter_ratio=ratio).greeting_choreography(
        rng=random.Random(seed), joined_ms=joined, greeting_ms=greeting)
    assert 0 <= schedule.joined_after_ms < schedule.greeting_after_ms


def test_default_policy_is_the_legacy_table() -> None:
    assert dict(DEFAULT_PACING.delays_ms) == dict(LEGACY_DELAYS_MS)
    assert len(URGENT) + len(NOT_URGENT) >= 40


# --- ReplyPacer: the one delay the API queues a reply with and the worker checks it against ------------------------
PACER = ReplyPacer(DEFAULT_PACING, expected_generation_ms=100, reply_sla_ms=60_000)  # a roomy SLA: no clip


@pytest.mark.parametrize("persona_type", list(PersonaType))
def test_the_pacer_draws_one_delay_per_message_whoever_asks(persona_type: PersonaType) -> None:
    """Seeded by conversation and message: the API and a worker (or a retry, or another process) agree; another
    message of the same conversation gets its own draw (FACTS §P: the persona's delay ±15 %)."""
    calm, _ = LEGACY_DELAYS_MS[persona_type]
    first = PACER.delay(persona_type, 7, "101", "what documents do I need?")
    assert first == ReplyPacer(DEFAULT_PACING, 100, 60_000).delay(persona_type, 7, "101", "what documents do I need?")
    draws = {PACER.delay(persona_type, 7, str(m), "what documents do I need?").ms for m in range(101, 121)}
    assert len(draws) > 1 and all(calm * 0.85 - 1 <= ms <= calm * 1.15 + 1 for ms in draws)


@pytest.mark.parametrize("text", ["I need the loan approved urgently", "OTP expiring tomorrow, how much can I borrow?",
                                  "can reply asap? what is the max LTV"])
def test_an_urgent_message_is_queued_with_the_urgent_delay(text: str) -> None:
    for persona_type in PersonaType:
        _, hurried = LEGACY_DELAYS_MS[persona_type]
        delay = PACER.queued_delay(persona_type, 3, "9", text)
        assert delay is not None and hurried * 0.85 - 1 <= delay.ms <= hurried * 1.15 + 1


@pytest.mark.parametrize("text", ["can I speak to a human please", "talk to a real person", "this is useless!!",
                                  "I want to get the ABSD refund after selling my old flat", "agent"])
def test_a_handoff_trigger_is_queued_to_run_at_once(text: str) -> None:
    assert all(PACER.queued_delay(persona_type, 3, "9", text) is None for persona_type in PersonaType)


def test_a_delay_too_short_to_defer_is_queued_to_run_at_once() -> None:
    no_room = ReplyPacer(DEFAULT_PACING, expected_generation_ms=3_600, reply_sla_ms=5_000)  # fills 80 % of it
    assert no_room.queued_delay(PersonaType.BALANCED, 3, "9", "what documents do I need?") is None


@given(persona_type=st.sampled_from(list(PersonaType)), urgent=st.booleans(),
       generation=st.sampled_from([100, 1500]), sla=st.integers(3_000, 30_000), seed=st.integers(0, 10_000))
def test_a_reply_sent_when_planned_raises_no_sla_warning(persona_type: PersonaType, urgent: bool, generation: int,
                                                         sla: int, seed: int) -> None:
    """The SLA watch warns once a message has waited 80 % of REPLY_SLA_MS (live_events.sla_level); the delay leaves
    room for the expected generation (100 ms offline, 1,500 ms with an LLM) and the margin (sending, round trips)
    before that point: sent as planned, the reply is in before the warning."""
    text = "need it urgently" if urgent else "what documents do I need?"
    delay = ReplyPacer(DEFAULT_PACING, generation, sla).delay(persona_type, seed, str(seed), text)
    if not delay.over_budget:
        planned = delay.ms + generation + DEFAULT_SAFETY_MARGIN_MS
        assert planned <= sla * SLA_WARNING_SHARE
        assert sla_level(planned - 1, sla) is None


@given(persona_type=st.sampled_from(list(PersonaType)), urgent=st.booleans(),
       generation=st.sampled_from([100, 1500]), sla=st.integers(3_000, 30_000), seed=st.integers(0, 10_000))
def test_no_delay_is_longer_than_the_pacers_clip(persona_type: PersonaType, urgent: bool, generation: int, sla: int,
                                                 seed: int) -> None:
    pacer = ReplyPacer(DEFAULT_PACING, generation, sla)
    text = "need it urgently" if urgent else "what documents do I need?"
    assert pacer.delay(persona_type, seed, str(seed), text).ms <= pacer.longest_delay_ms


def test_the_clip_at_the_default_sla_is_the_warning_point_less_generation_and_margin() -> None:
    # 80 % of 5,000 ms, less 100 ms of offline generation and the 500 ms margin; with an LLM (1,500 ms) 2,000 ms.
    assert ReplyPacer(DEFAULT_PACING, 100, 5_000).longest_delay_ms == 3_400
    assert ReplyPacer(DEFAULT_PACING, 1_500, 5_000).longest_delay_ms == 2_000
    assert ReplyPacer(DEFAULT_PACING, 4_500, 5_000).longest_delay_ms == 0  # generation alone past the warning
