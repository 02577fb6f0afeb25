"""Map our error tree and request-validation failures to clear 4xx/503 answers; never a bare 500.

Every error answer has the one shape `ErrorBody` (`{"error": ..., "detail"?: [{"field", "message"}], ...}`),
Starlette's own 404/405 included; `error_responses` declares the statuses a route can answer in OpenAPI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from aibroker.api.schemas import ErrorBody
from aibroker.errors import (
    Conflict,
    DependencyUnavailable,
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    PermanentInboxError,
    RateLimited,
    Unauthorized,
)
from aibroker.logging import get_logger

log = get_logger(__name__)


_REASONS = {
    400: "malformed request (e.g. JSON)", 401: "missing or wrong credentials (admin token, webhook signature)",
    403: "signed in to the console, but the X-CSRF-Token header is missing or wrong",
    404: "no such resource", 409: "conflicts with the conversation's state",
    410: "the link has expired or was used already", 413: "request body too large",
    422: "invalid input: `detail` names each field", 429: "too many requests: `Retry-After` says when to retry",
    502: "the inbox refused the request (a retry will not help)",
    503: "a dependency is down: retry after `Retry-After` seconds",
}


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for these error statuses, all with the one error shape (429 and 503 also say when to
    come back, in `Retry-After`)."""
    return {status: {"model": ErrorBody, "description": _REASONS[status],
                     **({"headers": _RETRY_AFTER} if status in (429, 503) else {})} for status in statuses}


def one_error_shape_in_openapi(app: FastAPI) -> None:
    """FastAPI declares a 422 on its own, with its own `{"detail": [...]}` schema: ours is `ErrorBody`, and a route
    without parameters or body cannot answer 422 at all."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            ref = {"$ref": "#/components/schemas/ErrorBody"}
            for operation in (op for ops in document["paths"].values() for op in ops.values()):
                responses = operation.get("responses", {})
                if "422" not in responses:
                    continue
                if operation.get("parameters") or "requestBody" in operation:
                    responses["422"] = {"description": _REASONS[422], "content": {"application/json": {"schema": ref}}}
                else:
                    del responses["422"]
            for name in ("HTTPValidationError", "ValidationError"):
                document.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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


async def _http(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own answers (unknown route 404, wrong method 405 with `Allow`) in our shape."""
    assert isinstance(error, StarletteHTTPException)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    # FastAPI raises one as well for a body it cannot parse at all (e.g. JSON nested past the recursion limit).
    return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route on this path answers: Starlette's `Allow` names only the first route's (GET for
    `/messages`, though POST is there too). Asked of each route by method, as routers nest routes."""
    routes = request.app.router.routes
    return [method for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)]


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


def _translated(translate: Translate) -> Any:
    async def handler(request: Request, error: Exception) -> JSONResponse:
        if (unavailable := translate(error)) is not None:  # e.g. a database connection the server dropped
            return await _unavailable(request, unavailable)
        return await _unexpected(request, error)
    return handler


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # Last resort: log the type (not the body: it may hold PII) and answer without internals.
    log.exception("unhandled error on %s %s: %s", request.method, request.url.path, type(error).__name__)
    return JSONResponse({"error": "internal error", "retry": True}, status_code=500)


Translate = Callable[[BaseException], DependencyUnavailable | None]
"""An adapter's reading of one of its own errors as a dependency being down (adapters/db/engine.py)."""


def install_error_handlers(app: FastAPI, translate: Mapping[type[Exception], Translate] | None = None) -> None:
    """`translate`: an adapter's error classes, each with its reading of them. (Registered by class, not inside
    the catch-all: Starlette re-raises whatever reaches the catch-all after answering, and uvicorn then closes the
    client's keep-alive connection.)"""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(NotFound, _simple(404))
    app.add_exception_handler(InvalidRequest, _simple(422))
    app.add_exception_handler(Unauthorized, _simple(401))
    app.add_exception_handler(Forbidden, _simple(403))
    app.add_exception_handler(Conflict, _simple(409))
    app.add_exception_handler(Gone, _simple(410))
    app.add_exception_handler(DependencyUnavailable, _unavailable)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(PermanentInboxError, _inbox_refused)
    for error_class, reading in (translate or {}).items():
        app.add_exception_handler(error_class, _translated(reading))
    app.add_exception_handler(Exception, _unexpected)
