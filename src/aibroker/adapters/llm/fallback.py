"""`FallbackResponder`: the LLM when it answers, the offline responder when it cannot; never no reply.

The primary's client has already retried (429/5xx/timeouts, `max_retries`), so an exception here
means this turn cannot be answered by the LLM: the fallback answers it instead and the reason is
counted. Anything else unexpected (a bug in the tool loop, a malformed response) also falls back,
logged with its traceback, because a missing reply costs more than an offline one.

Streaming: if the primary fails before its first chunk, the fallback's stream replaces it cleanly.
If it fails mid-stream, the chunks already yielded cannot be recalled, so the fallback's answer
follows after a blank line; use `stream_guarded` (buffered) for anything a customer will see.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator

from aibroker.adapters.llm.metrics import FallbackReason, ReplyMetrics
from aibroker.domain.ports import Reply, ReplyContext, ReplyGenerator

log = logging.getLogger(__name__)


def fallback_reason(error: BaseException) -> str:
    """Map an exception from the primary to a `FallbackReason` (order matters: subclasses first)."""
    # `openai` is imported only where an LLM is configured (its import costs a worker ~0.6 s of CPU at start-up);
    # when it is not loaded, no exception can come from it.
    openai = sys.modules.get("openai")
    if openai is None:
        return FallbackReason.UNEXPECTED
    if isinstance(error, openai.APITimeoutError):
        return FallbackReason.TIMEOUT
    if isinstance(error, openai.APIConnectionError):
        return FallbackReason.CONNECTION
    if isinstance(error, openai.RateLimitError):
        return FallbackReason.RATE_LIMIT
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return FallbackReason.SERVER_ERROR
    if isinstance(error, openai.OpenAIError):
        return FallbackReason.API_ERROR
    return FallbackReason.UNEXPECTED


class FallbackResponder:
    """ReplyGenerator: `primary` (the LLM), or `fallback` (offline) when the primary raises."""

    def __init__(self, primary: ReplyGenerator, fallback: ReplyGenerator,
                 metrics: ReplyMetrics | None = None) -> None:
        self.primary = primary
        self.fallback = fallback
        self.metrics = metrics or ReplyMetrics()

    def _failed(self, error: Exception) -> None:
        reason = fallback_reason(error)
        if reason == FallbackReason.UNEXPECTED:
            log.exception("reply generator failed unexpectedly; answering offline")
        else:
            log.warning("LLM unavailable (%s: %s); answering offline", reason, error)
        self.metrics.record_fallback(reason)

    async def generate(self, context: ReplyContext) -> Reply:
        try:
            reply = await self.primary.generate(context)
        except Exception as error:  # see the module docstring: every failure falls back
            self._failed(error)
            reply = await self.fallback.generate(context)
        self.metrics.record_reply(reply.source)
        return reply

    async def stream(self, context: ReplyContext) -> AsyncIterator[str]:
        started = False
        try:
            async for chunk in self.primary.stream(context):
                started = True
                yield chunk
            self.metrics.record_reply("llm")
            return
        except Exception as error:
            self._failed(error)
        if started:
            yield "\n\n"
        async for chunk in self.fallback.stream(context):
            yield chunk
        self.metrics.record_reply("offline")

    async def stream_guarded(self, context: ReplyContext) -> AsyncIterator[str]:
        """The primary's guarded stream (buffered, so a failure falls back cleanly) or the fallback's."""
        guarded = getattr(self.primary, "stream_guarded", None)
        source = self.primary.stream if guarded is None else guarded
        try:
            chunks = [chunk async for chunk in source(context)]
        except Exception as error:
            self._failed(error)
            reply = await self.fallback.generate(context)
            self.metrics.record_reply(reply.source)
            yield reply.text
            return
        self.metrics.record_reply("llm")
        for chunk in chunks:
            yield chunk


class MeteredResponder:
    """Counts replies by source for a responder used on its own (no LLM configured)."""

    def __init__(self, inner: ReplyGenerator, metrics: ReplyMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def generate(self, context: ReplyContext) -> Reply:
        reply = await self.inner.generate(context)
        self.metrics.record_reply(reply.source)
        return reply

    async def stream(self, context: ReplyContext) -> AsyncIterator[str]:
        async for chunk in self.inner.stream(context):
            yield chunk
        self.metrics.record_reply("offline")
