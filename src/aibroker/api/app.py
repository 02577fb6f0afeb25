"""`create_app(settings, redis_url)`: the FastAPI application with a lifespan that owns every connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

from aibroker import __version__
from aibroker.api.errors import install_error_handlers
from aibroker.api.limits import BodySizeLimit
from aibroker.api.routers import admin, conversations, health, leads, migration, rollout, webhooks
from aibroker.bootstrap import build_container
from aibroker.config import Settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"


def create_app(settings: Settings, redis_url: str, *, inline_worker: bool = False) -> FastAPI:
    """`inline_worker` runs a queue worker inside the API process (the one-command `aibroker dev`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = build_container(settings, redis_url)
        app.state.container = container
        stop = asyncio.Event()
        worker_task: asyncio.Task[None] | None = None
        if inline_worker:
            from aibroker.worker.main import run_worker

            worker_task = asyncio.create_task(run_worker(settings, redis_url, stop, container))
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                with suppress(Exception):
                    await worker_task
            await container.aclose()

    app = FastAPI(title="aibroker", version=__version__, lifespan=lifespan,
                  description="AI mortgage-broker chat: lead intake, persona brokers, replies, handoff.")
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for router in (leads.router, conversations.router, health.router, admin.router, webhooks.router, rollout.router,
                   migration.router):
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    return app
