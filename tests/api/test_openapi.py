"""The OpenAPI document declares every status each route can answer, every error with the one shape."""

from __future__ import annotations

from typing import Any

import pytest

from aibroker.api.app import create_app
from aibroker.config import Settings

EXPECTED = {
    ("post", "/api/leads"): {"201", "400", "413", "422", "429", "502", "503"},
    ("get", "/api/conversations/{conversation_id}"): {"200", "404", "422", "503"},
    ("get", "/api/conversations/{conversation_id}/messages"): {"200", "404", "422", "502", "503"},
    ("post", "/api/conversations/{conversation_id}/messages"): {"202", "400", "404", "413", "422", "429", "502",
                                                                "503"},
    ("post", "/api/conversations/{conversation_id}/handoff"): {"200", "401", "404", "422", "502", "503"},
    ("post", "/api/conversations/{conversation_id}/handback"): {"200", "401", "404", "422", "502", "503"},
    ("get", "/api/conversations/{conversation_id}/events"): {"200", "404", "422", "503"},
    ("get", "/api/console/events"): {"200", "401", "422", "503"},
    ("post", "/api/conversations/{conversation_id}/typing"): {"202", "400", "404", "413", "422", "503"},
    ("post", "/api/conversations/{conversation_id}/resume-link"): {"200", "404", "422", "503"},
    ("post", "/api/resume"): {"200", "400", "401", "404", "410", "413", "422", "503"},
    ("get", "/api/health"): {"200", "503"},
    ("get", "/api/worker/status"): {"200"},
    ("get", "/api/config/public"): {"200"},
    ("get", "/api/admin/migration-status"): {"200", "401", "503"},
    ("get", "/api/admin/brokers"): {"200", "401", "403", "503"},
    ("get", "/api/admin/rollout"): {"200", "401", "403", "503"},
    ("put", "/api/admin/rollout"): {"200", "400", "401", "403", "409", "413", "422", "503"},
    ("get", "/api/admin/queue/failed"): {"200", "401", "503"},
    ("get", "/api/admin/metrics"): {"200", "401", "503"},
    ("delete", "/api/admin/contacts"): {"200", "401", "422", "503"},
    ("delete", "/api/admin/conversations"): {"200", "401", "422", "503"},
    ("post", "/api/webhooks/chatwoot"): {"200", "400", "401", "413", "503"},
    ("get", "/api/console/me"): {"200", "401", "503"},
    ("get", "/api/console/conversations"): {"200", "401", "503"},
    ("get", "/api/console/conversations/{conversation_id}"): {"200", "401", "404", "422", "502", "503"},
    ("post", "/api/console/conversations/{conversation_id}/messages"): {"200", "400", "401", "403", "404", "409",
                                                                        "413", "422", "502", "503"},
    ("post", "/api/console/conversations/{conversation_id}/takeover"): {"200", "401", "403", "404", "409", "422",
                                                                        "502", "503"},
    ("post", "/api/console/conversations/{conversation_id}/handback"): {"200", "401", "403", "404", "409", "422",
                                                                        "502", "503"},
    ("post", "/api/console/conversations/{conversation_id}/resolve"): {"200", "401", "403", "404", "409", "422",
                                                                       "502", "503"},
    ("get", "/api/admin/analytics"): {"200", "401", "403", "422", "503"},
    ("post", "/api/admin/conversations/{conversation_id}/smoke-test"): {"200", "401", "404", "422", "503"},
    ("get", "/api/admin/queue"): {"200", "401", "403", "503"},
    ("post", "/api/admin/queue/pause"): {"200", "401", "403", "503"},
    ("post", "/api/admin/queue/resume"): {"200", "401", "403", "503"},
    ("post", "/api/admin/queue/drain"): {"200", "401", "403", "503"},
    ("post", "/api/admin/queue/failed/retry-all"): {"200", "401", "403", "503"},
    ("post", "/api/admin/queue/failed/{job_id}/retry"): {"200", "401", "403", "404", "422", "503"},
    ("delete", "/api/admin/queue/jobs/{job_id}"): {"200", "401", "403", "404", "422", "503"},
    ("get", "/metrics"): {"200", "401", "503"},
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(_env_file=None, AIBROKER_ADMIN_TOKEN="t")  # type: ignore[call-arg]
    return create_app(settings, "redis://unused").openapi()


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): operation for path, methods in document["paths"].items()
            for method, operation in methods.items()}


def test_every_route_declares_exactly_the_statuses_it_can_answer(document: dict[str, Any]) -> None:
    declared = {key: set(operation["responses"]) for key, operation in _operations(document).items()}
    assert declared == EXPECTED


def test_every_error_has_the_one_shape(document: dict[str, Any]) -> None:
    for (method, path), operation in _operations(document).items():
        for status, response in operation["responses"].items():
            if status.startswith("2") or path == "/api/health":
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_admin_routes_declare_the_bearer_token(document: dict[str, Any]) -> None:
    secured = {key for key, operation in _operations(document).items() if operation.get("security")}
    assert secured == {key for key in EXPECTED if key[1].startswith(("/api/admin/", "/api/console/"))
                       or key[1].endswith(("handoff", "handback")) or key[1] == "/metrics"}
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
