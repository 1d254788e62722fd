"""Pages as the CLI, the API and the acknowledgement links show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.models import Incident, Page, PageDelivery, Person
from warroom.domain.errors import NotFound
from warroom.domain.paging import Snapshot
from warroom.services import acklinks


def link_holder(session: Session, token: str, now: datetime) -> tuple[Page, str]:
    """The page an acknowledgement link is for, and the handle of the person it was sent to."""
    claim = acklinks.verify(session, token, now)
    page = session.get(Page, claim.page_id)
    someone = session.get(Person, claim.person_id)
    if page is None or someone is None:
        raise NotFound("this acknowledgement link is not valid (or has expired)")
    return page, someone.handle


def page_row(session: Session, page: Page) -> dict[str, Any]:
    snap = Snapshot.from_json(page.snapshot)
    deliveries = session.scalars(
        select(PageDelivery).where(PageDelivery.page_id == page.id).order_by(PageDelivery.id)
    )
    return {
        "id": page.id,
        "incident": f"INC-{page.incident_id}",
        "kind": page.kind.value,
        "reason": page.reason,
        "state": page.state.value,
        "policy": snap.policy,
        "team": snap.team,
        "tier": page.tier + 1,
        "tiers": len(snap.tiers),
        "round": page.round,
        "created_at": page.created_at.isoformat(),
        "tier_paged_at": page.tier_paged_at.isoformat(),
        "acknowledged_at": page.acknowledged_at.isoformat() if page.acknowledged_at else None,
        "acknowledged_by": page.acknowledged_by.handle if page.acknowledged_by else None,
        "seconds_to_acknowledge": (
            (page.acknowledged_at - page.created_at).total_seconds()
            if page.acknowledged_at
            else None
        ),
        "deliveries": [
            {
                "person": d.person.handle,
                "transport": d.kind.value,
                "event": d.event.value,
                "tier": d.tier + 1,
                "round": d.round,
                "state": d.state.value,
                "attempts": d.attempts,
                "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
                "error": d.last_error,
            }
            for d in deliveries
        ],
    }


def pages(
    session: Session, incident_id: int | None = None, limit: int = 50, offset: int = 0
) -> list[Page]:
    query = select(Page).order_by(Page.id.desc()).limit(limit).offset(offset)
    if incident_id is not None:
        query = query.where(Page.incident_id == incident_id)
    return list(session.scalars(query))


def incident_summary(session: Session, number: int) -> str:
    incident = session.get(Incident, number)
    if incident is None:
        return f"INC-{number}"
    severity = incident.severity.value if incident.severity else "SEV?"
    return f"INC-{number} [{severity}] {incident.title} ({incident.stage.value})"
