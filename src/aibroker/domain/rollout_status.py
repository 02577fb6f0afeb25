"""What the migration-status page concludes from the figures, in plain words (docs/rollout.md explains each). Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

from aibroker.domain.rollout import Switches, needs_legacy

MAX_FAILURE_RATE = 0.02  # FACTS §S: above 2 % of replies failing, roll back
MAX_P95_MS = 5000  # FACTS §S: P95 < 5 s from customer message to visible reply
MIN_SAMPLE = 20  # fewer aibroker replies in 24 h than this say nothing either way
STAGES = (10, 50, 100)  # FACTS §S: 10 % → 50 % → 100 %


@dataclass(frozen=True, slots=True)
class Figures:
    switches: Switches
    workers: int
    n8n_configured: bool
    n8n_reachable: bool | None
    replies_24h: int  # aibroker replies finished
    failed_24h: int  # aibroker replies that ended in an apology after the job failed
    forwards_failing: int
    p95_ms: int | None


def percentile(values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def failure_rate(f: Figures) -> float:
    return f.failed_24h / f.replies_24h if f.replies_24h else 0.0


def next_stage(percentage: int) -> int | None:
    return next((stage for stage in STAGES if stage > percentage), None)


def recommendations(f: Figures) -> list[str]:
    s, advice = f.switches, []
    rate = failure_rate(f)
    if not s.enable_bullmq_broker:
        advice.append("rolled back: every conversation goes to n8n (aibroker rollout set --broker to resume)")
    if not s.enable_ai_broker:
        advice.append("AI broker disabled: the bot sends nothing, humans answer every conversation")
    if f.workers == 0:
        advice.append("no worker heartbeat: nothing is answered or forwarded; start `aibroker worker`")
    if not f.n8n_configured and needs_legacy(s):
        advice.append("the switches route conversations to n8n but N8N_AI_BROKER_WEBHOOK_URL is not set: set it, "
                      "or aibroker rollout set --broker --percentage 100")
    if f.n8n_configured and f.n8n_reachable is False and (s.rollout_percentage < 100 or not s.enable_bullmq_broker):
        advice.append("n8n is unreachable: legacy conversations are not being answered; check "
                      "N8N_AI_BROKER_WEBHOOK_URL")
    if f.forwards_failing:
        advice.append(f"{f.forwards_failing} message(s) not yet forwarded to n8n after failed attempts: "
                      "see /api/admin/queue/failed")
    if f.replies_24h and rate > MAX_FAILURE_RATE:
        advice.append(f"failure rate {rate * 100:.1f} % is above {MAX_FAILURE_RATE * 100:.0f} %: roll back "
                      "(aibroker rollout set --no-broker)")
    if f.p95_ms is not None and f.p95_ms > MAX_P95_MS:
        advice.append(f"reply latency P95 {f.p95_ms / 1000:.1f} s is above {MAX_P95_MS / 1000:.0f} s: "
                      "hold the current share and add workers")
    if advice or not s.enable_bullmq_broker:
        return advice
    if f.replies_24h < MIN_SAMPLE:
        return [f"too few aibroker replies in 24 h to judge ({f.replies_24h} < {MIN_SAMPLE}): wait"
                + ("" if s.rollout_percentage else "; start with 10 %")]
    stage = next_stage(s.rollout_percentage)
    if stage is None:
        return ["24 h within targets at 100 %: keep watching; n8n can be retired once its last conversations end"]
    return [f"24 h within targets: ready for {stage} %"]
