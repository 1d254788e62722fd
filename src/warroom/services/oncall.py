"""On-call schedules as stored: rotations in layers, overrides, and who is on call when.

The arithmetic is :mod:`warroom.domain.schedules`; this module reads the rows, builds the
domain's schedule from them, and writes changes.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.models import Override, Schedule, ScheduleLayer, Team
from warroom.domain import schedules as arithmetic
from warroom.domain.errors import BadInput, NotFound
from warroom.domain.paging import LEVEL
from warroom.domain.timefmt import utc_text
from warroom.services.directory import check_name, team_named
from warroom.services.records import Op, normalise_actor, person

CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
MAX_OVERRIDE = timedelta(days=90)
MAX_PARTICIPANTS = 100


def schedule_named(session: Session, name: str) -> Schedule:
    found = session.scalars(
        select(Schedule).where(Schedule.name == name.strip().lower())
    ).one_or_none()
    if found is None:
        raise NotFound(f"schedule {name!r} does not exist")
    return found


def create(op: Op, name: str, *, team: str | None, zone: str) -> Schedule:
    _changed(op.session)
    cleaned = check_name(name, "schedule")
    if op.session.scalars(select(Schedule.id).where(Schedule.name == cleaned)).first():
        raise BadInput(f"schedule {cleaned!r} already exists")
    row = Schedule(
        name=cleaned,
        team_id=team_named(op.session, team).id if team else None,
        zone=check_zone(zone),
        created_at=op.now,
    )
    op.session.add(row)
    op.session.flush()
    return row


def check_zone(text: str) -> str:
    try:
        ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadInput(
            f"{text!r} is not a time zone: use an IANA name like Europe/Berlin"
        ) from None
    return text.strip()


def local_instant(text: str, zone: str, name: str) -> datetime:
    """An ISO 8601 time; without an offset it is the schedule's local time (a hand-off is
    thought of as "Monday 09:00 in Berlin")."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{name}: {text!r} is not an ISO 8601 time like 2026-03-02T09:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(check_zone(zone)))
    return bounded(moment, name)


# Schedules are about people's working lives: times far outside them are typing mistakes
# (and would overflow the calendar arithmetic near year 1 or 9999).
EARLIEST, LATEST = 1970, 2200


def bounded(moment: datetime, name: str) -> datetime:
    if not EARLIEST <= moment.year <= LATEST:
        raise BadInput(f"{name}: {moment.isoformat()} is outside {EARLIEST}-{LATEST}")
    return moment


def parse_window(text: str) -> tuple[str, str]:
    """``07:00-19:00`` (wraps past midnight when the end is earlier: ``19:00-07:00``)."""
    start, sep, end = text.strip().partition("-")
    if not sep or not CLOCK.match(start.strip()) or not CLOCK.match(end.strip()):
        raise BadInput(f"{text!r} is not a daily window: use HH:MM-HH:MM, e.g. 07:00-19:00")
    if start.strip() == end.strip():
        raise BadInput(f"{text!r}: a window's start and end differ (leave it out for all day)")
    return start.strip(), end.strip()


def set_layer(
    op: Op,
    schedule_name: str,
    layer: str,
    *,
    level: str,
    participants: list[str],
    handoff: datetime,
    rotation_days: int,
    window: str | None,
) -> ScheduleLayer:
    """Add a layer, or replace the one of that name (keeping its place)."""
    _changed(op.session)
    schedule = schedule_named(op.session, schedule_name)
    name = check_name(layer, "layer")
    if not LEVEL.match(level.strip().lower()):
        raise BadInput(f"{level!r} is not a level: e.g. primary or secondary")
    people = [normalise_actor(p) for p in participants if p.strip()]
    if not people or len(people) > MAX_PARTICIPANTS:
        raise BadInput(f"a layer rotates 1-{MAX_PARTICIPANTS} people")
    if not 1 <= rotation_days <= 366:
        raise BadInput("a rotation lasts 1 to 366 days")
    for handle in people:
        person(op, handle)  # people are created on first use, like everywhere else
    start, end = parse_window(window) if window else (None, None)
    existing = next((row for row in schedule.layers if row.name == name), None)
    if existing is None:
        existing = ScheduleLayer(
            schedule_id=schedule.id, position=len(schedule.layers), name=name, level=level
        )
        schedule.layers.append(existing)
    existing.level = level.strip().lower()
    existing.participants = people
    existing.handoff = handoff
    existing.rotation_days = rotation_days
    existing.restriction_start, existing.restriction_end = start, end
    op.session.flush()
    spec(op.session, schedule, around=op.now)  # the domain accepts it, or says why not
    return existing


