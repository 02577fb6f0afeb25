"""Health, worker status and migration status (the seeds' paths kept as aliases)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from aibroker.adapters.db.migrate import migration_status
from aibroker.api.deps import AdminViewDep, ContainerDep
from aibroker.api.schemas import HealthOut, WorkerStatusOut
from aibroker.bootstrap import Container
from aibroker.worker.heartbeat import HEARTBEAT_TTL_S, read_heartbeats

router = APIRouter(tags=["operations"])
CHECK_TIMEOUT_S = 2.0


async def _check(name: str, probe: Any) -> tuple[str, dict[str, Any]]:
    try:
        detail = await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
        return name, {"status": "ok", **(detail or {})}
    except Exception as error:  # a health check reports failures, it does not raise them
        return name, {"status": "down", "error": f"{type(error).__name__}: {error}"[:200]}


async def _database(container: Container) -> dict[str, Any]:
    status = await migration_status(container.engine)
    if not status["up_to_date"]:
        raise RuntimeError(f"migrations pending: at {status['current']}, head is {status['head']}")
    return {"backend": container.engine.dialect.name, "revision": status["current"]}


async def _redis(container: Container) -> dict[str, Any]:
    await container.redis.ping()
    return {}


async def _workers(container: Container) -> dict[str, Any]:
    beats = await read_heartbeats(container.redis, container.settings.queue_prefix, container.settings.queue_name)
    if not beats:
        raise RuntimeError(f"no worker heartbeat in the last {HEARTBEAT_TTL_S} s")
    return {"count": len(beats), "last_heartbeat_age_s": round(time.time() - max(b["last_heartbeat"]
                                                                                    for b in beats), 1)}


async def _queue(container: Container) -> dict[str, Any]:
    return {"counts": await container.queue.counts(), "paused": await container.queue.is_paused()}


async def _legacy(container: Container) -> dict[str, Any]:
    """Forwards to the legacy n8n workflow (issue #11): degraded while some keep failing."""
    if container.legacy.workflow is None:
        return {"configured": False}
    if failing := await container.legacy.forwards.failing_forwards():
        raise RuntimeError(f"{failing} message(s) not forwarded to n8n after failed attempts")
    return {"configured": True}


@router.get("/api/health", response_model=HealthOut,
            responses={503: {"model": HealthOut, "description": "a part is failing: `failing` names it"}})
async def health(container: ContainerDep, admin: AdminViewDep) -> JSONResponse:
    """Anyone sees the status and the names of failing parts; host names, counts, revisions and error
    texts are for operators (admin token): they help an attacker map the deployment."""
    parts = dict(await asyncio.gather(_check("database", _database(container)), _check("redis", _redis(container)),
                                      _check("worker", _workers(container)), _check("queue", _queue(container)),
                                      _check("legacy", _legacy(container))))
    failing = [name for name, part in parts.items() if part["status"] != "ok"]
    # Paused is said to anyone, and is not a failure: the API still accepts and keeps every message.
    body: dict[str, Any] = {"status": "ok" if not failing else "degraded", "failing": failing,
                            "paused": bool(parts["queue"].get("paused"))}
    if admin:
        body.update(parts=parts, inbox=container.inbox.name,
                    responder="llm" if container.settings.uses_llm else "offline", api_pid=os.getpid())
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get("/api/worker/status", response_model=WorkerStatusOut)
@router.get("/api/worker/start", include_in_schema=False)
async def worker_status(container: ContainerDep, admin: AdminViewDep) -> JSONResponse:
    """Anyone sees whether workers run; their host names, pids and concurrency need the admin token."""
    try:
        beats = await asyncio.wait_for(read_heartbeats(container.redis, container.settings.queue_prefix,
                                                       container.settings.queue_name), CHECK_TIMEOUT_S)
        paused = await asyncio.wait_for(container.queue.is_paused(), CHECK_TIMEOUT_S)
    except Exception as error:
        failed: dict[str, Any] = {"running": False, "paused": False}
        return JSONResponse({**failed, "error": f"redis: {type(error).__name__}", "workers": []} if admin else failed)
    # Paused: an operator paused the queue (`aibroker queue pause`); the workers run but take no jobs.
    summary: dict[str, Any] = {"running": bool(beats), "paused": paused}
    if not admin:
        return JSONResponse(summary)
    return JSONResponse({
        **summary,
        "concurrency": sum(int(b.get("concurrency", 0)) for b in beats),
        "last_heartbeat": max((b["last_heartbeat"] for b in beats), default=None),
        "workers": beats,
    })
