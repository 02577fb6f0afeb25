"""What a broker says first: the greeting, the "joined" activity, suggested questions, and the
honest message when no broker is free.

Each persona greets in the tone of FACTS §P (Michelle: confident, strategic; Jasmine:
sophisticated, exclusive; Rachel: modern, approachable; Sarah: warm, family-focused; Grace:
patient, reassuring). Greetings never contain numbers, bank names or interest rates: nothing
is known yet that could back a figure (FACTS §A.11: figures come from tools, never from a
greeting). A persona outside the table falls back to its type's wording.
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


def _clean_name(first_name: str | None) -> str:
    # The name comes from a web form: keep the first word, short, without markup characters.
    words = _TAG.sub("", first_name or "").split()
    word = words[0] if words else ""
    return "".join(ch for ch in word if ch.isalpha() or ch in "-'.")[:40]


def greeting_for(persona: Persona, lead_first_name: str | None, loan_type: LoanType | str | None,
                 property_type: PropertyType | str | None) -> str:
    """The first message `persona` sends to a new lead, in the persona's own voice."""
    name = _clean_name(lead_first_name)
    template = _BY_NAME.get(persona.name, _BY_TYPE[persona.persona_type])
    return template.format(hi=f" {name}" if name else "", to=f", {name}" if name else "",
                           topic=_topic(loan_type, property_type), persona=persona.name)


def joined_activity(persona: Persona) -> str:
    """The activity line shown when the broker enters the chat."""
    return f"{persona.name} joined the conversation"


def conversation_starters(persona_type: PersonaType) -> list[str]:
    """Three or four questions a customer might tap to start, suited to the persona type."""
    return list(_STARTERS[persona_type])


def waiting_greeting(first_name: str | None) -> str:
    """Sent when every broker is at capacity: honest, and no promised waiting time."""
    name = _clean_name(first_name)
    hi = f"Hi {name}" if name else "Hi"
    return (f"{hi}, thank you for reaching out. All our specialists are busy with other customers right "
            "now, and you're next in line. Feel free to share your questions here in the meantime; the "
            "first specialist who is free will pick them up and reply.")
