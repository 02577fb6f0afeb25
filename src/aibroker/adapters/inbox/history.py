"""An in-memory `MessageHistoryStore`: for tests, and the fallback when only a Chatwoot bot token is set.

It forgets everything on restart; production wires a database-backed store instead.
"""

from __future__ import annotations

import asyncio

from aibroker.domain.conversation import ChatMessage


def _id_key(message_id: str) -> tuple[int, str]:
    """Inbox ids are integers in practice; anything else sorts after them, by text."""
    return (int(message_id), "") if message_id.isdigit() else (2**63, message_id)


def _order_key(message: ChatMessage) -> tuple[int, str]:
    return _id_key(message.id)


class InMemoryMessageHistoryStore:
    def __init__(self) -> None:
        self._messages: dict[str, dict[str, ChatMessage]] = {}
        self._lock = asyncio.Lock()

    async def record(self, conversation_id: str, message: ChatMessage) -> None:
        async with self._lock:
            self._messages.setdefault(conversation_id, {})[message.id] = message

    async def list_messages(self, conversation_id: str, *, before: str | None = None,
                            limit: int = 100) -> list[ChatMessage]:
        async with self._lock:
            messages = sorted(self._messages.get(conversation_id, {}).values(), key=_order_key)
        if before is not None:
            cut = _id_key(before)
            messages = [message for message in messages if _order_key(message) < cut]
        return messages[-limit:] if limit > 0 else []

    async def find_by_source_id(self, conversation_id: str, source_id: str) -> ChatMessage | None:
        async with self._lock:
            for message in self._messages.get(conversation_id, {}).values():
                if message.source_id == source_id:
                    return message
        return None
