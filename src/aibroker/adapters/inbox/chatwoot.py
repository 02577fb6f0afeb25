"""The Chatwoot inbox: the `Inbox` port over Chatwoot's Application API (see docs/chatwoot.md, CHATWOOT.md).

Tokens: a bot token (`CHATWOOT_BOT_TOKEN`) is used for everything a bot may do (conversations, posting
messages, status, typing, custom attributes, labels), so replies appear from the bot and echo back with
sender type `agent_bot`. A user token (`CHATWOOT_API_TOKEN`) is needed for contacts and for reading
messages; with a bot token only, history comes from a `MessageHistoryStore` (in memory unless one is given).

Chatwoot replaces custom attributes and labels on write, so `merge_attributes` and `add_labels` read first
(not atomic against a concurrent writer). Chatwoot does not deduplicate `source_id`, so `send_message` looks
for an already-sent message with the same tag first, and before every retry of its POST; the caller's `guard`
runs before every POST (the reply service checks it still holds the conversation).
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import httpx

from aibroker.adapters.inbox.chatwoot_http import ChatwootHttp, CircuitBreaker
from aibroker.adapters.inbox.chatwoot_messages import (
    NOTE_PREFIX,
    contact_id_of,
    e164,
    our_tag,
    payload_list,
    to_chat_message,
)
from aibroker.adapters.inbox.history import InMemoryMessageHistoryStore
from aibroker.domain.conversation import ChatMessage, ContactInfo, ConversationStatus
from aibroker.domain.ports import MessageHistoryStore, SendGuard
from aibroker.errors import PermanentInboxError
from aibroker.logging import get_logger

if TYPE_CHECKING:
    from aibroker.config import Settings

log = get_logger(__name__)

PAGE_SIZE = 20  # Chatwoot's MessageFinder page
SEARCH_DEPTH = 100  # how far back find_sent_message looks through listed messages
RECENT = PAGE_SIZE  # how far back send_message looks for its own earlier attempt (one request)


class ChatwootInbox:
    name = "chatwoot"

    def __init__(self, base_url: str, account_id: int | str, inbox_id: int | str | None, api_token: str | None,
                 bot_token: str | None, *, timeout_s: float = 10, max_retries: int = 3,
                 transport: httpx.AsyncBaseTransport | None = None,
                 history_store: MessageHistoryStore | None = None, backoff_base_s: float = 0.5,
                 max_retry_after_s: float = 30.0, breaker_threshold: int = 10,
                 breaker_reset_s: float = 10.0) -> None:
        if not api_token and not bot_token:
            raise ValueError("ChatwootInbox needs a user API token, a bot token, or both")
        self._user_token = api_token or None
        self._bot_token = bot_token or None
        self._inbox_id = int(inbox_id) if inbox_id is not None else None  # None: no lead form (adoption only)
        self._prefix = f"/api/v1/accounts/{int(account_id)}"
        self._http = ChatwootHttp(base_url, timeout_s=timeout_s, max_retries=max_retries, transport=transport,
                                  backoff_base_s=backoff_base_s, max_retry_after_s=max_retry_after_s,
                                  breaker=CircuitBreaker(failure_threshold=breaker_threshold,
                                                         reset_after_s=breaker_reset_s))
        if history_store is None and self._user_token is None:
            log.warning("chatwoot: bot token only and no history store; message history is kept in memory")
            history_store = InMemoryMessageHistoryStore()
        self._history = history_store
        self._send_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = \
            weakref.WeakValueDictionary()

    @classmethod
    def from_settings(cls, settings: Settings, *, history_store: MessageHistoryStore | None = None,
                      transport: httpx.AsyncBaseTransport | None = None) -> ChatwootInbox:
        if not settings.chatwoot_base_url or settings.chatwoot_account_id is None:
            raise ValueError("Chatwoot is not configured (CHATWOOT_BASE_URL, _ACCOUNT_ID)")
        api = settings.chatwoot_api_token.get_secret_value() if settings.chatwoot_api_token else None
        bot = settings.chatwoot_bot_token.get_secret_value() if settings.chatwoot_bot_token else None
        return cls(settings.chatwoot_base_url, settings.chatwoot_account_id, settings.chatwoot_inbox_id,
                   api, bot, timeout_s=settings.chatwoot_timeout_s, transport=transport, history_store=history_store)

    @property
    def breaker(self) -> CircuitBreaker:
        return self._http.breaker

    # --- tokens ------------------------------------------------------------------------------------
    def _bot_capable(self) -> str:
        token = self._bot_token or self._user_token
        assert token is not None
        return token

    def _user_only(self, what: str) -> str:
        if self._user_token is None:
            raise PermanentInboxError(f"{what} needs CHATWOOT_API_TOKEN (a user token); bot tokens may not",
                                      status=401)
        return self._user_token

    def _conv(self, conversation_id: str) -> str:
        if not conversation_id.isdigit():
            raise PermanentInboxError(f"not a Chatwoot conversation id: {conversation_id[:40]!r}", status=404)
        return f"{self._prefix}/conversations/{int(conversation_id)}"

    # --- contacts and conversations -------------------------------------------------------------------
    async def find_or_create_contact(self, contact: ContactInfo) -> str:
        token = self._user_only("contact lookup")
        email = contact.email.strip().lower() if contact.email else None
        phone = e164(contact.phone)
        found = await self._find_contact(token, email, None if email else phone)
        if found is not None:
            return found
        body: dict[str, Any] = {"name": contact.name}
        if self._inbox_id is not None:
            body["inbox_id"] = self._inbox_id
        if email:
            body["email"] = email
        if phone:
            body["phone_number"] = phone
        try:
            data = await self._http.request("POST", f"{self._prefix}/contacts", token=token, json=body)
        except PermanentInboxError as error:
            if error.status != 422:
                raise
            found = await self._find_contact(token, email, phone)  # "already taken": someone created it
            if found is None:
                raise
            return found
        return contact_id_of(data)

    async def _find_contact(self, token: str, email: str | None, phone: str | None) -> str | None:
        for key, value in (("email", email), ("phone_number", phone)):
            if not value:
                continue
            rows = await self._filter_contacts(token, key, value)
            for row in rows:
                stored = str(row.get(key) or "")
                if (stored.lower() == value.lower()) if key == "email" else stored == value:
                    return str(row["id"])
        return None

    async def _filter_contacts(self, token: str, key: str, value: str) -> list[dict[str, Any]]:
        query = {"payload": [{"attribute_key": key, "filter_operator": "equal_to", "values": [value],
                              "query_operator": None}]}
        try:
            data = await self._http.request("POST", f"{self._prefix}/contacts/filter", token=token,
                                            json=query)
        except PermanentInboxError as error:
            if error.status != 404:  # very old servers: no filter endpoint; fall back to search
                raise
            data = await self._http.request("GET", f"{self._prefix}/contacts/search", token=token,
                                            params={"q": value})
        return payload_list(data)

    async def create_conversation(self, contact_id: str, attributes: Mapping[str, Any]) -> str:
        if not contact_id.isdigit():
            raise PermanentInboxError(f"not a Chatwoot contact id: {contact_id[:40]!r}", status=404)
        if self._inbox_id is None:
            raise PermanentInboxError("the lead form needs CHATWOOT_INBOX_ID: with it unset, aibroker only adopts "
                                      "conversations that begin in Chatwoot")
        body = {"inbox_id": self._inbox_id, "contact_id": int(contact_id), "status": "pending",
                "custom_attributes": dict(attributes)}
        data = await self._http.request("POST", f"{self._prefix}/conversations", token=self._bot_capable(),
                                        json=body)
        if not isinstance(data, dict) or "id" not in data:
            raise PermanentInboxError("conversation create: unexpected response shape")
        return str(data["id"])

    # --- messages ---------------------------------------------------------------------------------------
    async def _post_message(self, conversation_id: str, body: dict[str, Any], *, token: str,
                            tag: str | None = None, guard: SendGuard | None = None) -> ChatMessage:
        async def recover() -> Any:
            found = await self._find_tagged(conversation_id, tag, RECENT) if tag else None
            if found is None and guard is not None:
                await guard()  # about to post again: still allowed to?
            return found

        data = await self._http.request("POST", f"{self._conv(conversation_id)}/messages", token=token,
                                        json=body, recover=recover if tag else None)
        if not isinstance(data, dict) or "id" not in data:
            raise PermanentInboxError("message create: unexpected response shape")
        message = to_chat_message({**data, "source_id": tag} if data.get("source_id") is None else data)
        if self._history is not None:
            await self._history.record(conversation_id, message)
        return message

    async def post_customer_message(self, conversation_id: str, content: str, *,
                                    client_message_id: str | None = None) -> ChatMessage:
        body: dict[str, Any] = {"content": content, "message_type": "incoming"}
        if client_message_id:  # traceability only: Chatwoot does not deduplicate on source_id
            body["source_id"] = f"client:{client_message_id}"
        return await self._post_message(conversation_id, body, token=self._bot_capable())

    async def send_message(self, conversation_id: str, content: str, *, source_id: str, private: bool = False,
                           guard: SendGuard | None = None) -> ChatMessage:
        tag = our_tag(source_id)
        key = (self._conv(conversation_id), tag)
        lock = self._send_locks.setdefault(key, asyncio.Lock())
        async with lock:
            existing = await self._find_sent(conversation_id, source_id, RECENT)
            if existing is not None:
                return existing
            if guard is not None:
                await guard()
            body = {"content": content, "message_type": "outgoing", "private": private, "source_id": tag}
            return await self._post_message(conversation_id, body, token=self._bot_capable(), tag=tag, guard=guard)

    async def post_activity(self, conversation_id: str, content: str, *, internal: bool = False) -> None:
        """A private note (the API cannot create activity messages), so every activity is agent-only here;
        tagged so its echo is ignored."""
        tag = NOTE_PREFIX + uuid.uuid4().hex
        body = {"content": content, "message_type": "outgoing", "private": True, "source_id": tag}
        await self._post_message(conversation_id, body, token=self._bot_capable(), tag=tag)

    async def list_messages(self, conversation_id: str, *, before: str | None = None,
                            limit: int = 100) -> list[ChatMessage]:
        if self._user_token is None:
            assert self._history is not None
            return await self._history.list_messages(conversation_id, before=before, limit=limit)
        raws = await self._fetch(conversation_id, before=before, limit=limit)
        return [to_chat_message(raw) for raw in raws]

    async def _pages(self, conversation_id: str, before: str | None) -> AsyncGenerator[list[dict[str, Any]]]:
        """Pages newest first (each page oldest first, 20 per page) back to the conversation's start."""
        token = self._user_only("listing messages")
        cursor = before
        while True:
            data = await self._http.request("GET", f"{self._conv(conversation_id)}/messages", token=token,
                                            params={"before": cursor} if cursor else None)
            page = payload_list(data)
            yield page
            if len(page) < PAGE_SIZE:
                return
            cursor = str(min(int(item["id"]) for item in page))

    async def _fetch(self, conversation_id: str, *, before: str | None, limit: int) -> list[dict[str, Any]]:
        collected: list[dict[str, Any]] = []
        if limit <= 0:
            return collected
        async with aclosing(self._pages(conversation_id, before)) as pages:
            async for page in pages:
                collected = page + collected
                if len(collected) >= limit:
                    break
        return collected[-limit:]

    async def _find_tagged(self, conversation_id: str, tag: str,
                           depth: int = SEARCH_DEPTH) -> dict[str, Any] | None:
        if self._user_token is None:
            return None
        seen = 0
        async with aclosing(self._pages(conversation_id, None)) as pages:
            async for page in pages:
                for raw in reversed(page):
                    if raw.get("source_id") == tag:
                        return raw
                seen += len(page)
                if seen >= depth:
                    break
        return None

    async def find_sent_message(self, conversation_id: str, source_id: str) -> ChatMessage | None:
        return await self._find_sent(conversation_id, source_id, SEARCH_DEPTH)

    async def _find_sent(self, conversation_id: str, source_id: str, depth: int) -> ChatMessage | None:
        if self._history is not None:
            found = await self._history.find_by_source_id(conversation_id, source_id)
            if found is not None:
                return found
        raw = await self._find_tagged(conversation_id, our_tag(source_id), depth)
        return to_chat_message(raw) if raw is not None else None

    # --- conversation state ------------------------------------------------------------------------------
    async def set_typing(self, conversation_id: str, on: bool) -> None:
        await self._http.request("POST", f"{self._conv(conversation_id)}/toggle_typing_status",
                                 token=self._bot_capable(), json={"typing_status": "on" if on else "off"},
                                 retries=0)  # cosmetic: never hold a reply back retrying it

    async def set_status(self, conversation_id: str, status: ConversationStatus) -> None:
        await self._http.request("POST", f"{self._conv(conversation_id)}/toggle_status",
                                 token=self._bot_capable(), json={"status": status.value})

    async def merge_attributes(self, conversation_id: str, attributes: Mapping[str, Any]) -> None:
        token = self._bot_capable()
        data = await self._http.request("GET", self._conv(conversation_id), token=token)
        current = data.get("custom_attributes") if isinstance(data, dict) else None
        merged = {**(current if isinstance(current, dict) else {}), **attributes}
        await self._http.request("POST", f"{self._conv(conversation_id)}/custom_attributes", token=token,
                                 json={"custom_attributes": merged})

    async def add_labels(self, conversation_id: str, labels: list[str]) -> None:
        token = self._bot_capable()
        data = await self._http.request("GET", f"{self._conv(conversation_id)}/labels", token=token)
        current = data.get("payload") if isinstance(data, dict) else None
        existing = [str(label) for label in current] if isinstance(current, list) else []
        if set(labels) <= set(existing):
            return
        await self._http.request("POST", f"{self._conv(conversation_id)}/labels", token=token,
                                 json={"labels": sorted({*existing, *labels})})

    async def aclose(self) -> None:
        await self._http.aclose()
