"""How pages stop: acknowledged (by a link, the page, or any acknowledgement of the incident
by a person), ended because the incident no longer needs them (resolved, dismissed, merged,
or lowered to a level that does not page), and the pagers they were mirrored to told."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from warroom.db.models import Action, DeliveryState, Incident, Page, PageDelivery, Timer
from warroom.domain.durations import humanize
from warroom.domain.errors import NotFound
from warroom.domain.paging import ContactKind, DeliveryEvent, PageKind, PageState
from warroom.domain.policy import Notify
from warroom.domain.timers import TimerKind
from warroom.domain.types import EventKind, Stage
from warroom.services import page_views
from warroom.services.executives import base_key
from warroom.services.incident_rows import is_new
from warroom.services.records import Op, cancel_pending_timers, person, record, touch

# Stages in which nobody needs paging any more: the incident is over or being watched.
QUIET_STAGES = frozenset(
    {Stage.RESOLVED, Stage.MONITORING, Stage.CLOSED, Stage.POSTMORTEM_COMPLETE, Stage.BACKLOG}
)
# Transports that mirror a page's acknowledgement and resolution: they are pagers themselves.
MIRRORED = frozenset({ContactKind.PAGERDUTY, ContactKind.OPSGENIE})


def needs_paging(incident: Incident) -> bool:
    return (
        incident.stage not in QUIET_STAGES
        and incident.dismissed_reason is None
        and incident.merged_into_id is None
    )


# What each level's notification policy pages for: a page started for one of these stops when
# the incident is lowered to a level that no longer asks for it.
PAGED_BY = {
    "page-oncall": frozenset({Notify.PAGE_ONCALL, Notify.PAGE_ALL_HANDS}),
    "page-all-hands": frozenset({Notify.PAGE_ALL_HANDS}),
}


def end_unwanted(op: Op, incident: Incident) -> None:
    """Lowered (SEV1 → SEV2, SEV0 → SEV1): stop the pages the new level does not ask for."""
    if incident.severity is None:
        return
    notify = op.policy.level(incident.severity).notify
    for page in open_pages(op.session, incident.id):
        base = action_base(op.session, page)
        wanted = PAGED_BY.get(base) if base is not None else None
        if wanted is not None and notify not in wanted:
            page.state, page.ended_at = PageState.ENDED, op.now
            cancel_timers(op, page)
            mirror(op, page, DeliveryEvent.RESOLVE)
            record(
                op,
                incident,
                EventKind.PAGE,
                f"paging stopped ({page.reason}): {incident.severity.value} does not page",
                page=page.id,
            )


def action_base(session: Session, page: Page) -> str | None:
    action = session.get(Action, page.action_id) if page.action_id else None
    return base_key(action.key) if action is not None else None


def cancel_timers(op: Op, page: Page) -> None:
    cancel_pending_timers(
        op, page.incident_id, TimerKind.PAGE_TIER, Timer.key.startswith(f"{page.id}:")
    )


# Read after every write: built once.
OPEN_PAGES_OF = (
    select(Page)
    .where(Page.incident_id == bindparam("incident"), Page.state == PageState.OPEN)
    .order_by(Page.id)
)


OPEN_PAGES = "warroom.open_pages"


def open_pages(session: Session, incident_id: int) -> list[Page]:
    """The incident's open pages, read once per transaction: a write asks several times
    (acknowledging, starting, stopping). Pages are created open only by
    :func:`warroom.services.paging.start`, which adds them with :func:`opened`, and never
    reopen, so a page stopped since the read is left out by its state."""
    known: dict[int, list[Page]] = session.info.setdefault(OPEN_PAGES, {})
    if incident_id not in known:
        # An incident this transaction created has only the pages it started here.
        known[incident_id] = (
            []
            if is_new(session, incident_id)
            else list(session.scalars(OPEN_PAGES_OF, {"incident": incident_id}))
        )
    return [page for page in known[incident_id] if page.state is PageState.OPEN]


def opened(session: Session, page: Page) -> None:
    """A page just started: :func:`open_pages` answers with it from now on."""
    known: dict[int, list[Page]] = session.info.setdefault(OPEN_PAGES, {})
    if page.incident_id in known:
        known[page.incident_id].append(page)
    elif is_new(session, page.incident_id):
        known[page.incident_id] = [page]


def acknowledge_incident_pages(op: Op, incident: Incident) -> list[Page]:
    """A person acknowledged the incident (or acted on it): every open page of it stops."""
    pages = open_pages(op.session, incident.id)
    for page in pages:
        acknowledge_page(op, incident, page, op.actor)
    return pages


def acknowledge_page(op: Op, incident: Incident, page: Page, handle: str) -> None:
    """Stop one page: record who and how long it took, cancel its timeout, tell the pagers it
    was mirrored to, and acknowledge the incident itself if nobody had."""
    if page.state is not PageState.OPEN:
        return
    who = person(op, handle)
    page.state = PageState.ACKNOWLEDGED
    page.acknowledged_at, page.acknowledged_by = op.at, who
    page.ended_at = op.now
    cancel_timers(op, page)
    mirror(op, page, DeliveryEvent.ACKNOWLEDGE)
    took = humanize(max(op.at - page.created_at, timedelta()))
    record(
        op,
        incident,
        EventKind.PAGE,
        f"page acknowledged by {who.handle} after {took} (tier {page.tier + 1}: {page.reason})",
        page=page.id,
        tier=page.tier + 1,
        seconds=(op.at - page.created_at).total_seconds(),
    )
    if incident.acknowledged_at is None:
        incident.acknowledged_at = op.at
        incident.acknowledged_by = who
        record(op, incident, EventKind.ACKNOWLEDGED, f"acknowledged by {who.handle} (page)")
    touch(op, incident)


def end_pages(op: Op, incident: Incident) -> None:
    """The incident resolved, was dismissed or merged: stop paging, resolve the mirrors."""
    for page in open_pages(op.session, incident.id):
        page.state, page.ended_at = PageState.ENDED, op.now
        cancel_timers(op, page)
        record(op, incident, EventKind.PAGE, f"paging stopped ({page.reason}): {incident.stage}")
    for page in op.session.scalars(
        select(Page).where(Page.incident_id == incident.id, Page.kind == PageKind.PAGE)
    ):
        mirror(op, page, DeliveryEvent.RESOLVE)


def mirror(op: Op, page: Page, event: DeliveryEvent) -> None:
    """Acknowledge or resolve, once, on every pager (PagerDuty, Opsgenie) the page triggered."""
    sent = op.session.scalars(
        select(PageDelivery).where(
            PageDelivery.page_id == page.id, PageDelivery.kind.in_(tuple(MIRRORED))
        )
    ).all()
    done = {(d.kind, d.address) for d in sent if d.event is event}
    for delivery in sent:
        target = (delivery.kind, delivery.address)
        if delivery.event is not DeliveryEvent.TRIGGER or target in done:
            continue
        done.add(target)
        # One id per pager and event. A removed contact method leaves its past deliveries
        # without one: the trigger's own row names the pager then, so two removed methods
        # never share an id (which would fail every later write to the incident).
        via = delivery.contact_method_id
        pager = str(via) if via is not None else f"d{delivery.id}"
        op.session.add(
            PageDelivery(
                delivery_id=f"{page.key}:{pager}:{event.value}",
                page_id=page.id,
                person_id=delivery.person_id,
                contact_method_id=delivery.contact_method_id,
                kind=delivery.kind,
                address=delivery.address,
                event=event,
                tier=delivery.tier,
                round=delivery.round,
                state=DeliveryState.PENDING,
                next_attempt_at=op.now,
                created_at=op.now,
            )
        )


def acknowledge_with_link(op: Op, token: str) -> Page:
    """One click in a page: the person it was sent to acknowledges it (if still open)."""
    page, handle = page_views.link_holder(op.session, token, op.now)
    incident = op.session.get(Incident, page.incident_id)
    assert incident is not None
    acknowledge_page(op, incident, page, handle)
    return page


def acknowledge_by_id(op: Op, page_id: int) -> Page:
    page = op.session.get(Page, page_id)
    if page is None:
        raise NotFound(f"page {page_id} does not exist")
    incident = op.session.get(Incident, page.incident_id)
    assert incident is not None
    acknowledge_page(op, incident, page, op.actor)
    return page
