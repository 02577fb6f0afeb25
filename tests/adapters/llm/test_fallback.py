"""When the LLM cannot answer (429, 5xx, timeout, connection), the offline responder does, and it is counted."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from aibroker.adapters.llm import (
    FallbackReason,
    FallbackResponder,
    MeteredResponder,
    OfflineResponder,
    OpenAICompatResponder,
    ReplyMetrics,
    build_responder,
)
from aibroker.config import Settings
from aibroker.domain.ports import Reply, ReplyContext
from tests.adapters.llm.support import context, llm
from tests.fakes.fake_openai import FakeOpenAI


def fallback(base_url: str, metrics: ReplyMetrics, **kwargs: object) -> FallbackResponder:
    return FallbackResponder(llm(base_url, metrics=metrics, **kwargs), OfflineResponder(), metrics)  # type: ignore[arg-type]


async def test_rate_limit_after_the_clients_retries_falls_back(fake_openai: FakeOpenAI) -> None:
    metrics = ReplyMetrics()
    fake_openai.push_error(429, times=2)
    reply = await fallback(fake_openai.base_url, metrics, max_retries=1).generate(context("BSD on 1.2m?"))

    assert len(fake_openai.requests) == 2  # the official client retried once, honouring retry-after-ms
    assert reply.source == "offline" and "S$32,600" in reply.text
    assert metrics.fallbacks == {FallbackReason.RATE_LIMIT: 1}
    assert metrics.by_source == {"offline": 1}


async def test_a_retry_that_succeeds_is_not_a_fallback(fake_openai: FakeOpenAI) -> None:
    metrics = ReplyMetrics()
    fake_openai.push_error(500)
    fake_openai.push_text("Hello Alex! What would you like to look at?")
    reply = await fallback(fake_openai.base_url, metrics, max_retries=1).generate(context("hi"))
    assert reply.source == "llm"
    assert metrics.snapshot()["fallbacks"] == {} and metrics.by_source == {"llm": 1}


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_fall_back(fake_openai: FakeOpenAI, status: int) -> None:
    metrics = ReplyMetrics()
    fake_openai.push_error(status)
    reply = await fallback(fake_openai.base_url, metrics).generate(context("what is TDSR?"))
    assert reply.source == "offline" and "55%" in reply.text
    assert metrics.fallbacks == {FallbackReason.SERVER_ERROR: 1}


async def test_timeout_falls_back(fake_openai: FakeOpenAI) -> None:
    metrics = ReplyMetrics()
    fake_openai.push_text("too late", delay_s=1.5)
    reply = await fallback(fake_openai.base_url, metrics, timeout_s=0.3).generate(context("what is MSR?"))
    assert reply.source == "offline" and "30%" in reply.text
    assert metrics.fallbacks == {FallbackReason.TIMEOUT: 1}


async def test_timeout_during_the_tool_loop_falls_back(fake_openai: FakeOpenAI) -> None:
    metrics = ReplyMetrics()
    fake_openai.push_tool_calls(("buyer_stamp_duty", {"price": 800_000}))
    fake_openai.push_text("too late", delay_s=1.5)
    reply = await fallback(fake_openai.base_url, metrics, timeout_s=0.3).generate(context("BSD on 800k?"))
    assert reply.source == "offline" and "S$18,600" in reply.text
    assert metrics.fallbacks == {FallbackReason.TIMEOUT: 1}


async def test_connection_refused_falls_back() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    metrics = ReplyMetrics()
    reply = await fallback(f"http://127.0.0.1:{port}/v1", metrics).generate(context("hello"))
    assert reply.source == "offline" and reply.text
    assert metrics.fallbacks == {FallbackReason.CONNECTION: 1}


async def test_other_api_errors_fall_back_too(fake_openai: FakeOpenAI) -> None:
    metrics = ReplyMetrics()  # nothing scripted: the fake answers 418, a non-retried client error
    reply = await fallback(fake_openai.base_url, metrics).generate(context("hello"))
    assert reply.source == "offline"
    assert metrics.fallbacks == {FallbackReason.API_ERROR: 1}
    fake_openai.unscripted = 0


class Broken:
    """A ReplyGenerator whose bug must not cost the customer a reply."""

    async def generate(self, context: ReplyContext) -> Reply:
        raise RuntimeError("bug")

    async def stream(self, context: ReplyContext) -> AsyncIterator[str]:
        yield "partial "
        raise RuntimeError("bug")


async def test_unexpected_errors_fall_back_and_are_counted() -> None:
    metrics = ReplyMetrics()
    responder = FallbackResponder(Broken(), OfflineResponder(), metrics)
    reply = await responder.generate(context("hi"))
    assert reply.source == "offline" and reply.text
    assert metrics.fallbacks == {FallbackReason.UNEXPECTED: 1}


async def test_a_stream_that_breaks_midway_is_completed_by_the_fallback() -> None:
    metrics = ReplyMetrics()
    chunks = [c async for c in FallbackResponder(Broken(), OfflineResponder(), metrics).stream(context("hi"))]
    assert chunks[0] == "partial " and chunks[1] == "\n\n" and "Rachel" in chunks[2]
    assert metrics.fallbacks == {FallbackReason.UNEXPECTED: 1} and metrics.by_source == {"offline": 1}


async def test_stream_guarded_falls_back_cleanly(fake_openai: FakeOpenAI) -> None:
    metrics = ReplyMetrics()
    fake_openai.push_error(503)
    chunks = [c async for c in fallback(fake_openai.base_url, metrics).stream_guarded(context("what is TDSR?"))]
    assert len(chunks) == 1 and "55%" in chunks[0]
    assert metrics.fallbacks == {FallbackReason.SERVER_ERROR: 1}


def test_build_responder_picks_by_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    offline_only = build_responder(Settings(_env_file=None))
    assert isinstance(offline_only, MeteredResponder)
    configured = build_responder(Settings(_env_file=None, OPENAI_BASE_URL="http://127.0.0.1:9/v1",
                                          OPENAI_MODEL="llama3"))
    assert isinstance(configured, FallbackResponder)
    assert isinstance(configured.primary, OpenAICompatResponder) and configured.primary.model == "llama3"
    assert isinstance(configured.fallback, OfflineResponder)
