"""Deliver pages: each queued message to its contact method, at least once, with backoff.

Deliveries are leased in batches and committed before the send, so a worker that dies
mid-send leaves them to be retried under the same idempotency keys when the lease runs out.
A batch is sent side by side (a storm's pages do not queue behind each other's SMTP
handshakes). The outcomes, and what they mean for the pages (the checklist action done, a
failing method marked, an unreachable tier skipped), are written together in a second
transaction, re-run if it races with another change to an incident.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from warroom.db.engine import unit_of_work
from warroom.db.listen import announce
from warroom.db.models import DeliveryState, Incident, Page, PageDelivery
from warroom.domain.errors import Conflict
from warroom.domain.paging import ContactKind, DeliveryEvent, PageKind, PageState
from warroom.domain.policy import Policy
from warroom.domain.timefmt import utc_text
from warroom.jobs.deliveries import (
    LEASE,
    MAX_ATTEMPTS,
    SETTLE_ATTEMPTS,
    Writer,
    backoff,
    outlasted,
)
from warroom.metrics import PAGE_DELIVERIES
from warroom.notify import Message, TransportError
from warroom.notify.dispatch import Transports
from warroom.services import acklinks, page_outcomes
from warroom.services.records import Op
from warroom.services.timers import SYSTEM_ACTOR, settle

log = logging.getLogger("warroom.pages")

WEBHOOK_KEY = "page-webhooks"


@dataclass(frozen=True)
class Job:
    pk: int
    page_id: int
    kind: ContactKind
    address: str
    message: Message
    attempts: int
    webhook_secret: str


# Deliveries leased and sent together: a storm's pages go out side by side, not one by one.
BATCH = 100
SENDERS = 32
_senders: ThreadPoolExecutor | None = None
_senders_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _senders
    with _senders_lock:
        if _senders is None:
            _senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="warroom-pager")
        return _senders


def lease_many(session: Session, now: datetime, limit: int) -> list[PageDelivery]:
    """Take up to ``limit`` due deliveries for one attempt, in one statement: another worker
    skips them (PostgreSQL) or loses the compare-and-set on their due time (SQLite)."""
    due = (
        select(PageDelivery.id)
        .where(PageDelivery.state == DeliveryState.PENDING, PageDelivery.next_attempt_at <= now)
        .order_by(PageDelivery.next_attempt_at, PageDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    won = session.scalars(
        update(PageDelivery)
        .where(
            PageDelivery.id.in_(due.scalar_subquery()),
            PageDelivery.state == DeliveryState.PENDING,
            PageDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + LEASE, attempts=PageDelivery.attempts + 1)
        .returning(PageDelivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not won:
        return []
    return list(
        session.scalars(
            select(PageDelivery)
            .where(PageDelivery.id.in_(won))
            .order_by(PageDelivery.next_attempt_at, PageDelivery.id)
            .execution_options(populate_existing=True)
        )
    )


def deliver_page_one(
    sessions: sessionmaker[Session],
    policy: Policy,
    transports: Transports,
    *,
    now: datetime,
    writer: Writer = nullcontext,
) -> bool:
    """Send the earliest due page delivery. Returns whether there may be more work."""
    return deliver_pages(sessions, policy, transports, now=now, writer=writer, limit=1) > 0


def deliver_pages(
    sessions: sessionmaker[Session],
    policy: Policy,
    transports: Transports,
    *,
    now: datetime,
    writer: Writer = nullcontext,
    limit: int = BATCH,
) -> int:
    """Send up to ``limit`` due page deliveries side by side; returns how many were leased
    (0: nothing is due)."""
    dropped: list[str] = []
    jobs: list[Job] = []
    with writer(), unit_of_work(sessions) as session:
        leased = lease_many(session, now, limit)
        if not leased:
            return 0
        secret = acklinks.server_key(session, WEBHOOK_KEY, now).hex()
        for delivery in leased:
            page = session.get(Page, delivery.page_id)
            assert page is not None
            if _overtaken(delivery, page):
                delivery.state = DeliveryState.FAILED
                delivery.last_error = f"not sent: the page was {page.state.value} first"
                dropped.append(delivery.kind.value)
                continue
            jobs.append(
                Job(
                    pk=delivery.id,
                    page_id=delivery.page_id,
                    kind=delivery.kind,
                    address=delivery.address,
                    message=message(session, page, delivery, transports, now),
                    attempts=delivery.attempts,
                    webhook_secret=secret,
                )
            )
    for kind in dropped:
        PAGE_DELIVERIES.labels(kind, "dropped").inc()
    if not jobs:
        return len(leased)
    # The messages of one page to one address go in the order they were queued (a mirror's
    # acknowledge before its resolve); everything else side by side.
    by_page: dict[tuple[int, str], list[Job]] = {}
    for job in jobs:
        by_page.setdefault((job.page_id, job.address), []).append(job)

    def send_all(group: list[Job]) -> list[TransportError | None]:
        return [_send(transports, job, now) for job in group]

    groups = list(by_page.values())
    # One page alone is sent on this thread: no hand-off to the pool for the common case.
    results = [send_all(groups[0])] if len(groups) == 1 else list(_pool().map(send_all, groups))
    outcome = {
        job.pk: error
        for group, errors in zip(groups, results, strict=True)
        for job, error in zip(group, errors, strict=True)
    }
    errors = [outcome[job.pk] for job in jobs]
    _record(sessions, policy, list(zip(jobs, errors, strict=True)), now, writer)
    return len(leased)


def _send(transports: Transports, job: Job, now: datetime) -> TransportError | None:
    if job.attempts > MAX_ATTEMPTS:
        return TransportError(f"no outcome after {MAX_ATTEMPTS} attempts", permanent=True)
    try:
        transports.send(
            job.kind, job.address, job.message, webhook_secret=job.webhook_secret, now=now
        )
    except TransportError as exc:
        return exc
    return None


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


def _record(
    sessions: sessionmaker[Session],
    policy: Policy,
    results: list[tuple[Job, TransportError | None]],
    now: datetime,
    writer: Writer,
) -> None:
    """Write each delivery's outcome and what it means for its page (the action done, a
    failing method marked, an unreachable tier skipped) in one transaction, so neither is ever
    recorded without the other. Re-run when it races with another change to an incident; if
    that keeps happening, the outcomes alone are kept (the tier's timer still escalates)."""
    for attempt in range(1, SETTLE_ATTEMPTS + 1):
        try:
            with writer(), unit_of_work(sessions) as session:
                op = Op(session, policy, SYSTEM_ACTOR, now, now)
                finals = _settle_all(session, results, now)
                for job, error in results:
                    if finals[job.pk] in ("delivered", "failed"):
                        delivery = session.get(PageDelivery, job.pk)
                        assert delivery is not None
                        page_outcomes.delivery_outcome(op, delivery, error)
                settle(op)
                announce(session)
            break
        except Conflict:
            if attempt < SETTLE_ATTEMPTS:
                continue
            log.warning("page deliveries: their meaning for the pages was not recorded")
            with writer(), unit_of_work(sessions) as session:
                finals = _settle_all(session, results, now)
    for job, _error in results:
        PAGE_DELIVERIES.labels(job.kind.value, finals[job.pk]).inc()


def _settle_all(
    session: Session, results: list[tuple[Job, TransportError | None]], now: datetime
) -> dict[int, str]:
    finals = {}
    # Locked, in one order: an attempt leasing a delivery now is either seen or waited for.
    for job, error in sorted(results, key=lambda result: result[0].pk):
        delivery = session.get(PageDelivery, job.pk, with_for_update={"of": PageDelivery})
        assert delivery is not None
        # A send that outlasted its lease: the attempt that took the delivery over decides.
        finals[job.pk] = (
            "superseded" if outlasted(delivery, job.attempts) else _settle(delivery, error, now)
        )
    return finals


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
