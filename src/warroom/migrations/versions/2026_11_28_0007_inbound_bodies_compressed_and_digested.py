"""Inbound request bodies kept compressed (``body_encoding`` says how; NULL: as received),
and their digest, by which a replayed body is recognised without parsing it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 05:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_encoding", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("body_digest", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_inbound_requests_digest", ["integration_id", "body_digest"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_requests_digest")
        batch_op.drop_column("body_digest")
        batch_op.drop_column("body_encoding")
