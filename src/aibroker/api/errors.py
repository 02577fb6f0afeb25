"""Map our error tree and request-validation failures to clear 4xx/503 answers; never a bare 500."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from aibroker.errors import (
    Conflict,
    DependencyUnavailable,
    InvalidRequest,
    NotFound,
    PermanentInboxError,
    RateLimited,
    Unauthorized,
)
from aibroker.logging import get_logger

log = get_logger(__name__)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def _validation(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return JSONResponse({"error": "malformed JSON", "detail": [
            {"field": "body", "message": str(p.get("ctx", {}).get("error", p.get("msg")))} for p in problems]},
            status_code=400)
    detail = [{"field": _field(tuple(p["loc"])), "message": p["msg"]} for p in problems]
    return JSONResponse({"error": "invalid request: " + ", ".join(d["field"] for d in detail), "detail": detail},
                        status_code=422)


def _simple(status: int) -> Any:
    async def handler(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=status)
    return handler


async def _unavailable(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DependencyUnavailable)
    log.warning("503: %s", error)
    return JSONResponse({"error": str(error), "part": error.part, "retry": True}, status_code=503,
                        headers={"Retry-After": "2"})


async def _rate_limited(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RateLimited)
    return JSONResponse({"error": str(error)}, status_code=429, headers={"Retry-After": str(error.retry_after_s)})


async def _inbox_refused(_request: Request, error: Exception) -> JSONResponse:
    """The inbox refused for a reason a retry cannot fix (a misconfiguration, a rejected payload): 502 and
    `retry: false`, so a lead form does not retry forever."""
    log.warning("502: %s", error)
    return JSONResponse({"error": str(error), "part": "inbox", "retry": False}, status_code=502)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # Last resort: log the type (not the body: it may hold PII) and answer without internals.
    log.exception("unhandled error on %s %s: %s", request.method, request.url.path, type(error).__name__)
    return JSONResponse({"error": "internal error", "retry": True}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(NotFound, _simple(404))
    app.add_exception_handler(InvalidRequest, _simple(422))
    app.add_exception_handler(Unauthorized, _simple(401))
    app.add_exception_handler(Conflict, _simple(409))
    app.add_exception_handler(DependencyUnavailable, _unavailable)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(PermanentInboxError, _inbox_refused)
    app.add_exception_handler(Exception, _unexpected)
