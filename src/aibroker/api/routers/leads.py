"""Lead intake. `/api/chatwoot-conversation` is the path the existing lead form posts to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, status
from fastapi.responses import JSONResponse

from aibroker.api.deps import ContainerDep
from aibroker.api.errors import error_responses
from aibroker.api.ratelimit import limit_leads
from aibroker.api.schemas import BrokerOut, LeadAccepted
from aibroker.domain.leads import LeadSubmission
from aibroker.logging import get_logger
from aibroker.usecases.intake import GreetingNotQueued

log = get_logger(__name__)

router = APIRouter(tags=["leads"])


@router.post("/api/leads", status_code=status.HTTP_201_CREATED, response_model=LeadAccepted,
             dependencies=[Depends(limit_leads)], responses=error_responses(400, 413, 422, 429, 502, 503))
@router.post("/api/chatwoot-conversation", status_code=status.HTTP_201_CREATED, response_model=LeadAccepted,
             include_in_schema=False, dependencies=[Depends(limit_leads)])
async def submit_lead(lead: LeadSubmission, container: ContainerDep,
                      x_conversation_token: Annotated[str | None, Header(max_length=256, description=(
                          "the token of this browser's earlier conversation: with it (same contact, same loan "
                          "type, within 30 days) that conversation continues; without it a new one opens"))] = None,
                      ) -> LeadAccepted | JSONResponse:
    try:
        result = await container.intake.submit(lead, x_conversation_token)
    except GreetingNotQueued as error:
        # The usual 503 (retry later), plus this caller's own new conversation and token, so the retry continues it.
        log.warning("503: %s", error)
        return JSONResponse({"error": str(error), "part": error.part, "retry": True,
                             "conversation_id": error.result.conversation.id,
                             "conversation_token": error.result.token},
                            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "2"})
    return LeadAccepted(conversation_id=result.conversation.id, broker=BrokerOut.of(result.persona),
                        reused=result.reused, conversation_token=result.token)
