"""The HTTP contract of the foundation issue, against the real app on a real server (no worker here)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.app import ADMIN, LEAD, customer_headers, running_api


@pytest.fixture
def api(make_settings, e2e_db_url: str) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with running_api(make_settings(e2e_db_url)) as client:
        yield client


def test_lead_is_accepted_with_broker_and_conversation(api: httpx.Client) -> None:
    response = api.post("/api/leads", json=LEAD)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"conversation_id", "broker", "reused", "conversation_token"} and body["reused"] is False
    assert set(body["broker"]) == {"name", "title", "persona_type"}
    conversation = api.get(f"/api/conversations/{body['conversation_id']}", headers=customer_headers(body)).json()
    assert conversation["owner"] == "bot" and conversation["status"] == "pending"
    assert conversation["broker"] == body["broker"]


def test_legacy_path_and_snake_case_are_accepted(api: httpx.Client) -> None:
    snake = {"name": "Bo Lim", "email": "bo@example.com", "loan_type": "refinance", "property_type": "private",
             "consent": True}
    response = api.post("/api/chatwoot-conversation", json=snake)
    assert response.status_code == 201, response.text


def test_same_contact_and_loan_type_reuses_the_conversation(api: httpx.Client) -> None:
    first = api.post("/api/leads", json=LEAD).json()
    second = api.post("/api/leads", json=LEAD, headers=customer_headers(first)).json()  # the same browser
    assert second["reused"] is True and second["conversation_id"] == first["conversation_id"]
    assert second["conversation_token"] == first["conversation_token"]
    other = api.post("/api/leads", json={**LEAD, "loanType": "refinance"}, headers=customer_headers(first)).json()
    assert other["reused"] is False and other["conversation_id"] != first["conversation_id"]


@pytest.mark.parametrize(("change", "field"), [
    ({"email": "not-an-email"}, "email"),
    ({"loanType": "car_loan"}, "loanType"),
    ({"actualIncomes": ["lots"]}, "actualIncomes.0"),
    ({"actualAges": [12]}, "actualAges.0"),
    ({"phone": "call me maybe"}, "phone"),
    ({"name": ""}, "name"),
])
def test_invalid_leads_get_422_naming_the_field(api: httpx.Client, change: dict[str, object], field: str) -> None:
    response = api.post("/api/leads", json={**LEAD, **change})
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["detail"]]


def test_missing_field_is_named(api: httpx.Client) -> None:
    lead = {k: v for k, v in LEAD.items() if k != "loanType"}
    response = api.post("/api/leads", json=lead)
    assert response.status_code == 422 and "loanType" in response.json()["error"]


def test_malformed_json_is_400_with_reason(api: httpx.Client) -> None:
    response = api.post("/api/leads", content=b'{"name": "Ann",', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "malformed JSON"


def test_oversized_bodies_are_refused(api: httpx.Client) -> None:
    big = json.dumps({**LEAD, "name": "x" * (70 * 1024)})
    response = api.post("/api/leads", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "larger than 65536" in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"name": "'
        for _ in range(80):
            yield b"y" * 1024
        yield b'"}'

    streamed = api.post("/api/leads", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_unknown_conversations_are_404(api: httpx.Client) -> None:
    assert api.get("/api/conversations/424242").status_code == 404
    assert api.get("/api/conversations/424242/messages").status_code == 404
    assert api.post("/api/conversations/424242/messages", json={"content": "hi"}).status_code == 404
    assert api.get("/api/conversations/not-a-number").status_code == 422


def test_customer_message_is_accepted_and_listed_in_order(api: httpx.Client) -> None:
    lead = api.post("/api/leads", json=LEAD).json()
    conversation_id, mine = lead["conversation_id"], customer_headers(lead)
    for text in ("first", "second"):
        response = api.post(f"/api/conversations/{conversation_id}/messages", json={"content": text}, headers=mine)
        assert response.status_code == 202 and response.json()["queued"] is True
    messages = api.get(f"/api/conversations/{conversation_id}/messages", headers=mine).json()["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [("customer", "first"), ("customer", "second")]
    assert set(messages[0]) == {"id", "role", "content", "created_at"}


@pytest.mark.parametrize("body", [{}, {"content": ""}, {"content": 5}, {"content": "x" * 4001}])
def test_bad_customer_messages_are_422(api: httpx.Client, body: dict[str, object]) -> None:
    lead = api.post("/api/leads", json=LEAD).json()
    assert api.post(f"/api/conversations/{lead['conversation_id']}/messages", json=body,
                    headers=customer_headers(lead)).status_code == 422


def test_health_names_the_missing_worker(api: httpx.Client) -> None:
    response = api.get("/api/health", headers=ADMIN)
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["worker"]
    assert body["parts"]["database"]["status"] == "ok" and body["parts"]["redis"]["status"] == "ok"
    assert "counts" in body["parts"]["queue"]
    status = api.get("/api/worker/status", headers=ADMIN).json()
    assert status["running"] is False and api.get("/api/worker/start", headers=ADMIN).json() == status


def test_admin_routes_need_the_token(api: httpx.Client) -> None:
    assert api.get("/api/admin/brokers").status_code == 401
    assert api.get("/api/admin/brokers", headers={"Authorization": "Bearer wrong"}).status_code == 401
    brokers = api.get("/api/admin/brokers", headers=ADMIN).json()["brokers"]
    assert len(brokers) == 5 and {"current_workload", "max_concurrent_chats", "is_available"} <= set(brokers[0])
    assert api.get("/api/admin/migration-status", headers=ADMIN).json()["schema"]["up_to_date"] is True


def test_openapi_docs_are_served(api: httpx.Client) -> None:
    assert api.get("/docs").status_code == 200
    assert "/api/leads" in api.get("/openapi.json").json()["paths"]
