"""The executive notification through webhooks: a webhook's audience, and the checklist action
a delivery carries out.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 18:00:05.882571
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIENCE = sa.Enum(
    "events",
    "executives",
    name="webhookaudience",
    native_enum=False,
    create_constraint=True,
    length=16,
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Plain ADD COLUMN, never a table rebuild: rebuilding ``webhooks`` would drop the table
        # that ``deliveries`` points at, which SQLite refuses with foreign keys on.
        op.execute(
            "ALTER TABLE deliveries ADD COLUMN action_id INTEGER "
            "CONSTRAINT fk_deliveries_action_id_actions REFERENCES actions (id)"
        )
        op.execute(
            "ALTER TABLE webhooks ADD COLUMN audience VARCHAR(16) DEFAULT 'events' NOT NULL "
            "CONSTRAINT ck_webhooks_webhookaudience CHECK (audience IN ('events', 'executives'))"
        )
        return
    op.add_column("deliveries", sa.Column("action_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_deliveries_action_id_actions"), "deliveries", "actions", ["action_id"], ["id"]
    )
    # Existing webhooks keep receiving every timeline event.
    op.add_column(
        "webhooks", sa.Column("audience", AUDIENCE, server_default="events", nullable=False)
    )


def downgrade() -> None:
    # On SQLite the rebuild of webhooks needs foreign keys off while deliveries exist.
    with op.batch_alter_table("webhooks") as batch_op:
        batch_op.drop_column("audience")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_deliveries_action_id_actions"), type_="foreignkey")
        batch_op.drop_column("action_id")
