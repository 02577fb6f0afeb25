"""The system prompt (persona, lead, Singapore context, FACTS A.11 rules) and the trimmed history.

History budget: tokens are approximated as ceil(chars / 4), the usual rule of thumb for English with
OpenAI tokenizers; close enough for a budget and needs no tokenizer download. The system prompt and
the new customer messages are always sent; earlier messages are added newest first until the budget
is spent, so the oldest go first.

Fresh start after a resolved conversation reopens: only the messages after the last resolved/reopened
marker are sent (`aibroker.domain.memory.current_episode`), the same episode the customer's facts are
folded from. Those facts go in the system prompt, so the model neither asks for them again nor
misses a correction.

The lead's e-mail and phone are never sent to the model: it needs none of them to answer.
"""

from __future__ import annotations

import math
from typing import Any

from aibroker.domain.conversation import ChatMessage, Role
from aibroker.domain.customer_facts import describe
from aibroker.domain.leads import LeadForm
from aibroker.domain.memory import RESTART_MARKER as RESTART_MARKER  # re-exported for callers
from aibroker.domain.memory import current_episode
from aibroker.domain.personas import Persona, PersonaType
from aibroker.domain.ports import ReplyContext

DEFAULT_HISTORY_BUDGET_TOKENS = 3000
MAX_MESSAGE_CHARS = 2000  # one pasted essay must not crowd out the rest of the conversation

_STYLE = {
    PersonaType.AGGRESSIVE: "Be direct and efficient: lead with the answer, then one clear next step.",
    PersonaType.BALANCED: "Explain briefly in plain words, then guide to the next step.",
    PersonaType.CONSERVATIVE: "Be patient and reassuring: one idea at a time, explain every acronym, "
                              "no pressure.",
}

RULES = """Rules you must always follow:
1. Never state a percentage or dollar amount unless it appears in a tool result from this turn or
   in the customer's own messages. Use the calculator tools for every number (stamp duties, LTV,
   TDSR, MSR, stress rate, instalments, tenure, maximum loan, CPF limits) and lookup_facts for
   rules; never do arithmetic yourself and never guess.
2. Whenever you give a figure, say it is indicative only and that the final loan amount is subject
   to bank/HDB assessment.
3. Never quote a bank's current rates or packages, never invent bank names or rates (no dated rate
   feed is available), and never state approval odds or promise approval.
4. Quote rules with their effective date (e.g. "for properties bought on or after 4 Jul 2025").
   When the rules changed recently (ABSD 27 Apr 2023, SSD 4 Jul 2025, HDB loan LTV 20 Aug 2024),
   ask for the option-to-purchase or purchase date before answering.
5. Call handoff_to_human, then tell the customer a human specialist will continue here, when the
   question involves: a trust or a company/entity, ABSD remission or refund, decoupling, CPF edge
   cases (short remaining lease, age-95 pro-ration, retirement sums), refinancing after the MOP, a
   foreign buyer's case (whether they may buy, treaty treatment, buying with a local spouse); or when
   the customer asks for a person or is upset. A plain factual question about any buyer profile
   (a foreigner's ABSD rate, a PR's second property) is answered with the tools, not handed off.
6. Use what the customer already told us (listed above) as tool inputs; never ask for it again.
   If an input is still missing, ask one short question for that input only.
7. Reply like a chat message: the figure first, with the inputs it used and its effective date, in
   at most 3 short sentences (under 90 words), plain text, no tables, no headings, no markdown."""


def approx_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _money(value: float) -> str:
    return f"S${value:,.0f}"


def describe_lead(lead: LeadForm | None) -> str:
    """The lead form in a few lines; only what the bot needs (no e-mail or phone)."""
    if lead is None:
        return "No lead form on file."
    lines = [f"Loan type: {lead.loan_type.value.replace('_', ' ')}"]
    if lead.property_type:
        lines.append(f"Property type: {lead.property_type.value}")
    if lead.property_category:
        lines.append(f"Property category: {lead.property_category.value.replace('_', ' ')}")
    if lead.property_price:
        lines.append(f"Property price: {_money(lead.property_price)}")
    if lead.actual_incomes:
        lines.append("Monthly income per applicant: " + ", ".join(_money(i) for i in lead.actual_incomes))
    if lead.actual_ages:
        lines.append("Ages: " + ", ".join(str(a) for a in lead.actual_ages))
    if lead.employment_type:
        lines.append(f"Employment: {lead.employment_type.value.replace('_', ' ')}")
    if lead.timeline:
        lines.append(f"Timeline: {lead.timeline.value.replace('_', ' ')}")
    if lead.outstanding_loan is not None:
        lines.append(f"Outstanding loan: {_money(lead.outstanding_loan)}")
    if lead.current_rate is not None:
        lines.append(f"Current rate: {lead.current_rate}% p.a.")
    if lead.lock_in_months_left is not None:
        lines.append(f"Lock-in months left: {lead.lock_in_months_left}")
    return "\n".join(lines)


def _known(context: ReplyContext) -> str:
    lines = describe(context.known_facts())
    if not lines:
        return ""
    return ("What we know so far from the form and the chat (the latest correction wins; use these as "
            "tool inputs and never ask for them again):\n" + "\n".join(f"- {line}" for line in lines) + "\n\n")


def system_prompt(context: ReplyContext) -> str:
    p: Persona = context.persona
    return (
        f"You are {p.name}, {p.title} at a Singapore mortgage brokerage, chatting with "
        f"{context.customer_first_name} in the website chat.\n"
        f"Tone: {p.tone}. Pacing: {p.pacing}. Focus: {p.focus}. "
        f"Approach: {p.approach.replace('_', ' ')}. {_STYLE[p.persona_type]}\n"
        f"Today is {context.now:%d %b %Y}. Customers are buying or refinancing homes in Singapore "
        "(HDB flats, ECs, private condos, landed); amounts are in Singapore dollars (S$); loans are bank "
        "loans or HDB concessionary loans; CPF Ordinary Account savings can pay part of the price.\n\n"
        f"What the customer told us in the lead form:\n{describe_lead(context.lead)}\n\n"
        f"{_known(context)}{RULES}"
    )


def to_chat_message(message: ChatMessage) -> dict[str, Any] | None:
    """One inbox message as an OpenAI chat message; None for activity lines and private notes."""
    if message.private or message.role == Role.SYSTEM or not message.content.strip():
        return None
    content = message.content.strip()[:MAX_MESSAGE_CHARS]
    if message.role == Role.CUSTOMER:
        return {"role": "user", "content": content}
    if message.role == Role.HUMAN:  # a colleague wrote this; the model should know it was not itself
        return {"role": "assistant", "content": f"[human colleague] {content}"}
    return {"role": "assistant", "content": content}


def build_messages(context: ReplyContext, *,
                   budget_tokens: int = DEFAULT_HISTORY_BUDGET_TOKENS) -> list[dict[str, Any]]:
    """System prompt + as much recent history as fits the budget + the new customer messages."""
    new_ids = {m.id for m in context.new_messages}
    newest = [c for m in context.new_messages if (c := to_chat_message(m)) is not None]
    system = {"role": "system", "content": system_prompt(context)}
    spent = approx_tokens(system["content"]) + sum(approx_tokens(c["content"]) for c in newest)
    kept: list[dict[str, Any]] = []
    for message in reversed(current_episode([m for m in context.history if m.id not in new_ids])):
        converted = to_chat_message(message)
        if converted is None:
            continue
        cost = approx_tokens(converted["content"])
        if spent + cost > budget_tokens:
            break
        spent += cost
        kept.append(converted)
    kept.reverse()
    return [system, *kept, *newest]
