"""The rollout's figures (FACTS §S), as the analytics report states them. Pure: windows, shapes, shares.

Definitions (the SQL in adapters/db/analytics.py computes them; docs/operations.md explains them):
- reply latency: a customer message accepted (`inbound_messages.received_at`) → its reply visible (the reply
  ledger's `completed_at` for `message:<id>`, state `sent`); a burst answered by one reply counts each message;
- greeting latency: conversation opened → greeting sent;
- percentiles are nearest-rank (the smallest value with at least p·n values at or below it), the same on
  PostgreSQL (`percentile_disc`) and SQLite (window ranks), so both backends report identical figures;
- failed jobs: reply or greeting jobs that ran out of attempts (ledger note `job_failed`: the customer got an
  apology and a human); failure rate = failed / all reply and greeting jobs finished in the window;
- handoffs: `handoff` events (by reason) and `owner:human` events (an agent took over: `agent_replied`); rate =
  handoffs / conversations started in the window;
- waiting for a human: a handoff → the first `message:human` event after it in the same conversation;
- conversations marked as smoke tests are left out of every figure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field


class Window(StrEnum):
    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"

    @property
    def span(self) -> timedelta:
        return {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}[self.value]

    @property
    def bucket_s(self) -> int:
        """Chart resolution: 12 to 28 points per window."""
        return {"1h": 300, "24h": 3600, "7d": 6 * 3600}[self.value]


PERCENTILES = (0.5, 0.95, 0.99)
AGENT_REPLIED = "agent_replied"  # the reason given to an `owner:human` event (an agent answered in the inbox)


def share(part: int, whole: int) -> float | None:
    """part / whole rounded to 4 places; None (not 0) when there is nothing to divide."""
    return round(part / whole, 4) if whole else None


class LatencyStats(BaseModel):
    count: int = 0
    p50_ms: int | None = None
    p95_ms: int | None = None
    p99_ms: int | None = None
    max_ms: int | None = None
    breaches: int = Field(0, description="replies slower than the SLA (REPLY_SLA_MS)")
    breach_share: float | None = None


class GroupFigures(BaseModel):
    """One persona's or broker's figures in the window."""

    name: str
    conversations: int = 0
    answered: int = 0
    reply_latency: LatencyStats = Field(default_factory=LatencyStats)
    handoffs: int = 0


class BucketFigures(BaseModel):
    start: datetime
    conversations: int = 0
    answered: int = 0
    p50_ms: int | None = None
    p95_ms: int | None = None
    breaches: int = 0
    handoffs: int = 0
    failed_jobs: int = 0


class HumanWait(BaseModel):
    handed_off: int = Field(0, description="handoffs in the window")
    answered: int = Field(0, description="of those, how many a human has answered")
    wait: LatencyStats = Field(default_factory=LatencyStats, description="handoff → first human message")
    still_waiting: int = 0
    longest_waiting_ms: int | None = Field(None, description="the longest current wait, for those not answered")


class AnalyticsReport(BaseModel):
    window: Window
    since: datetime
    until: datetime
    bucket_s: int
    sla_ms: int
    conversations_started: int = 0
    messages_answered: int = 0
    reply_latency: LatencyStats = Field(default_factory=LatencyStats)
    greeting_latency: LatencyStats = Field(default_factory=LatencyStats)
    handoffs: int = 0
    handoffs_by_reason: dict[str, int] = Field(default_factory=dict)
    handoff_rate: float | None = None
    jobs_finished: int = 0
    failed_jobs: int = 0
    failure_rate: float | None = None
    waiting_for_human: HumanWait = Field(default_factory=HumanWait)
    per_persona: list[GroupFigures] = Field(default_factory=list)
    per_broker: list[GroupFigures] = Field(default_factory=list)
    series: list[BucketFigures] = Field(default_factory=list)
    query_ms: int = Field(0, description="how long the database took to compute this report")
