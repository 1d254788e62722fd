"""What every use case shares: who acts and when, people on first use, loading an incident,
reading it as domain facts, and writing the timeline."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.util import identity_key

from warroom.db.appends import append
from warroom.db.models import (
    Action,
    Base,
    Incident,
    Person,
    RoleAssignment,
    Service,
    TimelineEvent,
    Timer,
    TimerState,
)
from warroom.domain.actions import ActionSpec
from warroom.domain.errors import BadInput, NotFound
from warroom.domain.facts import IncidentFacts
from warroom.domain.policy import Policy
from warroom.domain.timefmt import utc_text
from warroom.domain.timers import TimerKind
from warroom.domain.types import EventKind, Role, Stage, normalise_handle
from warroom.services.incident_rows import (
    actions_of,
    cache_assignment,
    current_roles,
    roles_if_known,
)
from warroom.services.webhooks import enqueue

STAGE_COLUMNS: dict[Stage, str] = {stage: f"{stage.value}_at" for stage in Stage}


@dataclass
class Op:
    """One write: the session, the team's policy, who acts, when the fact happened (``at``),
    and what the clock reads (``now``). ``at`` is ``now`` unless recorded after the fact."""

    session: Session
    policy: Policy
    actor: str
    at: datetime
    now: datetime
    # An admin acting for ``actor`` over the API; recorded as "on behalf of".
    entered_by: str | None = None
    # Slack is connected (a bot token is set): declared incidents get their channel, and
    # their timeline is posted there.
    slack: bool = False
    _people: dict[str, Person] = field(default_factory=dict, repr=False)
    # Handles already stored, with their ids: shared by every write to one database (the
    # runtime's), so a known person's write does not read the person again.
    known_people: dict[str, int] = field(default_factory=dict, repr=False)
    # Incidents this write changed: their timers are reconciled before the commit.
    touched: dict[int, Incident] = field(default_factory=dict, repr=False)
    # The timeline entries this write recorded, in order: Slack posts the ones people follow.
    events: list[TimelineEvent] = field(default_factory=list, repr=False)
    # Active webhook ids, read once per write when the first event is recorded.
    webhooks: list[int] | None = field(default=None, repr=False)
    # Checklist actions this write added: paging carries out the ones that page or notify.
    added_actions: list[Action] = field(default_factory=list, repr=False)
    # Incidents a person acknowledged (or acted on, which implies it) in this write: their
    # open pages stop.
    acknowledging: dict[int, Incident] = field(default_factory=dict, repr=False)
    # Incidents whose severity this write changed: their pages the new level does not ask
    # for stop (only a change of level makes a page unwanted).
    regraded: set[int] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.now.tzinfo is None:
            raise ValueError("Op needs timezone-aware times")
        if self.at > self.now:
            raise BadInput(
                f"{utc_text(self.at)} is in the future: facts are recorded as they happen "
                "or after the fact, never ahead"
            )
        self.actor = normalise_actor(self.actor)


def normalise_actor(handle: str) -> str:
    try:
        return normalise_handle(handle)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


# Statements run on (nearly) every write are built once: building and keying a statement
# costs about what running it on SQLite does.
PERSON_BY_HANDLE = select(Person).where(Person.handle == bindparam("handle"))
HOLDERS_OF_ROLE = select(RoleAssignment).where(
    RoleAssignment.incident_id == bindparam("incident"),
    RoleAssignment.role == bindparam("role"),
    RoleAssignment.relieved_at.is_(None),
)


PEOPLE_INSERTED = "warroom.people_inserted"


def person(op: Op, handle: str) -> Person:
    """The person with this handle, created on first use (safe under concurrent first uses).

    A person is never deleted and a handle never changes, so once a handle has been read back
    committed, its id is known for good: the person is then attached to the session by id
    without a query, its other columns read only if something asks for them."""
    handle = normalise_actor(handle)
    if handle in op._people:
        return op._people[handle]
    known = op.known_people.get(handle)
    if known is not None:
        attached = _attached(op.session, known, handle)
        op._people[handle] = attached
        return attached
    by_handle = {"handle": handle}
    with op.session.no_autoflush:  # people are inserted at once, never left pending
        found = op.session.scalars(PERSON_BY_HANDLE, by_handle).one_or_none()
    inserted: set[str] = op.session.info.setdefault(PEOPLE_INSERTED, set())
    if found is None:  # the first use: one statement more, once per person
        statement = insert_ignoring_duplicates(op.session, Person).values(
            handle=handle, created_at=op.now
        )
        op.session.execute(statement)
        inserted.add(handle)
        found = op.session.scalars(PERSON_BY_HANDLE, by_handle).one()
    elif handle not in inserted:
        # Read, not inserted, by this transaction: committed by an earlier one. A row this
        # transaction inserted is known only once committed (it may yet roll back).
        op.known_people[handle] = found.id
    op._people[handle] = found
    return found


def _attached(session: Session, person_id: int, handle: str) -> Person:
    """The person with this id, from the session if it holds it, else attached as stored
    without reading it: the columns other than the key and the handle load on first use."""
    already = session.identity_map.get(identity_key(Person, person_id))
    if isinstance(already, Person):
        return already
    known = Person(id=person_id, handle=handle)
    make_transient_to_detached(known)
    session.add(known)
    return known


def service(op: Op, name: str) -> Service:
    cleaned = name.strip().lower()
    if not cleaned or len(cleaned) > 100:
        raise BadInput(f"{name!r} is not a service name: use 1-100 characters")
    by_name = select(Service).where(Service.name == cleaned)
    found = op.session.scalars(by_name).one_or_none()
    if found is not None:
        return found
    op.session.execute(
        insert_ignoring_duplicates(op.session, Service).values(name=cleaned, created_at=op.now)
    )
    return op.session.scalars(by_name).one()


def insert_ignoring_duplicates(session: Session, model: type[Base]) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    if session.get_bind().dialect.name == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing()
    return insert(model)  # pragma: no cover - only SQLite and PostgreSQL are supported


def load(op: Op, number: int, *, for_write: bool = True) -> Incident:
    incident = op.session.get(Incident, number)
    if incident is None:
        raise NotFound(f"INC-{number} does not exist")
    if for_write and op.at < incident.detected_at:
        raise BadInput(
            f"{utc_text(op.at, seconds=True)} is before INC-{number} was detected "
            f"({utc_text(incident.detected_at, seconds=True)})"
        )
    return incident


def facts(session: Session, incident: Incident) -> IncidentFacts:
    times = {
        stage: value
        for stage, column in STAGE_COLUMNS.items()
        if (value := getattr(incident, column)) is not None
    }
    return IncidentFacts(
        number=incident.id,
        title=incident.title,
        severity=incident.severity,
        stage=incident.stage,
        stage_entered_at=incident.stage_entered_at,
        detected_at=incident.detected_at,
        declared_at=incident.declared_at,
        acknowledged_at=incident.acknowledged_at,
        closed_at=incident.last_closed_at,
        stage_times=times,
        roles=current_roles(session, incident.id),
        dismissed=incident.dismissed_reason is not None,
        merged_into=incident.merged_into_id,
        customer_visible=incident.customer_visible,
    )


def record(
    op: Op, incident: Incident, kind: EventKind, summary: str, /, **data: Any
) -> TimelineEvent:
    """Append one entry to the incident's timeline; ``None`` values are left out of its data.

    The entry is written with the write's other entries in one statement
    (:mod:`warroom.db.appends`), not through the ORM's unit of work: entries are only ever
    inserted, and nothing in a write needs one's id. The returned object is not in the
    session."""
    actor = person(op, op.actor)
    event = TimelineEvent(
        incident_id=incident.id,
        at=op.at,
        recorded_at=op.now,
        kind=kind,
        actor=actor,
        summary=summary
        + (f" (by {op.entered_by} on behalf of {op.actor})" if op.entered_by else ""),
        data={key: value for key, value in data.items() if value is not None}
        | ({"entered_by": op.entered_by} if op.entered_by else {}),
    )
    append(
        op.session,
        TimelineEvent.__table__,
        {
            "incident_id": event.incident_id,
            "at": event.at,
            "recorded_at": event.recorded_at,
            "kind": kind,
            "actor_id": actor.id,
            "summary": event.summary,
            "data": event.data,
            "origin_incident_id": None,
        },
    )
    op.events.append(event)
    enqueue(op, event, op.actor)
    return event


def touch(op: Op, incident: Incident) -> None:
    """Mark the incident changed: bumps its version, so a concurrent change conflicts."""
    incident.updated_at = op.now
    # Force the UPDATE even when the clock has not moved: the version must always advance.
    flag_modified(incident, "updated_at")
    op.touched[incident.id] = incident


def enter_stages(op: Op, incident: Incident, entered: tuple[Stage, ...], final: Stage) -> None:
    for stage in entered:
        column = STAGE_COLUMNS[stage]
        if getattr(incident, column) is None:
            setattr(incident, column, op.at)
    if Stage.CLOSED in entered:
        incident.last_closed_at = op.at
    if final is not incident.stage:
        incident.stage = final
        incident.stage_entered_at = op.at
    touch(op, incident)


def acknowledge_implied(op: Op, incident: Incident, how: str) -> None:
    """Any stage move or IC assignment made by a person acknowledges the incident, and stops
    the pages still open for it."""
    op.acknowledging[incident.id] = incident
    if incident.acknowledged_at is not None:
        return
    incident.acknowledged_at = op.at
    incident.acknowledged_by = person(op, op.actor)
    record(op, incident, EventKind.ACKNOWLEDGED, f"acknowledged by {op.actor} ({how})")


def assign(op: Op, incident: Incident, role: Role, handle: str) -> bool:
    """Give ``role`` to ``handle``; a single-holder role is handed over. False if already held."""
    holder = person(op, handle)
    known = roles_if_known(op.session, incident.id)
    current: Sequence[RoleAssignment]
    if known is not None and role not in known:
        current = ()  # the session already knows the role is vacant (a new incident's are)
    else:
        current = op.session.scalars(HOLDERS_OF_ROLE, {"incident": incident.id, "role": role}).all()
    if any(row.person_id == holder.id for row in current):
        return False
    latest = max((row.assigned_at for row in current), default=None)
    if role.single_holder and latest is not None and op.at < latest:
        raise BadInput(
            f"{utc_text(op.at)} is before the current {role.display_name} took the role "
            f"({utc_text(latest)}): a handover cannot be dated earlier"
        )
    cache_assignment(
        op.session,
        incident.id,
        role,
        holder.handle,
        back_dated=latest is not None and op.at < latest,
    )
    if role.single_holder:
        for row in current:
            row.relieved_at = op.at
    op.session.add(
        RoleAssignment(
            incident_id=incident.id,
            role=role,
            person=holder,
            assigned_at=op.at,
            assigned_by_id=person(op, op.actor).id,
        )
    )
    previous = ", ".join(row.person.handle for row in current) if role.single_holder else ""
    handover = f" (handed over from {previous})" if previous else ""
    record(
        op,
        incident,
        EventKind.ROLE,
        f"{holder.handle} is {role.display_name}{handover}",
        role=role.value,
        person=holder.handle,
        previous=previous or None,
    )
    touch(op, incident)
    return True


def add_actions(
    op: Op, incident: Incident, specs: list[ActionSpec], *, again: bool = False
) -> list[Action]:
    """Store pending actions. One still pending is kept; one cancelled gets a fresh occurrence
    (``-2``, ``-3``); one done is not asked for twice unless ``again`` (a second closure is
    announced again, a channel is not created twice)."""
    # Nothing is flushed here: the write is flushed once, when something needs it (paging
    # needs the new actions' ids, and flushes first).
    existing = actions_of(op.session, incident.id)
    added = []
    for spec in specs:
        key, occurrence = spec.key, 1
        while key in existing and (existing[key].done_at or existing[key].cancelled_at):
            if existing[key].done_at and not again:
                break
            occurrence += 1
            key = f"{spec.key}-{occurrence}"
        if key in existing:
            continue
        action = Action(
            incident_id=incident.id,
            key=key,
            title=spec.title,
            created_at=op.at,
            due_at=spec.due_at,
        )
        op.session.add(action)
        existing[key] = action
        added.append(action)
    op.added_actions += added
    return added


def finish_action(op: Op, action: Action, note: str) -> bool:
    """A transport did the action (paged, reached, sent): done now, by the write's actor.
    False if it was already done or cancelled."""
    if action.done_at is not None or action.cancelled_at is not None:
        return False
    action.done_at, action.note = op.now, note
    action.done_by_id = person(op, op.actor).id
    return True


def finish_actions(
    session: Session,
    incident_id: int,
    keys: Iterable[str],
    *,
    at: datetime,
    note: str,
    by_id: int | None = None,
) -> list[Action]:
    """Mark the incident's open checklist actions ``keys`` done (a transport did them)."""
    found = list(
        session.scalars(
            select(Action).where(
                Action.incident_id == incident_id,
                Action.key.in_(list(keys)),
                Action.done_at.is_(None),
                Action.cancelled_at.is_(None),
            )
        )
    )
    for action in found:
        action.done_at, action.note, action.done_by_id = at, note, by_id
    return found


