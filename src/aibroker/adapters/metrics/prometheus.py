"""Prometheus metrics (prometheus-client): the only module that imports it.

Process-local metrics (HTTP latency, jobs, reply latency, pacing, LLM calls) are observed where they happen;
shared figures (queue depth, broker slots, circuit state) are read when scraped (`refresh`), so every
process reports the same values for them. Metric objects live in the default registry, once per process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest, start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Around the 5 s reply SLA (FACTS §S), finer below it.
LATENCY_BUCKETS = (0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 30.0, 60.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_LATENCY = Histogram("aibroker_http_request_duration_seconds", "HTTP request latency by route template",
                         ["method", "route", "status"], buckets=HTTP_BUCKETS)
# outcome: completed | failed (an attempt; it may be retried) | deferred (delayed without spending an attempt) |
# failed_final (out of attempts: the rollout's failed-job rate counts these)
JOBS = Counter("aibroker_jobs_total", "Job attempts run by this worker, by job name and outcome", ["name", "outcome"])
REPLY_LATENCY = Histogram("aibroker_reply_latency_seconds",
                          "Customer message accepted → its reply sent (one observation per reply)",
                          buckets=LATENCY_BUCKETS)
PACING_DELAY = Histogram("aibroker_pacing_delay_seconds", "Human-like waits (joining, typing, reply delay)",
                         buckets=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0))
LLM_LATENCY = Histogram("aibroker_llm_request_duration_seconds", "One chat-completion call to the LLM",
                        buckets=LATENCY_BUCKETS)
LLM_TOKENS = Counter("aibroker_llm_tokens_total", "LLM tokens used", ["kind"])
LLM_FALLBACKS = Counter("aibroker_llm_fallbacks_total", "Replies the offline responder gave instead of the LLM",
                        ["reason"])
QUEUE_JOBS = Gauge("aibroker_queue_jobs", "Jobs in the queue by state (read at scrape time)", ["state"])
QUEUE_PAUSED = Gauge("aibroker_queue_paused", "1 while an operator has paused the queue")
BROKER_SLOTS = Gauge("aibroker_broker_slots_in_use", "Conversations each broker holds", ["broker"])
BROKER_CAPACITY = Gauge("aibroker_broker_slots_total", "Each broker's max concurrent chats", ["broker"])
CIRCUIT_OPEN = Gauge("aibroker_circuit_open", "1 while a dependency's circuit is open (calls held back)",
                     ["dependency"])
WORKERS = Gauge("aibroker_workers_alive", "Worker processes with a fresh heartbeat")


def observe_job(name: str, outcome: str) -> None:
    JOBS.labels(name=name, outcome=outcome).inc()


def observe_reply_latency(seconds: float) -> None:
    REPLY_LATENCY.observe(max(seconds, 0.0))


def observe_llm_call(seconds: float, prompt_tokens: int | None, completion_tokens: int | None) -> None:
    LLM_LATENCY.observe(seconds)
    if prompt_tokens:
        LLM_TOKENS.labels(kind="prompt").inc(prompt_tokens)
    if completion_tokens:
        LLM_TOKENS.labels(kind="completion").inc(completion_tokens)


def observe_fallback(reason: str) -> None:
    LLM_FALLBACKS.labels(reason=reason).inc()


def observe_pacing(seconds: float) -> None:
    """A human-like wait: a reply's delay (waited as a delayed job), or a greeting's joining and typing."""
    PACING_DELAY.observe(seconds)


def paced(sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> Callable[[float], Awaitable[None]]:
    """`sleep` that records each human-like wait it sleeps (the greeting's)."""

    async def observed(seconds: float) -> None:
        observe_pacing(seconds)
        await sleep(seconds)

    return observed


def set_shared(*, counts: Mapping[str, int] | None = None, paused: bool | None = None,
               brokers: Sequence[tuple[str, int, int]] = (), circuits: Mapping[str, bool] | None = None,
               workers: int | None = None) -> None:
    """The shared figures as read now: queue counts, paused, (broker, in use, capacity), circuit states."""
    for state, value in (counts or {}).items():
        QUEUE_JOBS.labels(state=state).set(value)
    if paused is not None:
        QUEUE_PAUSED.set(1 if paused else 0)
    for name, in_use, capacity in brokers:
        BROKER_SLOTS.labels(broker=name).set(in_use)
        BROKER_CAPACITY.labels(broker=name).set(capacity)
    for dependency, is_open in (circuits or {}).items():
        CIRCUIT_OPEN.labels(dependency=dependency).set(1 if is_open else 0)
    if workers is not None:
        WORKERS.set(workers)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


def serve(port: int, host: str) -> Any:
    """The worker's /metrics on its own port (WORKER_METRICS_PORT), in a thread; returns the server."""
    server, _thread = start_http_server(port, addr=host)
    return server


class HttpMetrics:
    """ASGI middleware: request latency by route template (`/api/conversations/{conversation_id}`, never the
    path itself, so ids do not become label values); unmatched paths are one label."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or ("/static" if str(scope.get("path", "")).startswith(
                "/static/") else "unmatched")
            HTTP_LATENCY.labels(method=scope.get("method", ""), route=template, status=str(status)).observe(
                time.perf_counter() - started)
