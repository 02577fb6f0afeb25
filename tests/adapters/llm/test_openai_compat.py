"""OpenAICompatResponder against the fake OpenAI server over real HTTP: tool loop, handoff, guard."""

from __future__ import annotations

import json

from aibroker.adapters.llm import GuardOutcome, ReplyMetrics
from aibroker.adapters.llm.guard import extract_figures
from aibroker.adapters.llm.openai_compat import HANDOFF_TEXT, SAFE_TEXT
from aibroker.domain.mortgage import DISCLAIMER
from tests.adapters.llm.support import context, llm
from tests.fakes.fake_openai import FakeOpenAI


def tool_messages(request: dict) -> list[dict]:
    return [m for m in request["messages"] if m["role"] == "tool"]


async def test_tool_loop_runs_the_calculator_and_the_reply_quotes_its_result(fake_openai: FakeOpenAI) -> None:
    fake_openai.push_tool_calls(("buyer_stamp_duty", {"price": 1_200_000}))
    fake_openai.push_text("Buyer's Stamp Duty on S$1,200,000 is S$32,600 (from 15 Feb 2023).")
    responder = llm(fake_openai.base_url)

    reply = await responder.generate(context("What's the BSD on a $1.2m condo?"))

    assert reply.source == "llm"
    assert "S$32,600" in reply.text
    assert reply.text.endswith(f"({DISCLAIMER})")  # A.11 note added because the model left it out
    assert "bsd_residential" in reply.facts_used
    first, second = fake_openai.requests
    assert first["model"] == "gpt-4o-mini"
    assert {t["function"]["name"] for t in first["tools"]} >= {"buyer_stamp_duty", "max_loan", "handoff_to_human"}
    assert first["messages"][0]["role"] == "system" and "Rachel Tan" in first["messages"][0]["content"]
    [tool] = tool_messages(second)
    assert json.loads(tool["content"])["amount"] == "32600"
    assistant = second["messages"][-2]
    assert assistant["tool_calls"][0]["id"] == tool["tool_call_id"]
    assert fake_openai.headers[0]["authorization"] == "Bearer sk-test"


async def test_every_figure_in_the_final_reply_comes_from_a_tool_result(fake_openai: FakeOpenAI) -> None:
    fake_openai.push_tool_calls(("max_loan", {"price": 800_000, "property_type": "Private", "ages": [35],
                                              "monthly_incomes": [10_000]}),
                                ("buyer_stamp_duty", {"price": 800_000}))
    fake_openai.push_text("You could borrow up to about S$600,000 (75% LTV), and BSD is S$18,600. "
                          "Indicative only; final loan amount subject to bank/HDB assessment.")
    reply = await llm(fake_openai.base_url).generate(context("How much can I borrow for an 800k condo? 10k pm, 35"))

    tool_text = " ".join(m["content"] for m in tool_messages(fake_openai.requests[1]))
    for figure in extract_figures(reply.text):
        assert str(int(figure.value)) in tool_text.replace(".00", "")
    assert reply.text.count("Indicative only") == 1  # not added twice


async def test_invalid_tool_arguments_go_back_to_the_model_as_an_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.push_tool_calls(("buyer_stamp_duty", {"price": -5}))
    fake_openai.push_tool_calls(("buyer_stamp_duty", '{"price": 1200000'))  # truncated JSON
    fake_openai.push_tool_calls(("buyer_stamp_duty", {"price": 1_200_000}))
    fake_openai.push_text("It's S$32,600.")
    reply = await llm(fake_openai.base_url).generate(context("BSD on 1.2m?"))

    errors = [json.loads(tool_messages(r)[-1]["content"]) for r in fake_openai.requests[1:3]]
    assert "greater than 0" in errors[0]["error"]
    assert "not valid JSON" in errors[1]["error"]
    assert "S$32,600" in reply.text


async def test_tool_rounds_are_bounded_then_the_model_must_answer(fake_openai: FakeOpenAI) -> None:
    for _ in range(2):
        fake_openai.push_tool_calls(("lookup_facts", {"query": "TDSR"}))
    fake_openai.push_text("TDSR is 55% of gross monthly income, for OTP on/after 16 Dec 2021.")
    reply = await llm(fake_openai.base_url, max_tool_rounds=2).generate(context("what's TDSR?"))

    assert [r["tool_choice"] for r in fake_openai.requests] == ["auto", "auto", "none"]
    assert "55%" in reply.text


async def test_handoff_tool_becomes_reply_handoff(fake_openai: FakeOpenAI) -> None:
    fake_openai.push_tool_calls(("handoff_to_human", {"reason": "decoupling", "detail": "wants to decouple"}))
    fake_openai.push_text("Decoupling needs a specialist's look; a colleague will continue here shortly.")
    reply = await llm(fake_openai.base_url).generate(context("Can my wife and I decouple our condo?"))

    assert reply.handoff is not None
    assert reply.handoff.reason == "compliance"
    assert reply.handoff.detail.startswith("decoupling")
    assert "specialist" in reply.text


