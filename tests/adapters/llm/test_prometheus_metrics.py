"""The process-local Prometheus metrics observed where they happen: LLM calls (over real HTTP to the fake
OpenAI-compatible server, which reports usage) and the reply service's human-like waits."""

from __future__ import annotations

from prometheus_client import REGISTRY

from aibroker.adapters.llm import ReplyMetrics
from aibroker.adapters.metrics.prometheus import paced
from tests.adapters.llm.support import context, llm
from tests.fakes.fake_openai import FakeOpenAI


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_llm_calls_record_their_latency_and_tokens(fake_openai: FakeOpenAI) -> None:
    calls, prompt = _sample("aibroker_llm_request_duration_seconds_count"), _sample("aibroker_llm_tokens_total",
                                                                                   kind="prompt")
    fake_openai.push_text("Happy to help: what price range are you looking at?")
    await llm(fake_openai.base_url, metrics=ReplyMetrics()).generate(context("hi"))
    assert _sample("aibroker_llm_request_duration_seconds_count") == calls + 1
    assert _sample("aibroker_llm_tokens_total", kind="prompt") == prompt + 10  # the fake's reported usage


async def test_each_pacing_wait_is_observed_and_still_waited() -> None:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    before = _sample("aibroker_pacing_delay_seconds_count")
    await paced(sleep)(1.5)
    assert waited == [1.5]
    assert _sample("aibroker_pacing_delay_seconds_count") == before + 1
    assert _sample("aibroker_pacing_delay_seconds_bucket", le="1.5") >= 1
