"""The composition root: the one place adapters are chosen and wired to use cases.

`api/app.py` and `worker/main.py` both build a `Container` here, so the API and the worker can never
disagree about which inbox, database or responder is in use.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.agents import SqlAgents
from aibroker.adapters.db.capacity import SqlCapacity
from aibroker.adapters.db.console_store import SqlConsoleReadModel
from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.db.erasure import SqlErasure
from aibroker.adapters.db.history import SqlMessageHistory
from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.inbox.builtin import BuiltinInbox
from aibroker.adapters.llm import ReplyMetrics, build_responder
from aibroker.adapters.metrics.prometheus import observe_pacing, observe_reply_latency, paced
from aibroker.adapters.notify.slack import SlackNotifier
from aibroker.adapters.passwords import Argon2Passwords
from aibroker.adapters.queue.bullmq_queue import BullJobQueue
from aibroker.adapters.queue.conversation_lock import RedisConversationLocks
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.adapters.realtime.events import LiveForwarder, RedisEventBus
from aibroker.adapters.realtime.live import LiveHub
from aibroker.adapters.resume_links import ResumeLinks
from aibroker.config import Settings
from aibroker.domain.pacing import DEFAULT_PACING
from aibroker.domain.ports import Inbox, MessageHistoryStore, RateLimiter, ReplyGenerator
from aibroker.usecases.agents import AgentAccounts
from aibroker.usecases.assignment import BrokerAssignment
from aibroker.usecases.console import ConsoleService, chatwoot_conversation_url
from aibroker.usecases.erasure import ErasureService
from aibroker.usecases.handoff import HandoffService
from aibroker.usecases.inbound import InboundEvents
from aibroker.usecases.intake import LeadIntake
from aibroker.usecases.legacy import LegacyPath
from aibroker.usecases.replies import ReplyService
from aibroker.usecases.rollout import RolloutControl
from aibroker.wiring_ops import OpsParts, build_ops
from aibroker.wiring_rollout import build_rollout

# What pacing assumes a reply takes to generate, so delay + generation lands before the SLA warning (ReplyPacer).
EXPECTED_GENERATION_MS = {"llm": 1500, "offline": 100}


def utcnow() -> datetime:
    return datetime.now(UTC)


def build_inbox(settings: Settings, store: SqlStore, history: MessageHistoryStore | None,
                redis: aioredis.Redis) -> Inbox:
    if settings.uses_chatwoot:
        from aibroker.adapters.inbox.chatwoot import ChatwootInbox  # only needed with Chatwoot configured

        return ChatwootInbox.from_settings(settings, history_store=history)
    return BuiltinInbox(store.sessions, redis, settings.queue_prefix)


@dataclass
class Container:
    settings: Settings
    redis_url: str
    engine: AsyncEngine
    store: SqlStore
    inbox: Inbox
    queue: BullJobQueue
    redis: aioredis.Redis
    events: RedisEventBus
    generator: ReplyGenerator
    reply_metrics: ReplyMetrics
    assignment: BrokerAssignment
    intake: LeadIntake
    handoffs: HandoffService
    inbound: InboundEvents
    replies: ReplyService
    rollout: RolloutControl
    legacy: LegacyPath
    agents: AgentAccounts
    console: ConsoleService
    ops: OpsParts
    notifier: SlackNotifier | None = None  # None: SLACK_WEBHOOK_URL unset
    extras: dict[str, object] = field(default_factory=dict)
    limiter: RateLimiter | None = None  # None: RATE_LIMITS_ENABLED=false
    live: LiveHub | None = None  # server-sent events (the API runs it: `LiveHub.run`)
    resume_links: ResumeLinks | None = None

    async def aclose(self) -> None:
        if self.limiter is not None:
            await self.limiter.aclose()
        await self.legacy.aclose()
        if self.notifier is not None:
            await self.notifier.aclose()
        await self.queue.aclose()
        await self.inbox.aclose()
        await self.events.aclose()
        await self.redis.aclose()
        await self.engine.dispose()


def build_limiter(settings: Settings, redis_url: str) -> RateLimiter | None:
    if not settings.rate_limits_enabled:
        return None
    from aibroker.adapters.ratelimit import RedisRateLimiter

    # Short, and well inside ENQUEUE_TIMEOUT_S: a hung Redis must not slow the request's own 503.
    return RedisRateLimiter(redis_url, settings.queue_prefix, {
        "leads_per_ip": settings.rate_limit_leads_per_ip,
        "messages_per_conversation": settings.rate_limit_messages_per_conversation,
        "messages_per_ip": settings.rate_limit_messages_per_ip,
        "console_login_per_ip": settings.rate_limit_console_login_per_ip,
        "console_login_per_email": settings.rate_limit_console_login_per_email,
    }, timeout_s=min(1.0, settings.enqueue_timeout_s / 2))


def build_forwarder(settings: Settings) -> LiveForwarder | None:
    """Ably, when ENABLE_ABLY_REALTIME is on (config.py insists on ABLY_API_KEY then)."""
    if not settings.enable_ably_realtime or settings.ably_api_key is None:
        return None
    from aibroker.adapters.realtime.ably import AblyForwarder

    return AblyForwarder(settings.ably_api_key.get_secret_value(), settings.ably_rest_url)


def build_container(settings: Settings, redis_url: str, *, engine: AsyncEngine | None = None,
                    rng: random.Random | None = None) -> Container:
    engine = engine or create_engine(settings.sqlalchemy_url, log_sql=settings.log_sql)
    store = SqlStore(session_factory(engine))
    history = SqlMessageHistory(store.sessions, "chatwoot") if settings.uses_chatwoot else None
    redis = redis_client(redis_url)
    inbox = build_inbox(settings, store, history, redis)
    queue = BullJobQueue(settings, redis_url)
    events = RedisEventBus(redis, store, settings.queue_prefix, forward=build_forwarder(settings))
    metrics = ReplyMetrics()
    generator = build_responder(settings, metrics, max_retries=settings.openai_max_retries)
    assignment = BrokerAssignment(SqlCapacity(store.sessions), store, inbox, events)
    notifier = SlackNotifier(settings.slack_webhook_url, settings.console_url) if settings.slack_webhook_url else None
    handoffs = HandoffService(store, inbox, events, assignment, notifier)
    locks = RedisConversationLocks(redis, settings.queue_prefix, lease_s=settings.lock_duration_ms / 1000)
    replies = ReplyService(
        store, inbox, generator, events, handoffs, locks, pacing=DEFAULT_PACING, sla_budget_ms=settings.reply_sla_ms,
        expected_generation_ms=EXPECTED_GENERATION_MS["llm" if settings.uses_llm else "offline"],
        clock=utcnow, rng=rng, pacing_enabled=settings.pacing_enabled, assignment=assignment,
        disclose_ai=settings.disclose_ai, sleep=paced(), observe_delay=observe_pacing,
        observe_reply=observe_reply_latency)
    rollout, legacy, adoption = build_rollout(settings, store, inbox, queue, assignment, generator)
    intake = LeadIntake(store, inbox, queue, events, assignment, clock=utcnow, rollout=rollout)
    inbound = InboundEvents(store, queue, handoffs, inbox.name, history, legacy=legacy, adoption=adoption,
                            events=events, history_in_store=True,  # (SqlMessageHistory, on the store's sessions)
                            pacer=replies.pacer if settings.pacing_enabled else None, inbox=inbox, clock=utcnow,
                            observe_delay=observe_pacing)
    chatwoot_link = chatwoot_conversation_url(settings.chatwoot_base_url, settings.chatwoot_account_id) \
        if settings.chatwoot_base_url and settings.chatwoot_account_id else None
    console = ConsoleService(store, SqlConsoleReadModel(store.sessions), inbox, events, handoffs, clock=utcnow,
                             sla_target_ms=settings.reply_sla_ms, chatwoot_link=chatwoot_link)
    return Container(settings=settings, redis_url=redis_url, engine=engine, store=store, inbox=inbox, queue=queue,
                     redis=redis, events=events, generator=generator, reply_metrics=metrics,
                     assignment=assignment, intake=intake, handoffs=handoffs, inbound=inbound, replies=replies,
                     limiter=build_limiter(settings, redis_url), rollout=rollout, legacy=legacy,
                     agents=AgentAccounts(SqlAgents(store.sessions), Argon2Passwords()), console=console,
                     notifier=notifier, ops=build_ops(store),
                     live=LiveHub(redis, settings.queue_prefix, max_connections=settings.sse_max_connections),
                     resume_links=ResumeLinks(redis, settings.queue_prefix, settings.session_secret.get_secret_value()
                                              if settings.session_secret else None, settings.resume_link_ttl_s))



def build_erasure(settings: Settings, store: SqlStore, redis: aioredis.Redis | None, *,
                  on_slots_freed: Callable[[], Awaitable[object]] | None = None) -> ErasureService:
    """Erasure and retention for the admin route (the container's parts) and the CLI (its own engine; Redis only
    when REDIS_URL is set, never a second embedded one beside a running `aibroker dev`)."""
    streams = RedisEventBus(redis, store, settings.queue_prefix) if redis is not None else None
    locks = RedisConversationLocks(redis, settings.queue_prefix, lease_s=settings.lock_duration_ms / 1000) \
        if redis is not None else None
    return ErasureService(SqlErasure(store.sessions), streams, locks, clock=utcnow, on_slots_freed=on_slots_freed)
