"""Paging data and pages: the routes behind ``warroom person|team|policy|schedule|override``,
``warroom oncall`` and ``warroom pages``, and the one-click acknowledgement links.

Configuring who is paged (teams, policies, schedules) needs an admin token; a member manages
contact methods and overrides (swapping a shift) and acknowledges pages. The acknowledgement
link carries its own signature and needs no token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Protocol, TypedDict

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from warroom.db.models import Schedule
from warroom.domain.errors import BadInput
from warroom.domain.paging import ContactKind
from warroom.domain.timefmt import parse_at
from warroom.domain.types import Access
from warroom.jobs.pages import WEBHOOK_KEY
from warroom.runtime import Runtime
from warroom.services import acklinks, directory, oncall, page_stops, page_views, roster
from warroom.services.records import Op
from warroom.services.tokens import Caller
from warroom.web.deps import Admin, Member, RuntimeDep, Viewer
from warroom.web.writes import Input, flushed, number_of

router = APIRouter(prefix="/api/v1", tags=["paging"])
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Name = Annotated[str, Path(min_length=1, max_length=100)]


class ActsFor(Protocol):
    on_behalf_of: str | None


class Strict(Input):
    model_config = ConfigDict(extra="forbid")

    on_behalf_of: str | None = Field(None, description="Act for this person (admin tokens only).")


class Acting(TypedDict):
    by: str
    entered_by: str | None


def acting(caller: Caller, body: ActsFor | None = None) -> Acting:
    """Who the write is recorded as: the token's person, or whom an admin acts for, the admin
    then recorded as who entered it (as every incident write records it)."""
    if body is not None and body.on_behalf_of:
        if caller.access is not Access.ADMIN:
            raise HTTPException(403, "acting on behalf of someone else needs an admin token")
        return {"by": body.on_behalf_of, "entered_by": caller.handle}
    return {"by": caller.handle, "entered_by": None}


def _instant(text: str | None, name: str, default: datetime) -> datetime:
    if text is None:
        return default
    return oncall.bounded(parse_at(text, name), name)


# People and their contact methods -------------------------------------------------------


@router.get("/people", summary="List people and how they are reached")
def list_people(runtime: RuntimeDep, _caller: Viewer) -> list[dict[str, Any]]:
    with runtime.reading() as session:
        return [directory.person_row(session, p) for p in directory.people(session)]


@router.get("/people/{handle}", summary="One person and how they are reached")
def get_person(handle: Name, runtime: RuntimeDep, _caller: Viewer) -> dict[str, Any]:
    with runtime.reading() as session:
        return directory.person_row(session, directory.existing_person(session, handle))


class PersonBody(Strict):
    name: str | None = Field(None, max_length=200)


@router.put("/people/{handle}", summary="Create a person, or change their display name")
def put_person(
    handle: Name, body: PersonBody, runtime: RuntimeDep, caller: Member
) -> dict[str, Any]:
    return runtime.write(
        lambda op: directory.person_row(
            op.session, directory.update_person(op, handle, name=body.name)
        ),
        **acting(caller, body),
        at=None,
    )


def _own(caller: Caller, handle: str) -> None:
    """A member changes how they themselves are reached; an admin anyone's. (A webhook added
    to someone else would receive their pages and acknowledgement links.)"""
    if caller.access is not Access.ADMIN and handle.strip().lower() != caller.handle:
        raise HTTPException(403, "changing someone else's contact methods needs an admin token")


class ContactBody(Strict):
    kind: ContactKind
    address: str = Field(min_length=1, max_length=2000)


ContactChange = Callable[[Op, str, ContactKind, str], object]


def _change_contact(
    handle: str, body: ContactBody, runtime: Runtime, caller: Caller, change: ContactChange
) -> dict[str, Any]:
    _own(caller, handle)

    def apply(op: Op) -> dict[str, Any]:
        change(op, handle, body.kind, body.address)
        return directory.person_row(op.session, directory.existing_person(op.session, handle))

    return runtime.write(apply, **acting(caller, body), at=None)


@router.post("/people/{handle}/contacts", status_code=201, summary="Add a way to reach someone")
def add_contact(
    handle: Name, body: ContactBody, runtime: RuntimeDep, caller: Member
) -> dict[str, Any]:
    return _change_contact(handle, body, runtime, caller, directory.add_contact)


@router.post("/people/{handle}/contacts/remove", summary="Remove a way to reach someone")
def remove_contact(
    handle: Name, body: ContactBody, runtime: RuntimeDep, caller: Member
) -> dict[str, Any]:
    return _change_contact(handle, body, runtime, caller, directory.remove_contact)


@router.post(
    "/people/{handle}/contacts/reset",
    summary="Use a contact method marked failing again (once its address is fixed)",
)
def reset_contact(
    handle: Name, body: ContactBody, runtime: RuntimeDep, caller: Member
) -> dict[str, Any]:
    return _change_contact(handle, body, runtime, caller, directory.reset_contact)


# Teams, services, policies --------------------------------------------------------------


class TeamBody(Strict):
    name: str = Field(min_length=1, max_length=100)
    lead: str | None = Field(None, max_length=63)
    policy: str | None = Field(None, max_length=100)


@router.post("/teams", summary="Create a team, or change its lead or escalation policy")
def save_team(body: TeamBody, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    def save(op: Op) -> dict[str, Any]:
        team = directory.save_team(op, body.name, lead=body.lead, policy=body.policy)
        return directory.team_row(op.session, flushed(op, team))

    return runtime.write(save, **acting(caller, body), at=None)


@router.get("/teams", summary="List teams")
def list_teams(runtime: RuntimeDep, _caller: Viewer) -> list[dict[str, Any]]:
    with runtime.reading() as session:
        return [directory.team_row(session, t) for t in directory.teams(session)]


class PolicyBody(Strict):
    name: str = Field(min_length=1, max_length=100)
    tiers: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(max_length=10)
    repeat: int = Field(0, ge=0, le=5)


@router.post("/policies", summary="Create or replace an escalation policy")
def save_policy(body: PolicyBody, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    return runtime.write(
        lambda op: directory.policy_row(
            flushed(op, directory.save_policy(op, body.name, body.tiers, body.repeat))
        ),
        **acting(caller, body),
        at=None,
    )


@router.get("/policies", summary="List escalation policies")
def list_policies(runtime: RuntimeDep, _caller: Viewer) -> list[dict[str, Any]]:
    with runtime.reading() as session:
        return [directory.policy_row(p) for p in directory.policies(session)]


@router.get("/policies/{name}", summary="One escalation policy")
def get_policy(name: Name, runtime: RuntimeDep, _caller: Viewer) -> dict[str, Any]:
    with runtime.reading() as session:
        return directory.policy_row(directory.policy_named(session, name))


# Schedules and overrides ----------------------------------------------------------------


class ScheduleBody(Strict):
    name: str = Field(min_length=1, max_length=100)
    zone: str = Field(min_length=1, max_length=64)
    team: str | None = Field(None, max_length=100)


@router.post("/schedules", status_code=201, summary="Create an on-call schedule")
def create_schedule(body: ScheduleBody, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    def create(op: Op) -> dict[str, Any]:
        created = oncall.create(op, body.name, team=body.team, zone=body.zone)
        return oncall.row(op.session, flushed(op, created), op.now)

    return runtime.write(create, **acting(caller, body), at=None)


@router.get("/schedules", summary="List on-call schedules")
def list_schedules(runtime: RuntimeDep, _caller: Viewer) -> list[dict[str, Any]]:
    with runtime.reading() as session:
        now = runtime.clock()
        return [
            oncall.row(session, s, now)
            for s in session.scalars(select(Schedule).order_by(Schedule.name))
        ]


@router.get("/schedules/{name}", summary="One schedule: its layers and coming overrides")
def get_schedule(name: Name, runtime: RuntimeDep, _caller: Viewer) -> dict[str, Any]:
    with runtime.reading() as session:
        return oncall.row(session, oncall.schedule_named(session, name), runtime.clock())


class LayerBody(Strict):
    level: str = Field("primary", min_length=1, max_length=31)
    participants: list[Annotated[str, Field(min_length=1, max_length=63)]] = Field(
        min_length=1, max_length=100
    )
    handoff: str = Field(
        description="The first hand-off, ISO 8601 (local to the schedule's "
        "zone when it has no offset)."
    )
    rotation_days: int = Field(7, ge=1, le=366)
    window: str | None = Field(None, description="Daily hours it covers, e.g. 07:00-19:00.")


@router.put("/schedules/{name}/layers/{layer}", summary="Add or replace a rotation layer")
def put_layer(
    name: Name, layer: Name, body: LayerBody, runtime: RuntimeDep, caller: Admin
) -> dict[str, Any]:
    with runtime.reading() as session:
        zone = oncall.schedule_named(session, name).zone
    handoff = oncall.local_instant(body.handoff, zone, "handoff")

    def put(op: Op) -> dict[str, Any]:
        oncall.set_layer(
            op,
            name,
            layer,
            level=body.level,
            participants=body.participants,
            handoff=handoff,
            rotation_days=body.rotation_days,
            window=body.window,
        )
        return _schedule_row(op, name)

    return runtime.write(put, **acting(caller, body), at=None)


@router.delete("/schedules/{name}/layers/{layer}", summary="Remove a rotation layer")
def delete_layer(name: Name, layer: Name, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    def remove(op: Op) -> dict[str, Any]:
        oncall.remove_layer(op, name, layer)
        return _schedule_row(op, name)

    return runtime.write(remove, by=caller.handle, at=None)


def _schedule_row(op: Op, name: str) -> dict[str, Any]:
    """A schedule as its write left it, answered from that write's transaction."""
    return oncall.row(op.session, oncall.schedule_named(op.session, name), op.now)


