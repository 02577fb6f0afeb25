"""When the bot must hand a conversation to a human, and why.

Triggers, checked in this order (the first one found wins):
1. explicit_request: the customer asks for a person, in English, Singlish, Chinese or Malay
   ("speak to a human", "got human or not", "转人工", "boleh saya bercakap dengan ejen"), or
   sends a one-word request ("human", "agent").
2. frustration: angry words ("frustrated", "useless", "投诉", "tak puas hati"), "???", or
   shouting: at least 4 all-capital words making up at least 70 % of the words (acronyms such
   as HDB, CPF, ABSD are left out of both counts).
3. compliance: the topics FACTS §A.11 reserves for humans: ABSD remission or refund, trusts and
   entities, foreign-buyer cases (not a plain rate question), CPF edge cases (short lease, age-95
   pro-ration, retirement sums), refinancing after the MOP, decoupling. Some need two cues ("ABSD" and "refund").
4. no_progress: three consecutive bot turns without progress (see `ConversationProgress`).
job_failed and operator are decided by the caller; `HandoffDecision.for_job_failure` and
`HandoffDecision.by_operator` build them so every handoff carries the same shape.

Matching is whole-word with negation and vetoes (`aibroker.domain.text`), so "I am not
frustrated", "the human resources department", "my agent said", "no need to call me" and
"I don't need a manager" do not trigger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import StrEnum
from itertools import product

from aibroker.domain.text import PhraseMatcher, normalize


class HandoffReason(StrEnum):
    EXPLICIT_REQUEST = "explicit_request"
    FRUSTRATION = "frustration"
    NO_PROGRESS = "no_progress"
    COMPLIANCE = "compliance"
    JOB_FAILED = "job_failed"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class HandoffDecision:
    reason: HandoffReason
    matched: str  # the phrase or signal that decided it, for the activity note and analytics
    detail: str = ""  # e.g. the compliance topic

    @classmethod
    def for_job_failure(cls, error: str) -> HandoffDecision:
        return cls(HandoffReason.JOB_FAILED, "final attempt failed", error[:200])

    @classmethod
    def by_operator(cls, operator: str) -> HandoffDecision:
        return cls(HandoffReason.OPERATOR, "taken over", operator)

    @property
    def note(self) -> str:
        """The private activity note posted with the handoff."""
        extra = f", {self.detail}" if self.detail else ""
        return f"Handed to a human ({self.reason.value}{extra}): {self.matched!r}"


_TALK = ("speak to", "speak with", "talk to", "talk with", "chat with", "connect me to",
         "connect me with", "transfer me to", "put me through to", "pass me to", "let me talk to",
         "let me speak to", "can talk to", "want talk to", "talk", "want talk")
_PEOPLE = ("a human", "human", "a person", "a live person", "a live agent", "an agent", "agent",
           "a human agent", "someone", "somebody", "a real human", "an actual person", "a consultant",
           "a specialist", "a broker", "an advisor", "an adviser", "a representative", "a staff",
           "your staff", "staff", "a manager", "your manager", "the manager", "a supervisor",
           "your supervisor", "the supervisor", "someone else")
_WANT = ("want", "need", "get", "prefer", "can i have", "can i get", "let me have")
_PERSON = ("a human", "human", "a live agent", "a human agent", "a live person", "a manager",
           "the manager", "a supervisor", "the supervisor", "someone real")
_EXPLICIT = PhraseMatcher(
    (*(" ".join(p) for p in product(_TALK, _PEOPLE)), *(" ".join(p) for p in product(_WANT, _PERSON)),
     "real person", "real human", "actual person", "actual human", "live agent", "human agent",
     "human being", "human please", "human pls", "customer service", "customer support",
     "customer care", "no more bot", "stop the bot", "dont want a bot", "dont want to talk to a bot",
     "your manager", "your supervisor", "manager please", "manager pls", "supervisor please",
     "supervisor pls",
     "escalate", "escalate this", "call me $", "call me back", "call me now", "call me asap",
     "call me please", "call me at", "call me on", "please call me", "pls call me", "can you call me",
     "could you call me", "can someone call me", "someone call me", "give me a call", "ring me",
     "phone me", "got human", "got real person", "got someone", "got people",
     # Chinese
     "人工", "转人工", "人工客服", "真人", "真人客服", "客服", "找经理", "叫经理", "你们经理",
     # Malay
     "cakap dengan orang", "bercakap dengan orang", "cakap dengan ejen", "bercakap dengan ejen",
     "orang sebenar", "manusia sebenar", "ejen sebenar", "ejen manusia", "nak manusia",
     "hubungi saya", "sila telefon saya", "boleh telefon saya"),
    exclusions=("human resource", "human resources", "人工智能", "property agent", "real estate agent",
                "housing agent", "insurance agent", "my agent", "our agent", "agent fee", "agent fees"),
)
_ONE_WORD_REQUESTS = frozenset({"human", "agent", "person", "operator", "representative",
                                "real person", "人工", "真人", "manusia", "ejen"})

_FRUSTRATION = PhraseMatcher(
    ("frustrated", "frustrating", "frustration", "not happy", "unhappy", "complaint", "complaints",
     "complain", "complaining", "useless", "this is ridiculous", "ridiculous", "waste of time",
     "wasting my time", "fed up", "annoyed", "annoying", "angry", "pissed off", "terrible service",
     "horrible service", "lousy", "rubbish", "nonsense", "stupid", "not helpful", "unhelpful",
     "disappointed", "sick of this", "sick and tired", "i give up", "wtf", "what the hell",
     "are you even listening", "walao", "wah lau", "wa lau", "buay tahan", "jialat", "siao",
     "what lah", "投诉", "太差", "没用", "烦死", "生气", "垃圾", "tak puas hati", "marah", "teruk",
     "aduan", "tak guna", "bodoh"),
    exclusions=("stupid question", "silly question"),
)
_QUESTION_BURST = re.compile(r"\?{3,}|(?:\?!|!\?){2,}")
_WORDS = re.compile(r"[^\W\d_]{2,}")
_ACRONYMS = frozenset((  # capitals that are names, not shouting
    "HDB", "EC", "BTO", "CPF", "OA", "SA", "MA", "RA", "ABSD", "BSD", "SSD", "TDSR", "MSR", "LTV", "OTP",
    "MOP", "SORA", "SIBOR", "SOR", "IRAS", "MAS", "DBS", "OCBC", "UOB", "HSBC", "SCB", "CIMB", "RHB",
    "PR", "SC", "SG", "SGD", "ASAP", "OK", "HR", "TOP", "CSC", "NOA", "IWAA", "BRS", "FRS", "ERS", "HLE",
    "HFE", "IPA", "EP", "LTVP", "AIP", "MRT", "COV", "PPS", "SMS", "ID", "NRIC", "FIN"))
SHOUT_MIN_WORDS = 4
SHOUT_MIN_SHARE = 0.7


def _shouting(text: str) -> str | None:
    words = [w for w in _WORDS.findall(text) if w not in _ACRONYMS]  # acronyms are neither loud nor calm
    loud = [w for w in words if w.isupper()]
    if len(loud) >= SHOUT_MIN_WORDS and len(loud) >= SHOUT_MIN_SHARE * len(words):
        return " ".join(loud)
    return None


def _any(*phrases: str) -> PhraseMatcher:
    return PhraseMatcher(phrases)


_ABSD = _any("absd", "additional buyers stamp duty", "additional buyer stamp duty")
_MOP = _any("mop", "minimum occupation period", "minimum occupancy period")
# Each topic: all of its matchers must match.
_COMPLIANCE: tuple[tuple[str, tuple[PhraseMatcher, ...]], ...] = (
    ("absd_remission_refund", (_ABSD, _any(
        "remission", "remit", "remitted", "refund", "refunded", "refundable", "rebate", "claim back",
        "get back", "waive", "waived", "waiver"))),
    ("trusts_entities", (_any(
        "in trust", "a trust", "the trust", "family trust", "trust deed", "trust fund", "trustee",
        "trustees", "under my company", "under a company", "under the company", "under company name",
        "through my company", "through a company", "via my company", "via a company",
        "buy with my company", "company purchase", "buy as a company", "corporate entity", "entity",
        "pte ltd", "holding company"),)),
    # A foreign buyer's ABSD rate is a plain fact the bot answers (issue #14); what needs a person is a
    # case: whether they may buy at all (landed needs approval), treaty (FTA) treatment, a joint purchase
    # with a local spouse or partner.
    ("foreign_buyer", (_any(
        "foreigner", "foreigners", "foreign buyer", "foreign national", "foreign citizen",
        "non resident", "employment pass", "ep holder", "on ep", "s pass", "work permit",
        "dependant pass", "dependent pass", "student pass", "ltvp", "expat", "expatriate", "外国人",
        "warga asing"), _any(
        "can i buy", "can we buy", "allowed to buy", "am i allowed", "are we allowed", "eligible",
        "eligibility", "landed", "approval", "exempt", "exemption", "fta", "free trade", "treaty",
        "wife", "husband", "spouse", "partner", "joint", "jointly", "together with"))),
    # "Remaining lease" on its own is an ordinary tenure question ("60 years remaining lease, how long can
    # my loan be?"); it is a CPF edge case only when CPF use is in question too. A *short* lease always is.
    ("cpf_edge_case", (_any("cpf", "central provident fund", "ordinary account"),
                       _any("lease left", "remaining lease"))),
    ("cpf_edge_case", (_any(
        "short lease", "lease is short", "lease decay", "lease running out",
        "age 95", "age of 95", "aged 95", "till 95", "until 95", "95 years old",
        "reach 95", "pro rated", "prorated", "pro rata", "pro ration", "proration",
        "basic retirement sum", "brs", "full retirement sum", "frs", "enhanced retirement sum",
        "retirement sum"),)),
    ("refinancing_after_mop", (_MOP, _any(
        "refinance", "refinancing", "refinanced", "refi", "reprice", "repricing", "bank loan",
        "switch loan", "change loan"))),
    ("decoupling", (_any(
        "decouple", "decoupling", "decoupled", "de couple", "remove my name", "take my name off",
        "remove my wifes name", "remove my husbands name", "transfer my share", "transfer my half",
        "transfer of share", "sell my share", "sell my half", "buy over my share", "part share transfer",
        "99 1", "99/1"),)),
)

_NO_PROGRESS = PhraseMatcher(
    ("you didnt answer", "you did not answer", "didnt answer my question", "not answering my question",
     "you are not answering", "youre not answering", "not what i asked", "answer my question",
     "answer the question", "you keep repeating", "you keep saying the same", "same answer",
     "still no answer", "you never answer", "you dont understand", "you do not understand",
     "not my question", "i already asked", "asked you already", "i already told you",
     "你没回答", "没回答我的问题", "答非所问", "tak jawab soalan", "tidak menjawab"),
)
NO_PROGRESS_TURNS = 3
_REPEAT_MIN_CHARS = 8
_REPEAT_SIMILARITY = 0.85
_PUNCT = re.compile(r"[^\w\s]")


@dataclass(frozen=True, slots=True)
class ConversationProgress:
    """How many bot turns in a row made no progress. Immutable: `observe` returns the next value.

    A bot turn made no progress when the bot itself could not answer (`bot_answered=False`, e.g.
    the responder fell back to "let me check"), or the customer's next message repeats their
    previous one (≥ 85 % similar, at least 8 characters) or says so ("you didn't answer",
    "not what I asked"). Any other message resets the count. Call `observe` once per customer
    message (or debounced burst), then pass the result to `detect_handoff`.
    """

    stalled_bot_turns: int = 0
    last_customer_message: str = ""
    last_signal: str = ""

    def observe(self, customer_text: str, *, bot_answered: bool = True) -> ConversationProgress:
        current = _PUNCT.sub("", normalize(customer_text)).strip()
        signal = ""
        if (complaint := _NO_PROGRESS.find(customer_text)) is not None:
            signal = complaint.phrase
        elif (len(current) >= _REPEAT_MIN_CHARS and len(self.last_customer_message) >= _REPEAT_MIN_CHARS
              and SequenceMatcher(None, self.last_customer_message, current).ratio() >= _REPEAT_SIMILARITY):
            signal = "repeated question"
        elif not bot_answered:
            signal = "bot could not answer"
        stalled = self.stalled_bot_turns + 1 if signal else 0
        return ConversationProgress(stalled, current, signal)


def detect_handoff(message_text: str, history: ConversationProgress | None = None) -> HandoffDecision | None:
    """The first handoff trigger in `message_text` (order in the module docstring), or None.

    `history` is the progress *after* observing this message (`progress.observe(message_text)`).
    """
    if (hit := _EXPLICIT.find(message_text)) is not None:
        return HandoffDecision(HandoffReason.EXPLICIT_REQUEST, hit.phrase)
    if (bare := _PUNCT.sub("", normalize(message_text)).strip()) in _ONE_WORD_REQUESTS:
        return HandoffDecision(HandoffReason.EXPLICIT_REQUEST, bare)
    if (hit := _FRUSTRATION.find(message_text)) is not None:
        return HandoffDecision(HandoffReason.FRUSTRATION, hit.phrase)
    if (burst := _QUESTION_BURST.search(normalize(message_text))) is not None:
        return HandoffDecision(HandoffReason.FRUSTRATION, burst.group(), "question marks")
    if (loud := _shouting(message_text)) is not None:
        return HandoffDecision(HandoffReason.FRUSTRATION, loud, "shouting")
    for topic, matchers in _COMPLIANCE:
        hits = [m.find(message_text) for m in matchers]
        if all(hits):
            return HandoffDecision(HandoffReason.COMPLIANCE, " + ".join(h.phrase for h in hits if h), topic)
    if history is not None and history.stalled_bot_turns >= NO_PROGRESS_TURNS:
        return HandoffDecision(HandoffReason.NO_PROGRESS, history.last_signal,
                               f"{history.stalled_bot_turns} bot turns without progress")
    return None
