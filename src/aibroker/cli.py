"""`aibroker` command line: dev, serve, worker, migrate, reconcile, erase, purge (queue, monitor, smoke: cli_ops)."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import SecretStr

from aibroker.cli_ops import register as register_ops
from aibroker.config import ConfigurationError, Settings, load_settings
from aibroker.errors import Conflict, InvalidRequest
from aibroker.logging import configure_logging, get_logger
from aibroker.preflight import StartupError, check_database, check_redis

app = typer.Typer(help="aibroker: AI mortgage-broker chat.", no_args_is_help=True, add_completion=False)
log = get_logger("aibroker")

if TYPE_CHECKING:
    from aibroker.domain.erasure import ErasureReport
    from aibroker.usecases.erasure import ErasureService

T = TypeVar("T")
HostOption = Annotated[str | None, typer.Option(help="interface to listen on (default HOST or 127.0.0.1)")]
PortOption = Annotated[int | None, typer.Option(help="port to listen on (default PORT or 8000)")]


def _settings(**overrides: object) -> Settings:
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigurationError as error:
        typer.echo(f"aibroker: {error}", err=True)
        raise typer.Exit(code=2) from error
    configure_logging(settings.log_level, log_sql=settings.log_sql)
    return settings


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a start-up step; a StartupError becomes one line on stderr and exit code 1 (no traceback)."""
    try:
        return asyncio.run(work)
    except StartupError as error:
        typer.echo(f"aibroker: {error}", err=True)
        raise typer.Exit(code=1) from error


def _exit_cleanly_on_sigterm() -> None:
    """uvicorn re-raises SIGTERM once it has shut down; with the default handler that kills the process before any
    `finally` runs, which left the embedded Redis running (the next `make run` then answered every lead with 503).
    As SystemExit it unwinds like Ctrl+C does, and the ExitStack stops the embedded Redis."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def _redis_url(settings: Settings, stack: ExitStack) -> str:
    """REDIS_URL, or a private embedded Redis that lives as long as this command."""
    if settings.redis_url:
        return settings.redis_url
    from aibroker.adapters.queue.embedded_redis import EmbeddedRedis, EmbeddedRedisBusy

    try:
        return stack.enter_context(EmbeddedRedis(settings.data_dir / "redis"))
    except EmbeddedRedisBusy as error:
        typer.echo(f"aibroker: {error}", err=True)
        raise typer.Exit(code=1) from error


async def _migrate(settings: Settings) -> None:
    from aibroker.adapters.db.engine import create_engine
    from aibroker.adapters.db.migrate import migrate

    await check_database(settings, migrated=False)
    engine = create_engine(settings.sqlalchemy_url, log_sql=settings.log_sql)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def _serve(settings: Settings, redis_url: str, *, inline_worker: bool) -> None:
    from aibroker.api.app import create_app
    from aibroker.api.server import GracefulServer, server_config

    server = GracefulServer(server_config(create_app(settings, redis_url, inline_worker=inline_worker),
                                          settings.host, settings.port))
    server.run()


@app.command()
def dev(host: HostOption = None, port: PortOption = None) -> None:
    """Everything in one process: API + worker + embedded Redis + SQLite (unless configured otherwise)."""
    settings = _settings(host=host, port=port)
    if settings.admin_token is None:
        settings.admin_token = SecretStr(secrets.token_urlsafe(18))
        typer.echo(f"admin token for this run (set AIBROKER_ADMIN_TOKEN to fix it): "
                   f"{settings.admin_token.get_secret_value()}")
    if settings.session_secret is None:  # resume links work for this run (they stop working on a restart)
        settings.session_secret = SecretStr(secrets.token_urlsafe(32))
    _exit_cleanly_on_sigterm()
    with ExitStack() as stack:
        _run(_migrate(settings))
        redis_url = _redis_url(settings, stack)
        typer.echo(f"aibroker is running on http://{settings.host}:{settings.port}  (API docs: /docs)")
        _serve(settings, redis_url, inline_worker=True)


@app.command()
def serve(host: HostOption = None, port: PortOption = None,
          with_worker: Annotated[bool, typer.Option(help="also run a queue worker in this process")] = False) -> None:
    """The HTTP API. Without REDIS_URL a private Redis and an in-process worker are started too."""
    settings = _settings(host=host, port=port)
    _run(check_database(settings, migrated=True))  # Redis may come later: meanwhile requests get 503
    _exit_cleanly_on_sigterm()
    with ExitStack() as stack:
        inline = with_worker or settings.redis_url is None
        if settings.api_processes == 1:
            _serve(settings, _redis_url(settings, stack), inline_worker=inline)
            return
        from aibroker.api.processes import serve_processes

        if settings.session_secret is None:  # one for this run, so its processes accept each other's sessions
            settings.session_secret = SecretStr(secrets.token_urlsafe(32))
        status = serve_processes(settings, _redis_url(settings, stack), inline_worker=inline,
                                 processes=settings.api_processes)
    if status:
        raise typer.Exit(code=status)


@app.command()
def worker() -> None:
    """A queue worker. Needs REDIS_URL: the API and its workers must share one Redis."""
    settings = _settings()
    if not settings.redis_url:
        typer.echo("aibroker: REDIS_URL is not set; a separate worker must use the API's Redis "
                   "(or run `aibroker dev`, which runs a worker in-process)", err=True)
        raise typer.Exit(code=2)
    from aibroker.errors import DependencyUnavailable
    from aibroker.preflight import redis_location
    from aibroker.worker.main import run_until_stopped, worker_main

    _run(check_redis(settings.redis_url))
    _run(check_database(settings, migrated=True))
    try:
        run_until_stopped(worker_main(settings, settings.redis_url))
    except DependencyUnavailable as error:  # Redis went away between the check and the worker's start
        typer.echo(f"aibroker: cannot reach Redis at {redis_location(settings.redis_url)}: {error.reason}", err=True)
        raise typer.Exit(code=1) from error


@app.command()
def migrate() -> None:
    """Apply database migrations and seed the broker pool (safe to run repeatedly)."""
    settings = _settings()
    _run(_migrate(settings))
    typer.echo("database is up to date")


@app.command()
def reconcile() -> None:
    """Recompute each broker's workload from its open assignments (also runs in every worker)."""
    settings = _settings()

    async def _reconcile() -> dict[str, int]:
        from aibroker.adapters.db.capacity import SqlCapacity
        from aibroker.adapters.db.engine import create_engine, session_factory

        engine = create_engine(settings.sqlalchemy_url)
        try:
            return await SqlCapacity(session_factory(engine)).reconcile()
        finally:
            await engine.dispose()

    _run(check_database(settings, migrated=True))
    corrections = asyncio.run(_reconcile())
    typer.echo(f"workloads corrected: {corrections}" if corrections else "workloads were already right")


