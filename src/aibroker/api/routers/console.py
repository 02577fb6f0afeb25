"""The console's JSON API (issue #12): for the console page and for scripts (admin token as Bearer).

Every route takes `ConsoleCaller`: a signed-in agent (cookie; POSTs also need X-CSRF-Token) or the admin token.
"""

from __future__ import annotations

from fastapi import APIRouter

from aibroker.api.console_auth import ConsoleCaller
from aibroker.api.deps import ContainerDep, ConversationId
from aibroker.api.errors import error_responses
from aibroker.api.schemas import ConsoleMe, HumanMessageIn
from aibroker.domain.console import ConsoleConversation, ConsoleOverview

router = APIRouter(prefix="/api/console", tags=["console"], responses=error_responses(401, 503))
ACTION_ERRORS = error_responses(403, 404, 409, 422, 502)


@router.get("/me", response_model=ConsoleMe)
async def me(caller: ConsoleCaller) -> ConsoleMe:
    """Who is signed in, and the session's CSRF token for its POSTs."""
    return ConsoleMe(kind=caller.kind, name=caller.name, email=caller.email, is_admin=caller.is_admin,
                     csrf_token=caller.csrf_token)


@router.get("/conversations", response_model=ConsoleOverview)
async def conversations(caller: ConsoleCaller, container: ContainerDep) -> ConsoleOverview:
    """Open conversations: waiting for a human first (longest wait first, `waited_s`), then those humans hold, then
    the bot's with their reply clock (`sla`: the oldest unanswered customer message against REPLY_SLA_MS)."""
    return await container.console.overview()


@router.get("/conversations/{conversation_id}", response_model=ConsoleConversation,
            responses=error_responses(404, 422, 502))
async def conversation(conversation_id: ConversationId, caller: ConsoleCaller,
                       container: ContainerDep) -> ConsoleConversation:
    """The transcript (agents' notes included, marked `private`), the lead form and score, owner, handoff reason."""
    return await container.console.conversation(conversation_id)


@router.post("/conversations/{conversation_id}/messages", response_model=ConsoleConversation,
             responses={**ACTION_ERRORS, **error_responses(400, 413)})
async def reply(conversation_id: ConversationId, body: HumanMessageIn, caller: ConsoleCaller,
                container: ContainerDep) -> ConsoleConversation:
    """Reply as a human: the customer sees it with role `human`. A bot-owned conversation is taken over first."""
    return await container.console.reply(conversation_id, caller.label, body.content, body.client_message_id)


@router.post("/conversations/{conversation_id}/takeover", response_model=ConsoleConversation,
             responses=ACTION_ERRORS)
async def take_over(conversation_id: ConversationId, caller: ConsoleCaller,
                    container: ContainerDep) -> ConsoleConversation:
    """The bot stands down from now on; its broker slot is freed."""
    return await container.console.take_over(conversation_id, caller.label)


@router.post("/conversations/{conversation_id}/handback", response_model=ConsoleConversation,
             responses=ACTION_ERRORS)
async def hand_back(conversation_id: ConversationId, caller: ConsoleCaller,
                    container: ContainerDep) -> ConsoleConversation:
    """The bot answers the customer's next message."""
    return await container.console.hand_back(conversation_id, caller.label)


@router.post("/conversations/{conversation_id}/resolve", response_model=ConsoleConversation,
             responses=ACTION_ERRORS)
async def resolve(conversation_id: ConversationId, caller: ConsoleCaller,
                  container: ContainerDep) -> ConsoleConversation:
    return await container.console.resolve(conversation_id, caller.label)
