"""The paging directory as a whole: exported to TOML for review, imported back, and the
pager-load report that keeps on-call health visible.

An export holds people (with their contact methods), policies, teams, services, schedules with
their layers, and the overrides still to come. PagerDuty and Opsgenie keys are credentials:
they are exported shortened (``abc123…``) and such an entry is left as it is on import. An
import creates and updates, never deletes, and is one transaction: all of it or nothing.
"""

from __future__ import annotations

import tomllib
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.models import (
    EscalationPolicy,
    Override,
    Page,
    PageDelivery,
    Person,
    Schedule,
    Service,
)
from warroom.domain.errors import BadInput
from warroom.domain.paging import ContactKind, DeliveryEvent, PageKind
from warroom.domain.storable import check_storable
from warroom.services import directory, oncall
from warroom.services.records import Op, person

# Pages that wake someone: common guidance is no more than two or three a night.
NIGHT_STARTS, NIGHT_ENDS = 22, 7
NIGHTLY_LIMIT = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactEntry(_Strict):
    kind: ContactKind
    address: str


class PersonEntry(_Strict):
    handle: str
    name: str | None = None
    contacts: list[ContactEntry] = Field(default_factory=list)


class PolicyEntry(_Strict):
    name: str
    tiers: list[str]
    repeat: int = 0


class TeamEntry(_Strict):
    name: str
    lead: str | None = None
    policy: str | None = None


class ServiceEntry(_Strict):
    name: str
    team: str | None = None
    policy: str | None = None


class LayerEntry(_Strict):
    name: str
    level: str = "primary"
    participants: list[str]
    handoff: str
    rotation_days: int = 7
    window: str | None = None


class ScheduleEntry(_Strict):
    name: str
    zone: str
    team: str | None = None
    layer: list[LayerEntry] = Field(default_factory=list)


class OverrideEntry(_Strict):
    schedule: str
    person: str
    start: datetime
    end: datetime
    level: str = "primary"


class Directory(_Strict):
    person: list[PersonEntry] = Field(default_factory=list)
    policy: list[PolicyEntry] = Field(default_factory=list)
    team: list[TeamEntry] = Field(default_factory=list)
    service: list[ServiceEntry] = Field(default_factory=list)
    schedule: list[ScheduleEntry] = Field(default_factory=list)
    override: list[OverrideEntry] = Field(default_factory=list)


def export(session: Session, now: datetime) -> str:
    data: dict[str, Any] = {"person": [], "policy": [], "team": [], "service": []}
    methods = directory.methods_by_person(session)
    for someone in session.scalars(select(Person).order_by(Person.handle)):
        entry: dict[str, Any] = {"handle": someone.handle}
        if someone.display_name:
            entry["name"] = someone.display_name
        entry["contacts"] = [
            {"kind": m.kind.value, "address": directory.shown_address(m)}
            for m in methods.get(someone.id, [])
        ]
        data["person"].append(entry)
    for policy in directory.policies(session):
        row = directory.policy_row(policy)
        data["policy"].append(
            {
                "name": policy.name,
                "tiers": [directory.tier_text(t) for t in row["tiers"]],
                "repeat": policy.repeat,
            }
        )
    for team in directory.teams(session):
        data["team"].append(
            _clean({"name": team.name, "lead": _handle(team.lead), "policy": _policy(team.policy)})
        )
    for found in session.scalars(select(Service).order_by(Service.name)):
        row = directory.service_row(session, found)
        data["service"].append(
            _clean({"name": found.name, "team": row["team"], "policy": row["policy"]})
        )
    data["schedule"] = []
    for schedule in session.scalars(select(Schedule).order_by(Schedule.name)):
        row = oncall.row(session, schedule, now)
        data["schedule"].append(
            _clean(
                {
                    "name": schedule.name,
                    "zone": schedule.zone,
                    "team": row["team"],
                    "layer": [_clean(layer) for layer in row["layers"]],
                }
            )
        )
    data["override"] = [
        {
            "schedule": session.get(Schedule, o.schedule_id).name,  # type: ignore[union-attr]
            "person": o.person.handle,
            "level": o.level,
            "start": o.start_at,
            "end": o.end_at,
        }
        for o in session.scalars(
            select(Override)
            .where(Override.removed_at.is_(None), Override.end_at > now)
            .order_by(Override.start_at, Override.id)
        )
    ]
    header = (
        "# warroom paging directory: `warroom paging import FILE` applies it (creates and\n"
        "# updates, never deletes). PagerDuty and Opsgenie keys are shortened and kept as set.\n\n"
    )
    return header + tomli_w.dumps({k: v for k, v in data.items() if v})


def _clean(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if value is not None}


def _handle(someone: Person | None) -> str | None:
    return someone.handle if someone is not None else None


def _policy(policy: EscalationPolicy | None) -> str | None:
    return policy.name if policy is not None else None


def parse(text: str) -> Directory:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"not valid TOML: {exc}") from None
    except RecursionError:
        raise BadInput("not a paging directory: nested too deeply") from None
    try:
        check_storable(raw, "the file")
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    try:
        return Directory.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise BadInput(f"not a paging directory: {problems}") from None