def _span(runtime: Runtime, start: str | None, days: int) -> tuple[datetime, datetime]:
    begin = _instant(start, "start", runtime.clock())
    return begin, begin + timedelta(days=days)


@router.get("/schedules/{name}/shifts", summary="Who is on call, shift by shift")
def get_shifts(
    name: Name,
    runtime: RuntimeDep,
    _caller: Viewer,
    start: str | None = None,
    days: Annotated[int, Query(ge=1, le=366)] = 14,
) -> list[dict[str, Any]]:
    begin, end = _span(runtime, start, days)
    with runtime.reading() as session:
        found = oncall.shifts(session, oncall.schedule_named(session, name), begin, end)
    return [
        {
            "level": s.level,
            "person": s.person,
            "start": s.start.isoformat(),
            "end": s.end.isoformat(),
            "source": s.source,
        }
        for s in found
    ]


@router.get(
    "/schedules/{name}/calendar.ics",
    summary="The schedule's shifts as iCalendar",
    response_class=Response,
)
def get_calendar(
    name: Name,
    runtime: RuntimeDep,
    _caller: Viewer,
    person: str | None = None,
    start: str | None = None,
    days: Annotated[int, Query(ge=1, le=366)] = 90,
) -> Response:
    begin, end = _span(runtime, start, days)
    with runtime.reading() as session:
        body = oncall.calendar(session, oncall.schedule_named(session, name), begin, end, person)
    return Response(body, media_type="text/calendar; charset=utf-8")


