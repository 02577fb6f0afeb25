"""Rollout switches at run time (admin token): read with their audit list, change them (issue #11)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field

from aibroker.api.console_auth import OperatorDep
from aibroker.api.deps import ContainerDep
from aibroker.api.errors import error_responses

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=error_responses(401, 403, 503))


class RolloutChange(BaseModel):
    """Any of the four switches; the others keep their values. Named as in the environment or in snake_case."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    enable_ai_broker: bool | None = Field(default=None, alias="ENABLE_AI_BROKER")
    enable_bullmq_broker: bool | None = Field(default=None, alias="ENABLE_BULLMQ_BROKER")
    rollout_percentage: int | None = Field(default=None, ge=0, le=100, alias="BULLMQ_ROLLOUT_PERCENTAGE")
    shadow_mode: bool | None = Field(default=None, alias="BULLMQ_SHADOW_MODE")


@router.get("/rollout")
async def rollout_state(container: ContainerDep, _operator: OperatorDep) -> dict[str, Any]:
    return await container.rollout.describe()


@router.put("/rollout", responses=error_responses(400, 409, 413))
async def change_rollout(change: RolloutChange, container: ContainerDep, operator: OperatorDep,
                         x_operator: Annotated[str | None, Header(max_length=100)] = None) -> dict[str, Any]:
    """In force on every process within 5 s. The audit list names who changed it: a signed-in agent, or with the
    admin token what `X-Operator` says."""
    if operator.kind == "agent":
        actor = f"console:{operator.label}"
    else:
        actor = f"api:{x_operator}" if x_operator else "api:admin"
    changed = await container.rollout.change(actor, **change.model_dump(exclude_none=True))
    return {"changed": changed, **await container.rollout.describe()}
