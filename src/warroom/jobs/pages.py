"""Deliver pages: each queued message to its contact method, at least once, with backoff.

The same lease as webhook deliveries (``jobs.deliveries.lease``): leased and committed before
the send, so a worker that dies mid-send leaves the message to be retried under the same
idempotency key. The outcome is written in a second transaction, and what it means for the
page (the checklist action done, a failing method marked, an unreachable tier skipped) in a
third, retried if it races with another change to the incident.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from warroom.db.engine import unit_of_work
from warroom.db.listen import announce
from warroom.db.models import DeliveryState, Incident, Page, PageDelivery
from warroom.domain.errors import Conflict
from warroom.domain.paging import ContactKind, DeliveryEvent, PageKind, PageState
from warroom.domain.policy import Policy
from warroom.domain.timefmt import utc_text
from warroom.jobs.deliveries import ACTION_ATTEMPTS, MAX_ATTEMPTS, Writer, backoff, lease
from warroom.metrics import PAGE_DELIVERIES
from warroom.notify import Message, TransportError
from warroom.notify.dispatch import Transports
from warroom.services import acklinks, paging
from warroom.services.records import Op
from warroom.services.timers import SYSTEM_ACTOR, settle

log = logging.getLogger("warroom.pages")

WEBHOOK_KEY = "page-webhooks"


@dataclass(frozen=True)
class Job:
    pk: int
    kind: ContactKind
    address: str
    message: Message
    attempts: int
    webhook_secret: str


def deliver_page_one(
    sessions: sessionmaker[Session],
    policy: Policy,
    transports: Transports,
    *,
    now: datetime,
    writer: Writer = nullcontext,
) -> bool:
    """Send the earliest due page delivery. Returns whether there may be more work."""
    with writer(), unit_of_work(sessions) as session:
        delivery = lease(session, PageDelivery, now)
        if delivery is None:
            return False
        page = session.get(Page, delivery.page_id)
        assert page is not None
        if _overtaken(delivery, page):
            delivery.state = DeliveryState.FAILED
            delivery.last_error = f"not sent: the page was {page.state.value} first"
            job = None
        else:
            job = Job(
                pk=delivery.id,
                kind=delivery.kind,
                address=delivery.address,
                message=message(session, page, delivery, transports, now),
                attempts=delivery.attempts,
                webhook_secret=acklinks.server_key(session, WEBHOOK_KEY, now).hex(),
            )
        kind = delivery.kind.value
    if job is None:
        PAGE_DELIVERIES.labels(kind, "dropped").inc()
        return True
    error: TransportError | None = None
    if job.attempts > MAX_ATTEMPTS:
        error = TransportError(f"no outcome after {MAX_ATTEMPTS} attempts", permanent=True)
    else:
        try:
            transports.send(
                job.kind, job.address, job.message, webhook_secret=job.webhook_secret, now=now
            )
        except TransportError as exc:
            error = exc
    with writer(), unit_of_work(sessions) as session:
        delivery = session.get(PageDelivery, job.pk)
        assert delivery is not None
        final = _settle(delivery, error, now)
    PAGE_DELIVERIES.labels(kind, final).inc()
    if final != "retry":
        _page_outcome(sessions, policy, job.pk, error, now, writer)
    return True


def _overtaken(delivery: PageDelivery, page: Page) -> bool:
    """A page acknowledged or ended before its message went out needs it no more; its
    acknowledgement and resolution mirrors always go."""
    return (
        delivery.event is DeliveryEvent.TRIGGER
        and page.kind is PageKind.PAGE
        and page.state in (PageState.ACKNOWLEDGED, PageState.ENDED)
    )


def _settle(delivery: PageDelivery, error: TransportError | None, now: datetime) -> str:
    if error is None:
        delivery.state, delivery.delivered_at, delivery.last_error = (
            DeliveryState.DELIVERED,
            now,
            None,
        )
        return "delivered"
    delivery.last_error = str(error)[:2000]
    log.warning(
        "page delivery %s by %s failed (attempt %s): %s",
        delivery.delivery_id,
        delivery.kind.value,
        delivery.attempts,
        error,
    )
    if error.permanent or delivery.attempts >= MAX_ATTEMPTS:
        delivery.state = DeliveryState.FAILED
        return "failed"
    delivery.next_attempt_at = now + backoff(delivery.attempts)
    return "retry"


def _page_outcome(
    sessions: sessionmaker[Session],
    policy: Policy,
    delivery_pk: int,
    error: TransportError | None,
    now: datetime,
    writer: Writer,
) -> None:
    for attempt in range(1, ACTION_ATTEMPTS + 1):
        try:
            with writer(), unit_of_work(sessions) as session:
                op = Op(session, policy, SYSTEM_ACTOR, now, now)
                delivery = session.get(PageDelivery, delivery_pk)
                assert delivery is not None
                paging.delivery_outcome(op, delivery, error)
                settle(op)
                announce(session)
            return
        except Conflict:
            if attempt == ACTION_ATTEMPTS:
                log.warning("page delivery %s: its outcome could not be recorded", delivery_pk)


def message(
    session: Session,
    page: Page,
    delivery: PageDelivery,
    transports: Transports,
    now: datetime,
) -> Message:
    """What the person reads: what happened, how bad, and how to stop the page."""
    incident = session.get(Incident, page.incident_id)
    assert incident is not None
    number = f"INC-{incident.id}"
    severity = incident.severity.value if incident.severity else None
    shown = severity or "severity not yet known"
    if severity and not incident.severity_confirmed:
        shown += " (proposed)"
    event = delivery.event
    ack_url = None
    if page.kind is PageKind.PAGE and event is DeliveryEvent.TRIGGER:
        token = acklinks.token(session, page.id, delivery.person_id, now)
        ack_url = f"{transports.public_url}/ack/{token}"
    heading = {
        DeliveryEvent.TRIGGER: "Page" if page.kind is PageKind.PAGE else "For your information",
        DeliveryEvent.ACKNOWLEDGE: "Acknowledged",
        DeliveryEvent.RESOLVE: "Resolved",
    }[event]
    subject = f"{heading}: [{severity or 'SEV?'}] {number} {incident.title}"
    lines = [
        f"{number}: {incident.title}",
        f"Severity: {shown}",
        f"Service: {incident.service.name if incident.service else 'not known'}",
        f"Stage: {incident.stage.value}, detected {utc_text(incident.detected_at)}",
        f"Why you: {page.reason} (tier {delivery.tier + 1})",
    ]
    if ack_url:
        lines += ["", f"Acknowledge (stops the escalation): {ack_url}"]
        lines.append(f"or run: warroom ack {number}")
    return Message(
        idempotency_key=delivery.delivery_id,
        dedup_key=f"warroom-{page.key}",
        event=event.value,
        incident=number,
        title=incident.title,
        severity=severity,
        subject=subject,
        text="\n".join(lines),
        ack_url=ack_url,
        details={"stage": incident.stage.value, "reason": page.reason},
    )
