"""The stored record of incidents. The timeline is append-only (enforced by the database)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from warroom.db.types import UTCDateTime, json_type, str_enum
from warroom.domain.paging import ContactKind, DeliveryEvent, PageKind, PageState
from warroom.domain.timers import TimerKind
from warroom.domain.types import (
    Access,
    DismissReason,
    EventKind,
    ReportSource,
    Role,
    Severity,
    Stage,
    UpdateStatus,
    WebhookAudience,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: json_type(),
    }


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]


class ContactMethod(Base):
    """One way to reach a person, tried in ``position`` order with the others. A method that
    failed for good is marked, skipped by later pages, and shown until someone fixes it."""

    __tablename__ = "contact_methods"
    __table_args__ = (UniqueConstraint("person_id", "kind", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    kind: Mapped[ContactKind] = mapped_column(str_enum(ContactKind, 16))
    address: Mapped[str] = mapped_column(String(2000))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    failing_since: Mapped[datetime | None]
    failing_reason: Mapped[str | None] = mapped_column(Text)


class EscalationPolicy(Base):
    """Ordered tiers of targets, each with a timeout, and how often to run through them again.
    Copied onto a page when paging starts."""

    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # [{"targets": ["primary"], "timeout": "5m" | null}, ...]; null: the acknowledge target.
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(json_type())
    repeat: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("escalation_policies.id"))
    created_at: Mapped[datetime]

    lead: Mapped[Person | None] = relationship(lazy="joined")
    policy: Mapped[EscalationPolicy | None] = relationship(lazy="joined")


class Service(Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime]
    # Who owns it: paging goes to this team's on-call, through the service's own policy if it
    # has one, else the team's, else primary → secondary → lead.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("escalation_policies.id"))


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[Severity | None] = mapped_column(str_enum(Severity, 8))
    severity_confirmed: Mapped[bool] = mapped_column(default=False)
    stage: Mapped[Stage] = mapped_column(str_enum(Stage), index=True)
    stage_entered_at: Mapped[datetime]
    source: Mapped[ReportSource] = mapped_column(str_enum(ReportSource, 16))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))

    detected_at: Mapped[datetime] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    triaged_at: Mapped[datetime | None]
    declared_at: Mapped[datetime | None]
    investigating_at: Mapped[datetime | None]
    mitigated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    monitoring_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    postmortem_complete_at: Mapped[datetime | None]
    backlog_at: Mapped[datetime | None]
    # <stage>_at is the *first* entry; a reopened incident closes again at last_closed_at.
    last_closed_at: Mapped[datetime | None]
    # When it was first known as SEV0/SEV1: the delayed-declaration clock starts here.
    major_since: Mapped[datetime | None]

    channel_name: Mapped[str | None] = mapped_column(String(80), unique=True)
    customer_visible: Mapped[bool] = mapped_column(default=False)
    # On the status page: its opaque id there, the title customers see (default: derived
    # from the components it affects), and when it first appeared.
    public_id: Mapped[str | None] = mapped_column(String(16), unique=True)
    public_title: Mapped[str | None] = mapped_column(String(300))
    published_at: Mapped[datetime | None]
    # When what customers see of it last changed, and a digest of that view: only a change
    # they can see moves the page's revision and times.
    public_updated_at: Mapped[datetime | None]
    public_digest: Mapped[str | None] = mapped_column(String(32))
    # Its home in Slack: the incident channel (or, for a SEV2 declared from Slack, the
    # channel and thread of the declaring message) and the pinned status message.
    slack_channel_id: Mapped[str | None] = mapped_column(String(32), index=True)
    slack_thread_ts: Mapped[str | None] = mapped_column(String(32))
    slack_status_ts: Mapped[str | None] = mapped_column(String(32))
    dismissed_reason: Mapped[DismissReason | None] = mapped_column(str_enum(DismissReason, 16))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    postmortem_doc: Mapped[str | None] = mapped_column(String(2000))
    # Alerts with this grouping key (e.g. ``service=checkout``) join the incident while active.
    alert_group: Mapped[str | None] = mapped_column(String(300), index=True)
    # The team a routing rule sent it to; else paging follows the service's owner.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))

    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    service: Mapped[Service | None] = relationship(lazy="joined")
    acknowledged_by: Mapped[Person | None] = relationship(lazy="joined")

    # Optimistic locking: a write based on a stale read fails instead of losing an update.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own hook


class RoleAssignment(Base):
    """Who held which role when. A handover ends one row and starts another."""

    __tablename__ = "role_assignments"
    __table_args__ = (Index("ix_role_assignments_current", "incident_id", "role", "relieved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    role: Mapped[Role] = mapped_column(str_enum(Role, 16))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    assigned_at: Mapped[datetime]
    assigned_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    relieved_at: Mapped[datetime | None]

    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="joined")


class TimelineEvent(Base):
    """One fact on an incident's timeline. Rows are only ever inserted."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_events_incident_at", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind, 16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set on the copies a merge makes: the incident the entry was first recorded on.
    origin_incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))

    actor: Mapped[Person | None] = relationship(foreign_keys=[actor_id], lazy="joined")


