"""Print the two README transcripts by running the code: `python -m tests.eval.transcripts`.

1. offline: the lead form, the greeting, then the OfflineResponder answering each customer turn (the
   facts from the form and earlier turns are remembered, a correction overrides them);
2. tool path: OpenAICompatResponder over the fake OpenAI server; the fake "model" is scripted to call
   a calculator with the remembered facts, and the transcript shows the real tool result it got back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aibroker.adapters.llm import OfflineResponder
from aibroker.domain.conversation import ChatMessage, Role
from aibroker.domain.customer_facts import describe
from aibroker.domain.greetings import greeting_for
from aibroker.domain.leads import LeadForm
from aibroker.domain.personas import PERSONAS_BY_NAME
from aibroker.domain.ports import ReplyContext
from tests.adapters.llm.support import NOW, llm, message
from tests.fakes.fake_openai import FakeOpenAI

LEAD = {"name": "Tan Wei Ming", "email": "wm@example.com", "loanType": "new_purchase", "propertyType": "Private",
        "actualIncomes": [6000, 5000], "actualAges": [35, 33]}
PERSONA = PERSONAS_BY_NAME["Sarah Wong"]
TURNS = ("How much can we borrow for a $1.2m condo?",
         "actually it's 1.3m, and I pay $600 a month on a car loan",
         "and the stamp duty? we're Singaporeans, it's our first home",
         "if we have to sell it 18 months after we buy, how much SSD?")


def _say(who: str, text: str) -> None:
    print(f"**{who}:** {text}\n")


def offline() -> None:
    form = LeadForm.model_validate(LEAD)
    print("Lead form: " + json.dumps({k: v for k, v in LEAD.items() if k != "email"}) + "\n")
    _say(PERSONA.name, greeting_for(PERSONA, form.address_name, form.loan_type, form.property_type))
    responder = OfflineResponder()
    history: list[ChatMessage] = []
    for turn in TURNS:
        ctx = ReplyContext(PERSONA, form.address_name, form, list(history), [message(Role.CUSTOMER, turn)], NOW)
        reply = responder.answer(ctx)
        _say("Customer", turn)
        _say(f"{PERSONA.name} (offline)", reply.text)
        history += [*ctx.new_messages, message(Role.BOT, reply.text)]


async def tool_path() -> None:
    form = LeadForm.model_validate(LEAD)
    turns = ("we're looking at a condo, 1.3 mil", "I'm 35 earning 6k, my wife 33 earning 5k, how much can we borrow?")
    history = [message(Role.CUSTOMER, turns[0]), message(Role.BOT, "Lovely. Shall we look at how much you can "
                                                                    "borrow?")]
    ctx = ReplyContext(PERSONA, form.address_name, None, history, [message(Role.CUSTOMER, turns[1])], NOW)
    call: tuple[str, dict[str, Any]] = (
        "max_loan", {"price": 1_300_000, "property_type": "Private", "loan_kind": "bank", "ages": [35, 33],
                     "monthly_incomes": [6000, 5000]})
    with FakeOpenAI.running() as fake:
        fake.push_tool_calls(call)
        fake.push_text("You could borrow up to about S$975,000 on the S$1,300,000 condo, over 30 years at your "
                       "combined S$11,000 a month; the 75% LTV limit is what binds (MAS, OTP on/after 6 Jul "
                       "2018). Indicative only; final loan amount subject to bank/HDB assessment. Shall we "
                       "look at the stamp duty next?")
        responder = llm(fake.base_url, safe=False)
        try:
            reply = await responder.generate(ctx)
        finally:
            await responder.aclose()
        system = fake.requests[0]["messages"][0]["content"]
        tool = next(m for m in fake.requests[-1]["messages"] if m["role"] == "tool")
    for i, turn in enumerate(turns):
        _say("Customer", turn)
        if i == 0:
            _say(PERSONA.name, history[1].content)
    known = "; ".join(describe(ctx.known_facts()))
    print(f"System prompt, facts section: `{known}`" + (" (present)\n" if "What we know so far" in system else "\n"))
    print(f"Model → tool call: `{call[0]}({json.dumps(call[1])})`\n")
    result = json.loads(tool["content"])
    keep = ("max_loan", "binding_constraint", "tenure_years", "ltv_cap", "tdsr_cap", "stress_rate_pct")
    print(f"Tool result (excerpt): `{json.dumps({k: result[k] for k in keep})}`\n")
    _say(f"{PERSONA.name} (LLM, guard passed)", reply.text)


if __name__ == "__main__":
    print("### Offline responder\n")
    offline()
    print("### Tool path (fake OpenAI server, scripted tool call)\n")
    asyncio.run(tool_path())
