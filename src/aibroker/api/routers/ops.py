"""Operating it (issue #13): analytics, smoke-test marking, Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from aibroker.api.console_auth import OperatorDep
from aibroker.api.deps import CONVERSATION_NOT_FOUND, AdminDep, ContainerDep, ConversationId
from aibroker.api.errors import error_responses
from aibroker.domain.analytics import AnalyticsReport, Window
from aibroker.errors import NotFound
from aibroker.wiring_ops import scrape

router = APIRouter(tags=["operations"])


@router.get("/api/admin/analytics", response_model=AnalyticsReport,
            responses=error_responses(401, 403, 422, 503))
async def analytics(container: ContainerDep, _operator: OperatorDep,
                    window: Annotated[Window, Query(description="the period the figures cover")] = Window.HOUR,
                    ) -> AnalyticsReport:
    """The rollout's figures over the window: replies and their latency percentiles, SLA breaches, handoffs,
    failed jobs, waiting for a human; per persona, per broker and per time bucket. Smoke tests are left out."""
    return await container.ops.analytics.report(window, now=datetime.now(UTC), sla_ms=container.settings.reply_sla_ms)


@router.post("/api/admin/conversations/{conversation_id}/smoke-test", responses=error_responses(401, 404, 422, 503))
async def mark_smoke_test(conversation_id: ConversationId, container: ContainerDep,
                          _admin: AdminDep) -> dict[str, int | bool]:
    """Mark a conversation as a smoke test (`aibroker smoke` does): analytics leave it out."""
    if not await container.store.mark_test(conversation_id):
        raise NotFound(CONVERSATION_NOT_FOUND)
    return {"conversation_id": conversation_id, "smoke_test": True}


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}, **error_responses(401, 503)})
async def metrics(container: ContainerDep, _admin: AdminDep) -> Response:
    """Prometheus metrics of this API process, with the shared figures (queue depth, broker slots) read now.
    The API is public, so this needs the admin token (Prometheus: `authorization: {credentials: …}`)."""
    body, content_type = await scrape(container)
    return Response(body, media_type=content_type)