class StatusUpdate(Base):
    __tablename__ = "status_updates"
    __table_args__ = (UniqueConstraint("incident_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    number: Mapped[int]
    at: Mapped[datetime]
    status: Mapped[UpdateStatus] = mapped_column(str_enum(UpdateStatus, 24))
    issue: Mapped[str] = mapped_column(Text)
    impact: Mapped[str] = mapped_column(Text)
    progress: Mapped[str] = mapped_column(Text)
    next_steps: Mapped[str] = mapped_column(Text)
    eta: Mapped[str] = mapped_column(String(200))
    next_update_at: Mapped[datetime | None]
    rendered: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(default=False)
    public_text: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("people.id"))


class Action(Base):
    """A pending checklist action: delivered by a transport, or marked done by a person."""

    __tablename__ = "actions"
    __table_args__ = (UniqueConstraint("incident_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    cancelled_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)


class TimerState(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


class Timer(Base):
    """A deadline, reminder or escalation: a row with a due time, fired once by a worker."""

    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("incident_id", "kind", "key"),
        Index("ix_timers_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    kind: Mapped[TimerKind] = mapped_column(str_enum(TimerKind, 32))
    key: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime]
    state: Mapped[TimerState] = mapped_column(str_enum(TimerState, 16), default=TimerState.PENDING)
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    fired_by: Mapped[str | None] = mapped_column(String(100))
    cancelled_at: Mapped[datetime | None]


class ApiToken(Base):
    """An API credential. Only a hash of the secret is stored; the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    name: Mapped[str] = mapped_column(String(100))
    access: Mapped[Access] = mapped_column(str_enum(Access, 16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    person: Mapped[Person] = relationship(lazy="joined")


class Webhook(Base):
    """An outbound webhook, signed with its secret: every timeline event, or the notifications
    meant for one audience."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    audience: Mapped[WebhookAudience] = mapped_column(
        str_enum(WebhookAudience, 16), server_default=WebhookAudience.EVENTS.value
    )
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Delivery(Base):
    """One event on its way to one webhook: written with the event, sent after the commit,
    retried with backoff, at least once, always under the same delivery id."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"))
    # The checklist action this delivery carries out (e.g. notify-executives): done once sent.
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"))
    payload: Mapped[dict[str, Any]]
    state: Mapped[DeliveryState] = mapped_column(str_enum(DeliveryState, 16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Report(Base):
    """A detection by a person or a synthetic check, or a customer report on an incident."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_incident_at", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    at: Mapped[datetime]
    source: Mapped[ReportSource] = mapped_column(str_enum(ReportSource, 16))
    title: Mapped[str] = mapped_column(String(300))
    reporter_id: Mapped[int] = mapped_column(ForeignKey("people.id"))


class Schedule(Base):
    """An on-call schedule: layers of rotations in one time zone, and overrides on top."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    zone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    layers: Mapped[list[ScheduleLayer]] = relationship(
        order_by="ScheduleLayer.position", lazy="selectin", cascade="all, delete-orphan"
    )


class ScheduleLayer(Base):
    """A rotation of people for one level (primary, secondary…); a later layer of the same
    level wins where it covers the time, optionally only between two local times a day."""

    __tablename__ = "schedule_layers"
    __table_args__ = (UniqueConstraint("schedule_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(63))
    level: Mapped[str] = mapped_column(String(31))
    participants: Mapped[list[str]] = mapped_column(json_type())  # handles, in rotation order
    handoff: Mapped[datetime]
    rotation_days: Mapped[int] = mapped_column(default=7)
    restriction_start: Mapped[str | None] = mapped_column(String(5))  # "HH:MM", local
    restriction_end: Mapped[str | None] = mapped_column(String(5))


class Override(Base):
    """Someone else takes a level of a schedule for a while (a swapped shift)."""

    __tablename__ = "schedule_overrides"
    __table_args__ = (Index("ix_schedule_overrides_span", "schedule_id", "end_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id"))
    level: Mapped[str] = mapped_column(String(31))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    removed_at: Mapped[datetime | None]

    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="joined")


class Page(Base):
    """Paging people for an incident, tier by tier, until someone acknowledges. It carries out
    a checklist action (page-oncall, page-all-hands…) and follows a copy of its policy."""

    __tablename__ = "pages"
    __table_args__ = (Index("ix_pages_incident", "incident_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable for the page's life: the dedup key PagerDuty and Opsgenie see, and the root of
    # every delivery's idempotency key.
    key: Mapped[str] = mapped_column(String(36), unique=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"))
    kind: Mapped[PageKind] = mapped_column(str_enum(PageKind, 16))
    reason: Mapped[str] = mapped_column(String(300))
    snapshot: Mapped[dict[str, Any]]
    tier: Mapped[int] = mapped_column(default=0)
    round: Mapped[int] = mapped_column(default=0)
    tier_paged_at: Mapped[datetime]
    state: Mapped[PageState] = mapped_column(str_enum(PageState, 16))
    created_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    ended_at: Mapped[datetime | None]

    acknowledged_by: Mapped[Person | None] = relationship(lazy="joined")
    # Set when paging starts, so a new action and its page go in with one flush, in order.
    action: Mapped[Action | None] = relationship()


class PageDelivery(Base):
    """One message of a page to one contact method: written with the page, sent after the
    commit, retried with backoff, always under the same idempotency key."""

    __tablename__ = "page_deliveries"
    __table_args__ = (
        Index("ix_page_deliveries_due", "state", "next_attempt_at"),
        Index("ix_page_deliveries_page", "page_id", "tier", "round"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(120), unique=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    contact_method_id: Mapped[int | None] = mapped_column(ForeignKey("contact_methods.id"))
    kind: Mapped[ContactKind] = mapped_column(str_enum(ContactKind, 16))
    address: Mapped[str] = mapped_column(String(2000))
    event: Mapped[DeliveryEvent] = mapped_column(str_enum(DeliveryEvent, 16))
    tier: Mapped[int]
    round: Mapped[int]
    state: Mapped[DeliveryState] = mapped_column(str_enum(DeliveryState, 16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    person: Mapped[Person] = relationship(lazy="joined")


class ServerKey(Base):
    """Secrets the server makes for itself on first use (the key that signs acknowledgement
    links), shared by every process through the database."""

    __tablename__ = "server_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
