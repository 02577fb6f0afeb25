"""Lead intake. `/api/chatwoot-conversation` is the path the existing lead form posts to."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from aibroker.api.deps import ContainerDep
from aibroker.api.ratelimit import RATE_LIMITED, limit_leads
from aibroker.api.schemas import BrokerOut, LeadAccepted
from aibroker.domain.leads import LeadForm

router = APIRouter(tags=["leads"])


@router.post("/api/leads", status_code=status.HTTP_201_CREATED, response_model=LeadAccepted,
             dependencies=[Depends(limit_leads)], responses=RATE_LIMITED)
@router.post("/api/chatwoot-conversation", status_code=status.HTTP_201_CREATED, response_model=LeadAccepted,
             include_in_schema=False, dependencies=[Depends(limit_leads)])
async def submit_lead(lead: LeadForm, container: ContainerDep) -> LeadAccepted:
    result = await container.intake.submit(lead)
    return LeadAccepted(conversation_id=result.conversation.id, broker=BrokerOut.of(result.persona),
                        reused=result.reused)
