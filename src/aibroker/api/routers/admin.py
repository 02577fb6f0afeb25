"""Operator routes (admin token; the brokers list also for a signed-in admin agent: the ops page shows it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from aibroker.api.console_auth import OperatorDep
from aibroker.api.deps import AdminDep, ContainerDep
from aibroker.api.errors import error_responses
from aibroker.bootstrap import Container, build_erasure
from aibroker.domain.erasure import MAX_EMAIL_LENGTH, ErasureReport
from aibroker.domain.leads import EMAIL_PATTERN
from aibroker.usecases.erasure import ErasureService

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=error_responses(401, 503))


@router.get("/brokers", responses=error_responses(403))
async def brokers(container: ContainerDep, _operator: OperatorDep) -> dict[str, Any]:
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


def _erasure(container: Container) -> ErasureService:
    return build_erasure(container.settings, container.store, container.redis,
                         on_slots_freed=container.assignment.assign_waiting)


@router.delete("/contacts", response_model=ErasureReport, responses=error_responses(422))
async def erase_contact(container: ContainerDep, _admin: AdminDep,
                        email: Annotated[str, Query(min_length=1, max_length=MAX_EMAIL_LENGTH,
                                                    description="the person's e-mail (any case)",
                                                    json_schema_extra={"format": "email",
                                                                       "pattern": EMAIL_PATTERN})]) -> ErasureReport:
    """Erase everything stored about the person with this e-mail (PDPA): contact, lead form, messages, events.
    Nothing found is a 200 with `nothing_found: true`. Conversations also held by Chatwoot are listed in
    `chatwoot`: delete them there."""
    return await _erasure(container).erase_email(email)


@router.delete("/conversations", response_model=ErasureReport, responses=error_responses(422))
async def purge_conversations(container: ContainerDep, _admin: AdminDep,
                              older_than_days: Annotated[int, Query(ge=1, le=36500)]) -> ErasureReport:
    """Retention: erase every conversation with no activity for `older_than_days` days, with its messages and
    events, and built-in inbox contacts left without conversations."""
    return await _erasure(container).purge(older_than_days)
