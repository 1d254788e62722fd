"""Writes that change what customers see: publishing incidents and their updates, and the
components of the status page.

Publishing follows the incident: at the end of every write :func:`settle` compares each
touched incident's public status (product.md §4) with what the page last said and publishes
the standard update when they differ. A person adds words with ``update --public``. Every
change moves the page's revision, which tells every node its rendered page is out of date.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.db.models import Incident, Service, StatusUpdate
from warroom.db.status_models import Component, ComponentService, PublicUpdate, StatusPageRow
from warroom.domain.errors import BadInput, NotFound, Refused
from warroom.domain.policy import Policy
from warroom.domain.statuspage import (
    AFFECTING,
    STATUS_LABEL,
    STATUS_TEXT,
    ComponentStatus,
    component_status,
)
from warroom.domain.types import EventKind, PublicStatus, Severity, Stage
from warroom.services.reading import public_status
from warroom.services.records import Op, finish_actions, insert_ignoring_duplicates, record, touch

_ALPHABET = string.ascii_lowercase + string.digits
# What the status page says when it finishes the checklist's manual status-page actions.
_PAGE_ACTIONS = {
    PublicStatus.INVESTIGATING: "status-page",
    PublicStatus.RESOLVED: "status-page-resolved",
}


def new_public_id() -> str:
    """Opaque, lowercase (integrations.md §8): it says nothing about how many incidents
    there were."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


def bump(session: Session, now: datetime) -> None:
    """A change customers can see: the revision moves, and so does the page's time, which
    never goes back and moves by at least a second (Last-Modified has whole seconds, so each
    revision has its own)."""
    row = page_row(session, now, lock=True)
    row.revision += 1
    row.updated_at = max(now, row.updated_at + timedelta(seconds=1))


def page_row(session: Session, now: datetime | None = None, *, lock: bool = False) -> StatusPageRow:
    """The page's one row. The migration makes it; should it be gone, it is made again (two
    processes at once are safe)."""
    row = session.get(StatusPageRow, 1, with_for_update=lock or None)
    if row is None:
        moment = now or datetime.now(UTC)
        session.execute(
            insert_ignoring_duplicates(session, StatusPageRow).values(
                id=1, public_id=new_public_id(), revision=1, updated_at=moment, created_at=moment
            )
        )
        row = session.get(StatusPageRow, 1, with_for_update=lock or None)
        assert row is not None
    return row


# -- publishing ---------------------------------------------------------------------------


def settle(op: Op) -> None:
    """Publish what this write changed for customers (run before the commit)."""
    changed = False
    for incident in list(op.touched.values()):
        changed |= _publish(op, incident)
    if changed:
        bump(op.session, op.now)


HIDDEN = "hidden"


def _digest(incident: Incident, status: PublicStatus) -> str:
    """What customers see of an incident besides its updates: a change to it (and only
    that) moves the page."""
    seen = f"{status}|{incident.severity}|{incident.public_title}|{incident.service_id}"
    return hashlib.blake2b(seen.encode(), digest_size=16).hexdigest()


def _publish(op: Op, incident: Incident) -> bool:
    """Publish the standard update if the public status moved; whether the page changed."""
    status_text = public_status(incident, op.policy)
    if status_text is None:
        # Hidden again (a SEV2 made internal, a severity lowered, a merge): the page changes.
        if incident.published_at is None or incident.public_digest == HIDDEN:
            return False
        incident.public_digest, incident.public_updated_at = HIDDEN, op.now
        return True
    status = PublicStatus(status_text)
    if incident.public_id is None:
        incident.public_id = new_public_id()
        incident.published_at = op.at
    last = op.session.scalars(
        select(PublicUpdate)
        .where(PublicUpdate.incident_id == incident.id)
        .order_by(PublicUpdate.id.desc())
        .limit(1)
    ).first()
    if last is None or last.status is not status:
        add_public_update(op, incident, status, STATUS_TEXT[status])
    digest = _digest(incident, status)
    if digest == incident.public_digest:
        return False
    incident.public_digest, incident.public_updated_at = digest, op.now
    return True


