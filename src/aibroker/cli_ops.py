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




BaseUrlOption = Annotated[str, typer.Option("--base-url", help="the API, e.g. http://127.0.0.1:8000")]
TokenOption = Annotated[str | None, typer.Option("--token", envvar="AIBROKER_ADMIN_TOKEN", show_envvar=True,
                                                 help="the admin token (default: AIBROKER_ADMIN_TOKEN)")]


def _token(token: str | None) -> str:
    if not token:
        typer.echo("aibroker: the admin token is needed: --token or AIBROKER_ADMIN_TOKEN", err=True)
        raise typer.Exit(code=2)
    return token


def monitor(base_url: BaseUrlOption = "http://127.0.0.1:8000", token: TokenOption = None,
            interval: Annotated[float, typer.Option(min=0.5, help="seconds between refreshes")] = 2.0,
            once: Annotated[bool, typer.Option("--once", help="print one view and exit")] = False) -> None:
    """Live terminal view of workers, queue, rollout, reply P95 and SLA breaches (refreshed every 2 s)."""
    import time

    import httpx
    from rich.console import Console
    from rich.live import Live

    from aibroker.monitor import read_snapshot, render

    headers = {"Authorization": f"Bearer {_token(token)}"}
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=5) as client:
        if once:
            Console().print(render(read_snapshot(client)))
            return
        with Live(render(read_snapshot(client)), refresh_per_second=4, screen=False) as live:
            try:
                while True:
                    time.sleep(interval)
                    live.update(render(read_snapshot(client)))
            except KeyboardInterrupt:
                pass


def smoke(base_url: BaseUrlOption, token: TokenOption = None,
          sla_ms: Annotated[int, typer.Option(help="the reply must arrive within this (REPLY_SLA_MS)")] = 5000,
          timeout: Annotated[float, typer.Option(help="seconds to wait for the greeting and the reply")] = 30.0,
          ) -> None:
    """One test lead end to end: greeting, one question, a reply within the SLA with a figure. Exit 1 on failure."""
    from aibroker.smoke import SmokeFailure, SmokeRun

    run = SmokeRun(base_url, _token(token), sla_ms=sla_ms, timeout_s=timeout, say=typer.echo)
    try:
        run.run()
    except SmokeFailure as error:
        typer.echo(f"aibroker smoke: failed: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"aibroker smoke: passed in {sum(ms for _, ms in run.steps) / 1000:.1f} s")


def register(app: typer.Typer) -> None:
    app.add_typer(queue_app, name="queue")
    app.command()(monitor)
    app.command()(smoke)