def cancel_actions(
    op: Op, incident: Incident, keep: set[str] | None = None, only: set[str] | None = None
) -> list[str]:
    """Cancel pending actions: all, all but the base keys in ``keep``, or only those in ``only``."""
    cancelled = []
    for action in op.session.scalars(
        select(Action).where(
            Action.incident_id == incident.id,
            Action.done_at.is_(None),
            Action.cancelled_at.is_(None),
        )
    ):
        base = action.key.rsplit("-", 1)[0] if action.key[-1].isdigit() else action.key
        if keep is not None and (action.key in keep or base in keep):
            continue
        if only is not None and base not in only and action.key not in only:
            continue
        action.cancelled_at = op.at
        cancelled.append(action.key)
    return cancelled


def arm(op: Op, incident_id: int, kind: TimerKind, key: str, due_at: datetime) -> None:
    """Store a pending timer. Written with the write's timeline entries
    (:mod:`warroom.db.appends`): a timer is inserted once and changed only by later reads of
    it (reconciling, cancelling, the worker's claim), which see it stored."""
    append(
        op.session,
        Timer.__table__,
        {
            "incident_id": incident_id,
            "kind": kind,
            "key": key,
            "due_at": due_at,
            "state": TimerState.PENDING,
            "created_at": op.now,
            "fired_at": None,
            "fired_by": None,
            "cancelled_at": None,
        },
    )


def cancel_pending_timers(
    op: Op, incident_id: int, kind: TimerKind, key: ColumnElement[bool]
) -> None:
    """Cancel the incident's pending timers of ``kind`` whose key matches ``key``: what a
    page's tiers or an action's deadline armed, once it is no longer wanted."""
    for timer in op.session.scalars(
        select(Timer).where(
            Timer.incident_id == incident_id,
            Timer.kind == kind,
            Timer.state == TimerState.PENDING,
            key,
        )
    ):
        timer.state, timer.cancelled_at = TimerState.CANCELLED, op.now
