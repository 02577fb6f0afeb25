"""How long to wait before a reply (human-like, SLA-aware) and whether a message sounds urgent.

Delays start from the legacy table (FACTS §P, ms, not urgent / urgent): aggressive 2000/1000,
balanced 4000/2000, conservative 6000/3000. Each gets a small multiplicative jitter from the
injected `random.Random` (one draw per call, so a seeded rng replays exactly), and is then
CLIPPED to the reply SLA (FACTS §S: P95 < 5 s from customer message to visible reply):

    delay = max(0, min(base × (1 + jitter), sla_budget − expected_generation − safety_margin))

so delay + expected generation + margin ≤ budget whenever the budget allows it at all. When
generation alone is expected to blow the budget the delay is 0 and `Delay.over_budget` says so,
so the caller can skip the typing theatre and alert. The same draw is used whatever the
urgency, so for one seed the urgent delay is never longer than the non-urgent one. A reply's
budget (`ReplyPacer`) is the SLA's warning point, 80 % of it: a reply on time comes before the warning.

The greeting choreography (FACTS §S: "joined" after ~0.5 s, greeting after ~2 s) is jittered
the same way. Nothing here sleeps: callers schedule the returned milliseconds.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from aibroker.domain.handoff import detect_handoff
from aibroker.domain.live_events import SLA_WARNING_SHARE
from aibroker.domain.personas import PersonaType
from aibroker.domain.text import PhraseMatch, PhraseMatcher

_URGENT = PhraseMatcher(
    (
        "urgent", "urgently", "very urgent", "asap", "a s a p", "as soon as possible", "soonest",
        "now", "right now", "today", "tonight", "right away", "straight away", "immediately",
        "deadline", "deadlines", "emergency", "time sensitive", "running out of time",
        "in a hurry", "in a rush", "hurry", "quickly", "faster", "chop chop",
        "by tomorrow", "before tomorrow", "need it tomorrow", "end of day", "by eod", "this week",
        "within 24 hours", "otp expiring", "otp expires", "otp is expiring", "otp will expire",
        "otp expiry", "option expires", "option is expiring", "exercise the otp", "exercise my otp",
        # Chinese, Malay
        "急", "紧急", "马上", "立刻", "尽快", "今天", "赶时间", "segera", "cepat", "sekarang", "hari ini",
    ),
    # Time words that point away from the present: "3 months from now", "just now" (Singlish: a
    # moment ago), "fine for now".
    exclusions=(
        "for now", "just now", "until now", "till now", "up to now", "by now", "as of now",
        "now that", "from now", "from today", "as of today", "until today", "till today",
    ),
)


def find_urgency(text: str) -> PhraseMatch | None:
    """The urgency phrase found in `text`, if any (for logs and the dashboard)."""
    return _URGENT.find(text)


def detect_urgency(text: str) -> bool:
    """True when the customer sounds time-pressed; whole words and phrases only."""
    return _URGENT.find(text) is not None


@dataclass(frozen=True, slots=True)
class Delay:
    ms: int  # what to wait before sending; the typing indicator runs meanwhile
    base_ms: int  # the table value for persona type and urgency
    jittered_ms: int  # after jitter, before the SLA clip
    clipped: bool  # the SLA budget shortened the delay
    over_budget: bool  # even with no delay, generation + margin is expected to exceed the budget

    @property
    def seconds(self) -> float:
        return self.ms / 1000


@dataclass(frozen=True, slots=True)
class GreetingSchedule:
    """Offsets from the start of the new-conversation job."""

    joined_after_ms: int  # post "X joined the conversation"
    greeting_after_ms: int  # post the greeting; typing runs between the two

    @property
    def typing_ms(self) -> int:
        return self.greeting_after_ms - self.joined_after_ms


LEGACY_DELAYS_MS: Mapping[PersonaType, tuple[int, int]] = MappingProxyType({
    PersonaType.AGGRESSIVE: (2000, 1000),
    PersonaType.BALANCED: (4000, 2000),
    PersonaType.CONSERVATIVE: (6000, 3000),
})
DEFAULT_SLA_BUDGET_MS = 5000
DEFAULT_SAFETY_MARGIN_MS = 500  # sending and inbox round-trips after generation
MIN_DEFER_MS = 50  # a reply due sooner than this runs now (the queue's own delay is about that)


def _jittered(base_ms: int, ratio: float, rng: random.Random) -> int:
    # Multiplicative, so short and long delays get proportionate jitter.
    return round(base_ms * (1 + ratio * (2 * rng.random() - 1)))


@dataclass(frozen=True, slots=True)
class PacingPolicy:
    """Delay table (not urgent, urgent) by persona type, plus jitter. Immutable; inject a custom one."""

    delays_ms: Mapping[PersonaType, tuple[int, int]] = field(default_factory=lambda: LEGACY_DELAYS_MS)
    jitter_ratio: float = 0.15

    def __post_init__(self) -> None:
        if not 0 <= self.jitter_ratio < 1:
            raise ValueError("jitter_ratio must be in [0, 1)")
        for persona_type in PersonaType:
            calm, urgent = self.delays_ms[persona_type]
            if not 0 <= urgent <= calm:
                raise ValueError(f"{persona_type}: need 0 <= urgent delay <= non-urgent delay")

    def reply_delay(self, persona_type: PersonaType, urgent: bool, expected_generation_ms: int,
                    sla_budget_ms: int = DEFAULT_SLA_BUDGET_MS,
                    safety_margin_ms: int = DEFAULT_SAFETY_MARGIN_MS, *, rng: random.Random) -> Delay:
        """The wait before replying, clipped to the SLA budget (see the module docstring)."""
        if expected_generation_ms < 0 or safety_margin_ms < 0 or sla_budget_ms <= 0:
            raise ValueError("need expected_generation_ms >= 0, safety_margin_ms >= 0, sla_budget_ms > 0")
        calm, hurried = self.delays_ms[persona_type]
        base = hurried if urgent else calm
        jittered = max(0, _jittered(base, self.jitter_ratio, rng))
        room = delay_room_ms(sla_budget_ms, expected_generation_ms, safety_margin_ms)
        ms = max(0, min(jittered, room))
        return Delay(ms=ms, base_ms=base, jittered_ms=jittered, clipped=ms < jittered, over_budget=room < 0)

    def greeting_choreography(self, *, rng: random.Random, joined_ms: int = 500,
                              greeting_ms: int = 2000) -> GreetingSchedule:
        """FACTS §S: "joined" after ~0.5 s, greeting after ~2 s; jittered, greeting always later."""
        joined = max(0, _jittered(joined_ms, self.jitter_ratio, rng))
        greeting = max(joined + 1, _jittered(greeting_ms, self.jitter_ratio, rng))
        return GreetingSchedule(joined_after_ms=joined, greeting_after_ms=greeting)


DEFAULT_PACING = PacingPolicy()


def delay_room_ms(sla_budget_ms: int, expected_generation_ms: int,
                  safety_margin_ms: int = DEFAULT_SAFETY_MARGIN_MS) -> int:
    """The longest delay a budget allows: what is left of it after the expected generation and the margin (negative
    when generation alone is expected to blow it)."""
    return sla_budget_ms - expected_generation_ms - safety_margin_ms


@dataclass(frozen=True, slots=True)
class ReplyPacer:
    """The human-like delay before the reply to one customer message. Drawn from a seed of the message, so the API
    (which queues the reply already delayed when it accepts the message) and the worker (which checks that it is
    due, e.g. for a job queued again by the sweeper) arrive at the same moment, as does every retry.

    Clipped to the reply SLA's WARNING point (80 % of `reply_sla_ms`, `live_events.SLA_WARNING_SHARE`), not to the
    SLA itself: a reply sent as planned (delay, generation, margin) is in before the SLA watch warns (clipped to
    the whole SLA, a 4.4 s delay raised a warning at 4 s for most replies of the slower personas), and what is
    left of the SLA is room for a queue or a slow generation."""

    policy: PacingPolicy
    expected_generation_ms: int
    reply_sla_ms: int = DEFAULT_SLA_BUDGET_MS

    @property
    def budget_ms(self) -> int:
        """What a delay and the generation must fit in: the SLA's warning point."""
        return int(self.reply_sla_ms * SLA_WARNING_SHARE)

    @property
    def longest_delay_ms(self) -> int:
        """The clip every delay it draws is held to (3,400 ms at the default 5 s SLA, offline)."""
        return max(0, delay_room_ms(self.budget_ms, self.expected_generation_ms))

    def delay(self, persona_type: PersonaType, conversation_id: int, message_id: str, content: str) -> Delay:
        return self.policy.reply_delay(persona_type, detect_urgency(content), self.expected_generation_ms,
                                       self.budget_ms, rng=random.Random(f"{conversation_id}:{message_id}"))

    def queued_delay(self, persona_type: PersonaType, conversation_id: int, message_id: str,
                     content: str) -> Delay | None:
        """The delay to queue the reply to a message just accepted with; None to queue it to run at once: a handoff
        trigger the message itself shows is answered at once, and a delay under MIN_DEFER_MS is not worth one."""
        if detect_handoff(content) is not None:
            return None
        delay = self.delay(persona_type, conversation_id, message_id, content)
        return delay if delay.ms >= MIN_DEFER_MS else None


def reply_delay(persona_type: PersonaType, urgent: bool, expected_generation_ms: int,
                sla_budget_ms: int = DEFAULT_SLA_BUDGET_MS,
                safety_margin_ms: int = DEFAULT_SAFETY_MARGIN_MS, *, rng: random.Random) -> Delay:
    """`DEFAULT_PACING.reply_delay`: the legacy table with ±15 % jitter."""
    return DEFAULT_PACING.reply_delay(persona_type, urgent, expected_generation_ms, sla_budget_ms,
                                      safety_margin_ms, rng=rng)


def greeting_choreography(*, rng: random.Random) -> GreetingSchedule:
    """`DEFAULT_PACING.greeting_choreography` with the FACTS §S timings."""
    return DEFAULT_PACING.greeting_choreography(rng=rng)
