"""A signed webhook can still carry values our database cannot store: classification keeps every stored field
storable (bounded ids and keys, no NUL, times only when they are times) instead of failing with a 500 that
Chatwoot would retry forever."""

from __future__ import annotations

from typing import Any

import pytest

from aibroker.adapters.inbox.chatwoot_messages import parse_created_at
from aibroker.adapters.inbox.chatwoot_webhook import Outcome, classify

CONVERSATION = {"id": 12, "status": "pending"}
CONTACT = {"id": 5, "name": "Jane Tan", "type": "contact"}


def _message(**changes: Any) -> dict[str, Any]:
    return {"event": "message_created", "id": 900, "message_type": "incoming", "content": "hello",
            "created_at": "2026-11-22T04:25:40Z", "conversation": CONVERSATION, "sender": CONTACT, **changes}


@pytest.mark.parametrize("value", [10**400, 1e300, float("nan"), float("inf"), -1e20, "1e300", "inf", "nan",
                                   "9" * 5000, True, [], {}])
def test_times_out_of_range_are_no_time(value: object) -> None:
    assert parse_created_at(value) is None


@pytest.mark.parametrize("bad_id", ["9" * 5000, "1" * 19, "١٢", "-1", 1.5, True, None, {"id": 1}])
def test_ids_that_cannot_be_chatwoots_are_malformed(bad_id: object) -> None:
    assert classify(_message(id=bad_id)).reason == "malformed: message id"
    assert classify(_message(conversation={**CONVERSATION, "id": bad_id})).reason == "malformed: conversation"


def test_content_loses_what_no_database_stores() -> None:
    decision = classify(_message(content="hi\x00 there \ud800!"))
    assert decision.outcome is Outcome.CUSTOMER_MESSAGE and decision.content == "hi there !"


def test_an_overlong_source_id_is_not_ours() -> None:
    decision = classify(_message(message_type="outgoing", source_id="aibroker:" + "x" * 500,
                                 sender={"id": 1, "type": "user"}))
    assert decision.source_id is None and decision.outcome is Outcome.HUMAN_REPLY


@pytest.mark.parametrize("version", ["x" * 10_000, {"nested": [1, 2]}, 10**400, "a\x00b", 1764713424.5])
def test_status_dedupe_keys_fit_the_receipts_column(version: object) -> None:
    decision = classify({"event": "conversation_status_changed", "id": 12, "status": "open", "updated_at": version})
    assert decision.outcome is Outcome.STATUS_CHANGED
    assert decision.dedupe_key is not None and len(decision.dedupe_key) <= 128 and "\x00" not in decision.dedupe_key
    again = classify({"event": "conversation_status_changed", "id": 12, "status": "open", "updated_at": version})
    assert again.dedupe_key == decision.dedupe_key  # still a key: the same delivery twice is one
