"""Security headers on pages and API answers; conversation data is never cached (issue #10 item 7)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from aibroker.api.app import STATIC_DIR
from aibroker.config import ConfigurationError, load_settings
from tests.support.app import ADMIN, LEAD, running_api

ANCESTORS = "'self' https://www.example.com https://*.example.org"


@pytest.fixture
def api(make_settings, e2e_db_url: str) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with running_api(make_settings(e2e_db_url, ALLOWED_FRAME_ANCESTORS=ANCESTORS)) as client:
        yield client


def _directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: part.partition(" ")[2] for part in (p.strip() for p in policy.split(";")) if part}


def _assert_secured(response: httpx.Response) -> dict[str, str]:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    directives = _directives(response)
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == ANCESTORS
    for name in ("script-src", "style-src"):  # own files, and at most hashes of a shipped page's own blocks
        sources = directives[name].split()
        assert sources[0] == "'self'" and all(re.fullmatch(r"'sha256-[A-Za-z0-9+/=]+'", s) for s in sources[1:])
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    return directives


@pytest.mark.parametrize("path", ["/", "/docs", "/docs/init.js", "/openapi.json", "/api/health", "/api/worker/status",
                                  "/api/no-such-route"])
def test_every_answer_has_the_security_headers(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    _assert_secured(response)
    assert "no-store" not in response.headers.get("cache-control", "")


def test_conversation_data_is_never_cached(api: httpx.Client) -> None:
    lead = api.post("/api/leads", json=LEAD)
    assert lead.status_code == 201 and lead.headers["cache-control"] == "no-store"
    _assert_secured(lead)
    conversation_id = lead.json()["conversation_id"]
    for path in (f"/api/conversations/{conversation_id}", f"/api/conversations/{conversation_id}/messages",
                 "/api/conversations/424242"):
        response = api.get(path, headers=ADMIN)
        assert response.headers["cache-control"] == "no-store", path
        _assert_secured(response)
    posted = api.post(f"/api/conversations/{conversation_id}/messages", json={"content": "hi"}, headers=ADMIN)
    assert posted.status_code == 202 and posted.headers["cache-control"] == "no-store"


def test_refusals_before_the_app_get_the_headers_too(api: httpx.Client) -> None:
    response = api.post("/api/leads", content=b"x" * 70_000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.headers["cache-control"] == "no-store"
    _assert_secured(response)


def test_shipped_pages_load_their_code_from_files() -> None:
    docs = (STATIC_DIR / "docs.html").read_text()
    assert "<style" not in docs and re.search(r"<script(?![^>]*\bsrc=)[^>]*>", docs) is None
    links = re.findall(r'(?:src|href)="([^"]+)"', docs)
    assert links and all(link.startswith("docs/") for link in links), links  # the app's own files, no CDN


def test_docs_assets_are_served_by_the_app(api: httpx.Client) -> None:
    for path in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        response = api.get(path)
        assert response.status_code == 200 and len(response.content) > 10_000, path
    assert api.get("/redoc").status_code == 404  # FastAPI's CDN-loaded pages are off


@pytest.mark.parametrize("value", ["https://a.example; script-src *", "*", "'self',https://a.example", " "])
def test_a_bad_frame_ancestors_value_stops_start_up(value: str) -> None:
    with pytest.raises(ConfigurationError, match="ALLOWED_FRAME_ANCESTORS"):
        load_settings(_env_file=None, ALLOWED_FRAME_ANCESTORS=value)
