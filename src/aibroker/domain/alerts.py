"""Alert conditions (issue #13, FACTS §S) as pure functions of the figures read at one moment.

A condition is *active* when its figure crosses its threshold; it *starts* once it has been active for its hold
time, and *ends* when it is no longer active. The use case (usecases/alerts.py) turns starts and ends into exactly
one message each, across every process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

RECENT = timedelta(minutes=15)  # failure rate and reply P95 are judged over the last 15 minutes
FAILURE_RATE_ALERT = 0.02  # FACTS §S: ≥ 2 % is a rollback trigger
BACKLOG_ALERT = 20  # FACTS §S: more than 20 jobs waiting …
BACKLOG_HOLD_S = 300.0  # … for 5 minutes


@dataclass(frozen=True, slots=True)
class Thresholds:
    sla_ms: int  # REPLY_SLA_MS
    worker_silence_s: float  # ALERT_WORKER_SILENCE_S
    human_response_minutes: float  # HUMAN_RESPONSE_ALERT_MINUTES


@dataclass(frozen=True, slots=True)
class Figures:
    """What the alerts look at, read at one moment (`None`: nothing to judge, e.g. no reply in the window)."""

    failure_rate: float | None = None
    failed_jobs: int = 0
    reply_p95_ms: int | None = None
    replies: int = 0
    waiting_jobs: int = 0
    heartbeat_silence_s: float | None = None
    open_circuits: frozenset[str] = field(default_factory=frozenset)
    humans_awaited: int = 0
    longest_human_wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    title: str
    active: bool
    figure: str
    hold_s: float = 0.0


CIRCUITS = ("chatwoot", "llm")


def conditions(f: Figures, t: Thresholds) -> list[Condition]:
    silence = f.heartbeat_silence_s
    human_limit_s = t.human_response_minutes * 60
    return [
        Condition("failure_rate", "Failed jobs at or above 2 % over 15 min",
                  f.failure_rate is not None and f.failure_rate >= FAILURE_RATE_ALERT,
                  f"failure rate {_percent(f.failure_rate)} ({f.failed_jobs} failed)"),
        Condition("reply_p95", f"Reply P95 above {t.sla_ms / 1000:g} s over 15 min",
                  f.reply_p95_ms is not None and f.reply_p95_ms > t.sla_ms,
                  f"reply P95 {_seconds(f.reply_p95_ms)} over {f.replies} replies"),
        Condition("queue_backlog", f"More than {BACKLOG_ALERT} jobs waiting for 5 min", f.waiting_jobs > BACKLOG_ALERT,
                  f"{f.waiting_jobs} jobs waiting", hold_s=BACKLOG_HOLD_S),
        Condition("worker_heartbeat", f"No worker heartbeat for {t.worker_silence_s:g} s",
                  silence is not None and silence >= t.worker_silence_s,
                  f"last worker heartbeat {silence:.0f} s ago" if silence is not None else "no worker heartbeat"),
        *(Condition(f"circuit_{name}", f"{name.capitalize()} circuit open", name in f.open_circuits,
                    f"calls to {name} are failing and held back") for name in CIRCUITS),
        Condition("human_response",
                  f"A handed-off conversation waits for a human over {t.human_response_minutes:g} min",
                  f.longest_human_wait_s is not None and f.longest_human_wait_s > human_limit_s,
                  f"{f.humans_awaited} waiting, the longest for {(f.longest_human_wait_s or 0) / 60:.0f} min"),
    ]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _seconds(ms: int | None) -> str:
    return "n/a" if ms is None else f"{ms / 1000:.1f} s"
