"""What a broker says first: the greeting, the "joined" activity, suggested questions, and the
honest message when no broker is free.

Each persona greets in the tone of FACTS §P (Michelle: confident, strategic; Jasmine:
sophisticated, exclusive; Rachel: modern, approachable; Sarah: warm, family-focused; Grace:
patient, reassuring). Greetings never contain numbers, bank names or interest rates: nothing
is known yet that could back a figure (FACTS §A.11: figures come from tools, never from a
greeting). A persona outside the table falls back to its type's wording.

Issue #14: the greeting says plainly that the persona is an AI assistant working with human
specialists (`DISCLOSE_AI`, default on); it and the starters fit the lead's loan type (a refinance
lead is not asked who they are buying with); the customer is addressed by the name as they wrote it,
never by one word of it that may be the surname ("Tan Wei Ming" stays "Tan Wei Ming").
"""

from __future__ import annotations

import re

from aibroker.domain.leads import LoanType, PropertyType
from aibroker.domain.personas import Persona, PersonaType

_PURCHASE_NOUN: dict[PropertyType | None, str] = {
    PropertyType.HDB: "HDB flat", PropertyType.EC: "executive condo",
    PropertyType.PRIVATE: "private property", PropertyType.LANDED: "landed home",
    PropertyType.COMMERCIAL: "commercial property", None: "new home",
}
_LOAN_NOUN: dict[PropertyType | None, str] = {
    PropertyType.HDB: "HDB home loan", PropertyType.EC: "executive condo loan",
    PropertyType.PRIVATE: "private property loan", PropertyType.LANDED: "landed home loan",
    PropertyType.COMMERCIAL: "commercial property loan", None: "home loan",
}

# {hi} is " Jane" or "", {to} is ", Jane" or "", {topic} a noun phrase such as "your HDB flat purchase".
_BY_NAME: dict[str, str] = {
    "Michelle Chen": (
        "Hi{hi}, Michelle Chen here, Investment Property Specialist. I've gone through what you shared "
        "about {topic}. Let's treat it as a strategic move, not just a loan: tell me what matters most "
        "right now, keeping the monthly instalment lean, room to grow your portfolio, or closing quickly, "
        "and I'll lay out the options that fit."),
    "Jasmine Lee": (
        "Good to meet you{to}. I'm Jasmine Lee, and I personally look after clients' premium and luxury "
        "property financing. For {topic}, everything stays discreet and tailored to you. Shall we start "
        "with your timing, so I can shape the options around your plans?"),
    "Rachel Tan": (
        "Hey{hi}! I'm Rachel, your mortgage specialist. I'll keep this quick and clear: tell me a little "
        "about {topic} and I'll break your options into simple steps you can compare right here in the "
        "chat, with an eye on where you want to be a few years from now."),
    "Sarah Wong": (
        "Hi{hi}, I'm Sarah Wong. Thank you for reaching out about {topic}. A home is a big decision for "
        "the whole family, so we'll go through it together at your pace. Who will be buying with you, and "
        "what would make the monthly commitment feel comfortable for your household?"),
    "Grace Lim": (
        "Hello{hi}, I'm Grace Lim, and welcome! Whether this is your first home or you're just starting to "
        "look around, you're in the right place. We'll take {topic} one step at a time, and no question is "
        "too basic. What would you like to understand first?"),
}
# Sarah and Grace speak of buying; refinancing and commercial leads get their own question.
_BY_NAME_AND_LOAN: dict[tuple[str, LoanType], str] = {
    ("Sarah Wong", LoanType.REFINANCE): (
        "Hi{hi}, I'm Sarah Wong. Thank you for reaching out about {topic}. Your home loan is a big part of "
        "the family budget, so we'll go through it together at your pace. When does your current lock-in "
        "end, and what would make the monthly commitment feel more comfortable for your household?"),
    ("Sarah Wong", LoanType.COMMERCIAL): (
        "Hi{hi}, I'm Sarah Wong. Thank you for reaching out about {topic}. We'll go through it together at "
        "your pace. Will the property be for your own business or an investment?"),
    ("Grace Lim", LoanType.REFINANCE): (
        "Hello{hi}, I'm Grace Lim, and welcome! Refinancing can look complicated, but we'll take {topic} one "
        "step at a time, and no question is too basic. What would you like to understand first?"),
    ("Grace Lim", LoanType.COMMERCIAL): (
        "Hello{hi}, I'm Grace Lim, and welcome! We'll take {topic} one step at a time, and no question is "
        "too basic. What would you like to understand first?"),
}
AI_DISCLOSURE = ("I'm an AI assistant working alongside our human mortgage specialists, and you can ask for "
                 "one of them at any time.")
_FIRST_SENTENCE = re.compile(r"(?<=[.!?])\s+")