ErasureRun = Callable[["ErasureService"], Awaitable["ErasureReport"]]


async def _erasure_report(settings: Settings, run: ErasureRun) -> ErasureReport:
    from aibroker.adapters.db.engine import create_engine, session_factory
    from aibroker.adapters.db.store import SqlStore
    from aibroker.adapters.queue.redis_options import redis_client
    from aibroker.bootstrap import build_erasure

    engine = create_engine(settings.sqlalchemy_url)
    redis = redis_client(settings.redis_url) if settings.redis_url else None
    try:
        return await run(build_erasure(settings, SqlStore(session_factory(engine)), redis))
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


def _run_erasure(run: ErasureRun, as_json: bool) -> None:
    """Shared by erase and purge: exit 2 for bad input, 1 when Redis or the database failed (each step is
    complete or not done, so running it again finishes the job), 0 with the report (also when nothing was found)."""
    from sqlalchemy.exc import SQLAlchemyError

    from aibroker.errors import DependencyUnavailable, InvalidRequest

    settings = _settings()
    try:
        report = asyncio.run(_erasure_report(settings, run))
    except InvalidRequest as error:
        typer.echo(f"aibroker: {error}", err=True)
        raise typer.Exit(code=2) from error
    except (DependencyUnavailable, SQLAlchemyError, OSError) as error:
        # Only the error's type for the database: its message can quote the SQL parameters (the e-mail).
        reason = str(error) if isinstance(error, DependencyUnavailable) else f"database: {type(error).__name__}"
        typer.echo(f"aibroker: {reason}; stopped part-way or before starting: run the command again", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(report.model_dump_json(indent=2) if as_json else "\n".join(report.lines()))


JsonOption = Annotated[bool, typer.Option("--json", help="print the report as JSON")]


@app.command()
def erase(email: Annotated[str, typer.Option("--email", help="the person's e-mail address (any case)")],
          as_json: JsonOption = False) -> None:
    """Erase everything stored about a person (PDPA): contact, lead form, messages, events, by e-mail."""
    _run_erasure(lambda service: service.erase_email(email), as_json)


@app.command()
def purge(older_than: Annotated[int, typer.Option("--older-than", min=1, metavar="DAYS",
                                                  help="erase conversations with no activity for DAYS days")],
          as_json: JsonOption = False) -> None:
    """Retention: erase conversations idle for DAYS days and built-in inbox contacts left without any."""
    _run_erasure(lambda service: service.purge(older_than), as_json)
rollout_app = typer.Typer(help="Rollout switches at run time (stored in the database; all processes within 5 s).",
                          no_args_is_help=True)
app.add_typer(rollout_app, name="rollout")


def _rollout_control(settings: Settings) -> tuple[Any, Any]:
    from aibroker.adapters.db.engine import create_engine, session_factory
    from aibroker.adapters.db.rollout_store import SqlRolloutStore
    from aibroker.usecases.rollout import RolloutControl
    from aibroker.wiring_rollout import environment_switches

    engine = create_engine(settings.sqlalchemy_url)
    store = SqlRolloutStore(session_factory(engine))
    return RolloutControl(store, environment_switches(settings), settings.n8n_webhook_url), engine


@rollout_app.command("show")
def rollout_show() -> None:
    """The switches, where they come from, and who changed them when."""
    settings = _settings()

    async def _run() -> dict[str, Any]:
        control, engine = _rollout_control(settings)
        try:
            result: dict[str, Any] = await control.describe()
            return result
        finally:
            await engine.dispose()

    typer.echo(json.dumps(asyncio.run(_run()), indent=2, default=str))


@rollout_app.command("set")
def rollout_set(
        percentage: Annotated[int | None, typer.Option(min=0, max=100, help="BULLMQ_ROLLOUT_PERCENTAGE")] = None,
        broker: Annotated[bool | None, typer.Option("--broker/--no-broker", help="ENABLE_BULLMQ_BROKER "
                                                    "(--no-broker: every conversation to n8n, the rollback)")] = None,
        ai: Annotated[bool | None, typer.Option("--ai/--no-ai", help="ENABLE_AI_BROKER")] = None,
        shadow: Annotated[bool | None, typer.Option("--shadow/--no-shadow", help="BULLMQ_SHADOW_MODE")] = None,
        by: Annotated[str, typer.Option(help="who makes the change (audit list)")] = "cli") -> None:
    """Change switches, e.g. `aibroker rollout set --percentage 50` or `aibroker rollout set --no-broker`."""
    settings = _settings()
    changes = {name: value for name, value in (("rollout_percentage", percentage), ("enable_bullmq_broker", broker),
                                               ("enable_ai_broker", ai), ("shadow_mode", shadow)) if value is not None}
    if not changes:
        typer.echo("aibroker: nothing to change (see `aibroker rollout set --help`)", err=True)
        raise typer.Exit(code=2)

    async def _run() -> dict[str, Any]:
        control, engine = _rollout_control(settings)
        try:
            result: dict[str, Any] = await control.change(f"cli:{by}", **changes)
            return result
        finally:
            await engine.dispose()

    try:
        changed = asyncio.run(_run())
    except (InvalidRequest, Conflict) as error:
        typer.echo(f"aibroker: {error}", err=True)
        raise typer.Exit(code=2) from error
    typer.echo(f"changed: {changed}" if changed else "nothing changed (already so)")


agent_app = typer.Typer(help="Console accounts (sign in at /console).", no_args_is_help=True)
app.add_typer(agent_app, name="agent")


def _agent_accounts(settings: Settings) -> tuple[Any, Any]:
    from aibroker.adapters.db.agents import SqlAgents
    from aibroker.adapters.db.engine import create_engine, session_factory
    from aibroker.adapters.passwords import Argon2Passwords
    from aibroker.usecases.agents import AgentAccounts

    engine = create_engine(settings.sqlalchemy_url)
    return AgentAccounts(SqlAgents(session_factory(engine)), Argon2Passwords()), engine


def _with_agents(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    async def _run_it() -> T:
        accounts, engine = _agent_accounts(settings)
        try:
            return await work(accounts)
        finally:
            await engine.dispose()

    _run(check_database(settings, migrated=True))
    return asyncio.run(_run_it())


def _read_password(from_stdin: bool) -> str:
    """Never a command-line argument (other users see those in `ps`): a hidden prompt, or one line on stdin."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@agent_app.command("add")
def agent_add(email: Annotated[str, typer.Argument(help="the agent's e-mail address (their sign-in name)")],
              name: Annotated[str, typer.Option(help="the name customers and colleagues see")],
              admin: Annotated[bool, typer.Option("--admin", help="an administrator of the console")] = False,
              password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                           help="read the password from stdin (scripts)")] = False,
              ) -> None:
    """Add a console account, e.g. `aibroker agent add ann@example.com --name "Ann Lee"` (asks for a password)."""
    settings = _settings()
    password = _read_password(password_stdin)
    try:
        agent = _with_agents(settings, lambda accounts: accounts.add(email, name, password, is_admin=admin))
    except (InvalidRequest, Conflict) as error:
        typer.echo(f"aibroker: {error}", err=True)
        raise typer.Exit(code=2) from error
    typer.echo(f"agent added: {agent.name} <{agent.email}>{' (admin)' if agent.is_admin else ''}")


@agent_app.command("remove")
def agent_remove(email: Annotated[str, typer.Argument(help="the agent's e-mail address")]) -> None:
    """Remove a console account: it cannot sign in any more, and its open sessions end at once."""
    settings = _settings()
    if not _with_agents(settings, lambda accounts: accounts.remove(email)):
        typer.echo(f"aibroker: no agent with the address {email}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"agent removed: {email}")


def main() -> None:
    app(prog_name="aibroker")


register_ops(app)


if __name__ == "__main__":  # pragma: no cover
    main()
