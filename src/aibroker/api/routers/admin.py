"""Operator routes (admin token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from aibroker.api.deps import AdminDep, ContainerDep
from aibroker.api.errors import error_responses

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=error_responses(401, 503))


@router.get("/brokers")
async def brokers(container: ContainerDep, _admin: AdminDep) -> dict[str, Any]:
    rows = await container.store.list_brokers()
    return {"brokers": [row.model_dump(mode="json") for row in rows]}


@router.get("/queue/failed")
async def failed_jobs(container: ContainerDep, _admin: AdminDep) -> dict[str, Any]:
    return {"failed": await container.queue.failed_jobs()}


@router.get("/metrics")
async def metrics(container: ContainerDep, _admin: AdminDep) -> dict[str, Any]:
    """Reply sources and fallbacks (this API process's responder), webhook outcomes, queue counts."""
    return {"replies": container.reply_metrics.snapshot(), "webhooks": dict(container.inbound.outcomes),
            "queue": await container.queue.counts()}
