"""Inbound request bodies kept compressed (``body_encoding`` says how; NULL: as received),
and their digest, by which a replayed body is recognised without parsing it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 05:40:00.000000
"""

from __future__ import annotations

import zlib
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
            "ix_inbound_requests_digest",
            ["integration_id", "body_digest"],
            unique=False,
            sqlite_where=sa.text("body_digest IS NOT NULL"),
            postgresql_where=sa.text("body_digest IS NOT NULL"),
        )


def downgrade() -> None:
    # The earlier schema keeps bodies as received: give the compressed ones back first.
    bind = op.get_bind()
    requests = sa.table(
        "inbound_requests",
        sa.column("id", sa.Integer),
        sa.column("body", sa.LargeBinary),
        sa.column("body_encoding", sa.String),
    )
    packed = bind.execute(
        sa.select(requests.c.id, requests.c.body).where(requests.c.body_encoding == "deflate")
    ).all()
    for number, body in packed:
        bind.execute(
            sa.update(requests)
            .where(requests.c.id == number)
            .values(body=zlib.decompress(body), body_encoding=None)
        )
    with op.batch_alter_table("inbound_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_requests_digest")
        batch_op.drop_column("body_digest")
        batch_op.drop_column("body_encoding")
