"""What a page delivery's final outcome means for its page: the first message out marks the
page's checklist action done; a contact method that failed for good is marked and said on the
timeline; a tier left with nobody reached is skipped at once instead of waiting out its
timeout."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.models import (
    Action,
    DeliveryState,
    Incident,
    Page,
    PageDelivery,
    Timer,
)
from warroom.domain.paging import DeliveryEvent, PageKind, PageState, Snapshot
from warroom.domain.timers import TimerKind
from warroom.domain.types import EventKind
from warroom.notify import TransportError
from warroom.notify.dispatch import NotConfigured
from warroom.services import directory
from warroom.services.page_stops import cancel_timers
from warroom.services.paging import advance, page_tier
from warroom.services.records import Op, cancel_pending_timers, finish_action, record, touch


def delivery_outcome(op: Op, delivery: PageDelivery, error: TransportError | None) -> None:
    """Record what a delivery's final outcome (``error`` None: it went out) means for its page."""
    page = op.session.get(Page, delivery.page_id)
    assert page is not None
    incident = op.session.get(Incident, page.incident_id)
    assert incident is not None
    how = f"{delivery.person.handle} by {delivery.kind.value}"
    if error is None:
        if delivery.event is DeliveryEvent.TRIGGER and page.action_id is not None:
            action = op.session.get(Action, page.action_id)
            if action is not None and finish_action(op, action, f"reached {how}"):
                record(
                    op,
                    incident,
                    EventKind.ACTION,
                    f"done: {action.title} (reached {how})",
                    action=action.key,
                    page=page.id,
                )
                # Only the action's own deadline changes: cancelled here rather than by
                # reconciling every timer of the incident (a storm's thousand pages).
                _cancel_action_deadline(op, action)
        return
    if delivery.event is not DeliveryEvent.TRIGGER:
        return  # a mirror that failed: the pager keeps its own alert; nothing to escalate
    blamed = not isinstance(error, NotConfigured) and error.permanent
    if blamed and directory.mark_failing(
        op.session, delivery.contact_method_id, op.now, str(error)
    ):
        problem = f"could not reach {how} ({error}); that contact method is marked failing"
    else:
        problem = f"could not reach {how} ({error})"
    record(op, incident, EventKind.MISSED, problem, page=page.id, tier=delivery.tier + 1)
    touch(op, incident)
    if (
        page.kind is PageKind.PAGE
        and page.state is PageState.OPEN
        and (page.tier, page.round) == (delivery.tier, delivery.round)
        and not _tier_has_hope(op.session, page)
    ):
        snap = Snapshot.from_json(page.snapshot)
        cancel_timers(op, page)
        record(
            op,
            incident,
            EventKind.PAGE,
            f"nobody at tier {page.tier + 1} could be reached: paging the next tier now",
            page=page.id,
        )
        if advance(op, incident, page, snap, "unreachable"):
            page_tier(op, incident, page, snap)


def _cancel_action_deadline(op: Op, action: Action) -> None:
    cancel_pending_timers(op, action.incident_id, TimerKind.ACTION_DUE, Timer.key == action.key)


def _tier_has_hope(session: Session, page: Page) -> bool:
    """Whether any message of the page's current tier went out or may still go out."""
    return (
        session.scalars(
            select(PageDelivery.id).where(
                PageDelivery.page_id == page.id,
                PageDelivery.tier == page.tier,
                PageDelivery.round == page.round,
                PageDelivery.event == DeliveryEvent.TRIGGER,
                PageDelivery.state != DeliveryState.FAILED,
            )
        ).first()
        is not None
    )
