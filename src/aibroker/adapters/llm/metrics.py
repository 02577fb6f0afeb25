"""Counters for where replies came from and why the LLM path fell back.

Plain counters: the admin page and the tests read a snapshot (fallbacks and LLM calls also go to the
Prometheus metrics). A lock keeps increments exact when a metrics endpoint in another thread reads while
the worker's event loop writes.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from aibroker.adapters.metrics import prometheus


class FallbackReason:
    """The reasons `FallbackResponder` records (strings, so new ones need no migration)."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    API_ERROR = "api_error"  # other 4xx (bad request, auth): a configuration problem, still answered
    UNEXPECTED = "unexpected"


class GuardOutcome:
    PASSED = "passed"
    REGENERATED = "regenerated"  # first draft had an unsupported figure, the retry passed
    REPLACED = "replaced"  # both drafts failed; the safe answer went out instead


class ReplyMetrics:
    """Counts replies by source ("llm", "offline"), fallbacks by reason, and guard outcomes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: Counter[str] = Counter()
        self._fallbacks: Counter[str] = Counter()
        self._guard: Counter[str] = Counter()

    def record_reply(self, source: str) -> None:
        with self._lock:
            self._sources[source] += 1

    def record_fallback(self, reason: str) -> None:
        with self._lock:
            self._fallbacks[reason] += 1
        prometheus.observe_fallback(reason)

    def record_llm_call(self, seconds: float, usage: Any) -> None:
        """One chat-completion call: its latency and tokens (`usage` as the OpenAI API returns it, or None)."""
        prometheus.observe_llm_call(seconds, getattr(usage, "prompt_tokens", None),
                                    getattr(usage, "completion_tokens", None))

    def record_guard(self, outcome: str) -> None:
        with self._lock:
            self._guard[outcome] += 1

    @property
    def by_source(self) -> dict[str, int]:
        with self._lock:
            return dict(self._sources)

    @property
    def fallbacks(self) -> dict[str, int]:
        with self._lock:
            return dict(self._fallbacks)

    @property
    def guard(self) -> dict[str, int]:
        with self._lock:
            return dict(self._guard)

    @property
    def total_fallbacks(self) -> int:
        with self._lock:
            return sum(self._fallbacks.values())

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"by_source": dict(self._sources), "fallbacks": dict(self._fallbacks),
                    "guard": dict(self._guard)}
