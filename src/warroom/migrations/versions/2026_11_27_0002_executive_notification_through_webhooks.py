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
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("action_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_action_id_actions"), "actions", ["action_id"], ["id"]
        )
    with op.batch_alter_table("webhooks") as batch_op:
        # Existing webhooks keep receiving every timeline event.
        batch_op.add_column(
            sa.Column("audience", AUDIENCE, server_default="events", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch_op:
        batch_op.drop_column("audience")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_deliveries_action_id_actions"), type_="foreignkey")
        batch_op.drop_column("action_id")