_BY_TYPE: dict[PersonaType, str] = {
    PersonaType.AGGRESSIVE: (
        "Hi{hi}, {persona} here. I've read what you shared about {topic}, and I'm ready to move when you "
        "are. What's the one outcome that matters most to you?"),
    PersonaType.BALANCED: (
        "Hi{hi}, I'm {persona}. Thanks for reaching out about {topic}. Tell me a bit about your plans and "
        "I'll walk you through the options clearly."),
    PersonaType.CONSERVATIVE: (
        "Hello{hi}, I'm {persona}, and welcome. We'll go through {topic} step by step, at your pace. "
        "What would you like to know first?"),
}

_STARTERS_BY_LOAN: dict[LoanType, tuple[str, ...]] = {
    LoanType.REFINANCE: (
        "How much could I save by refinancing?",
        "When should I start before my lock-in ends?",
        "What would my new monthly instalment be?",
        "Can I use my CPF for the new loan?",
    ),
    LoanType.COMMERCIAL: (
        "How much can I borrow for a commercial property?",
        "Which stamp duties apply to a commercial purchase?",
        "How much cash do I need upfront?",
    ),
}
_STARTERS: dict[PersonaType, tuple[str, ...]] = {
    PersonaType.AGGRESSIVE: (
        "How much can I borrow for an investment property?",
        "Can I keep my current home and buy another one?",
        "Should I pick a fixed or a floating package?",
        "How quickly can I get an in-principle approval?",
    ),
    PersonaType.BALANCED: (
        "How much can I borrow with my income?",
        "HDB loan or bank loan: which suits me better?",
        "How much cash and CPF do I need upfront?",
        "Is it a good time for me to refinance?",
    ),
    PersonaType.CONSERVATIVE: (
        "I'm a first-time buyer. Where do I start?",
        "How does using my CPF for a home work?",
        "What do TDSR and MSR mean, in simple terms?",
        "Which costs should I expect besides the down payment?",
    ),
}


def _topic(loan_type: LoanType | str | None, property_type: PropertyType | str | None) -> str:
    loan = LoanType(loan_type) if loan_type else LoanType.NEW_PURCHASE
    ptype = _property_type(property_type)
    if loan is LoanType.REFINANCE:
        return f"refinancing your {_LOAN_NOUN[ptype]}"
    if loan is LoanType.COMMERCIAL:
        return "financing your commercial property"
    return f"your {_PURCHASE_NOUN[ptype]} purchase"


def _property_type(value: PropertyType | str | None) -> PropertyType | None:
    if value is None or isinstance(value, PropertyType):
        return value
    for member in PropertyType:  # the form may send any case, as LeadForm accepts
        if member.value.lower() == value.strip().lower():
            return member
    return None


_TAG = re.compile(r"<[^>]*>")


def _clean_name(name: str | None) -> str:
    # The name comes from a web form: as the customer wrote it (first words, short), without markup.
    words = ["".join(ch for ch in word if ch.isalpha() or ch in "-'.") for word in _TAG.sub("", name or "").split()]
    return " ".join(w for w in words if w)[:40].strip()


def greeting_for(persona: Persona, lead_name: str | None, loan_type: LoanType | str | None,
                 property_type: PropertyType | str | None, *, disclose_ai: bool = True) -> str:
    """The first message `persona` sends to a new lead, in the persona's own voice."""
    name = _clean_name(lead_name)
    loan = LoanType(loan_type) if loan_type else LoanType.NEW_PURCHASE
    template = _BY_NAME_AND_LOAN.get((persona.name, loan)) or _BY_NAME.get(persona.name,
                                                                          _BY_TYPE[persona.persona_type])
    text = template.format(hi=f" {name}" if name else "", to=f", {name}" if name else "",
                           topic=_topic(loan_type, property_type), persona=persona.name)
    if not disclose_ai:
        return text
    # Right after the persona introduces themselves: who they are, then what they are.
    sentences = _FIRST_SENTENCE.split(text)
    at = next((i + 1 for i, sentence in enumerate(sentences) if persona.first_name in sentence), 1)
    return " ".join([*sentences[:at], AI_DISCLOSURE, *sentences[at:]])


def joined_activity(persona: Persona) -> str:
    """The activity line shown when the broker enters the chat."""
    return f"{persona.name} joined the conversation"


def conversation_starters(persona_type: PersonaType, loan_type: LoanType | str | None = None) -> list[str]:
    """Three or four questions a customer might tap to start, suited to the loan type, else the persona type."""
    loan = LoanType(loan_type) if loan_type else LoanType.NEW_PURCHASE
    return list(_STARTERS_BY_LOAN.get(loan, _STARTERS[persona_type]))


def waiting_greeting(name: str | None, *, disclose_ai: bool = True) -> str:
    """Sent when every broker is at capacity: honest, and no promised waiting time."""
    name = _clean_name(name)
    hi = f"Hi {name}" if name else "Hi"
    ai = " This is our AI assistant speaking." if disclose_ai else ""
    return (f"{hi}, thank you for reaching out.{ai} All our specialists are busy with other customers right "
            "now, and you're next in line. Feel free to share your questions here in the meantime; the "
            "first specialist who is free will pick them up and reply.")
