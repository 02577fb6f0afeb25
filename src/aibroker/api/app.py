"""`create_app(settings, redis_url)`: the FastAPI application with a lifespan that owns every connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from aibroker import __version__
from aibroker.adapters.db.engine import DBAPIError
from aibroker.adapters.db.engine import unavailable as database_unavailable
from aibroker.adapters.metrics.prometheus import HttpMetrics
from aibroker.api.budget import RedisBudget
from aibroker.api.console_auth import ConsoleSessions
from aibroker.api.docs import install_docs
from aibroker.api.errors import install_error_handlers, one_error_shape_in_openapi
from aibroker.api.limits import BodySizeLimit
from aibroker.api.routers import (
    admin,
    console,
    console_pages,
    conversations,
    health,
    leads,
    live,
    migration,
    ops,
    public,
    queue,
    rollout,
    webhooks,
)
from aibroker.api.security_headers import SecurityHeaders, content_security_policy
from aibroker.bootstrap import build_container
from aibroker.config import Settings
from aibroker.wiring_ops import build_alert_monitor

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"


def create_app(settings: Settings, redis_url: str, *, inline_worker: bool = False) -> FastAPI:
    """`inline_worker` runs a queue worker inside the API process (the one-command `aibroker dev`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = build_container(settings, redis_url)
        app.state.container = container
        assert container.live is not None
        live = asyncio.create_task(container.live.run())
        app.state.shutting_down = container.live.close  # GracefulServer calls it: open event streams end
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if inline_worker:
            from aibroker.worker.main import run_worker

            tasks.append(asyncio.create_task(run_worker(settings, redis_url, stop, container)))
        if (alerts := build_alert_monitor(container)) is not None:
            tasks.append(asyncio.create_task(alerts.run(stop)))
        try:
            yield
        finally:
            container.live.close()
            stop.set()
            live.cancel()  # (not waiting out its pub/sub read's timeout: shutting down is not slowed)
            with suppress(Exception, asyncio.CancelledError):
                await live
            for task in tasks:
                with suppress(Exception):
                    await task
            await container.aclose()

    app = FastAPI(title="aibroker", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="AI mortgage-broker chat: lead intake, persona brokers, replies, handoff.")
    install_error_handlers(app, translate={DBAPIError: database_unavailable})
    one_error_shape_in_openapi(app)
    app.state.console_sessions = ConsoleSessions.from_settings(settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RedisBudget, seconds=settings.enqueue_timeout_s)
    app.add_middleware(HttpMetrics)
    # Added last, so outermost: a 413 from the size limit gets the headers too.
    app.add_middleware(SecurityHeaders, policy=content_security_policy(settings.allowed_frame_ancestors, STATIC_DIR))
    install_docs(app, STATIC_DIR)
    for router in (leads.router, live.router, conversations.router, health.router, admin.router, webhooks.router,
                   public.router, rollout.router, migration.router, console.router, console_pages.router,
                   live.console_router, live.resume_router, queue.router, ops.router):
        app.include_router(router)
    # The page's script and style are files, not inline, so a Content-Security-Policy needs no 'unsafe-inline'.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/console/ops", include_in_schema=False)
    async def ops_page() -> FileResponse:
        """The operations page: static; its script asks for the admin token and sends it to the admin routes."""
        return FileResponse(STATIC_DIR / "ops.html")

    @app.get("/privacy", include_in_schema=False)
    async def privacy_page() -> FileResponse:
        """The built-in privacy notice (the default `PRIVACY_POLICY_URL`)."""
        return FileResponse(STATIC_DIR / "privacy.html")

    return app
