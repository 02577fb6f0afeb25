"""Completing a group of reply claims (`SqlStore.complete_batch`'s group commit) in as few statements as the
database allows.

All the group's claims are completed by one UPDATE … FROM a JSON array of (conversation, key, token, new state)
rows, RETURNING the rows it changed; each completion counts its own among them. A claim another attempt took over
meanwhile carries another token: it is neither changed nor counted. The array is one parameter, so the statement's
text is the same for a group of any size, and is built once (building a statement costs more CPU than running it
from the cache: bench.replypath).

- PostgreSQL: the last activity's UPDATE and the analytics rows' INSERT are data-modifying CTEs of that same
  statement, which PostgreSQL runs to completion whether or not the query reads them. A group, and so a lone
  reply's completion, is one statement, in autocommit: no BEGIN or COMMIT around it.
- SQLite has no data-modifying CTEs: the last activity and the analytics rows are statements of their own, in the
  same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import TextClause, bindparam, text

from aibroker.adapters.db.models import UTCDateTime
from aibroker.domain.live_events import MirrorRow


@dataclass(frozen=True, slots=True)
class Completion:
    """One `complete_batch` call, waiting for its group commit."""

    conversation_id: int
    keys: list[str]
    token: str
    state: str
    sent_message_id: str | None
    note: str | None
    activity: bool  # the sent message moves the conversation's last activity
    mirror: Sequence[MirrorRow]


def claims_json(batch: Sequence[Completion]) -> str:
    """The group's claims to complete, one JSON object per key (the statements' `claims` parameter)."""
    return json.dumps([{"conversation_id": c.conversation_id, "key": key, "token": c.token, "state": c.state,
                        "sent_id": c.sent_message_id, "note": c.note} for c in batch for key in c.keys])


def events_json(rows: Iterable[MirrorRow]) -> str:
    """The group's analytics rows (PostgreSQL's `events` parameter). Serialised as SQLAlchemy's JSON type does, and
    the moments with their UTC offset, so PostgreSQL's timestamptz reads them whatever the session's time zone."""
    return json.dumps([{"conversation_id": row.conversation_id, "type": row.type, "payload": row.payload,
                        "created_at": row.at.isoformat()} for row in rows])


def counts(batch: Sequence[Completion], changed: Iterable[tuple[int, str, str]]) -> list[int]:
    """Each completion's count of its claims the UPDATE changed, from its RETURNING rows (conversation, key,
    token)."""
    done = set(changed)
    return [sum((c.conversation_id, key, c.token) in done for key in c.keys) for c in batch]


_NOW = bindparam("now", type_=UTCDateTime())  # (SQLite keeps datetimes as text in SQLAlchemy's format: its type)

# (`claim.*` names the JSON's fields; `ledger` is the table.)
COMPLETE_POSTGRESQL: TextClause = text("""
WITH done AS (
    UPDATE reply_ledger AS ledger
    SET state = claim.state, sent_message_id = claim.sent_id, note = claim.note, completed_at = :now
    FROM json_to_recordset(CAST(:claims AS json))
        AS claim(conversation_id integer, key text, token text, state text, sent_id text, note text)
    WHERE ledger.conversation_id = claim.conversation_id AND ledger.key = claim.key
        AND ledger.claim_token = claim.token
    RETURNING ledger.conversation_id, ledger.key, ledger.claim_token
), touched AS (
    UPDATE conversations SET last_activity_at = :now
    WHERE id IN (SELECT CAST(value AS integer) FROM json_array_elements_text(CAST(:touched AS json)))
), added AS (
    INSERT INTO chat_events (conversation_id, type, payload, created_at)
    SELECT conversation_id, type, payload, created_at FROM json_to_recordset(CAST(:events AS json))
        AS event(conversation_id integer, type text, payload json, created_at timestamptz)
)
SELECT conversation_id, key, claim_token FROM done
""").bindparams(_NOW)

COMPLETE_SQLITE: TextClause = text("""
UPDATE reply_ledger
SET state = claim.state, sent_message_id = claim.sent_id, note = claim.note, completed_at = :now
FROM (SELECT json_extract(value, '$.conversation_id') AS conversation_id, json_extract(value, '$.key') AS claim_key,
             json_extract(value, '$.token') AS token, json_extract(value, '$.state') AS state,
             json_extract(value, '$.sent_id') AS sent_id, json_extract(value, '$.note') AS note
      FROM json_each(:claims)) AS claim
WHERE reply_ledger.conversation_id = claim.conversation_id AND reply_ledger.key = claim.claim_key
    AND reply_ledger.claim_token = claim.token
RETURNING conversation_id, key, claim_token
""").bindparams(_NOW)