@router.get(
    "/schedules/{name}/feed",
    summary="A calendar app's subscription URL for the schedule (or one person's shifts)",
)
def get_feed(
    name: Name, runtime: RuntimeDep, _caller: Viewer, person: str | None = None
) -> dict[str, str]:
    now = runtime.clock()
    with runtime.reading() as session:
        schedule = oncall.schedule_named(session, name)
        someone = directory.existing_person(session, person) if person else None
        token = acklinks.feed_token(session, schedule.id, someone.id if someone else None, now)
    return {"url": f"{runtime.settings.public_url.rstrip('/')}/calendar/{token}.ics"}


class OverrideBody(Strict):
    person: str = Field(min_length=1, max_length=63)
    start: str
    end: str
    level: str = Field("primary", min_length=1, max_length=31)


@router.post(
    "/schedules/{name}/overrides", status_code=201, summary="Someone takes a shift (an override)"
)
def create_override(
    name: Name, body: OverrideBody, runtime: RuntimeDep, caller: Member
) -> dict[str, Any]:
    start = oncall.bounded(parse_at(body.start, "start"), "start")
    end = oncall.bounded(parse_at(body.end, "end"), "end")

    def add(op: Op) -> dict[str, Any]:
        created = oncall.add_override(
            op, name, handle=body.person, start=start, end=end, level=body.level
        )
        return oncall.override_row(flushed(op, created))

    return runtime.write(add, **acting(caller, body), at=None)


