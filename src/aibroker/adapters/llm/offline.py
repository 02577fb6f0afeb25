"""`OfflineResponder`: useful answers without an LLM, from the calculators and the knowledge base.

The default when no LLM is configured, and the fallback when it fails. Per turn:
1. handoff first: `aibroker.domain.handoff.detect_handoff` on the new messages (explicit requests,
   frustration, the FACTS A.11 compliance topics) gives a handoff reply, no figures;
2. memory: `ReplyContext.known_facts()`, the lead form and every customer message of the current
   episode folded into `CustomerFacts`, newest winning; a bare "8k" answers the bot's own previous
   question;
3. intents of the new messages (a bare answer continues the last topic), answered by the calculators
   (`answers`, `answers_loans`), at most `max_answers` of them;
4. the persona's voice around it (tone by persona type), the FACTS A.11 indicative-only note after
   any figure, and a question for the inputs still missing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

from aibroker.config import Settings
from aibroker.domain.conversation import ChatMessage, Role
from aibroker.domain.customer_facts import CustomerFacts
from aibroker.domain.fact_parse import asked_slots, parse
from aibroker.domain.greetings import AI_DISCLOSURE
from aibroker.domain.handoff import HandoffReason, detect_handoff
from aibroker.domain.memory import episode_of
from aibroker.domain.mortgage import DISCLAIMER
from aibroker.domain.personas import PersonaType
from aibroker.domain.ports import HandoffSignal, Reply, ReplyContext

from . import answers, answers_loans, knowledge
from .answers import ASK, Answer
from .guard import extract_figures
from .intents import TOPICAL, Intent, detect_intents


@dataclass(frozen=True)
class Voice:
    greeting: str
    opener: str
    ask: str
    next_step: str
    thanks: str
    bye: str
    menu: str


_VOICES = {
    PersonaType.AGGRESSIVE: Voice(
        "Hi {name}, {me} here, {title}. Let's get you the numbers fast: stamp duties, how much you can "
        "borrow, monthly instalments or CPF. Where do we start?",
        "", "Send me {items} and I'll run the exact numbers.", "Want me to run {topic} next?",
        "My pleasure, {name}. Ready when you are for the next step.",
        "Speak soon, {name}. I'm here whenever you're ready to move.",
        "I can run stamp duties (BSD, ABSD, SSD), your maximum loan, monthly instalments, TDSR/MSR, LTV and "
        "CPF usage. Which one first?"),
    PersonaType.BALANCED: Voice(
        "Hi {name}! I'm {me}, {title}. I can walk you through stamp duties, how much you can borrow, "
        "monthly repayments and using your CPF. What would you like to look at first?",
        "Good question, {name}.", "Could you share {items}? Then I can work out your figures.",
        "Would you like me to look at {topic} next?",
        "You're welcome, {name}! Anything else I can help you plan?",
        "Take care, {name}! Message me here anytime.",
        "I can help with stamp duties (BSD, ABSD, SSD), how much you can borrow, monthly repayments, "
        "TDSR/MSR, LTV and downpayment, HDB vs bank loans and CPF. What would you like to start with?"),
    PersonaType.CONSERVATIVE: Voice(
        "Hi {name}, I'm {me}, {title}. There's no rush; we can take this one step at a time. Would you like "
        "to start with how much you can borrow, or with the costs of buying, like stamp duty?",
        "Happy to explain, {name}.",
        "Whenever you're ready, could you tell me {items}? We'll go step by step.",
        "Would it help to go through {topic} next, or shall I explain anything in more detail?",
        "You're very welcome, {name}. Any question at all, just ask; no question is too small.",
        "Take care, {name}. I'm here whenever you'd like to continue.",
        "We can go through it together: stamp duties, how much you can borrow, monthly repayments, the TDSR "
        "and MSR limits, the downpayment, HDB vs bank loans or using your CPF. Which would help most?"),
}
_TOPICS = {"absd_remission_refund": "ABSD remission and refund", "trusts_entities": "trust and company "
                                                                                    "purchase",
           "foreign_buyer": "foreign-buyer", "cpf_edge_case": "CPF lease and retirement-sum",
           "refinancing_after_mop": "refinancing-after-MOP", "decoupling": "decoupling"}
MAX_WORDS = 90  # a chat reply, not a brochure (issue #14), unless the customer asks for detail
_DETAIL = re.compile(r"\b(?:explain|in detail|details?|more info|break (?:it )?down|elaborate|step by step|"
                     r"walk me through)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
_BRING_IN = "I'll bring in one of our human specialists; they'll continue right here with you shortly."


def _words(text: str) -> int:
    return len(text.split())


class OfflineResponder:
    """ReplyGenerator with no network: intents + calculators + KB, in the persona's voice."""

    source = "offline"

    def __init__(self, *, max_answers: int = 2, disclose_ai: bool = True) -> None:
        self.max_answers = max_answers
        self.disclose_ai = disclose_ai

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> OfflineResponder:
        return cls(disclose_ai=settings.disclose_ai if settings is not None else True)

    async def generate(self, context: ReplyContext) -> Reply:
        return self.answer(context)

    async def stream(self, context: ReplyContext) -> AsyncIterator[str]:
        yield self.answer(context).text  # computed at once: nothing to gain from splitting it

    # --- the turn --------------------------------------------------------------------------------
    def answer(self, context: ReplyContext) -> Reply:
        voice = _VOICES[context.persona.persona_type]
        name = context.customer_first_name
        new_text = "\n".join(m.content for m in context.new_messages if m.role == Role.CUSTOMER)
        if (decision := detect_handoff(new_text)) is not None:
            return self._handoff(decision.reason, decision.detail or decision.matched, name)
        new_ids = {m.id for m in context.new_messages}
        episode = episode_of(context.history, context.new_messages)
        slots = context.known_facts()
        fresh = _adds_facts(episode, new_ids, context.now.date())
        intents = detect_intents(new_text)
        if intents == [Intent.UNKNOWN] and fresh:
            intents = _last_topic(episode, new_ids) or _implied_topic(slots) or intents
        topical = [i for i in intents if i in TOPICAL][:self.max_answers]
        if not topical:
            return self._small_talk(intents[0], voice, context, new_text)
        parts = [_answer(intent, slots, context.now.date()) for intent in topical]
        topic = ("the stamp duty for this purchase" if Intent.MAX_LOAN in topical
                 else "how much you can borrow")
        # The persona's opener ("Good question, Ann.") once per episode: repeated, it reads like a script.
        opener = "" if any(m.role == Role.BOT for m in episode) else voice.opener.format(name=name)
        return self._compose(parts, voice, opener, topic, bool(_DETAIL.search(new_text)))

    def _compose(self, parts: list[Answer], voice: Voice, opener: str, topic: str, detail: bool) -> Reply:
        # One part may already contain another (BSD includes the ABSD answer when residency and property
        # count are known): say each thing once.
        texts: list[str] = []
        for part in parts:
            if part.text and not any(part.text in said for said in texts):
                texts.append(part.text)
        body = " ".join(texts)
        handoff = next((p.handoff for p in parts if p.handoff), None)
        tail = [DISCLAIMER] if any(p.has_figures for p in parts) or extract_figures(body) else []
        missing = list(dict.fromkeys(k for p in parts for k in p.missing))
        offer = ""
        if handoff is not None:
            tail.append(_BRING_IN)
        elif missing:
            tail.append(voice.ask.format(items=ASK[missing[0]]))  # one question at a time
        else:
            offer = voice.next_step.format(topic=topic)
        text = self._fit(body, " ".join(tail), opener, offer, detail)
        facts = list(dict.fromkeys(f for p in parts for f in p.facts))
        return Reply(text=text, source=self.source, handoff=handoff, facts_used=facts)

    def _fit(self, body: str, tail: str, opener: str, offer: str, detail: bool) -> str:
        """At most `MAX_WORDS` unless the customer asked for detail: the answer's later sentences go
        first (answers lead with the figure), then the opener, then the offer of a next topic."""
        if detail:
            return " ".join(p for p in (opener, body, tail, offer) if p)
        sentences = _SENTENCE.split(body)
        budget = MAX_WORDS - _words(tail)
        kept = sentences[:1]
        for sentence in sentences[1:]:
            if _words(" ".join(kept)) + _words(sentence) > budget:
                break
            kept.append(sentence)
        text = " ".join([*kept, tail])
        for extra in (opener, offer):
            if extra and _words(text) + _words(extra) > MAX_WORDS:
                continue
            text = f"{extra} {text}" if extra is opener else f"{text} {extra}"
        return text.strip()

    def _small_talk(self, intent: Intent, voice: Voice, context: ReplyContext, text: str) -> Reply:
        p = context.persona
        fill = {"name": context.customer_first_name, "me": p.first_name, "title": p.title}
        if intent is Intent.GREETING:
            hello, _, rest = voice.greeting.format(**fill).partition(". ")
            said = [f"{hello}.", AI_DISCLOSURE, rest] if self.disclose_ai else [f"{hello}.", rest]
            return Reply(" ".join(p for p in said if p), self.source)
        if intent is Intent.THANKS:
            return Reply(voice.thanks.format(**fill), self.source)
        if intent is Intent.BYE:
            return Reply(voice.bye.format(**fill), self.source)
        found = knowledge.search(text, limit=1) if len(text.split()) >= 2 else []
        if found:
            entry = found[0]
            reply = f"Here's what I have on that: {entry.text} ({entry.effective})."
            if extract_figures(reply):
                reply += " " + DISCLAIMER
            return Reply(f"{reply} {voice.next_step.format(topic='how much you can borrow')}", self.source,
                         facts_used=[entry.key])
        return Reply(voice.menu.format(**fill), self.source)

    def _handoff(self, reason: HandoffReason, detail: str, name: str) -> Reply:
        if reason is HandoffReason.COMPLIANCE:
            topic = _TOPICS.get(detail, "this kind of")
            text = (f"That's one for a specialist, {name}: {topic} cases need a careful look at your "
                    "situation.")
        elif reason is HandoffReason.FRUSTRATION:
            text = f"I'm sorry this hasn't been smooth, {name}."
        else:
            text = f"Of course, {name}."
        return Reply(f"{text} {_BRING_IN}", self.source, handoff=HandoffSignal(reason.value, detail))


