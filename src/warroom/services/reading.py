"""Read models: what ``list``, ``show`` and ``timeline`` print, and their JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from warroom.db.models import (
    Incident,
    Person,
    RoleAssignment,
    Service,
    StatusUpdate,
    TimelineEvent,
)
from warroom.domain.antipatterns import Finding, findings
from warroom.domain.checklist import ChecklistItem, StoredAction, checklist
from warroom.domain.facts import Event, IncidentFacts
from warroom.domain.policy import Policy, StatusPage
from warroom.domain.types import EventKind, Severity, Stage
from warroom.domain.updates import (
    PUBLIC_STATUS,
    Course,
    LevelChange,
    UpdateSchedule,
    needs_course,
    schedule,
)
from warroom.services.incident_rows import (
    ordered_actions,
    remember_roles,
    update_times,
    updates_of,
)
from warroom.services.records import STAGE_COLUMNS, facts


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def public_status(incident: Incident, policy: Policy) -> str | None:
    """What the status page says, or ``None`` when the incident is not public."""
    if incident.severity is None or incident.dismissed_reason or incident.merged_into_id:
        return None
    rule = policy.level(incident.severity).status_page
    public = (rule is StatusPage.AT_DECLARATION and incident.declared_at is not None) or (
        rule is StatusPage.IF_CUSTOMER_VISIBLE and incident.customer_visible
    )
    status = PUBLIC_STATUS.get(incident.stage) if public else None
    return status.value if status else None


def summary(session: Session, incident: Incident, policy: Policy) -> dict[str, Any]:
    """The keys every incident carries in JSON (product.md §7)."""
    current = facts(session, incident)
    data: dict[str, Any] = {
        "id": f"INC-{incident.id}",
        "number": incident.id,
        "title": incident.title,
        "severity": incident.severity.value if incident.severity else None,
        "severity_confirmed": incident.severity_confirmed,
        "stage": incident.stage.value,
        "stage_entered_at": _iso(incident.stage_entered_at),
        "declared": incident.declared_at is not None,
        "source": incident.source.value,
        "service": incident.service.name if incident.service else None,
        "ic": current.ic,
        "responder": current.responder,
        "channel": incident.channel_name,
        "public_status": public_status(incident, policy),
        "customer_visible": incident.customer_visible,
        "dismissed_reason": incident.dismissed_reason.value if incident.dismissed_reason else None,
        "merged_into": f"INC-{incident.merged_into_id}" if incident.merged_into_id else None,
        "postmortem_doc": incident.postmortem_doc,
        "acknowledged_at": _iso(incident.acknowledged_at),
        "acknowledged_by": incident.acknowledged_by.handle if incident.acknowledged_by else None,
        "last_closed_at": _iso(incident.last_closed_at),
    }
    for column in STAGE_COLUMNS.values():
        data[column] = _iso(getattr(incident, column))
    return data


@dataclass(frozen=True)
class Detail:
    incident: Incident
    facts: IncidentFacts
    summary: dict[str, Any]
    checklist: list[ChecklistItem]
    findings: list[Finding]
    updates: list[StatusUpdate]
    role_history: list[RoleAssignment]
    schedule: UpdateSchedule

    def to_json(self) -> dict[str, Any]:
        data = dict(self.summary)
        data["roles"] = {role.value: list(holders) for role, holders in self.facts.roles.items()}
        data["role_history"] = [
            {
                "role": row.role.value,
                "person": row.person.handle,
                "assigned_at": _iso(row.assigned_at),
                "relieved_at": _iso(row.relieved_at),
            }
            for row in self.role_history
        ]
        data["checklist"] = [
            {
                "key": item.key,
                "title": item.title,
                "state": item.state.value,
                "due_at": _iso(item.due_at),
                "done_at": _iso(item.done_at),
                "note": item.note,
            }
            for item in self.checklist
        ]
        data["next_update_due_at"] = _iso(self.schedule.next_due)
        data["missed_updates"] = [_iso(m) for m in self.schedule.missed]
        data["findings"] = [
            {"pattern": f.pattern, "at": _iso(f.at), "detail": f.detail} for f in self.findings
        ]
        data["updates"] = [
            {
                "number": u.number,
                "at": _iso(u.at),
                "status": u.status.value,
                "text": u.rendered,
                "public": u.public,
            }
            for u in self.updates
        ]
        return data


@dataclass(frozen=True)
class Progress:
    """Where an incident stands against its schedule: what the checklist and timers read."""

    facts: IncidentFacts
    update_count: int
    schedule: UpdateSchedule
    actions: list[StoredAction]


# Read after every write and on every incident read: built once (building and keying a
# statement costs about what running it on SQLite does).
COURSE_OF = select(TimelineEvent.at, TimelineEvent.kind, TimelineEvent.data).where(
    TimelineEvent.incident_id == bindparam("incident"),
    TimelineEvent.kind.in_([EventKind.STAGE, EventKind.SEVERITY]),
    TimelineEvent.origin_incident_id.is_(None),
)
COURSE_KINDS = frozenset({EventKind.STAGE, EventKind.SEVERITY})
CourseEntry = tuple[datetime, EventKind, dict[str, Any]]
ROLE_HISTORY_OF = (
    select(RoleAssignment)
    .where(RoleAssignment.incident_id == bindparam("incident"))
    .order_by(RoleAssignment.assigned_at, RoleAssignment.id)
)
# Read as plain rows, not entities: a timeline is shown, never changed, and is the longest
# thing a read loads.
TIMELINE_OF = (
    select(
        TimelineEvent.at,
        TimelineEvent.recorded_at,
        TimelineEvent.kind,
        Person.handle.label("actor"),
        TimelineEvent.summary,
        TimelineEvent.data,
        TimelineEvent.origin_incident_id,
    )
    .outerjoin(Person, Person.id == TimelineEvent.actor_id)
    .where(TimelineEvent.incident_id == bindparam("incident"))
    .order_by(TimelineEvent.at, TimelineEvent.id)
)


class Entry(Protocol):
    """One timeline row as read by :data:`TIMELINE_OF`."""

    at: datetime
    recorded_at: datetime
    kind: EventKind
    actor: str | None
    summary: str
    data: dict[str, Any]
    origin_incident_id: int | None


def progress(
    session: Session,
    incident: Incident,
    policy: Policy,
    now: datetime,
    *,
    course: list[CourseEntry] | None = None,
) -> Progress:
    """What the incident's plan is made of. ``course``: its own stage and severity entries,
    for a reader that has them at hand (it read the timeline, or wrote them)."""
    current = facts(session, incident)
    updates = update_times(session, incident.id)
    if course is None and needs_course(current, policy):
        course = [
            (at, kind, data)
            for at, kind, data in session.execute(COURSE_OF, {"incident": incident.id})
        ]
    updates_schedule = schedule(
        current,
        policy,
        updates=updates,
        # Read only for a level with an update rule (an untriaged or SEV3 incident owes none).
        course=course_of(course or []),
        now=now,
    )
    stored = [
        StoredAction(a.key, a.title, a.due_at, a.done_at, a.cancelled_at is not None, a.note)
        for a in ordered_actions(session, incident.id)
    ]
    return Progress(current, len(updates), updates_schedule, stored)


def course_of(entries: list[CourseEntry]) -> Course:
    """The incident's course from its own stage and severity entries: the stage changes after
    detection into an active stage (a move to closed asks for no update), the severity
    changes, and each time it left or re-entered the active stages."""
    stage_changes, level_changes, activity = [], [], []
    for at, kind, data in sorted(entries, key=lambda entry: entry[0]):
        if kind is EventKind.SEVERITY:
            was, now = _severity(data.get("from")), _severity(data.get("to"))
            level_changes.append(LevelChange(at, was, now))
            before, after = data.get("stage_from"), data.get("stage_to")
        else:
            before, after = data.get("from"), data.get("to")
            if before != after and after != Stage.DETECTED.value and _active(after):
                stage_changes.append(at)
        if before is not None and after is not None and _active(before) != _active(after):
            activity.append((at, _active(after)))
    return Course(tuple(stage_changes), tuple(level_changes), tuple(activity))


def _severity(value: object) -> Severity | None:
    return Severity(value) if isinstance(value, str) and value in SEVERITIES else None


def _active(stage: object) -> bool:
    return isinstance(stage, str) and stage in STAGES and Stage(stage).is_active


SEVERITIES = frozenset(s.value for s in Severity)
STAGES = frozenset(s.value for s in Stage)


def detail(session: Session, incident: Incident, policy: Policy, now: datetime) -> Detail:
    # The whole timeline and role history are shown: the current roles and the stage entries
    # are taken from them rather than read again.
    history = list(session.scalars(ROLE_HISTORY_OF, {"incident": incident.id}))
    remember_roles(session, incident.id, history)
    rows = _timeline(session, incident.id)
    course = [
        (row.at, row.kind, row.data)
        for row in rows
        if row.kind in COURSE_KINDS and row.origin_incident_id is None
    ]
    updates = list(updates_of(session, incident.id))  # shown whole; the schedule reuses them
    state = progress(session, incident, policy, now, course=course)
    current, updates_schedule = state.facts, state.schedule
    events = [_event(e) for e in rows]
    items = checklist(
        current,
        policy,
        now=now,
        actions=state.actions,
        updates=updates_schedule,
        update_count=len(updates),
        major_since=incident.major_since,
    )
    found = findings(
        current,
        policy,
        now=now,
        events=[e for e in events if e.data.get("origin") is None],
        updates=updates_schedule,
        major_since=incident.major_since,
    )
    return Detail(
        incident,
        current,
        summary(session, incident, policy),
        items,
        found,
        updates,
        history,
        updates_schedule,
    )


def _timeline(session: Session, incident_id: int) -> list[Entry]:
    return list(session.execute(TIMELINE_OF, {"incident": incident_id}))


def _event(row: Entry) -> Event:
    data = dict(row.data)
    if row.origin_incident_id is not None:
        data["origin"] = row.origin_incident_id
    return Event(kind=row.kind.value, at=row.at, actor=row.actor, data=data)


def timeline(session: Session, incident_id: int) -> list[dict[str, Any]]:
    return [
        {
            "at": _iso(row.at),
            "recorded_at": _iso(row.recorded_at),
            "kind": row.kind.value,
            "actor": row.actor,
            "summary": row.summary,
            "data": row.data,
            "origin": f"INC-{row.origin_incident_id}" if row.origin_incident_id else None,
        }
        for row in _timeline(session, incident_id)
    ]


@dataclass(frozen=True)
class ListFilter:
    stages: tuple[Stage, ...] = ()
    severities: tuple[Severity, ...] = ()
    service: str | None = None
    include_inactive: bool = False
    since: datetime | None = None
    limit: int = 100
    offset: int = 0


def list_incidents(session: Session, filters: ListFilter) -> list[Incident]:
    query: Select[Incident] = (
        select(Incident).order_by(Incident.id.desc()).limit(filters.limit).offset(filters.offset)
    )
    if filters.stages:
        query = query.where(Incident.stage.in_(filters.stages))
    elif not filters.include_inactive:
        query = query.where(
            Incident.stage.not_in([Stage.CLOSED, Stage.POSTMORTEM_COMPLETE, Stage.BACKLOG])
        )
    if filters.severities:
        query = query.where(Incident.severity.in_(filters.severities))
    if filters.service:
        query = query.join(Service).where(Service.name == filters.service.strip().lower())
    if filters.since:
        query = query.where(Incident.detected_at >= filters.since)
    return list(session.scalars(query))