@router.delete("/overrides/{override_id}", summary="Remove an override")
def delete_override(override_id: RowId, runtime: RuntimeDep, caller: Member) -> dict[str, Any]:
    return runtime.write(
        lambda op: oncall.override_row(flushed(op, oncall.remove_override(op, override_id))),
        by=caller.handle,
        at=None,
    )


@router.get("/oncall", summary="Who is on call now, or at any time (future included)")
def get_oncall(
    runtime: RuntimeDep, _caller: Viewer, team: str | None = None, at: str | None = None
) -> list[dict[str, Any]]:
    when = _instant(at, "at", runtime.clock())
    with runtime.reading() as session:
        return oncall.who(session, when, team)


# Pages ----------------------------------------------------------------------------------


@router.get("/pages", summary="Pages, newest first, with every delivery")
def list_pages(
    runtime: RuntimeDep,
    _caller: Viewer,
    incident: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1, description="Skip this many.")] = 0,
) -> list[dict[str, Any]]:
    number = number_of(incident) if incident else None
    with runtime.reading() as session:
        return [
            page_views.page_row(session, p)
            for p in page_views.pages(session, number, limit, offset)
        ]


@router.post("/pages/{page_id}/acknowledge", summary="Acknowledge a page: it stops escalating")
def acknowledge_page(page_id: RowId, runtime: RuntimeDep, caller: Member) -> dict[str, Any]:
    def acknowledge(op: Op) -> dict[str, Any]:
        page = page_stops.acknowledge_by_id(op, page_id)
        return page_views.page_row(op.session, flushed(op, page))

    return runtime.write(acknowledge, by=caller.handle, at=None)


@router.get("/paging/load", summary="Pages per person per night and per week")
def pager_load(
    runtime: RuntimeDep,
    _caller: Viewer,
    weeks: Annotated[int, Query(ge=1, le=52)] = 4,
    zone: str = "UTC",
) -> dict[str, Any]:
    with runtime.reading() as session:
        return roster.load(session, runtime.clock(), weeks=weeks, zone=zone)


@router.get(
    "/paging/export",
    summary="People, teams, services, policies, schedules and overrides as TOML",
    response_class=Response,
)
def export_paging(runtime: RuntimeDep, _caller: Admin) -> Response:
    with runtime.reading() as session:
        text = roster.export(session, runtime.clock())
    return Response(text, media_type="application/toml; charset=utf-8")


@router.get("/paging/webhook-secret", summary="The secret page webhooks are signed with")
def webhook_secret(runtime: RuntimeDep, _caller: Admin) -> dict[str, str]:
    """Receivers verify ``Warroom-Signature`` (as for event webhooks) with this secret."""
    with runtime.reading() as session:
        key = acklinks.server_key(session, WEBHOOK_KEY, runtime.clock()).hex()
    return {"secret": key}


@router.post("/paging/import", summary="Apply a TOML export (creates and updates, never deletes)")
async def import_paging(request: Request, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > 1_000_000:
        raise BadInput("a paging import is at most 1 MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("a paging import is UTF-8 TOML") from None
    # The body is read on the event loop; the write runs in a worker thread, like every
    # other route's, so the server keeps answering while a large import is stored.
    result: dict[str, Any] = await run_in_threadpool(
        runtime.write, lambda op: roster.apply(op, text), by=caller.handle, at=None
    )
    return result
