"""API routes around the stage moves: roles, notes, status updates, escalation, the
checklist, visibility and the post-mortem."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from warroom.db.models import Incident
from warroom.domain.types import NoteKind, Role, UpdateStatus, Visibility
from warroom.domain.updates import UpdateText
from warroom.services import coordination, lifecycle
from warroom.services.records import Op
from warroom.web.api import WorkBody
from warroom.web.deps import Member, RuntimeDep
from warroom.web.writes import Body, IfMatch, Prose, Reason, incident_action, number_of, write

router = APIRouter(prefix="/api/v1")


class RoleBody(Body):
    role: Role
    person: str


@router.post("/incidents/{incident_id}/roles", summary="Assign a role (history kept)")
def role_route(
    incident_id: str, body: RoleBody, runtime: RuntimeDep, caller: Member, if_match: IfMatch = None
) -> JSONResponse:
    number = number_of(incident_id)
    outcome: dict[str, Any] = {}

    def action(op: Op) -> Incident:
        incident, outcome["changed"] = coordination.assign_role(op, number, body.role, body.person)
        return incident

    return write(runtime, caller, body, action, number=number, if_match=if_match, extra=outcome)


class NoteBody(WorkBody):
    kind: NoteKind = NoteKind.OTHER
    text: str


incident_action(
    router,
    "notes",
    NoteBody,
    lambda op, number, body: coordination.note(
        op, number, body.kind, body.text, performed_by=body.performed_by
    ),
    summary="Record an investigation note",
)


class UpdateBody(Body):
    status: UpdateStatus | None = None
    issue: str
    impact: str
    progress: str
    next: str
    eta: str = Field("Unknown", max_length=200)
    public: bool = False
    public_text: Prose | None = None
    public_title: str | None = Field(
        None, max_length=300, description="The title customers see (with `public`)."
    )


@router.post("/incidents/{incident_id}/updates", status_code=201, summary="Post a status update")
def update_route(
    incident_id: str,
    body: UpdateBody,
    runtime: RuntimeDep,
    caller: Member,
    if_match: IfMatch = None,
) -> JSONResponse:
    number = number_of(incident_id)
    text = UpdateText(body.issue, body.impact, body.progress, body.next, body.eta)
    posted: dict[str, Any] = {}

    def action(op: Op) -> Incident:
        update = coordination.post_update(
            op,
            number,
            text,
            status=body.status,
            public=body.public,
            public_text=body.public_text,
            public_title=body.public_title,
        )
        posted.update(number=update.number, status=update.status.value, text=update.rendered)
        incident = op.session.get(Incident, number)
        assert incident is not None
        return incident

    written = write(
        runtime, caller, body, action, number=number, if_match=if_match, attempted="update"
    )
    return JSONResponse(
        {"id": f"INC-{number}", **posted},
        status_code=201,
        headers={"ETag": written.headers["etag"]},
    )


class EscalateBody(Body):
    team: str | None = None
    reason: Reason | None = None


incident_action(
    router,
    "escalate",
    EscalateBody,
    lambda op, number, body: coordination.escalate(op, number, team=body.team, reason=body.reason),
    summary="Escalate",
    attempted="escalate",
    body_required=False,
)


class DoneBody(Body):
    note: Reason | None = None


@router.post(
    "/incidents/{incident_id}/checklist/{key}/done", summary="Mark a checklist action done"
)
def checklist_done_route(
    incident_id: str,
    key: str,
    runtime: RuntimeDep,
    caller: Member,
    body: DoneBody | None = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    number, given = number_of(incident_id), body or DoneBody()

    def action(op: Op) -> Incident:
        coordination.complete_action(op, number, key, note=given.note)
        incident = op.session.get(Incident, number)
        assert incident is not None
        return incident

    return write(runtime, caller, given, action, number=number, if_match=if_match)


class VisibilityBody(Body):
    visibility: Visibility


incident_action(
    router,
    "visibility",
    VisibilityBody,
    lambda op, number, body: coordination.set_visibility(op, number, body.visibility),
    summary="Whether a SEV2 is customer-visible",
    attempted="visibility",
)


class PostmortemBody(Body):
    doc: str | None = None


incident_action(
    router,
    "postmortem",
    PostmortemBody,
    lambda op, number, body: lifecycle.postmortem(op, number, body.doc),
    summary="Record the post-mortem as complete",
    attempted="postmortem",
    body_required=False,
)