def add_public_update(op: Op, incident: Incident, status: PublicStatus, body: str) -> PublicUpdate:
    op.session.flush()
    previous = op.session.scalars(
        select(PublicUpdate)
        .where(PublicUpdate.incident_id == incident.id)
        .order_by(PublicUpdate.id.desc())
        .limit(1)
    ).first()
    published = PublicUpdate(
        public_id=new_public_id(),
        incident_id=incident.id,
        at=op.at,
        status=status,
        body=body,
        affected=_affected(op, incident, previous),
        created_at=op.now,
    )
    op.session.add(published)
    incident.public_digest = None  # the page changed: settle moves its revision
    record(
        op,
        incident,
        EventKind.PUBLISHED,
        f"status page: {STATUS_LABEL[status]}",
        status=status.value,
        body=body,
    )
    key = _PAGE_ACTIONS.get(status)
    if key is not None:
        _finish_action(op, incident, key)
    return published


def _finish_action(op: Op, incident: Incident, key: str) -> None:
    for action in finish_actions(
        op.session, incident.id, [key], at=op.at, note="published on the status page"
    ):
        record(op, incident, EventKind.ACTION, f"done: {action.title}", action=action.key)


def _affected(
    op: Op, incident: Incident, previous: PublicUpdate | None
) -> list[dict[str, Any]] | None:
    """The components this update moved, old status to new (integrations.md §8)."""
    if incident.service_id is None:
        return None
    components = components_of_services(op.session, [incident.service_id])
    if not components:
        return None
    now_status = derived_statuses(op.session, op.policy, components)
    before = (
        {item["code"]: item["new_status"] for item in (previous.affected or [])}
        if (previous is not None)
        else {}
    )
    return [
        {
            "code": component.public_id,
            "name": component.name,
            "old_status": before.get(component.public_id, ComponentStatus.OPERATIONAL.value),
            "new_status": now_status[component.id].value,
        }
        for component in components
    ]


def publish_update(op: Op, incident: Incident, update_: StatusUpdate) -> PublicUpdate:
    """``update --public``: the words a person chose for customers."""
    status_text = public_status(incident, op.policy)
    if status_text is None:
        raise Refused(
            "not-on-status-page",
            f"INC-{incident.id} is not on the status page, so nothing can be published",
            hint="SEV0/SEV1 appear once declared; a SEV2 once `warroom visibility ID public`; "
            "SEV3 never.",
        )
    # Make sure the incident itself is published first (its standard update comes first).
    _publish(op, incident)
    body = update_.public_text or customer_text(update_)
    return add_public_update(op, incident, PublicStatus(status_text), body)


def customer_text(update_: StatusUpdate) -> str:
    """An internal update made public without words of its own: its impact, progress and
    ETA. The issue line (the internal diagnosis) and the next steps stay inside."""
    lines = [update_.impact, update_.progress]
    if update_.eta and update_.eta.lower() != "unknown":
        lines.append(f"Expected resolution: {update_.eta}.")
    return "\n\n".join(line for line in lines if line)


def set_public_title(op: Op, incident: Incident, title: str | None) -> None:
    cleaned = " ".join(title.split()) if title else None
    if cleaned is not None and not 3 <= len(cleaned) <= 300:
        raise BadInput("a public title is 3 to 300 characters")
    incident.public_title = cleaned
    touch(op, incident)


# -- components ---------------------------------------------------------------------------


def components_of_services(session: Session, service_ids: Iterable[int]) -> list[Component]:
    ids = list(set(service_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(Component)
            .join(ComponentService, ComponentService.component_id == Component.id)
            .where(ComponentService.service_id.in_(ids))
            .order_by(Component.position, Component.name)
            .distinct()
        )
    )


def affecting_incidents(session: Session, policy: Policy) -> list[Incident]:
    """Public incidents whose customers are still affected (investigating or identified)."""
    candidates = session.scalars(
        select(Incident).where(
            Incident.published_at.is_not(None),
            Incident.stage.in_((Stage.DECLARED, Stage.INVESTIGATING, Stage.MITIGATED)),
        )
    )
    return [
        incident
        for incident in candidates
        if (status := public_status(incident, policy)) is not None
        and PublicStatus(status) in AFFECTING
    ]


def derived_statuses(
    session: Session, policy: Policy, components: Iterable[Component]
) -> dict[int, ComponentStatus]:
    components = list(components)
    severities_by_service: dict[int, list[Severity]] = {}
    for incident in affecting_incidents(session, policy):
        if incident.service_id is not None and incident.severity is not None:
            severities_by_service.setdefault(incident.service_id, []).append(incident.severity)
    return {
        component.id: component_status(
            component.status_override,
            (
                severity
                for service in component.services
                for severity in severities_by_service.get(service.id, ())
            ),
        )
        for component in components
    }


