"""The stored record of what customers see: components, published updates, subscribers, and
the e-mail sent to them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from warroom.db.models import Base, DeliveryState, Service
from warroom.db.types import json_type, str_enum
from warroom.domain.statuspage import ComponentStatus
from warroom.domain.types import PublicStatus


class StatusPageRow(Base):
    """The page itself: one row. ``revision`` moves on every change customers can see, so
    every node knows when what it rendered is out of date."""

    __tablename__ = "status_page"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]
    created_at: Mapped[datetime]


class Component(Base):
    __tablename__ = "components"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    # A group is a component that holds others; it is never mapped to services itself.
    is_group: Mapped[bool] = mapped_column(default=False)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(default=0)
    showcase: Mapped[bool] = mapped_column(default=True)
    only_show_if_degraded: Mapped[bool] = mapped_column(default=False)
    # Set by hand; None means derived from the incidents on its services.
    status_override: Mapped[ComponentStatus | None] = mapped_column(str_enum(ComponentStatus, 24))
    start_date: Mapped[date | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    services: Mapped[list[Service]] = relationship(
        secondary="component_services", lazy="selectin", order_by="Service.name"
    )


class ComponentService(Base):
    __tablename__ = "component_services"

    component_id: Mapped[int] = mapped_column(
        ForeignKey("components.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)


class PublicUpdate(Base):
    """One update on the status page. Written when the public status changes (the standard
    text) and when a person publishes a status update; never edited by warroom."""

    __tablename__ = "public_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime]
    status: Mapped[PublicStatus] = mapped_column(str_enum(PublicStatus, 16))
    body: Mapped[str] = mapped_column(Text)
    # [{code, name, old_status, new_status}] of the components it moved, or None.
    affected: Mapped[list[dict[str, Any]] | None] = mapped_column(json_type())
    created_at: Mapped[datetime]
    # Subscribers' e-mails were queued for it (once, by the worker).
    notified_at: Mapped[datetime | None]


class SubscriberState(StrEnum):
    PENDING = "pending"  # asked, not yet confirmed by the link sent to them
    CONFIRMED = "confirmed"


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    state: Mapped[SubscriberState] = mapped_column(str_enum(SubscriberState, 16))
    # Opted in to an e-mail for every public incident update (customer e-mails after a major
    # incident go to every confirmed subscriber).
    incident_updates: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    # Part of every link signed for this subscriber: a removed and re-added address gets a
    # new one, and old links stop working.
    nonce: Mapped[str] = mapped_column(String(32))


class EmailKind(StrEnum):
    CONFIRM = "confirm"
    UPDATE = "update"
    CUSTOMER = "customer"


class OutboundEmail(Base):
    """The customer-facing outbox: each row one message to one address, sent at least once
    under one idempotency key (its Message-ID)."""

    __tablename__ = "outbound_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[EmailKind] = mapped_column(str_enum(EmailKind, 16))
    to: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # Unsubscribe link (List-Unsubscribe), for mail to subscribers.
    unsubscribe_url: Mapped[str | None] = mapped_column(String(2000))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    state: Mapped[DeliveryState] = mapped_column(str_enum(DeliveryState, 16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class CustomerEmail(Base):
    """The e-mail customers get after a SEV0/SEV1: drafted from the record, edited, sent once."""

    __tablename__ = "customer_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    edited_at: Mapped[datetime]
    edited_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    sent_at: Mapped[datetime | None]
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    recipients: Mapped[int] = mapped_column(default=0)