async def test_handoff_with_no_text_still_tells_the_customer(fake_openai: FakeOpenAI) -> None:
    fake_openai.push_tool_calls(("handoff_to_human", {"reason": "customer_asked_for_human"}))
    fake_openai.push_text("")
    reply = await llm(fake_openai.base_url).generate(context("get me a person"))
    assert reply.handoff is not None and reply.handoff.reason == "explicit_request"
    assert reply.text == HANDOFF_TEXT


async def test_absd_for_an_entity_hands_off_even_if_the_model_does_not(fake_openai: FakeOpenAI) -> None:
    fake_openai.push_tool_calls(("additional_buyer_stamp_duty",
                                 {"price": 1_000_000, "profile": "entity", "property_count_after_purchase": 1}))
    fake_openai.push_text("ABSD would be S$650,000 at 65%.")
    reply = await llm(fake_openai.base_url).generate(context("ABSD if my company buys at 1m?"))
    assert reply.handoff is not None and reply.handoff.reason == "compliance"


async def test_absd_for_a_foreigner_is_answered(fake_openai: FakeOpenAI) -> None:  # issue #14
    fake_openai.push_tool_calls(("additional_buyer_stamp_duty",
                                 {"price": 1_000_000, "profile": "foreigner", "property_count_after_purchase": 1}))
    fake_openai.push_text("ABSD would be S$600,000 at 60%.")
    reply = await llm(fake_openai.base_url).generate(context("ABSD for me as a foreigner on 1m?"))
    assert reply.handoff is None and "S$600,000" in reply.text


async def test_unsupported_figure_is_regenerated_once_with_a_corrective_note(fake_openai: FakeOpenAI) -> None:
    metrics = ReplyMetrics()
    fake_openai.push_text("DBS is offering 2.15% right now, so your instalment would be about S$2,300.")
    fake_openai.push_text("I can't quote live bank rates; banks assess loans at 4% (OTP on/after 30 Sep 2022).")
    reply = await llm(fake_openai.base_url, metrics=metrics).generate(context("what rate can I get?"))

    assert "2.15%" not in reply.text and "4%" in reply.text
    note = fake_openai.requests[1]["messages"][-1]
    assert note["role"] == "user" and "2.15%" in note["content"] and "S$2,300" in note["content"]
    draft = fake_openai.requests[1]["messages"][-2]
    assert draft["role"] == "assistant" and "2.15%" in draft["content"]
    assert metrics.guard == {GuardOutcome.REGENERATED: 1}


async def test_second_failure_is_replaced_by_the_safe_offline_answer(fake_openai: FakeOpenAI) -> None:
    metrics = ReplyMetrics()
    fake_openai.push_text("BSD is S$31,000.")
    fake_openai.push_text("Sorry, BSD is S$33,000.")
    reply = await llm(fake_openai.base_url, metrics=metrics).generate(context("BSD on a $1.2m condo?"))

    assert reply.source == "offline"
    assert "S$32,600" in reply.text  # the offline responder computes it with the calculator
    assert "31,000" not in reply.text and "33,000" not in reply.text
    assert metrics.guard == {GuardOutcome.REPLACED: 1}


async def test_without_a_safe_responder_the_fixed_safe_text_goes_out(fake_openai: FakeOpenAI) -> None:
    fake_openai.push_text("The rate is 1.99%.")
    fake_openai.push_text("OK, 1.89% then.")
    reply = await llm(fake_openai.base_url, safe=False).generate(context("best rate?"))
    assert reply.text == SAFE_TEXT and reply.source == "safe"


async def test_customer_figures_may_be_echoed(fake_openai: FakeOpenAI) -> None:
    fake_openai.push_text("With your S$8,000 monthly income, I'll need your age next.")
    reply = await llm(fake_openai.base_url).generate(context("I earn 8k a month, how much can I borrow?"))
    assert "S$8,000" in reply.text and len(fake_openai.requests) == 1


async def test_history_and_lead_reach_the_model_without_contact_details(fake_openai: FakeOpenAI) -> None:
    fake_openai.push_text("Hi Alex!")
    lead = {"name": "Alex Tan", "email": "alex@example.com", "phone": "+6591234567", "loanType": "new_purchase",
            "propertyType": "Private", "actualIncomes": [9000], "actualAges": [34]}
    await llm(fake_openai.base_url).generate(
        context("hello again", history=[("customer", "hi"), ("bot", "Hi Alex, how can I help?")], lead=lead))

    messages = fake_openai.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    system = messages[0]["content"]
    assert "S$9,000" in system and "Private" in system
    assert "alex@example.com" not in system and "91234567" not in system


async def test_a_tool_call_missing_an_input_the_customer_gave_uses_the_remembered_one(
        fake_openai: FakeOpenAI) -> None:  # issue #14
    fake_openai.push_tool_calls(("max_loan", {"price": 1_300_000, "property_type": "Private"}))  # no ages, incomes
    fake_openai.push_text("You could borrow up to about S$975,000.")
    history = [("customer", "I'm 35 earning 6k, my wife 33 earning 5k"), ("bot", "Thanks, noted.")]
    reply = await llm(fake_openai.base_url).generate(context("how much can we borrow on a 1.3m condo?",
                                                             history=history))
    tool = next(m for m in fake_openai.requests[-1]["messages"] if m["role"] == "tool")
    assert json.loads(tool["content"])["max_loan"] == "975000"
    assert "S$975,000" in reply.text
