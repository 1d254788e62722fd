"""Alerts and how they arrive: integrations (a sender's key for a service), the raw requests
kept as received, the intake a storm's notices wait in, and the alerts themselves."""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from warroom.db.models import Base, Service
from warroom.db.types import str_enum
from warroom.domain.alerts import AlertSource, AlertStatus


class Integration(Base):
    """Where alerts come from: one sender (a source) for one service, with its own key. Only a
    hash of the key is stored; the key is shown once."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[AlertSource] = mapped_column(str_enum(AlertSource, 16))
    name: Mapped[str] = mapped_column(String(100))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    # Grafana's HMAC secret: needed in clear to check the signature, like a webhook's.
    secret: Mapped[str | None] = mapped_column(String(200))
    # Source options: SNS topic allowlist, Grafana header names, the rate limit.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    service: Mapped[Service] = relationship(lazy="joined")


DEFLATE = "deflate"  # InboundRequest.body_encoding: zlib-compressed


class InboundRequest(Base):
    """The raw body of every request an integration accepted, kept as it arrived; its
    idempotency key makes a replay a no-op. Refused bodies are kept too, with the reason."""

    __tablename__ = "inbound_requests"
    __table_args__ = (
        UniqueConstraint("integration_id", "idempotency_key"),
        # Only the rows that have one: most requests (small bodies, other sources) do not.
        Index(
            "ix_inbound_requests_digest",
            "integration_id",
            "body_digest",
            sqlite_where=text("body_digest IS NOT NULL"),
            postgresql_where=text("body_digest IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime]
    content_type: Mapped[str] = mapped_column(String(200))
    # As received, or compressed as ``body_encoding`` says (``raw`` is the received bytes).
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_encoding: Mapped[str | None] = mapped_column(String(16))
    # SHA-256 of the received bytes, for sources whose idempotency key depends on them alone:
    # the same body again is a replay, recognised without parsing it.
    body_digest: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # accepted, ignored or refused
    detail: Mapped[str | None] = mapped_column(Text)
    alerts: Mapped[int] = mapped_column(default=0)

    @property
    def raw(self) -> bytes:
        return zlib.decompress(self.body) if self.body_encoding == DEFLATE else self.body


class AlertIntake(Base):
    """Firing notices stored before their 2xx and not yet folded into ``alerts`` (SQLite).

    A storm's new alerts would each change a page of the open-key index at random, and every
    commit writes each changed page again: one page per alert. Appended here instead, they
    cost a few pages per request, and ``warroom.ingest.store.settle`` folds them into
    ``alerts`` in bulk, in arrival order, within moments (decision 95). No foreign key: the
    rows live for milliseconds, and folding them in checks the integration."""

    __tablename__ = "alert_intake"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int]
    source: Mapped[AlertSource] = mapped_column(str_enum(AlertSource, 16))
    dedup_key: Mapped[str] = mapped_column(String(255))
    severity_hint: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    links: Mapped[dict[str, Any]] = mapped_column(default=dict)
    starts_at: Mapped[datetime]
    received_at: Mapped[datetime]


class Alert(Base):
    """One alert from a monitoring tool, in the shape every source normalises to. The same key
    while open is one row with a count; after it resolves, the key opens a new row."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("integration_id", "open_key"),
        # Only resolved alerts: what the guards against late and unseen notices look up. A
        # firing alert is found through the unique open key, so a storm of new alerts keeps
        # one index with random keys up to date, not two.
        Index(
            "ix_alerts_resolved_key",
            "integration_id",
            "dedup_key",
            sqlite_where=text("status = 'resolved'"),
            postgresql_where=text("status = 'resolved'"),
        ),
        Index("ix_alerts_pending", "pending"),
        # The newest alert of an incident (grouping's window) is the last entry of its range.
        Index("ix_alerts_incident", "incident_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"))
    source: Mapped[AlertSource] = mapped_column(str_enum(AlertSource, 16))
    dedup_key: Mapped[str] = mapped_column(String(255))
    # The dedup key while the alert is open, NULL once resolved: unique per integration.
    open_key: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[AlertStatus] = mapped_column(str_enum(AlertStatus, 16))
    severity_hint: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    links: Mapped[dict[str, Any]] = mapped_column(default=dict)  # text -> URL
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    count: Mapped[int] = mapped_column(default=1)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    # Something happened that the incident's timeline has not been told yet.
    pending: Mapped[bool] = mapped_column(default=True)
    # The last status the timeline was told: firing, acknowledged or resolved.
    noted: Mapped[str | None] = mapped_column(String(16))

    integration: Mapped[Integration] = relationship(lazy="joined")
    service: Mapped[Service | None] = relationship(lazy="joined")
