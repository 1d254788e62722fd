"""Alembic environment: runs on the connection warroom hands it (see ``warroom.db.schema``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from warroom.db import alert_models, slack_models, status_models  # noqa: F401  (part of the schema)
from warroom.db.models import Base


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `warroom db upgrade`, which supplies the connection")
run(connection)
