"""Alembic environment. Runs inside `aibroker.adapters.db.migrate`, which hands us a live connection."""

from __future__ import annotations

from alembic import context

from aibroker.adapters.db import rollout_models  # noqa: F401  (its tables join Base.metadata)
from aibroker.adapters.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by running the alembic CLI by hand
    raise SystemExit("run migrations with `aibroker migrate`")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
