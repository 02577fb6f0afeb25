"""A conversation's last activity is kept to a minute: a reply within it is not worth a write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aibroker.domain.conversation import ACTIVITY_RESOLUTION, ConversationRecord, Owner, activity_outdated

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _record(last_activity_at: datetime) -> ConversationRecord:
    return ConversationRecord(id=1, inbox="builtin", inbox_conversation_id="1", inbox_contact_id="1",
                              loan_type="refinance", lead={}, lead_score=50, persona_name="x", broker_id=None,
                              owner=Owner.BOT, status="open", created_at=NOW - timedelta(hours=1),
                              last_activity_at=last_activity_at)


def test_a_reply_records_activity_only_past_the_resolution() -> None:
    assert timedelta(minutes=1) == ACTIVITY_RESOLUTION
    assert not activity_outdated(_record(NOW - timedelta(seconds=59)), NOW)
    assert activity_outdated(_record(NOW - timedelta(seconds=60)), NOW)
    assert activity_outdated(_record(NOW - timedelta(days=3)), NOW)


def test_a_naive_timestamp_is_utc() -> None:  # (SQLite hands timestamps back without a zone)
    assert not activity_outdated(_record((NOW - timedelta(seconds=5)).replace(tzinfo=None)), NOW)
    assert activity_outdated(_record((NOW - timedelta(minutes=5)).replace(tzinfo=None)), NOW)
