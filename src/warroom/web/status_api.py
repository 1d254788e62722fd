"""The routes behind ``warroom component``, ``warroom subscriber`` and ``warroom comms``.

Components shape what customers see, so changing them needs an admin token, as does the list
of subscribers (customers' addresses). The customer e-mail is the incident team's: a member
drafts, edits and sends it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Response
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from warroom.db.status_models import Component
from warroom.domain.statuspage import ComponentStatus
from warroom.services import comms, statuspage, subscribers
from warroom.services.records import Op
from warroom.web.deps import Admin, Member, RuntimeDep, Viewer
from warroom.web.paging_api import acting
from warroom.web.problems import PreconditionFailed
from warroom.web.writes import Input, matches, number_of

router = APIRouter(prefix="/api/v1", tags=["status page"])
Name = Annotated[str, Path(min_length=1, max_length=100)]
IncidentId = Annotated[str, Path(max_length=30)]


class Strict(Input):
    """No ``at``: the status page shows what is true now, so a change cannot be back-dated (a
    given ``at`` is refused by name rather than silently dropped)."""

    model_config = ConfigDict(extra="forbid")

    on_behalf_of: str | None = Field(None, description="Act for this person (admin tokens only).")


def component_row(component: Component, status: ComponentStatus) -> dict[str, Any]:
    return {
        "name": component.name,
        "id": component.public_id,
        "status": status.value,
        "status_set_by_hand": component.status_override is not None,
        "group": component.is_group,
        "group_id": component.group_id,
        "position": component.position,
        "description": component.description,
        "services": [s.name for s in component.services],
        "only_show_if_degraded": component.only_show_if_degraded,
    }


def _rows(runtime: Any) -> list[dict[str, Any]]:
    with runtime.reading() as session:
        stored = statuspage.list_components(session)
        statuses = statuspage.derived_statuses(session, runtime.policy, stored)
        names = {c.id: c.name for c in stored}
        rows = []
        for component in stored:
            status = statuses[component.id]
            if component.is_group:
                status = max(
                    (statuses[c.id] for c in stored if c.group_id == component.id),
                    key=lambda s: s.rank,
                    default=ComponentStatus.OPERATIONAL,
                )
            row = component_row(component, status)
            row["group_id"] = None
            row["in_group"] = names.get(component.group_id) if component.group_id else None
            rows.append(row)
        return rows


@router.get("/components", summary="List the status page's components and their status")
def list_components(runtime: RuntimeDep, _caller: Viewer) -> list[dict[str, Any]]:
    return _rows(runtime)


class ComponentBody(Strict):
    name: str = Field(min_length=1, max_length=100)
    services: list[str] = Field(default_factory=list, max_length=100)
    group: str | None = Field(None, max_length=100, description="The group it belongs to.")
    is_group: bool = Field(False, description="A group holding other components.")
    description: str | None = Field(None, max_length=1000)
    position: int | None = Field(None, ge=0, le=100_000)
    only_show_if_degraded: bool = False
    start_date: date | None = None


def _one(runtime: Any, name: str) -> dict[str, Any]:
    wanted = name.strip().lower()
    return next(row for row in _rows(runtime) if row["name"].lower() == wanted)


@router.post("/components", status_code=201, summary="Create a component")
def create_component(body: ComponentBody, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    created = runtime.write(
        lambda op: (
            statuspage.create_component(
                op,
                body.name,
                services=body.services,
                group=body.group,
                is_group=body.is_group,
                description=body.description,
                position=body.position,
                only_show_if_degraded=body.only_show_if_degraded,
                start_date=body.start_date,
            ).name
        ),
        **acting(caller, body),
        at=None,
    )
    return _one(runtime, created)


class ComponentChange(Strict):
    status: ComponentStatus | Literal["auto"] | None = Field(
        None, description="Set by hand, or `auto` to derive it from incidents again."
    )
    rename: str | None = Field(None, min_length=1, max_length=100)
    services: list[str] | None = Field(None, max_length=100)
    group: str | None = Field(None, max_length=100, description="A group, or `none`.")
    description: str | None = Field(None, max_length=1000)
    position: int | None = Field(None, ge=0, le=100_000)
    only_show_if_degraded: bool | None = None


@router.patch("/components/{name:path}", summary="Change a component")
def set_component(
    name: Name, body: ComponentChange, runtime: RuntimeDep, caller: Admin
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if body.status is not None:
        changes["status"] = None if body.status == "auto" else body.status
    if body.group is not None:
        changes["group"] = None if body.group.strip().lower() == "none" else body.group
    if body.description is not None:
        changes["description"] = body.description

    def change(op: Op) -> str:
        return statuspage.set_component(
            op,
            name,
            rename=body.rename,
            services=body.services,
            position=body.position,
            only_show_if_degraded=body.only_show_if_degraded,
            **changes,
        ).name

    return _one(runtime, runtime.write(change, **acting(caller, body), at=None))


@router.delete("/components/{name:path}", status_code=204, summary="Remove a component")
def remove_component(name: Name, runtime: RuntimeDep, caller: Admin) -> Response:
    runtime.write(lambda op: statuspage.remove_component(op, name), by=caller.handle, at=None)
    return Response(status_code=204)


# Subscribers ------------------------------------------------------------------------------


@router.get("/subscribers", summary="List the status page's e-mail subscribers")
def list_subscribers(runtime: RuntimeDep, _caller: Admin) -> list[dict[str, object]]:
    with runtime.reading() as session:
        return [subscribers.as_row(s) for s in subscribers.listing(session)]


class SubscriberBody(Strict):
    email: str = Field(min_length=3, max_length=320)
    incident_updates: bool = Field(True, description="E-mail each public incident update.")


@router.post("/subscribers", status_code=201, summary="Add a subscriber (confirmed at once)")
def add_subscriber(body: SubscriberBody, runtime: RuntimeDep, _caller: Admin) -> dict[str, object]:
    with runtime.writer(), runtime.reading() as session:
        found = subscribers.add(
            session, body.email, incident_updates=body.incident_updates, now=runtime.clock()
        )
        return subscribers.as_row(found)


@router.delete("/subscribers/{email:path}", status_code=204, summary="Remove a subscriber")
def remove_subscriber(
    email: Annotated[str, Path(max_length=320)], runtime: RuntimeDep, _caller: Admin
) -> Response:
    with runtime.writer(), runtime.reading() as session:
        subscribers.remove(session, email)
    return Response(status_code=204)


# The customer e-mail ----------------------------------------------------------------------


def _base(runtime: Any) -> str:
    return str(runtime.policy.status_page.url or runtime.settings.public_url).rstrip("/")


@router.get("/incidents/{incident_id}/comms", summary="The customer e-mail: its draft or as sent")
def get_comms(incident_id: IncidentId, runtime: RuntimeDep, caller: Member) -> JSONResponse:
    number = number_of(incident_id)
    with runtime.reading() as session:
        op = runtime.op(session, by=caller.handle, at=None)
        return _answer(comms.draft(op, number))


class CommsBody(Strict):
    subject: str | None = Field(None, max_length=300)
    body: str | None = Field(None, max_length=100_000)


CommsIfMatch = Annotated[
    str | None, Header(description="The ETag of the customer e-mail as you read it.")
]
EMAIL = "the customer e-mail"


def _answer(draft: comms.Draft) -> JSONResponse:
    return JSONResponse(draft.as_dict(), headers={"ETag": draft.etag})


def _unless_changed(op: Op, number: int, if_match: str | None) -> None:
    """The draft may change under its reader: someone edits it, or a new public update
    changes the generated text. With If-Match, only the text read is edited or sent."""
    if if_match is not None:
        current = comms.draft(op, number).etag
        if not matches(if_match, current):
            raise PreconditionFailed(current, EMAIL)


@router.put("/incidents/{incident_id}/comms", summary="Edit the customer e-mail before sending")
def edit_comms(
    incident_id: IncidentId,
    body: CommsBody,
    runtime: RuntimeDep,
    caller: Member,
    if_match: CommsIfMatch = None,
) -> JSONResponse:
    number = number_of(incident_id)

    def edit(op: Op) -> comms.Draft:
        _unless_changed(op, number, if_match)
        return comms.edit(op, number, subject=body.subject, body=body.body)

    draft = runtime.write(
        edit,
        **acting(caller, body),
        at=None,
        incident=number,
        attempted="edit the customer e-mail",
    )
    return _answer(draft)


@router.post("/incidents/{incident_id}/comms/send", summary="Send the customer e-mail, once")
def send_comms(
    incident_id: IncidentId,
    runtime: RuntimeDep,
    caller: Member,
    body: Strict | None = None,
    if_match: CommsIfMatch = None,
) -> JSONResponse:
    number = number_of(incident_id)

    def send(op: Op) -> comms.Draft:
        _unless_changed(op, number, if_match)
        return comms.send(op, number, base_url=_base(runtime))

    draft = runtime.write(
        send,
        **acting(caller, body),
        at=None,
        incident=number,
        attempted="send the customer e-mail",
    )
    return _answer(draft)