def apply(op: Op, text: str) -> dict[str, int]:
    """Create and update everything the file names, in dependency order."""
    wanted = parse(text)
    counts: Counter[str] = Counter()
    for entry in wanted.person:
        directory.update_person(op, entry.handle, name=entry.name)
        for contact in entry.contacts:
            if contact.address.endswith("…"):
                continue  # a shortened key: keep the one already stored
            directory.add_contact(op, entry.handle, contact.kind, contact.address)
        counts["people"] += 1
    for policy_entry in wanted.policy:
        directory.save_policy(op, policy_entry.name, policy_entry.tiers, policy_entry.repeat)
        counts["policies"] += 1
    for team in wanted.team:
        directory.save_team(op, team.name, lead=team.lead or "", policy=team.policy or "")
        counts["teams"] += 1
    for service_entry in wanted.service:
        directory.save_service(
            op, service_entry.name, team=service_entry.team or "", policy=service_entry.policy or ""
        )
        counts["services"] += 1
    for schedule_entry in wanted.schedule:
        _apply_schedule(op, schedule_entry)
        counts["schedules"] += 1
    for override in wanted.override:
        if _apply_override(op, override):
            counts["overrides"] += 1
    return dict(counts)


def _apply_schedule(op: Op, entry: ScheduleEntry) -> None:
    existing = op.session.scalars(
        select(Schedule).where(Schedule.name == entry.name.strip().lower())
    ).one_or_none()
    if existing is None:
        existing = oncall.create(op, entry.name, team=entry.team, zone=entry.zone)
    else:
        existing.zone = oncall.check_zone(entry.zone)
        existing.team_id = directory.team_named(op.session, entry.team).id if entry.team else None
    for layer in entry.layer:
        oncall.set_layer(
            op,
            existing.name,
            layer.name,
            level=layer.level,
            participants=layer.participants,
            handoff=oncall.local_instant(layer.handoff, existing.zone, f"{layer.name}.handoff"),
            rotation_days=layer.rotation_days,
            window=layer.window,
        )


def _apply_override(op: Op, entry: OverrideEntry) -> bool:
    if entry.start.tzinfo is None or entry.end.tzinfo is None:
        raise BadInput("override start and end need an offset (e.g. 2026-03-02T09:00:00Z)")
    # Checked before anything compares or stores them: a time at the calendar's edge cannot
    # be turned into UTC.
    oncall.bounded(entry.start, "override start")
    oncall.bounded(entry.end, "override end")
    if entry.end <= op.now:
        return False
    schedule = oncall.schedule_named(op.session, entry.schedule)
    someone = person(op, entry.person)
    same = op.session.scalars(
        select(Override.id).where(
            Override.schedule_id == schedule.id,
            Override.person_id == someone.id,
            # Stored lowercased (add_override): an import of the same file twice adds nothing.
            Override.level == entry.level.strip().lower(),
            Override.start_at == entry.start,
            Override.end_at == entry.end,
            Override.removed_at.is_(None),
        )
    ).first()
    if same is not None:
        return False
    oncall.add_override(
        op,
        schedule.name,
        handle=someone.handle,
        start=entry.start,
        end=entry.end,
        level=entry.level,
    )
    return True


def load(session: Session, now: datetime, *, weeks: int, zone: str) -> dict[str, Any]:
    """Pages per person: per week, per night (22:00-07:00 in ``zone``), and the nights over
    the guidance of two or three pages."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadInput(
            f"{zone!r} is not a time zone: use an IANA name like Europe/Berlin"
        ) from None
    since = now - timedelta(weeks=weeks)
    rows = session.execute(
        select(
            Person.handle,
            PageDelivery.page_id,
            PageDelivery.tier,
            PageDelivery.round,
            PageDelivery.created_at,
        )
        .join(Person, Person.id == PageDelivery.person_id)
        .join(Page, Page.id == PageDelivery.page_id)
        .where(
            PageDelivery.created_at >= since,
            PageDelivery.event == DeliveryEvent.TRIGGER,
            Page.kind == PageKind.PAGE,
        )
    ).all()
    # One page to one person at one step is one interruption, however many methods carried it.
    seen: dict[tuple[str, int, int, int], datetime] = {}
    for handle, page_id, tier, round_, at in rows:
        seen.setdefault((handle, page_id, tier, round_), at)
    per_person: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"pages": 0, "night_pages": 0, "weeks": Counter(), "nights": Counter()}
    )
    for (handle, *_), at in seen.items():
        local = at.astimezone(tz)
        stats = per_person[handle]
        stats["pages"] += 1
        year, week, _day = local.isocalendar()
        stats["weeks"][f"{year}-W{week:02d}"] += 1
        if local.hour >= NIGHT_STARTS or local.hour < NIGHT_ENDS:
            stats["night_pages"] += 1
            night = (local - timedelta(hours=NIGHT_ENDS)).date()  # the evening it began
            stats["nights"][night.isoformat()] += 1
    people = []
    for handle in sorted(per_person):
        stats = per_person[handle]
        people.append(
            {
                "person": handle,
                "pages": stats["pages"],
                "night_pages": stats["night_pages"],
                "per_week": dict(sorted(stats["weeks"].items())),
                "worst_night": max(stats["nights"].values(), default=0),
                "heavy_nights": sorted(
                    night for night, count in stats["nights"].items() if count > NIGHTLY_LIMIT
                ),
            }
        )
    return {
        "since": since.isoformat(),
        "until": now.isoformat(),
        "zone": zone,
        "night": f"{NIGHT_STARTS:02d}:00-{NIGHT_ENDS:02d}:00",
        "nightly_limit": NIGHTLY_LIMIT,
        "people": people,
    }
