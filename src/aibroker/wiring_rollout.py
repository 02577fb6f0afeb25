"""Composition of the n8n migration's parts (issue #11), kept beside `bootstrap.py` so its wiring stays short."""

from __future__ import annotations

from datetime import UTC, datetime

from aibroker.adapters.db.rollout_store import SqlAdoptionStore, SqlRolloutStore
from aibroker.adapters.db.store import SqlStore
from aibroker.config import Settings
from aibroker.domain.ports import Inbox, JobQueue, ReplyGenerator
from aibroker.domain.rollout import Switches
from aibroker.usecases.adoption import Adoption
from aibroker.usecases.assignment import BrokerAssignment
from aibroker.usecases.legacy import LegacyPath
from aibroker.usecases.rollout import RolloutControl
from aibroker.usecases.shadow import ShadowReplies


def environment_switches(settings: Settings) -> Switches:
    return Switches(enable_ai_broker=settings.enable_ai_broker, enable_bullmq_broker=settings.enable_bullmq_broker,
                    rollout_percentage=settings.rollout_percentage, shadow_mode=settings.shadow_mode)


def build_rollout(settings: Settings, store: SqlStore, inbox: Inbox, queue: JobQueue, assignment: BrokerAssignment,
                  generator: ReplyGenerator) -> tuple[RolloutControl, LegacyPath, Adoption | None]:
    from aibroker.adapters.legacy.n8n import N8nWebhook

    rollout_store = SqlRolloutStore(store.sessions)
    rollout = RolloutControl(rollout_store, environment_switches(settings), settings.n8n_webhook_url)
    workflow = N8nWebhook(settings.n8n_webhook_url, settings.n8n_timeout_s) if settings.n8n_webhook_url else None
    shadow = ShadowReplies(store, rollout_store, inbox, generator, clock=lambda: datetime.now(UTC))
    legacy = LegacyPath(store, rollout_store, rollout, queue, inbox, assignment, workflow, shadow)
    adoption = Adoption(SqlAdoptionStore(store), rollout, assignment, inbox.name, settings.chatwoot_inbox_scope) \
        if settings.uses_chatwoot else None
    return rollout, legacy, adoption
