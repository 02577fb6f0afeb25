"""`aibroker queue …`, `aibroker monitor` and `aibroker smoke`: operating it from a terminal (issue #13)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from aibroker.config import Settings

if TYPE_CHECKING:
    from aibroker.adapters.queue.bullmq_queue import BullJobQueue

T = TypeVar("T")
queue_app = typer.Typer(help="Queue controls: pause, resume, drain, failed jobs (needs REDIS_URL).",
                        no_args_is_help=True)


def _queue_call(work: Callable[[BullJobQueue], Awaitable[T]]) -> T:
    """Run one queue operation against REDIS_URL; exit 2 without it, 1 when Redis fails or the job is not there."""
    from aibroker.cli import _settings
    from aibroker.errors import DependencyUnavailable, InvalidRequest, NotFound

    settings: Settings = _settings()
    if not settings.redis_url:
        typer.echo("aibroker: REDIS_URL is not set; queue controls act on the queue the workers share", err=True)
        raise typer.Exit(code=2)
    redis_url = settings.redis_url

    async def run() -> T:
        from aibroker.adapters.queue.bullmq_queue import BullJobQueue

        queue = BullJobQueue(settings, redis_url)
        try:
            return await work(queue)
        finally:
            await queue.aclose()

    try:
        return asyncio.run(run())
    except (NotFound, InvalidRequest, DependencyUnavailable) as error:
        typer.echo(f"aibroker: {error}", err=True)
        raise typer.Exit(code=1) from error


@queue_app.command("pause")
def queue_pause() -> None:
    """Workers stop taking jobs; every message is still accepted and kept until `resume`."""
    _queue_call(lambda queue: queue.pause())
    typer.echo("queue paused")


@queue_app.command("resume")
def queue_resume() -> None:
    _queue_call(lambda queue: queue.resume())
    typer.echo("queue resumed")


@queue_app.command("drain")
def queue_drain() -> None:
    """Remove waiting jobs (unanswered customer messages are queued again by the workers' sweeper)."""
    typer.echo(f"removed {_queue_call(lambda queue: queue.drain())} waiting job(s)")


@queue_app.command("failed")
def queue_failed(as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False) -> None:
    """The newest failed jobs with their reasons."""

    async def read(queue: BullJobQueue) -> dict[str, Any]:
        return {"paused": await queue.is_paused(), "counts": await queue.counts(), "failed": await queue.failed_jobs()}

    state = _queue_call(read)
    if as_json:
        typer.echo(json.dumps(state, indent=2))
        return
    typer.echo(("PAUSED  " if state["paused"] else "") + "  ".join(f"{k}={v}" for k, v in state["counts"].items()))
    for job in state["failed"]:
        typer.echo(f"{job['id']}  attempts={job['attempts']}  {str(job['reason'])[:200]}")


@queue_app.command("retry")
def queue_retry(job_id: Annotated[str, typer.Argument(help="the failed job's id")]) -> None:
    """Run one failed job again from its first attempt."""
    _queue_call(lambda queue: queue.retry_failed(job_id))
    typer.echo(f"retrying {job_id}")


@queue_app.command("retry-all")
def queue_retry_all() -> None:
    """Run every failed job again (up to 1000 a call)."""
    typer.echo(f"retrying {_queue_call(lambda queue: queue.retry_all_failed())} failed job(s)")


@queue_app.command("remove")
def queue_remove(job_id: Annotated[str, typer.Argument(help="the failed job's id")]) -> None:
    """Delete a failed job and its reason."""
    _queue_call(lambda queue: queue.remove_failed(job_id))
    typer.echo(f"removed {job_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(queue_app, name="queue")