def _adds_facts(episode: list[ChatMessage], new_ids: set[str], today: date) -> bool:
    """Whether the new messages state any fact (a bare "8k" answering the bot's question counts)."""
    last_bot = ""
    for message in episode:
        if message.role in (Role.BOT, Role.HUMAN):
            last_bot = message.content
        elif message.id in new_ids and parse(message.content, asked=asked_slots(last_bot), today=today).seen:
            return True
    return False


def _implied_topic(facts: CustomerFacts) -> list[Intent]:
    """No question word, no earlier topic, but a loan with its rate or tenure: they want the instalment."""
    if facts.loan_amount is not None and (facts.rate_pct is not None or facts.tenure_years is not None):
        return [Intent.INSTALMENT]
    return []


def _last_topic(episode: list[ChatMessage], new_ids: set[str]) -> list[Intent]:
    for message in reversed(episode):
        if message.role == Role.CUSTOMER and message.id not in new_ids:
            topical = [i for i in detect_intents(message.content) if i in TOPICAL]
            if topical:
                return topical
    return []


def _answer(intent: Intent, s: CustomerFacts, today: date) -> Answer:
    """One intent answered; a calculator refusing the inputs ("price must be greater than zero") becomes
    a request to check them, because the offline responder is the last line of defence and must reply."""
    try:
        return _calculate(intent, s, today)
    except ValueError as error:
        return Answer(f"I couldn't work that out from those numbers ({error}); could you check them for me?")


def _calculate(intent: Intent, s: CustomerFacts, today: date) -> Answer:
    match intent:
        case Intent.BSD:
            return answers.bsd(s)
        case Intent.ABSD:
            return answers.absd(s)
        case Intent.SSD:
            return answers.ssd(s, today)
        case Intent.MAX_LOAN:
            return answers_loans.max_loan(s)
        case Intent.INSTALMENT:
            return answers_loans.instalment(s)
        case Intent.TDSR | Intent.MSR:
            return answers_loans.debt_ratio(s, intent.value.upper())
        case Intent.STRESS_RATE:
            return answers_loans.stress_rate(s)
        case Intent.LTV:
            return answers_loans.ltv(s)
        case Intent.TENURE:
            return answers_loans.tenure(s)
        case Intent.HDB_VS_BANK:
            return answers_loans.hdb_vs_bank(s)
        case Intent.CPF:
            return answers_loans.cpf(s)
        case Intent.INCOME:
            return answers_loans.income(s)
        case Intent.REFINANCING:
            return answers_loans.refinancing(s)
    return Answer()
