"""Streaming over SSE from the fake server: raw chunks, tool calls inside a stream, and the guarded stream."""

from __future__ import annotations

from aibroker.adapters.llm import GuardOutcome, ReplyMetrics
from tests.adapters.llm.support import context, llm
from tests.fakes.fake_openai import FakeOpenAI


async def test_stream_yields_chunks_as_they_arrive(fake_openai: FakeOpenAI) -> None:
    text = "Hi Alex! I can help with stamp duties, loans and CPF. What would you like to start with?"
    fake_openai.push_text(text)
    chunks = [c async for c in llm(fake_openai.base_url).stream(context("hi"))]

    assert len(chunks) > 5
    assert "".join(chunks) == text
    request = fake_openai.requests[0]
    assert request["stream"] is True


async def test_stream_runs_tool_calls_between_rounds(fake_openai: FakeOpenAI) -> None:
    fake_openai.push_tool_calls(("buyer_stamp_duty", {"price": 1_200_000}), ("msr_check", {"monthly_income": 6000}))
    fake_openai.push_text("BSD is S$32,600.")
    chunks = [c async for c in llm(fake_openai.base_url).stream(context("BSD on 1.2m and my MSR on 6k?"))]

    assert "".join(chunks) == "BSD is S$32,600."
    tools = [m for m in fake_openai.requests[1]["messages"] if m["role"] == "tool"]
    assert len(tools) == 2 and '"amount": "32600"' in tools[0]["content"]
    calls = fake_openai.requests[1]["messages"][-3]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["buyer_stamp_duty", "msr_check"]
    assert calls[0]["function"]["arguments"] == '{"price": 1200000}'  # reassembled from 8-char pieces


async def test_stream_guarded_yields_an_approved_answer_only(fake_openai: FakeOpenAI) -> None:
    metrics = ReplyMetrics()
    fake_openai.push_tool_calls(("buyer_stamp_duty", {"price": 1_200_000}))
    fake_openai.push_text("BSD is S$32,600, payable within 14 days of signing.")
    chunks = [c async for c in llm(fake_openai.base_url, metrics=metrics).stream_guarded(context("BSD on 1.2m?"))]

    assert len(chunks) == 1
    assert chunks[0].startswith("BSD is S$32,600") and "Indicative only" in chunks[0]
    assert metrics.guard == {GuardOutcome.PASSED: 1}


async def test_stream_guarded_never_lets_an_unsupported_figure_out(fake_openai: FakeOpenAI) -> None:
    metrics = ReplyMetrics()
    fake_openai.push_text("OCBC has a 1.98% package this week.")  # streamed, then rejected by the guard
    fake_openai.push_text("I can't quote live bank rates here; a specialist can compare current packages.")
    chunks = [c async for c in llm(fake_openai.base_url, metrics=metrics).stream_guarded(context("best rate?"))]

    assert chunks == ["I can't quote live bank rates here; a specialist can compare current packages."]
    assert fake_openai.requests[0]["stream"] is True and "stream" not in fake_openai.requests[1]
    assert metrics.guard == {GuardOutcome.REGENERATED: 1}
