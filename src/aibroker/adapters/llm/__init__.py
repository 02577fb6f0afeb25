"""Reply generation: an OpenAI-compatible LLM with our calculators as tools, or the offline responder.

Wiring (the composition root calls one function)::

    generator = build_responder(settings, metrics)   # -> ReplyGenerator

- no `OPENAI_API_KEY` / `OPENAI_BASE_URL`: `OfflineResponder` (metered);
- otherwise `FallbackResponder(OpenAICompatResponder, OfflineResponder, metrics)`: the LLM answers,
  the offline responder takes over a turn the LLM cannot answer (timeout, connection, 429/5xx after
  retries) and also supplies the safe answer when a draft fails the figure guard twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aibroker.adapters.llm.fallback import FallbackResponder, MeteredResponder, fallback_reason
from aibroker.adapters.llm.metrics import FallbackReason, GuardOutcome, ReplyMetrics
from aibroker.adapters.llm.offline import OfflineResponder
from aibroker.config import Settings
from aibroker.domain.ports import ReplyGenerator

if TYPE_CHECKING:
    from aibroker.adapters.llm.openai_compat import OpenAICompatResponder


def __getattr__(name: str) -> Any:
    """`OpenAICompatResponder` on first use: it imports the `openai` package (~0.6 s of CPU), which a process
    answering offline never needs (a worker without an LLM starts that much faster)."""
    if name == "OpenAICompatResponder":
        from aibroker.adapters.llm.openai_compat import OpenAICompatResponder
        return OpenAICompatResponder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_responder(settings: Settings, metrics: ReplyMetrics | None = None, *,
                    max_retries: int = 2) -> ReplyGenerator:
    """The reply generator for these settings (see the module docstring)."""
    metrics = metrics or ReplyMetrics()
    offline = OfflineResponder.from_settings(settings)
    if not settings.uses_llm:
        return MeteredResponder(offline, metrics)
    from aibroker.adapters.llm.openai_compat import OpenAICompatResponder

    primary = OpenAICompatResponder.from_settings(settings, max_retries=max_retries, safe_responder=offline,
                                                  metrics=metrics)
    return FallbackResponder(primary, offline, metrics)


__all__ = ["FallbackReason", "FallbackResponder", "GuardOutcome", "MeteredResponder", "OfflineResponder",
           "OpenAICompatResponder", "ReplyMetrics", "build_responder", "fallback_reason"]
