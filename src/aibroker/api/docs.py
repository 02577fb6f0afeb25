"""`/docs` with no internet access: Swagger UI's files are served by the app (from the `fastapi-offline` package,
not a CDN) and the page's start-up script is a file, so the Content-Security-Policy needs no 'unsafe-inline'."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"


def install_docs(app: FastAPI, pages_dir: Path) -> None:
    """Create the app with `docs_url=None, redoc_url=None` (FastAPI's pages load from a CDN)."""
    app.mount("/docs/assets", StaticFiles(directory=SWAGGER_UI_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs_page() -> FileResponse:
        return FileResponse(pages_dir / "docs.html")

    @app.get("/docs/init.js", include_in_schema=False)
    async def docs_init() -> FileResponse:
        return FileResponse(pages_dir / "docs-init.js", media_type="text/javascript")