def remove_layer(op: Op, schedule_name: str, layer: str) -> None:
    _changed(op.session)
    schedule = schedule_named(op.session, schedule_name)
    row = next((r for r in schedule.layers if r.name == layer.strip().lower()), None)
    if row is None:
        raise NotFound(f"schedule {schedule.name} has no layer {layer!r}")
    schedule.layers.remove(row)
    for position, other in enumerate(schedule.layers):
        other.position = position
    op.session.flush()


def add_override(
    op: Op, schedule_name: str, *, handle: str, start: datetime, end: datetime, level: str
) -> Override:
    _changed(op.session)
    schedule = schedule_named(op.session, schedule_name)
    bounded(start, "start")
    bounded(end, "end")
    if not LEVEL.match(level.strip().lower()):
        raise BadInput(f"{level!r} is not a level: e.g. primary or secondary")
    if end <= start:
        raise BadInput("an override ends after it starts")
    if end - start > MAX_OVERRIDE:
        raise BadInput("an override lasts at most 90 days: change the rotation instead")
    if end <= op.now:
        raise BadInput(f"an override that ended ({utc_text(end)}) changes nothing")
    row = Override(
        schedule_id=schedule.id,
        level=level.strip().lower(),
        person_id=person(op, handle).id,
        start_at=start,
        end_at=end,
        created_at=op.now,
        created_by_id=person(op, op.actor).id,
    )
    op.session.add(row)
    op.session.flush()
    return row


def remove_override(op: Op, override_id: int) -> Override:
    _changed(op.session)
    row = op.session.get(Override, override_id)
    if row is None or row.removed_at is not None:
        raise NotFound(f"override {override_id} does not exist")
    row.removed_at = op.now
    return row


def overrides(
    session: Session, schedule: Schedule, start: datetime, end: datetime
) -> list[Override]:
    return list(
        session.scalars(
            select(Override)
            .where(
                Override.schedule_id == schedule.id,
                Override.removed_at.is_(None),
                Override.end_at > start,
                Override.start_at < end,
            )
            .order_by(Override.created_at, Override.id)
        )
    )


def coming_overrides(session: Session, schedule: Schedule, now: datetime) -> list[Override]:
    return list(
        session.scalars(
            select(Override)
            .where(
                Override.schedule_id == schedule.id,
                Override.removed_at.is_(None),
                Override.end_at > now,
            )
            .order_by(Override.start_at, Override.id)
        )
    )


def spec(
    session: Session, schedule: Schedule, *, around: datetime, until: datetime | None = None
) -> arithmetic.Schedule:
    """The domain's schedule, with the overrides that touch ``[around, until]``."""
    layers = tuple(
        arithmetic.Layer(
            name=row.name,
            level=row.level,
            participants=tuple(row.participants),
            handoff=row.handoff,
            rotation_days=row.rotation_days,
            restriction=_restriction(row),
        )
        for row in schedule.layers
    )
    rows = overrides(session, schedule, around, until or around + timedelta(seconds=1))
    try:
        return arithmetic.Schedule(
            name=schedule.name,
            zone=schedule.zone,
            layers=layers,
            overrides=tuple(
                arithmetic.Override(r.level, r.person.handle, r.start_at, r.end_at) for r in rows
            ),
        )
    except ValueError as exc:
        raise BadInput(f"schedule {schedule.name}: {exc}") from None


def _restriction(row: ScheduleLayer) -> arithmetic.Restriction | None:
    if row.restriction_start is None or row.restriction_end is None:
        return None
    return arithmetic.Restriction(
        time.fromisoformat(row.restriction_start), time.fromisoformat(row.restriction_end)
    )


