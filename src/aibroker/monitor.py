"""`aibroker monitor`: a live terminal view of a running deployment (rich), read from its admin API.

Workers and their heartbeats, the queue, the rollout switches, reply P95 and SLA breaches over the last hour,
refreshed every 2 s: for a server without a browser.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

SOURCES = {"workers": "/api/worker/status", "queue": "/api/admin/queue", "rollout": "/api/admin/rollout",
           "analytics": "/api/admin/analytics?window=1h"}


def read_snapshot(client: httpx.Client) -> dict[str, Any]:
    """Every source's JSON, or `{"error": …}` for one that failed (the view shows what it can)."""
    snapshot: dict[str, Any] = {}
    for name, path in SOURCES.items():
        try:
            response = client.get(path)
            response.raise_for_status()
            snapshot[name] = response.json()
        except (httpx.HTTPError, ValueError) as error:
            snapshot[name] = {"error": f"{type(error).__name__}: {error}"[:200]}
    return snapshot


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value / 1000:.2f} s"


def _share(value: Any) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def render(snapshot: dict[str, Any], now: float | None = None) -> RenderableType:
    now = time.time() if now is None else now
    parts: list[RenderableType] = []
    analytics = snapshot.get("analytics", {})
    if "error" in analytics:
        parts.append(Panel(Text(analytics["error"], style="red"), title="figures (last hour)"))
    else:
        latency, sla = analytics["reply_latency"], analytics["sla_ms"]
        figures = Table.grid(padding=(0, 3))
        p95 = latency["p95_ms"]
        figures.add_row("reply P95", Text(_ms(p95), style="red" if p95 is not None and p95 > sla else "green"),
                        "P50", _ms(latency["p50_ms"]), "SLA breaches", f"{latency['breaches']} "
                        f"({_share(latency['breach_share'])})")
        figures.add_row("conversations", str(analytics["conversations_started"]), "answered",
                        str(analytics["messages_answered"]), "failed jobs",
                        f"{analytics['failed_jobs']} ({_share(analytics['failure_rate'])})")
        figures.add_row("handoffs", str(analytics["handoffs"]), "waiting for a human",
                        str(analytics["waiting_for_human"]["still_waiting"]), "", "")
        parts.append(Panel(figures, title="figures (last hour)"))
    queue = snapshot.get("queue", {})
    if "error" in queue:
        parts.append(Panel(Text(queue["error"], style="red"), title="queue"))
    else:
        counts = "  ".join(f"{k} {v}" for k, v in queue["counts"].items())
        title = "queue [bold yellow]PAUSED[/]" if queue["paused"] else "queue"
        failed = "\n".join(f"{j['id']}: {str(j['reason'])[:100]}" for j in queue["failed"][:5])
        parts.append(Panel(Text(counts + ("\n" + failed if failed else "")), title=title))
    workers = snapshot.get("workers", {})
    table = Table("host", "pid", "concurrency", "active", "processed", "failed", "heartbeat", expand=True)
    for worker in workers.get("workers", []):
        table.add_row(str(worker.get("host")), str(worker.get("pid")), str(worker.get("concurrency")),
                      str(worker.get("active_jobs")), str(worker.get("processed")), str(worker.get("failed")),
                      f"{now - float(worker.get('last_heartbeat', now)):.0f} s ago")
    parts.append(Panel(table if workers.get("workers") else Text(workers.get("error", "no worker heartbeat"),
                                                                   style="red"), title="workers"))
    rollout = snapshot.get("rollout", {})
    parts.append(Panel(Text(rollout["error"], style="red") if "error" in rollout else Text(
        f"AI broker {'on' if rollout['enable_ai_broker'] else 'off'} · pipeline "
        f"{'on' if rollout['enable_bullmq_broker'] else 'off (n8n)'} · share {rollout['rollout_percentage']} % · "
        f"shadow {'on' if rollout['shadow_mode'] else 'off'} ({rollout['source']})"), title="rollout"))
    return Group(*parts)
