"""The fake Chatwoot's in-memory state and its JSON renderings (REST and webhook shapes, CHATWOOT.md §2–4).

All mutation goes through `FakeState` methods under one lock: route handlers run on the server thread while
tests read and poke the state from theirs.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

KIND_NAMES = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}
KIND_NUMBERS = {name: number for number, name in KIND_NAMES.items()}


@dataclass(frozen=True)
class Actor:
    kind: str  # "User", "AgentBot" or "Contact"
    id: int
    name: str
    email: str | None = None


@dataclass
class Contact:
    id: int
    name: str
    email: str | None = None
    phone_number: str | None = None
    identifier: str | None = None
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    created_at: int = field(default_factory=lambda: int(time.time()))


@dataclass
class Conversation:
    id: int  # display_id
    contact_id: int
    inbox_id: int
    status: str = "pending"
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    additional_attributes: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    assignee_type: str | None = None
    source_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: int = field(default_factory=lambda: int(time.time()))
    updated_at: float = field(default_factory=time.time)


@dataclass
class Message:
    id: int
    conversation_id: int
    content: str
    message_type: int  # 0 incoming, 1 outgoing, 2 activity, 3 template
    private: bool = False
    source_id: str | None = None
    sender: Actor | None = None
    content_attributes: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    @property
    def kind(self) -> str:
        return KIND_NAMES[self.message_type]


class FakeState:
    def __init__(self, *, account_id: int = 1, inbox_id: int = 1, channel: str = "Channel::Api",
                 inbox_has_bot: bool = True) -> None:
        self.lock = threading.RLock()
        self.account: dict[str, Any] = {"id": account_id, "name": "Acme Mortgages"}
        self.inbox: dict[str, Any] = {"id": inbox_id, "name": "Website"}
        self.channel = channel
        self.inbox_has_bot = inbox_has_bot
        self.user = Actor("User", 1, "Agent Smith", "agent@example.com")
        self.bot = Actor("AgentBot", 7, "aibroker bot")
        self.tokens: dict[str, Actor] = {"user-token": self.user, "bot-token": self.bot}
        self.contacts: dict[int, Contact] = {}
        self.conversations: dict[int, Conversation] = {}
        self.messages: dict[int, Message] = {}
        self.typing_log: list[tuple[int, str, str]] = []  # (conversation id, "on"/"off", actor kind)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, faults included
        self._ids = {"contact": 0, "conversation": 0, "message": 0}

    def next_id(self, kind: str) -> int:
        with self.lock:
            self._ids[kind] += 1
            return self._ids[kind]

    # --- mutations --------------------------------------------------------------------------------------
    def add_contact(self, name: str, email: str | None = None, phone: str | None = None) -> Contact:
        with self.lock:
            contact = Contact(self.next_id("contact"), name, email, phone)
            self.contacts[contact.id] = contact
            return contact

    def add_conversation(self, contact_id: int, *, status: str = "pending",
                         custom_attributes: dict[str, Any] | None = None) -> Conversation:
        with self.lock:
            conversation = Conversation(self.next_id("conversation"), contact_id, self.inbox["id"], status,
                                        dict(custom_attributes or {}))
            self.conversations[conversation.id] = conversation
            return conversation

    def add_message(self, conversation_id: int, content: str, *, kind: str, sender: Actor | None,
                    private: bool = False, source_id: str | None = None,
                    content_attributes: dict[str, Any] | None = None) -> Message:
        with self.lock:
            message = Message(self.next_id("message"), conversation_id, content, KIND_NUMBERS[kind], private,
                              source_id, sender, dict(content_attributes or {}))
            self.messages[message.id] = message
            conversation = self.conversations[conversation_id]
            conversation.updated_at = time.time()
            if kind == "incoming" and conversation.status == "snoozed":
                conversation.status = "open"
            elif kind == "incoming" and conversation.status == "resolved":
                conversation.status = "pending" if self.inbox_has_bot else "open"
            return message

    def contact_actor(self, conversation: Conversation) -> Actor:
        contact = self.contacts[conversation.contact_id]
        return Actor("Contact", contact.id, contact.name, contact.email)

    def snapshot_messages(self, conversation_id: int) -> list[Message]:
        with self.lock:
            return [replace(m) for m in sorted(self.messages.values(), key=lambda m: m.id)
                    if m.conversation_id == conversation_id]

    # --- REST renderings ----------------------------------------------------------------------------------
    def contact_json(self, contact: Contact) -> dict[str, Any]:
        return {"id": contact.id, "name": contact.name, "email": contact.email,
                "phone_number": contact.phone_number, "identifier": contact.identifier, "blocked": False,
                "thumbnail": "", "availability_status": "offline", "additional_attributes": {},
                "custom_attributes": contact.custom_attributes, "last_activity_at": None,
                "created_at": contact.created_at,
                "contact_inboxes": [{"source_id": c.source_id, "inbox": self.inbox}
                                    for c in self.conversations.values() if c.contact_id == contact.id][:1]}

    def sender_push(self, actor: Actor) -> dict[str, Any]:
        if actor.kind == "Contact":
            contact = self.contacts[actor.id]
            return {"id": contact.id, "name": contact.name, "email": contact.email,
                    "phone_number": contact.phone_number, "thumbnail": "", "type": "contact",
                    "additional_attributes": {}, "custom_attributes": contact.custom_attributes,
                    "identifier": contact.identifier}
        if actor.kind == "User":
            return {"id": actor.id, "name": actor.name, "available_name": actor.name, "avatar_url": "",
                    "type": "user", "availability_status": "online", "thumbnail": ""}
        return {"id": actor.id, "name": actor.name, "avatar_url": "", "type": "agent_bot"}

    def message_json(self, message: Message) -> dict[str, Any]:
        """`_message.json.jbuilder`: integer message_type, epoch created_at."""
        body: dict[str, Any] = {
            "id": message.id, "content": message.content, "inbox_id": self.inbox["id"],
            "conversation_id": message.conversation_id, "message_type": message.message_type,
            "content_type": "text", "status": "sent", "content_attributes": message.content_attributes,
            "created_at": int(message.created_at), "private": message.private, "source_id": message.source_id}
        if message.sender is not None:
            body["sender"] = self.sender_push(message.sender)
        return body

    def push_message(self, message: Message) -> dict[str, Any]:
        """`Message#push_event_data`, as nested in a conversation's `messages`."""
        body = self.message_json(message)
        sender = message.sender
        body.update(account_id=self.account["id"], sender_type=sender.kind if sender else None,
                    sender_id=sender.id if sender else None)
        return body

    def conversation_json(self, conversation: Conversation) -> dict[str, Any]:
        visible = [m for m in self.messages.values() if m.conversation_id == conversation.id
                   and m.message_type != 2 and not m.private]
        latest = [self.push_message(max(visible, key=lambda m: m.id))] if visible else []
        contact = self.contacts[conversation.contact_id]
        return {
            "id": conversation.id, "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, str(conversation.id))),
            "account_id": self.account["id"], "inbox_id": conversation.inbox_id,
            "status": conversation.status, "messages": latest, "labels": list(conversation.labels),
            "meta": {"sender": self.sender_push(Actor("Contact", contact.id, contact.name)),
                     "channel": self.channel, "assignee": None, "assignee_type": conversation.assignee_type,
                     "team": None, "hmac_verified": False},
            "additional_attributes": conversation.additional_attributes,
            "custom_attributes": conversation.custom_attributes, "muted": False, "can_reply": True,
            "snoozed_until": None, "priority": None, "unread_count": 0, "waiting_since": 0,
            "agent_last_seen_at": 0, "contact_last_seen_at": 0,
            "created_at": conversation.created_at, "updated_at": conversation.updated_at,
            "timestamp": int(conversation.updated_at), "last_activity_at": int(conversation.updated_at)}

    # --- webhook renderings -------------------------------------------------------------------------------
    def conversation_webhook(self, conversation: Conversation) -> dict[str, Any]:
        body = self.conversation_json(conversation)
        for key in ("uuid", "account_id", "muted"):
            body.pop(key)
        body["channel"] = self.channel
        body["contact_inbox"] = {"id": conversation.id, "contact_id": conversation.contact_id,
                                 "inbox_id": conversation.inbox_id, "source_id": conversation.source_id,
                                 "hmac_verified": False, "pubsub_token": "x"}
        body["account"] = dict(self.account)
        return body

    def sender_webhook(self, actor: Actor) -> dict[str, Any]:
        if actor.kind == "Contact":
            contact = self.contacts[actor.id]
            return {"account": dict(self.account), "additional_attributes": {}, "avatar": "",
                    "custom_attributes": contact.custom_attributes, "email": contact.email, "id": contact.id,
                    "identifier": contact.identifier, "name": contact.name,
                    "phone_number": contact.phone_number, "thumbnail": "", "blocked": False}
        if actor.kind == "User":
            return {"id": actor.id, "name": actor.name, "email": actor.email, "type": "user"}
        return {"id": actor.id, "name": actor.name, "type": "agent_bot"}

    def message_webhook(self, message: Message, event: str = "message_created") -> dict[str, Any]:
        """`Message#webhook_data`: STRING message_type, ISO created_at, no echo_id."""
        created = datetime.fromtimestamp(message.created_at, UTC).isoformat(timespec="milliseconds")
        return {"account": dict(self.account), "additional_attributes": {},
                "content_attributes": message.content_attributes, "content_type": "text",
                "content": message.content,
                "conversation": self.conversation_webhook(self.conversations[message.conversation_id]),
                "created_at": created.replace("+00:00", "Z"), "id": message.id, "inbox": dict(self.inbox),
                "message_type": message.kind, "private": message.private,
                "sender": self.sender_webhook(message.sender) if message.sender else None,
                "source_id": message.source_id, "event": event}

    def status_webhook(self, conversation: Conversation, event: str, previous: str) -> dict[str, Any]:
        changes = None if event == "conversation_status_changed" else [
            {"status": {"previous_value": previous, "current_value": conversation.status}}]
        return {**self.conversation_webhook(conversation), "changed_attributes": changes, "event": event}