def schedule_on_call(session: Session, schedule: Schedule, level: str, at: datetime) -> str | None:
    return arithmetic.on_call(spec(session, schedule, around=at), level, at)


def on_call(session: Session, team: Team, level: str, at: datetime) -> str | None:
    """Who is on call for the team at that level: its schedules in the order they were made,
    the first that has someone. Remembered for the transaction: a storm opening a thousand
    incidents for one team asks the same question a thousand times."""
    cache: dict[tuple[int, str, datetime], str | None] = session.info.setdefault(ON_CALL, {})
    key = (team.id, level, at)
    if key not in cache:
        cache[key] = next(
            (
                found
                for schedule in team_schedules(session, team)
                if (found := schedule_on_call(session, schedule, level, at)) is not None
            ),
            None,
        )
    return cache[key]


ON_CALL = "warroom.oncall"


def team_schedules(session: Session, team: Team) -> list[Schedule]:
    """The team's schedules, read once per transaction (schedules change in their own writes)."""
    cache: dict[int, list[Schedule]] = session.info.setdefault(TEAM_SCHEDULES, {})
    if team.id not in cache:
        cache[team.id] = list(
            session.scalars(
                select(Schedule).where(Schedule.team_id == team.id).order_by(Schedule.id)
            )
        )
    return cache[team.id]


TEAM_SCHEDULES = "warroom.team-schedules"


def _changed(session: Session) -> None:
    """A schedule changed in this transaction: forget what was read of them."""
    session.info.pop(TEAM_SCHEDULES, None)
    session.info.pop(ON_CALL, None)


def who(session: Session, at: datetime, team: str | None = None) -> list[dict[str, Any]]:
    """Everyone on call at ``at``: per schedule, per level."""
    query = select(Schedule).order_by(Schedule.name)
    if team is not None:
        query = query.where(Schedule.team_id == team_named(session, team).id)
    rows = []
    teams = {t.id: t.name for t in session.scalars(select(Team))}
    for schedule in session.scalars(query):
        domain = spec(session, schedule, around=at)
        for level in arithmetic.levels(domain):
            rows.append(
                {
                    "team": teams.get(schedule.team_id) if schedule.team_id else None,
                    "schedule": schedule.name,
                    "level": level,
                    "person": arithmetic.on_call(domain, level, at),
                    "at": at.isoformat(),
                }
            )
    return rows


def row(session: Session, schedule: Schedule, now: datetime) -> dict[str, Any]:
    team = session.get(Team, schedule.team_id) if schedule.team_id else None
    return {
        "name": schedule.name,
        "team": team.name if team else None,
        "zone": schedule.zone,
        "layers": [
            {
                "name": layer.name,
                "level": layer.level,
                "participants": list(layer.participants),
                # In the schedule's zone: how people think of it ("Monday 09:00 in Berlin").
                "handoff": layer.handoff.astimezone(ZoneInfo(schedule.zone)).isoformat(),
                "rotation_days": layer.rotation_days,
                "window": (
                    f"{layer.restriction_start}-{layer.restriction_end}"
                    if layer.restriction_start
                    else None
                ),
            }
            for layer in schedule.layers
        ],
        "overrides": [override_row(o) for o in coming_overrides(session, schedule, now)],
    }


def override_row(o: Override) -> dict[str, Any]:
    return {
        "id": o.id,
        "level": o.level,
        "person": o.person.handle,
        "start": o.start_at.isoformat(),
        "end": o.end_at.isoformat(),
    }


def shifts(
    session: Session, schedule: Schedule, start: datetime, end: datetime
) -> list[arithmetic.Shift]:
    domain = spec(session, schedule, around=start, until=end)
    try:
        return [
            shift
            for level in arithmetic.levels(domain)
            for shift in arithmetic.shifts(domain, level, start, end)
        ]
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def calendar(
    session: Session, schedule: Schedule, start: datetime, end: datetime, who: str | None
) -> bytes:
    domain = spec(session, schedule, around=start, until=end)
    try:
        return arithmetic.calendar(domain, start, end, person=who)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
