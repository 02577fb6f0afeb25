"""Which token does what (CHATWOOT.md §1), contact look-up, echo tagging, and `from_settings`."""

from __future__ import annotations

from datetime import UTC, datetime

from aibroker.adapters.inbox.chatwoot import ChatwootInbox
from aibroker.adapters.inbox.history import InMemoryMessageHistoryStore
from aibroker.config import Settings
from aibroker.domain.conversation import ChatMessage, ContactInfo, Role
from aibroker.errors import PermanentInboxError
from tests.adapters.inbox.conftest import MakeInbox
from tests.fakes.fake_chatwoot import FakeChatwoot


async def test_replies_are_posted_by_the_bot_and_tagged(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = fake.new_conversation().id
    await make_inbox().send_message(str(conversation), "Hello", source_id="greeting")
    [message] = fake.messages(conversation)
    assert (message.kind, message.private, message.source_id) == ("outgoing", False, "aibroker:greeting")
    assert message.sender is not None and message.sender.kind == "AgentBot"


async def test_with_only_a_user_token_replies_come_from_the_user_but_stay_recognisable(
        fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = str(fake.new_conversation().id)
    inbox = make_inbox(bot_token=None)
    sent = await inbox.send_message(conversation, "Hello", source_id="greeting")
    [message] = fake.messages(conversation)
    assert message.sender is not None and message.sender.kind == "User"
    [listed] = await inbox.list_messages(conversation)
    assert (listed.id, listed.role, listed.source_id) == (sent.id, Role.BOT, "greeting")


async def test_bot_token_only_keeps_history_in_the_store(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = str(fake.new_conversation().id)
    store = InMemoryMessageHistoryStore()
    inbox = make_inbox(api_token=None, history_store=store)
    incoming = fake.customer_says(conversation, "Hi, I need a loan")
    await store.record(conversation, ChatMessage(id=str(incoming.id), role=Role.CUSTOMER,
                                                 content=incoming.content, created_at=datetime.now(UTC)))
    first = await inbox.send_message(conversation, "Happy to help", source_id="reply:1")
    again = await inbox.send_message(conversation, "Happy to help", source_id="reply:1")
    assert again.id == first.id
    assert [m.content for m in fake.messages(conversation)] == ["Hi, I need a loan", "Happy to help"]
    listed = await inbox.list_messages(conversation)
    assert [(m.role, m.content) for m in listed] == [(Role.CUSTOMER, "Hi, I need a loan"),
                                                     (Role.BOT, "Happy to help")]
    assert (await inbox.find_sent_message(conversation, "reply:1")) == first
    assert not fake.requests("GET", "/messages"), "bot tokens may not list messages; none was tried"


async def test_bot_token_only_cannot_look_up_contacts(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    inbox = make_inbox(api_token=None)
    try:
        await inbox.find_or_create_contact(ContactInfo(name="Jane", email="jane@example.com"))
    except PermanentInboxError as error:
        assert "CHATWOOT_API_TOKEN" in str(error)
    else:
        raise AssertionError("expected PermanentInboxError")
    assert not fake.requests(path="/contacts")


async def test_contact_found_by_phone_without_email(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    existing = fake.state.add_contact("Jane", None, "+6591234567")
    inbox = make_inbox()
    found = await inbox.find_or_create_contact(ContactInfo(name="Jane", phone="+65 9123 4567"))
    assert found == str(existing.id)
    local = await inbox.find_or_create_contact(ContactInfo(name="Bob", phone="9123 4568"))  # not E.164
    assert fake.state.contacts[int(local)].phone_number is None


async def test_already_taken_contact_is_resolved_by_searching_again(fake: FakeChatwoot,
                                                                    make_inbox: MakeInbox) -> None:
    # The first create succeeds on the server but times out here; the retry gets 422 "already taken".
    fake.faults.timeout_next(1, seconds=1.0, process=True, method="POST", path="/contacts$")
    contact = await make_inbox(timeout_s=0.3).find_or_create_contact(
        ContactInfo(name="Jane", email="jane@example.com"))
    assert [c.id for c in fake.state.contacts.values()] == [int(contact)]
    assert len(fake.requests("POST", "/contacts")) == 2


async def test_from_settings(fake: FakeChatwoot) -> None:
    settings = Settings(_env_file=None, CHATWOOT_BASE_URL=fake.base_url,
                        CHATWOOT_ACCOUNT_ID=fake.account_id, CHATWOOT_INBOX_ID=fake.inbox_id,
                        CHATWOOT_BOT_TOKEN=fake.bot_token, CHATWOOT_API_TOKEN=fake.user_token)
    inbox = ChatwootInbox.from_settings(settings)
    try:
        assert inbox.name == "chatwoot"
        conversation = await inbox.create_conversation(
            await inbox.find_or_create_contact(ContactInfo(name="Jane", email="jane@example.com")), {"a": 1})
        assert fake.conversation(conversation).custom_attributes == {"a": 1}
    finally:
        await inbox.aclose()
