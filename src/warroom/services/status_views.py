"""The public surface as one immutable snapshot, read in one transaction.

Every representation customers get (the page, the Statuspage JSON, the feeds, the static
export) is rendered from a :class:`Snapshot`, so they never disagree, and a node keeps the
last good one to serve while the database is away. Only public words reach it: published
updates, component names, the public title; never the record's notes, people or alerts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from warroom.db.models import Incident, StatusUpdate
from warroom.db.status_models import Component, PublicUpdate
from warroom.domain.policy import Policy
from warroom.domain.statuspage import (
    AFFECTING,
    COMPONENT_STATUS,
    IMPACT,
    ComponentStatus,
    History,
    Impact,
    Indicator,
    Outage,
    history,
    indicator,
    worst,
)
from warroom.domain.types import INACTIVE_STAGES, PublicStatus
from warroom.services.reading import public_status
from warroom.services.statuspage import components_of_services, derived_statuses, page_row

RECENT = 50


@dataclass(frozen=True)
class PublicComponent:
    public_id: str
    name: str
    description: str | None
    status: ComponentStatus
    is_group: bool
    group_id: str | None  # the group's public id
    position: int
    showcase: bool
    only_show_if_degraded: bool
    start_date: date | None
    created_at: datetime
    updated_at: datetime
    children: tuple[str, ...] = ()
    history: History | None = None


@dataclass(frozen=True)
class PublicUpdateView:
    public_id: str
    status: PublicStatus
    body: str
    at: datetime
    created_at: datetime
    affected: tuple[dict[str, Any], ...] | None


@dataclass(frozen=True)
class PublicIncident:
    public_id: str
    name: str
    status: PublicStatus
    impact: Impact
    created_at: datetime
    updated_at: datetime
    started_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    updates: tuple[PublicUpdateView, ...]  # newest first
    components: tuple[tuple[str, str, ComponentStatus], ...]  # public id, name, status
    next_update_at: datetime | None

    @property
    def resolved(self) -> bool:
        return self.status is PublicStatus.RESOLVED


@dataclass(frozen=True)
class Snapshot:
    page_id: str
    name: str
    url: str
    zone: ZoneInfo
    updated_at: datetime
    revision: int
    built_at: datetime
    indicator: Indicator
    components: tuple[PublicComponent, ...]  # groups and components, in page order
    incidents: tuple[PublicIncident, ...]  # newest first: the recent ones and every unresolved
    history_days: int
    logo_url: str | None = None
    accent: str = "#0b5cad"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def unresolved(self) -> tuple[PublicIncident, ...]:
        return tuple(i for i in self.incidents if not i.resolved)

    def local_day(self) -> date:
        return self.built_at.astimezone(self.zone).date()


def current_revision(session: Session) -> int:
    return page_row(session).revision


def snapshot(session: Session, policy: Policy, *, now: datetime, public_url: str) -> Snapshot:
    settings = policy.status_page
    zone = ZoneInfo(settings.time_zone)
    row = page_row(session)
    window_start = now - timedelta(days=settings.history_days + 1)
    incidents = [
        incident
        for incident in session.scalars(
            select(Incident)
            .where(
                Incident.published_at.is_not(None),
                or_(
                    Incident.stage.not_in(INACTIVE_STAGES),
                    Incident.closed_at >= window_start,
                    Incident.last_closed_at >= window_start,
                ),
            )
            .order_by(Incident.published_at.desc(), Incident.id.desc())
        )
        if public_status(incident, policy) is not None
    ]
    older = session.scalars(
        select(Incident)
        .where(
            Incident.published_at.is_not(None),
            Incident.stage.in_(INACTIVE_STAGES),
            func.coalesce(Incident.last_closed_at, Incident.closed_at) < window_start,
        )
        .order_by(Incident.published_at.desc())
        .limit(RECENT)
    )
    incidents += [i for i in older if public_status(i, policy) is not None]
    updates = _updates(session, [i.id for i in incidents])
    next_updates = _next_updates(session, policy, incidents)

    stored = list(session.scalars(select(Component).order_by(Component.position, Component.name)))
    statuses = derived_statuses(session, policy, [c for c in stored if not c.is_group])
    outages = _outages(incidents, updates, now)
    children: dict[int, list[Component]] = defaultdict(list)
    for component in stored:
        if component.group_id is not None:
            children[component.group_id].append(component)
    by_id = {c.id: c for c in stored}
    public_components = []
    for component in stored:
        if component.is_group:
            status = worst(
                statuses.get(c.id, ComponentStatus.OPERATIONAL) for c in children[component.id]
            )
            component_outages = [
                o for c in children[component.id] for o in _for_component(c, outages)
            ]
        else:
            status = statuses[component.id]
            component_outages = _for_component(component, outages)
        since = component.created_at
        if component.start_date is not None:
            since = min(since, datetime.combine(component.start_date, datetime.min.time(), zone))
        public_components.append(
            PublicComponent(
                public_id=component.public_id,
                name=component.name,
                description=component.description,
                status=status,
                is_group=component.is_group,
                group_id=by_id[component.group_id].public_id if component.group_id else None,
                position=component.position,
                showcase=component.showcase,
                only_show_if_degraded=component.only_show_if_degraded,
                start_date=component.start_date,
                created_at=component.created_at,
                updated_at=_component_updated(component, children[component.id], incidents),
                children=tuple(c.public_id for c in children[component.id]),
                history=history(
                    component_outages,
                    now=now,
                    zone=zone,
                    days=settings.history_days,
                    since=since,
                ),
            )
        )

    component_rows = {c.id: c for c in stored if not c.is_group}
    public_incidents = [
        _public_incident(
            incident,
            policy,
            updates.get(incident.id, []),
            next_updates.get(incident.id),
            [
                (c.public_id, c.name, statuses[c.id])
                for c in component_rows.values()
                if any(s.id == incident.service_id for s in c.services)
            ],
        )
        for incident in incidents
    ]
    unresolved = [i for i in public_incidents if not i.resolved]
    return Snapshot(
        page_id=row.public_id,
        name=settings.name,
        url=(settings.url or public_url).rstrip("/"),
        zone=zone,
        updated_at=row.updated_at,
        revision=row.revision,
        built_at=now,
        indicator=indicator(
            (i.impact for i in unresolved),
            (c.status for c in public_components if not c.is_group),
        ),
        components=tuple(public_components),
        incidents=tuple(public_incidents),
        history_days=settings.history_days,
        logo_url=settings.logo_url,
        accent=settings.accent,
    )


def _updates(session: Session, ids: list[int]) -> dict[int, list[PublicUpdate]]:
    found: dict[int, list[PublicUpdate]] = defaultdict(list)
    if not ids:
        return found
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        for update in session.scalars(
            select(PublicUpdate)
            .where(PublicUpdate.incident_id.in_(chunk))
            .order_by(PublicUpdate.at.desc(), PublicUpdate.id.desc())
        ):
            found[update.incident_id].append(update)
    return found


def _next_updates(
    session: Session, policy: Policy, incidents: list[Incident]
) -> dict[int, datetime]:
    """When customers hear from us next: the latest status update's promise, else one
    cadence after declaration."""
    active = [i for i in incidents if i.stage.is_active and i.severity is not None]
    if not active:
        return {}
    promised: dict[int, datetime] = {}
    for incident_id, next_at in session.execute(
        select(StatusUpdate.incident_id, StatusUpdate.next_update_at)
        .where(StatusUpdate.incident_id.in_([i.id for i in active]))
        .order_by(StatusUpdate.number)
    ):
        if next_at is not None:
            promised[incident_id] = next_at
    for incident in active:
        assert incident.severity is not None
        cadence = policy.level(incident.severity).update_cadence
        if incident.id not in promised and cadence is not None and incident.declared_at:
            promised[incident.id] = incident.declared_at + cadence
    return promised


@dataclass(frozen=True)
class _Outage:
    service_id: int | None
    outage: Outage


def _outages(
    incidents: list[Incident], updates: dict[int, list[PublicUpdate]], now: datetime
) -> list[_Outage]:
    """While each incident affected customers: every run of investigating or identified
    updates, to the next update that was neither (a reopened incident has several)."""
    found = []
    for incident in incidents:
        if incident.severity is None:
            continue
        status = COMPONENT_STATUS[incident.severity]
        start: datetime | None = None
        for update in sorted(updates.get(incident.id, []), key=lambda u: (u.at, u.id)):
            if update.status in AFFECTING and start is None:
                start = update.at
            elif update.status not in AFFECTING and start is not None:
                found.append(_Outage(incident.service_id, Outage(start, update.at, status)))
                start = None
        if start is not None:
            found.append(_Outage(incident.service_id, Outage(start, None, status)))
    return found


def _for_component(component: Component, outages: list[_Outage]) -> list[Outage]:
    services = {s.id for s in component.services}
    return [o.outage for o in outages if o.service_id in services]


def _component_updated(
    component: Component, children: list[Component], incidents: list[Incident]
) -> datetime:
    """The component changed, or an incident on its services changed what customers see."""
    services = {s.id for c in (component, *children) for s in c.services}
    moments = [c.updated_at for c in (component, *children)]
    moments += [
        i.public_updated_at
        for i in incidents
        if i.service_id in services and i.public_updated_at is not None
    ]
    return max(moments)


def _public_incident(
    incident: Incident,
    policy: Policy,
    updates: list[PublicUpdate],
    next_update_at: datetime | None,
    components: list[tuple[str, str, ComponentStatus]],
) -> PublicIncident:
    status = PublicStatus(public_status(incident, policy) or PublicStatus.RESOLVED)
    assert incident.severity is not None
    assert incident.published_at is not None
    assert incident.public_id is not None
    # Since it last affected customers (a reopened incident starts over).
    ordered = sorted(updates, key=lambda u: (u.at, u.id))
    last_affecting = max((i for i, u in enumerate(ordered) if u.status in AFFECTING), default=-1)
    since = ordered[last_affecting + 1 :]
    monitoring_at = next((u.at for u in since if u.status is PublicStatus.MONITORING), None)
    resolved_at = (
        next((u.at for u in since if u.status is PublicStatus.RESOLVED), None)
        if status is PublicStatus.RESOLVED
        else None
    )
    latest = max((u.created_at for u in updates), default=incident.published_at)
    return PublicIncident(
        public_id=incident.public_id,
        name=incident.public_title or default_title(incident, [name for _, name, _ in components]),
        status=status,
        impact=IMPACT[incident.severity],
        created_at=incident.published_at,
        updated_at=max(latest, incident.public_updated_at or latest),
        started_at=incident.detected_at,
        monitoring_at=monitoring_at,
        resolved_at=resolved_at,
        updates=tuple(
            PublicUpdateView(
                u.public_id,
                u.status,
                u.body,
                u.at,
                u.created_at,
                tuple(u.affected) if u.affected is not None else None,
            )
            for u in updates
        ),
        components=tuple(components),
        next_update_at=next_update_at if status is not PublicStatus.RESOLVED else None,
    )


_TITLE_BY_IMPACT = {
    Impact.CRITICAL: "Major outage",
    Impact.MAJOR: "Partial outage",
    Impact.MINOR: "Degraded performance",
    Impact.NONE: "Service disruption",
}


def default_title(incident: Incident, component_names: list[str]) -> str:
    """Customers see what is affected, not the internal title (which may be an alert's
    summary): "Partial outage affecting Checkout"."""
    assert incident.severity is not None
    what = _TITLE_BY_IMPACT[IMPACT[incident.severity]]
    if not component_names:
        return what
    return f"{what} affecting {', '.join(component_names)}"


def public_name(session: Session, policy: Policy, incident_id: int) -> tuple[str, str] | None:
    """The name and public id customers know an incident by, if it is on the page now."""
    incident = session.get(Incident, incident_id)
    if incident is None or incident.public_id is None or public_status(incident, policy) is None:
        return None
    names = (
        [c.name for c in components_of_services(session, [incident.service_id])]
        if incident.service_id is not None
        else []
    )
    return incident.public_title or default_title(incident, names), incident.public_id
