"""Firing notices appended to ``alert_intake`` before their 2xx, and folded into ``alerts`` in
bulk (decision 95).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 08:48:09.636115
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import warroom.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alert_intake",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "alertmanager",
                "grafana",
                "datadog",
                "cloudwatch",
                "generic",
                "pagerduty",
                "opsgenie",
                name="alertsource",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("severity_hint", sa.String(length=32), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("links", JSON, nullable=False),
        sa.Column("starts_at", warroom.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", warroom.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_intake")),
    )


# The earlier schema has no intake: what waits in it is folded into alerts first, one notice
# at a time in arrival order, as the ingestion writer would have written it.
FOLD = sa.text(
    "INSERT INTO alerts (integration_id, source, dedup_key, open_key, status, severity_hint, "
    "summary, labels, links, starts_at, ends_at, count, first_seen_at, last_seen_at, "
    "resolved_at, pending) "
    "SELECT integration_id, source, dedup_key, dedup_key, 'firing', severity_hint, summary, "
    "labels, links, starts_at, NULL, 1, received_at, received_at, NULL, TRUE "
    "FROM alert_intake WHERE id = :id "
    "ON CONFLICT (integration_id, open_key) DO UPDATE SET count = alerts.count + 1, "
    "last_seen_at = excluded.last_seen_at, summary = excluded.summary, "
    "labels = excluded.labels, links = excluded.links, severity_hint = excluded.severity_hint"
)


def downgrade() -> None:
    bind = op.get_bind()
    waiting = bind.execute(sa.text("SELECT id FROM alert_intake ORDER BY id")).scalars().all()
    for number in waiting:
        bind.execute(FOLD, {"id": number})
    op.drop_table("alert_intake")
