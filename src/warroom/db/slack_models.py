"""What warroom owes Slack and has heard from it: the outbox of Web API work (channels,
posts, pins, topics, invitations, archiving), and the events already handled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from warroom.db.models import Base, DeliveryState
from warroom.db.types import str_enum


class SlackJob(Base):
    """One piece of Slack work, done at least once under its key. An incident's jobs run in
    order (its channel exists before anything is posted in it)."""

    __tablename__ = "slack_jobs"
    __table_args__ = (Index("ix_slack_jobs_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # channel, post, topic, archive, respond
    payload: Mapped[dict[str, Any]]
    state: Mapped[DeliveryState] = mapped_column(str_enum(DeliveryState, 16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class SlackEventSeen(Base):
    """An Events API delivery already handled: Slack retries carry the same event id."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime]
