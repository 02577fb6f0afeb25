"""`GET /api/admin/migration-status`: what a rollout checklist asks (issue #11; docs/rollout.md reads it)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter

from aibroker.adapters.db.migrate import migration_status
from aibroker.adapters.db.rollout_store import SqlRolloutStore, reply_latencies_ms
from aibroker.api.deps import AdminDep, ContainerDep
from aibroker.api.errors import error_responses
from aibroker.domain.rollout_status import Figures, failure_rate, percentile, recommendations
from aibroker.worker.heartbeat import read_heartbeats

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=error_responses(401, 503))
CHECK_TIMEOUT_S = 2.0


async def _bounded(probe: Any, default: Any) -> Any:
    try:
        return await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception:  # a status page reports what it can reach
        return default


@router.get("/migration-status")
async def migration(container: ContainerDep, _admin: AdminDep) -> dict[str, Any]:
    settings, now = container.settings, datetime.now(UTC)
    store = SqlRolloutStore(container.store.sessions)
    switches = await container.rollout.describe()
    workflow = container.legacy.workflow
    reachable = await _bounded(workflow.reachable(), False) if workflow is not None else None
    beats = await _bounded(read_heartbeats(container.redis, settings.queue_prefix, settings.queue_name), [])
    counts = await _bounded(container.queue.counts(), None)
    hour, day = await store.routed_since(now - timedelta(hours=1)), await store.routed_since(now - timedelta(hours=24))
    p95 = percentile(await reply_latencies_ms(container.store.sessions, now - timedelta(hours=24)), 0.95)
    shadow_p95 = percentile(day["shadow"].pop("latencies_ms"), 0.95)
    hour["shadow"].pop("latencies_ms")
    figures = Figures(switches=await container.rollout.switches(), workers=len(beats),
                      n8n_configured=workflow is not None, n8n_reachable=reachable,
                      replies_24h=day["replies"]["finished"], failed_24h=day["replies"]["failed_jobs"],
                      forwards_failing=day["replies"]["forwards_failing"], p95_ms=p95)
    return {
        "switches": {name: {"value": switches[name], "source": switches["source"]}
                     for name in ("enable_ai_broker", "enable_bullmq_broker", "rollout_percentage", "shadow_mode")},
        "changed": switches["changed"],
        "n8n": {"configured": workflow is not None, "reachable": reachable},
        "workers": {"count": len(beats), "last_heartbeat_age_s": round(time.time() - max(
            b["last_heartbeat"] for b in beats), 1) if beats else None},
        "queue": {"ok": counts is not None, "counts": counts},
        "last_1h": hour, "last_24h": day,
        "shadow": {**day["shadow"], "latency_p95_ms": shadow_p95},
        "failure_rate_24h": round(failure_rate(figures), 4),
        "reply_latency_p95_ms_24h": p95,
        "recommendations": recommendations(figures),
        "schema": await migration_status(container.engine),
    }
