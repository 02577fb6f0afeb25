"""Queue controls (admin token): pause, resume, drain, and the failed jobs (list, retry, retry all, remove)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from aibroker.api.console_auth import OperatorDep
from aibroker.api.deps import ContainerDep
from aibroker.api.errors import error_responses
from aibroker.logging import get_logger

router = APIRouter(prefix="/api/admin/queue", tags=["queue"], responses=error_responses(401, 403, 503))
log = get_logger(__name__)

# Our job ids (domain/jobs.py): names, numbers and message ids joined by '-'.
JobId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$",
                            description="the failed job's id, e.g. incoming-message-12-345")]


@router.get("")
async def queue_state(container: ContainerDep, _operator: OperatorDep) -> dict[str, Any]:
    """Paused or not, the job counts, and the newest failed jobs with their reasons."""
    return {"paused": await container.queue.is_paused(), "counts": await container.queue.counts(),
            "failed": await container.queue.failed_jobs()}


@router.post("/pause")
async def pause(container: ContainerDep, _operator: OperatorDep) -> dict[str, bool]:
    """Workers stop taking jobs (running ones finish); every message is still accepted and kept until resume."""
    await container.queue.pause()
    log.warning("queue paused by an operator")
    return {"paused": True}


@router.post("/resume")
async def resume(container: ContainerDep, _operator: OperatorDep) -> dict[str, bool]:
    await container.queue.resume()
    log.warning("queue resumed by an operator")
    return {"paused": False}


@router.post("/drain")
async def drain(container: ContainerDep, _operator: OperatorDep) -> dict[str, int]:
    """Remove the jobs waiting to run. Unanswered customer messages and greetings are queued again by the
    workers' sweeper: drain clears a backlog of other work (legacy forwards, shadow replies), never a reply."""
    removed = await container.queue.drain()
    log.warning("queue drained by an operator: %d job(s) removed", removed)
    return {"removed": removed}


@router.post("/failed/retry-all")
async def retry_all(container: ContainerDep, _operator: OperatorDep) -> dict[str, int]:
    """Queue every failed job again (up to 1000 a call), each from its first attempt."""
    return {"retried": await container.queue.retry_all_failed()}


@router.post("/failed/{job_id}/retry", responses=error_responses(404, 422))
async def retry(job_id: JobId, container: ContainerDep, _operator: OperatorDep) -> dict[str, str]:
    await container.queue.retry_failed(job_id)
    return {"retried": job_id}


@router.delete("/jobs/{job_id}", responses=error_responses(404, 422))
async def remove(job_id: JobId, container: ContainerDep, _operator: OperatorDep) -> dict[str, str]:
    """Delete a failed job and its reason (404 for a job that is not in the failed set). Not under `/failed/`:
    `/failed/retry-all` would then also be a job id."""
    await container.queue.remove_failed(job_id)
    return {"removed": job_id}
