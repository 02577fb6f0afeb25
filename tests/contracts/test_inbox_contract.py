"""One behaviour suite for every `Inbox`: the built-in inbox and Chatwoot (over HTTP, against the fake)."""

from __future__ import annotations

import pytest

from aibroker.domain.conversation import ContactInfo, ConversationStatus, Role
from aibroker.errors import InboxError, NotFound
from tests.contracts.conftest import Backend


async def _conversation(backend: Backend, attributes: dict[str, object] | None = None) -> str:
    jane = ContactInfo(name="Jane Tan", email="jane@example.com")
    contact = await backend.inbox.find_or_create_contact(jane)
    return await backend.inbox.create_conversation(contact, attributes or {})


async def test_contact_find_or_create_is_idempotent_by_email(backend: Backend) -> None:
    first = await backend.inbox.find_or_create_contact(ContactInfo(name="Jane Tan", email="Jane@Example.com"))
    again = await backend.inbox.find_or_create_contact(ContactInfo(name="J. Tan", email="jane@example.com"))
    other = await backend.inbox.find_or_create_contact(ContactInfo(name="Bob Lim", email="bob@example.com"))
    assert first == again
    assert other != first


async def test_contacts_without_email_are_not_merged(backend: Backend) -> None:
    one = await backend.inbox.find_or_create_contact(ContactInfo(name="Visitor"))
    two = await backend.inbox.find_or_create_contact(ContactInfo(name="Visitor"))
    assert one != two


async def test_conversation_is_created_pending_with_its_attributes(backend: Backend) -> None:
    conversation = await _conversation(backend, {"lead_id": 42, "persona": "Grace"})
    assert await backend.status(conversation) is ConversationStatus.PENDING
    assert await backend.attributes(conversation) == {"lead_id": 42, "persona": "Grace"}


async def test_sent_message_is_listed_as_bot_and_found_by_its_tag(backend: Backend) -> None:
    conversation = await _conversation(backend)
    sent = await backend.inbox.send_message(conversation, "Hello Jane!", source_id="greeting:1")
    assert (sent.role, sent.content, sent.source_id, sent.private) == (
        Role.BOT, "Hello Jane!", "greeting:1", False)

    listed = await backend.inbox.list_messages(conversation)
    assert [(m.id, m.role, m.content, m.source_id) for m in listed] == [
        (sent.id, Role.BOT, "Hello Jane!", "greeting:1")]
    found = await backend.inbox.find_sent_message(conversation, "greeting:1")
    assert found is not None and found.id == sent.id and found.role is Role.BOT
    assert await backend.inbox.find_sent_message(conversation, "greeting:2") is None


async def test_same_source_tag_twice_is_one_visible_message(backend: Backend) -> None:
    conversation = await _conversation(backend)
    first = await backend.inbox.send_message(conversation, "Hi!", source_id="reply:7")
    second = await backend.inbox.send_message(conversation, "Hi!", source_id="reply:7")
    assert second.id == first.id
    assert [m.id for m in await backend.inbox.list_messages(conversation)] == [first.id]


async def test_same_tag_in_another_conversation_is_another_message(backend: Backend) -> None:
    one, two = await _conversation(backend), await _conversation(backend)
    a = await backend.inbox.send_message(one, "Hi!", source_id="greeting")
    b = await backend.inbox.send_message(two, "Hi!", source_id="greeting")
    assert a.id != b.id
    assert len(await backend.inbox.list_messages(two)) == 1


async def test_private_message_stays_private(backend: Backend) -> None:
    conversation = await _conversation(backend)
    await backend.inbox.send_message(conversation, "shadow reply", source_id="shadow:1", private=True)
    [listed] = await backend.inbox.list_messages(conversation)
    assert listed.private is True and listed.role is Role.BOT


async def test_customer_message_and_activity_roles(backend: Backend) -> None:
    conversation = await _conversation(backend)
    customer = await backend.inbox.post_customer_message(conversation, "I want a loan")
    await backend.inbox.post_activity(conversation, "Handed over to a human: explicit request")
    assert customer.role is Role.CUSTOMER
    listed = await backend.inbox.list_messages(conversation)
    assert [(m.role, m.content) for m in listed] == [
        (Role.CUSTOMER, "I want a loan"), (Role.SYSTEM, "Handed over to a human: explicit request")]


async def test_attributes_merge_rather_than_replace(backend: Backend) -> None:
    conversation = await _conversation(backend, {"lead_id": 1, "stage": "new"})
    await backend.inbox.merge_attributes(conversation, {"stage": "qualified", "broker": "Grace"})
    await backend.inbox.merge_attributes(conversation, {"handoff_reason": "asked for a human"})
    assert await backend.attributes(conversation) == {
        "lead_id": 1, "stage": "qualified", "broker": "Grace", "handoff_reason": "asked for a human"}


async def test_labels_merge(backend: Backend) -> None:
    conversation = await _conversation(backend)
    await backend.inbox.add_labels(conversation, ["hot-lead", "refinance"])
    await backend.inbox.add_labels(conversation, ["refinance", "handoff"])
    await backend.inbox.add_labels(conversation, [])
    assert await backend.labels(conversation) == ["handoff", "hot-lead", "refinance"]


async def test_status_round_trip(backend: Backend) -> None:
    conversation = await _conversation(backend)
    for status in (ConversationStatus.OPEN, ConversationStatus.PENDING, ConversationStatus.RESOLVED,
                   ConversationStatus.OPEN):
        await backend.inbox.set_status(conversation, status)
        assert await backend.status(conversation) is status


async def test_typing_on_and_off(backend: Backend) -> None:
    conversation = await _conversation(backend)
    await backend.inbox.set_typing(conversation, True)
    assert await backend.typing(conversation) is True
    await backend.inbox.set_typing(conversation, False)
    assert await backend.typing(conversation) is False


async def test_list_messages_oldest_first_with_before_pagination(backend: Backend) -> None:
    conversation = await _conversation(backend)
    for number in range(25):  # more than one Chatwoot page (20)
        if number % 2:
            await backend.inbox.send_message(conversation, f"m{number}", source_id=f"reply:{number}")
        else:
            await backend.inbox.post_customer_message(conversation, f"m{number}")

    everything = await backend.inbox.list_messages(conversation)
    assert [m.content for m in everything] == [f"m{n}" for n in range(25)]
    assert [m.role for m in everything[:2]] == [Role.CUSTOMER, Role.BOT]

    latest = await backend.inbox.list_messages(conversation, limit=10)
    assert [m.content for m in latest] == [f"m{n}" for n in range(15, 25)]
    page = await backend.inbox.list_messages(conversation, before=everything[10].id, limit=5)
    assert [m.content for m in page] == [f"m{n}" for n in range(5, 10)]
    deep = await backend.inbox.list_messages(conversation, before=everything[22].id, limit=100)
    assert [m.content for m in deep] == [f"m{n}" for n in range(22)]
    assert await backend.inbox.list_messages(conversation, before=everything[0].id) == []


async def test_unknown_conversation_is_an_error(backend: Backend) -> None:
    with pytest.raises((NotFound, InboxError)):
        await backend.inbox.list_messages("987654")
    with pytest.raises((NotFound, InboxError)):
        await backend.inbox.set_status("987654", ConversationStatus.OPEN)


async def test_internal_activity_is_for_agents_only(backend: Backend) -> None:
    conversation = await _conversation(backend)
    await backend.inbox.post_activity(conversation, "Handed to a human (frustration)", internal=True)
    [listed] = await backend.inbox.list_messages(conversation)
    assert listed.private is True and listed.role is Role.SYSTEM
