"""The one mapping from internal events to the five live event names (domain/live_events.py)."""

from __future__ import annotations

from aibroker.domain.live_events import LiveEvent, mirrored, sla_level, to_live


def test_every_published_type_maps_to_its_live_name() -> None:
    base = {"conversation_id": 7, "at": 1.0}
    message = {"message_id": "12", "content": "Hi", "created_at": "2026-12-03T00:00:00+00:00"}
    assert to_live({**base, "type": "message:ai", **message, "source": "greeting", "quick_replies": ["A", "B"]}) == \
        LiveEvent("message", {"conversation_id": 7, "id": "12", "role": "bot", "content": "Hi",
                              "created_at": "2026-12-03T00:00:00+00:00", "quick_replies": ["A", "B"]})
    assert to_live({**base, "type": "message:customer", **message}).data["role"] == "customer"  # type: ignore[union-attr]
    assert to_live({**base, "type": "message:human", **message}).data["role"] == "human"  # type: ignore[union-attr]
    assert to_live({**base, "type": "message:user", "message_id": "11"}) == LiveEvent(
        "read", {"conversation_id": 7, "up_to": "11"})
    assert to_live({**base, "type": "typing", "who": "broker", "on": True}) == LiveEvent(
        "typing", {"conversation_id": 7, "who": "broker", "on": True})
    statuses = {kind: to_live({**base, "type": kind, "reason": "explicit_request", "broker": "Sarah Wong"})
                for kind in ("conversation:created", "broker:waiting", "broker:joined", "handoff", "owner:human",
                             "handback", "conversation:resolved")}
    assert {kind: (e.name, e.data["owner"], e.data["status"]) for kind, e in statuses.items() if e} == {
        "conversation:created": ("status", "bot", "pending"), "broker:waiting": ("status", "bot", "pending"),
        "broker:joined": ("status", "bot", "pending"), "handoff": ("status", "human", "open"),
        "owner:human": ("status", "human", "open"), "handback": ("status", "bot", "pending"),
        "conversation:resolved": ("status", None, "resolved")}
    assert statuses["handoff"].data["reason"] == "explicit_request"  # type: ignore[union-attr]
    assert to_live({**base, "type": "sla", "level": "warning", "message_id": "3", "waited_ms": 4100,
                    "target_ms": 5000}).name == "sla"  # type: ignore[union-attr]
    assert to_live({**base, "type": "quick_reply:clicked", "chip": "A"}) is None


def test_sla_levels() -> None:
    assert [sla_level(ms, 5000) for ms in (0, 3999, 4000, 4999, 5000, 60_000)] == [
        None, None, "warning", "warning", "violation", "violation"]


def test_the_analytics_mirror_keeps_no_texts_and_no_typing() -> None:
    assert mirrored("message:ai", {"message_id": "1", "content": "secret", "source": "llm"}) == {
        "message_id": "1", "source": "llm"}
    assert mirrored("typing", {"who": "customer", "on": True}) is None