def check_component_name(text: str) -> str:
    cleaned = " ".join(text.split())
    if not 1 <= len(cleaned) <= 100:
        raise BadInput(f"{text!r} is not a component name: 1 to 100 characters")
    return cleaned


def component(session: Session, name: str) -> Component:
    found = session.scalars(
        select(Component).where(func.lower(Component.name) == check_component_name(name).lower())
    ).one_or_none()
    if found is None:
        raise NotFound(f"there is no component called {name!r}")
    return found


def _services(op: Op, names: Iterable[str]) -> list[Service]:
    found = []
    for name in names:
        service = op.session.scalars(
            select(Service).where(Service.name == name.strip())
        ).one_or_none()
        if service is None:
            raise NotFound(f"there is no service called {name!r} (warroom service create)")
        found.append(service)
    return found


def create_component(
    op: Op,
    name: str,
    *,
    services: Iterable[str] = (),
    group: str | None = None,
    is_group: bool = False,
    description: str | None = None,
    position: int | None = None,
    only_show_if_degraded: bool = False,
    start_date: date | None = None,
) -> Component:
    cleaned = check_component_name(name)
    exists = op.session.scalars(
        select(Component.id).where(func.lower(Component.name) == cleaned.lower())
    ).first()
    if exists is not None:
        raise BadInput(f"there is already a component called {cleaned!r}")
    parent = _group(op, group)
    if is_group and services:
        raise BadInput("a group holds components; map the services to its components")
    if is_group and parent is not None:
        raise BadInput("groups do not nest")
    if position is None:
        position = (op.session.scalar(select(func.max(Component.position))) or 0) + 1
    created = Component(
        public_id=new_public_id(),
        name=cleaned,
        description=(description or "").strip() or None,
        is_group=is_group,
        group_id=parent.id if parent else None,
        position=position,
        only_show_if_degraded=only_show_if_degraded,
        start_date=start_date,
        created_at=op.now,
        updated_at=op.now,
    )
    created.services = _services(op, services)
    op.session.add(created)
    op.session.flush()
    bump(op.session, op.now)
    return created


def _group(op: Op, name: str | None) -> Component | None:
    if name is None:
        return None
    parent = component(op.session, name)
    if not parent.is_group:
        raise BadInput(f"{parent.name!r} is not a group (create it with --group-only)")
    return parent


UNSET: Any = object()


def set_component(
    op: Op,
    name: str,
    *,
    status: Any = UNSET,
    rename: str | None = None,
    services: Iterable[str] | None = None,
    group: Any = UNSET,
    description: Any = UNSET,
    position: int | None = None,
    only_show_if_degraded: bool | None = None,
) -> Component:
    """Change a component. ``status=None`` hands its status back to its incidents."""
    found = component(op.session, name)
    if status is not UNSET:
        if found.is_group and status is not None:
            raise BadInput("a group's status is its components' worst; set theirs")
        found.status_override = status
    if rename is not None:
        cleaned = check_component_name(rename)
        clash = op.session.scalars(
            select(Component.id).where(
                func.lower(Component.name) == cleaned.lower(), Component.id != found.id
            )
        ).first()
        if clash is not None:
            raise BadInput(f"there is already a component called {cleaned!r}")
        found.name = cleaned
    if services is not None:
        if found.is_group:
            raise BadInput("a group holds components; map the services to its components")
        found.services = _services(op, services)
    if group is not UNSET:
        parent = _group(op, group)
        if parent is not None and (found.is_group or parent.id == found.id):
            raise BadInput("groups do not nest")
        found.group_id = parent.id if parent else None
    if description is not UNSET:
        found.description = (description or "").strip() or None
    if position is not None:
        found.position = position
    if only_show_if_degraded is not None:
        found.only_show_if_degraded = only_show_if_degraded
    found.updated_at = op.now
    op.session.flush()
    bump(op.session, op.now)
    return found


def remove_component(op: Op, name: str) -> None:
    """Gone from every list at once (pollers must not see it again)."""
    found = component(op.session, name)
    for child in op.session.scalars(select(Component).where(Component.group_id == found.id)):
        child.group_id = None
    op.session.delete(found)
    op.session.flush()
    bump(op.session, op.now)


def list_components(session: Session) -> list[Component]:
    return list(session.scalars(select(Component).order_by(Component.position, Component.name)))
