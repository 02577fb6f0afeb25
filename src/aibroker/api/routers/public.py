"""What the chat page needs to know about this installation, without an inline script to carry it."""

from __future__ import annotations

from fastapi import APIRouter

from aibroker.api.deps import ContainerDep
from aibroker.api.schemas import PublicConfig

router = APIRouter(tags=["config"])


@router.get("/api/config/public", response_model=PublicConfig)
async def public_config(container: ContainerDep) -> PublicConfig:
    """Nothing secret: only what the lead form shows (the privacy notice's link)."""
    return PublicConfig(privacy_policy_url=container.settings.privacy_policy_url)
