"""The REST API under /api/v1: everything the CLI does, as the token's person.

Writes run through the same services and the same transaction helper as the CLI; a refusal is
a 409 naming the rule, and is recorded on the timeline like any other refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from warroom.db.models import Incident
from warroom.domain.classifier import classify, parse_answers
from warroom.domain.errors import BadInput, NotFound
from warroom.domain.types import (
    DismissReason,
    MitigationKind,
    Move,
    NoteKind,
    ReportSource,
    Role,
    Severity,
    Stage,
    UpdateStatus,
    Visibility,
    parse_incident_number,
)
from warroom.domain.updates import UpdateText
from warroom.runtime import Runtime, parse_at
from warroom.services import coordination, declaration, lifecycle
from warroom.services.reading import ListFilter, detail, list_incidents, summary, timeline
from warroom.services.records import Op
from warroom.services.tokens import Caller
from warroom.web.deps import Member, RuntimeDep, Viewer
from warroom.web.problems import PreconditionFailed

router = APIRouter(prefix="/api/v1")
IfMatch = Annotated[str | None, Header(description="The ETag of the incident as you read it.")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """No text field may carry a NUL character: no database stores one faithfully."""
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, str) and "\x00" in value:
                    raise ValueError(f"{key} contains a NUL character")
        return data

    at: str | None = Field(
        None, description="When it happened (ISO 8601 with offset); now if absent."
    )
    on_behalf_of: str | None = Field(None, description="Act for this person (admin tokens only).")


def etag(incident: Incident) -> str:
    return f'"v{incident.version}"'


def _number(text: str) -> int:
    try:
        return parse_incident_number(text)
    except ValueError as exc:
        raise NotFound(str(exc)) from None


def _incident_json(runtime: Runtime, number: int, status: int = 200) -> JSONResponse:
    with runtime.reading() as session:
        incident = session.get(Incident, number)
        if incident is None:
            raise NotFound(f"INC-{number} does not exist")
        data = summary(session, incident, runtime.policy)
        return JSONResponse(data, status_code=status, headers={"ETag": etag(incident)})


def _write(
    runtime: Runtime,
    caller: Caller,
    body: Body,
    action: Callable[[Op], Incident],
    *,
    number: int | None = None,
    if_match: str | None = None,
    attempted: str = "",
    status: int = 200,
) -> JSONResponse:
    if body.on_behalf_of and caller.access.value != "admin":
        raise HTTPException(403, "acting on behalf of someone else needs an admin token")

    def guarded(op: Op) -> Incident:
        if if_match is not None and number is not None:
            current = op.session.get(Incident, number)
            if current is not None and if_match.strip() not in ("*", etag(current)):
                raise PreconditionFailed(etag(current))
        return action(op)

    incident = runtime.write(
        guarded,
        by=body.on_behalf_of or caller.handle,
        at=body.at,
        incident=number,
        attempted=attempted,
        entered_by=caller.handle if body.on_behalf_of else None,
    )
    return _incident_json(runtime, incident.id, status)


# --- reading ------------------------------------------------------------------------------


@router.get("/incidents", summary="List incidents, newest first")
def list_route(
    runtime: RuntimeDep,
    _caller: Viewer,
    stage: Annotated[list[Stage] | None, Query()] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    service: str | None = None,
    since: str | None = None,
    include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    filters = ListFilter(
        stages=tuple(stage or ()),
        severities=tuple(severity or ()),
        service=service,
        include_inactive=include_closed,
        since=parse_at(since, "since") if since else None,
        limit=limit + 1,
        offset=offset,
    )
    with runtime.reading() as session:
        rows = [summary(session, i, runtime.policy) for i in list_incidents(session, filters)]
    more = len(rows) > limit
    return {
        "items": rows[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


@router.get(
    "/incidents/{incident_id}", summary="An incident with its roles, checklist and findings"
)
def get_route(incident_id: str, runtime: RuntimeDep, _caller: Viewer) -> JSONResponse:
    number = _number(incident_id)
    with runtime.reading() as session:
        incident = session.get(Incident, number)
        if incident is None:
            raise NotFound(f"INC-{number} does not exist")
        data = detail(session, incident, runtime.policy, runtime.clock()).to_json()
        return JSONResponse(data, headers={"ETag": etag(incident)})


@router.get("/incidents/{incident_id}/timeline", summary="The append-only timeline")
def timeline_route(incident_id: str, runtime: RuntimeDep, _caller: Viewer) -> list[dict[str, Any]]:
    number = _number(incident_id)
    with runtime.reading() as session:
        if session.get(Incident, number) is None:
            raise NotFound(f"INC-{number} does not exist")
        return timeline(session, number)


@router.post("/classify", summary="Classify severity from the triage answers (product.md §2)")
def classify_route(answers: dict[str, Any], runtime: RuntimeDep, _caller: Viewer) -> dict[str, Any]:
    return classify(parse_answers(answers), runtime.policy).to_json()


# --- detection and declaration ---------------------------------------------------------------


class ReportBody(Body):
    title: str
    source: ReportSource = ReportSource.INTERNAL
    service: str | None = None
    severity: Severity | None = Field(None, description="A proposed severity, confirmed at triage.")


@router.post("/incidents", status_code=201, summary="Record a detection")
def report_route(body: ReportBody, runtime: RuntimeDep, caller: Member) -> JSONResponse:
    return _write(
        runtime,
        caller,
        body,
        lambda op: lifecycle.report(
            op, body.title, source=body.source, service_name=body.service, severity=body.severity
        ),
        status=201,
    )


class DeclareNewBody(Body):
    severity: Severity
    title: str
    ic: str | None = None
    service: str | None = None


@router.post("/incidents/declare", status_code=201, summary="Declare a new incident")
def declare_new_route(body: DeclareNewBody, runtime: RuntimeDep, caller: Member) -> JSONResponse:
    return _write(
        runtime,
        caller,
        body,
        lambda op: declaration.declare_new(
            op, body.severity, body.title, ic=body.ic, service_name=body.service
        ),
        status=201,
    )


class CustomerReportBody(Body):
    title: str
    source: ReportSource = ReportSource.CUSTOMER


@router.post("/incidents/{incident_id}/reports", summary="Add a (customer) report")
def customer_report_route(
    incident_id: str, body: CustomerReportBody, runtime: RuntimeDep, caller: Member
) -> JSONResponse:
    number = _number(incident_id)
    return _write(
        runtime,
        caller,
        body,
        lambda op: lifecycle.customer_report(op, number, body.title, source=body.source),
        number=number,
    )


@router.post("/incidents/{incident_id}/ack", summary="Acknowledge")
def ack_route(
    incident_id: str, runtime: RuntimeDep, caller: Member, body: Body | None = None
) -> JSONResponse:
    number = _number(incident_id)
    return _write(
        runtime,
        caller,
        body or Body(),
        lambda op: lifecycle.acknowledge(op, number)[0],
        number=number,
        attempted="ack",
    )


class TriageBody(Body):
    severity: Severity | None = None
    answers: dict[str, Any] | None = Field(
        None, description="Classifier answers, when no severity is given."
    )


@router.post("/incidents/{incident_id}/triage", summary="Set the severity of a detection")
def triage_route(
    incident_id: str,
    body: TriageBody,
    runtime: RuntimeDep,
    caller: Member,
    if_match: IfMatch = None,
) -> JSONResponse:
    number = _number(incident_id)
    reasons: list[str] | None = None
    chosen = body.severity
    if chosen is None:
        if body.answers is None:
            raise BadInput("give a severity, or the classifier's answers")
        result = classify(parse_answers(body.answers), runtime.policy)
        chosen, reasons = result.severity, list(result.reasons)
    level = chosen
    return _write(
        runtime,
        caller,
        body,
        lambda op: lifecycle.triage(op, number, level, reasons=reasons),
        number=number,
        if_match=if_match,
        attempted="triage",
    )


class DeclareBody(Body):
    severity: Severity | None = None
    ic: str | None = None


@router.post("/incidents/{incident_id}/declare", summary="Declare an existing incident")
def declare_route(
    incident_id: str,
    runtime: RuntimeDep,
    caller: Member,
    body: DeclareBody | None = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    number, given = _number(incident_id), body or DeclareBody()
    return _write(
        runtime,
        caller,
        given,
        lambda op: declaration.declare(op, number, given.severity, ic=given.ic),
        number=number,
        if_match=if_match,
        attempted="declare",
    )


class WorkBody(Body):
    performed_by: str | None = None


@router.post("/incidents/{incident_id}/investigate", summary="Move to investigating")
def investigate_route(
    incident_id: str,
    runtime: RuntimeDep,
    caller: Member,
    body: WorkBody | None = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    number, given = _number(incident_id), body or WorkBody()
    return _write(
        runtime,
        caller,
        given,
        lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by=given.performed_by),
        number=number,
        if_match=if_match,
        attempted="investigate",
    )


class MitigateBody(WorkBody):
    action: MitigationKind
    note: str | None = None
    permanent: bool = False


@router.post("/incidents/{incident_id}/mitigate", summary="Record the mitigation")
def mitigate_route(
    incident_id: str,
    body: MitigateBody,
    runtime: RuntimeDep,
    caller: Member,
    if_match: IfMatch = None,
) -> JSONResponse:
    number = _number(incident_id)
    return _write(
        runtime,
        caller,
        body,
        lambda op: lifecycle.mitigate(
            op,
            number,
            body.action,
            note=body.note,
            permanent=body.permanent,
            performed_by=body.performed_by,
        ),
        number=number,
        if_match=if_match,
        attempted="mitigate",
    )


def _plain_move(which: Move) -> Callable[..., JSONResponse]:
    def route(
        incident_id: str,
        runtime: RuntimeDep,
        caller: Member,
        body: Body | None = None,
        if_match: IfMatch = None,
    ) -> JSONResponse:
        number = _number(incident_id)
        action: Callable[[Op], Incident] = (
            (lambda op: lifecycle.close(op, number))
            if which is Move.CLOSE
            else (lambda op: lifecycle.move(op, number, which))
        )
        return _write(
            runtime,
            caller,
            body or Body(),
            action,
            number=number,
            if_match=if_match,
            attempted=which.value,
        )

    route.__name__ = f"{which.value}_route"
    return route


for _move in (Move.RESOLVE, Move.MONITOR, Move.CLOSE):
    router.post(f"/incidents/{{incident_id}}/{_move.value}", summary=f"Stage move: {_move.value}")(
        _plain_move(_move)
    )


class ReasonBody(Body):
    reason: str


@router.post("/incidents/{incident_id}/reopen", summary="Reopen a closed incident")
def reopen_route(
    incident_id: str,
    body: ReasonBody,
    runtime: RuntimeDep,
    caller: Member,
    if_match: IfMatch = None,
) -> JSONResponse:
    number = _number(incident_id)
    return _write(
        runtime,
        caller,
        body,
        lambda op: lifecycle.reopen(op, number, body.reason),
        number=number,
        if_match=if_match,
        attempted="reopen",
    )


class DismissBody(Body):
    reason: DismissReason


@router.post("/incidents/{incident_id}/dismiss", summary="Close as noise, duplicate or test")
def dismiss_route(
    incident_id: str,
    body: DismissBody,
    runtime: RuntimeDep,
    caller: Member,
    if_match: IfMatch = None,
) -> JSONResponse:
    number = _number(incident_id)
    return _write(
        runtime,
        caller,
        body,
        lambda op: lifecycle.dismiss(op, number, body.reason),
        number=number,
        if_match=if_match,
        attempted="dismiss",
    )


class MergeBody(Body):
    into: str


@router.post("/incidents/{incident_id}/merge", summary="Merge a duplicate into another incident")
def merge_route(
    incident_id: str, body: MergeBody, runtime: RuntimeDep, caller: Member, if_match: IfMatch = None
) -> JSONResponse:
    number, target = _number(incident_id), _number(body.into)
    return _write(
        runtime,
        caller,
        body,
        lambda op: lifecycle.merge(op, number, target),
        number=number,
        if_match=if_match,
        attempted="merge",
    )


class SeverityBody(Body):
    severity: Severity
    reason: str


@router.post("/incidents/{incident_id}/severity", summary="Reclassify")
def severity_route(
    incident_id: str,
    body: SeverityBody,
    runtime: RuntimeDep,
    caller: Member,
    if_match: IfMatch = None,
) -> JSONResponse:
    number = _number(incident_id)
    return _write(
        runtime,
        caller,
        body,
        lambda op: declaration.change_severity(op, number, body.severity, body.reason),
        number=number,
        if_match=if_match,
        attempted="severity",
    )


class RoleBody(Body):
    role: Role
    person: str


@router.post("/incidents/{incident_id}/roles", summary="Assign a role (history kept)")
def role_route(
    incident_id: str, body: RoleBody, runtime: RuntimeDep, caller: Member, if_match: IfMatch = None
) -> JSONResponse:
    number = _number(incident_id)
    return _write(
        runtime,
        caller,
        body,
        lambda op: coordination.assign_role(op, number, body.role, body.person)[0],
        number=number,
        if_match=if_match,
    )


class NoteBody(WorkBody):
    kind: NoteKind = NoteKind.OTHER
    text: str


@router.post("/incidents/{incident_id}/notes", summary="Record an investigation note")
def note_route(
    incident_id: str, body: NoteBody, runtime: RuntimeDep, caller: Member
) -> JSONResponse:
    number = _number(incident_id)
    return _write(
        runtime,
        caller,
        body,
        lambda op: coordination.note(
            op, number, body.kind, body.text, performed_by=body.performed_by
        ),
        number=number,
    )


class UpdateBody(Body):
    status: UpdateStatus | None = None
    issue: str
    impact: str
    progress: str
    next: str
    eta: str = "Unknown"
    public: bool = False
    public_text: str | None = None


@router.post("/incidents/{incident_id}/updates", status_code=201, summary="Post a status update")
def update_route(
    incident_id: str, body: UpdateBody, runtime: RuntimeDep, caller: Member
) -> JSONResponse:
    number = _number(incident_id)
    text = UpdateText(body.issue, body.impact, body.progress, body.next, body.eta)
    posted: dict[str, Any] = {}

    def action(op: Op) -> Incident:
        update = coordination.post_update(
            op, number, text, status=body.status, public=body.public, public_text=body.public_text
        )
        posted.update(number=update.number, status=update.status.value, text=update.rendered)
        incident = op.session.get(Incident, number)
        assert incident is not None
        return incident

    _write(runtime, caller, body, action, number=number, attempted="update")
    return JSONResponse({"id": f"INC-{number}", **posted}, status_code=201)


class EscalateBody(Body):
    team: str | None = None
    reason: str | None = None


@router.post("/incidents/{incident_id}/escalate", summary="Escalate")
def escalate_route(
    incident_id: str, runtime: RuntimeDep, caller: Member, body: EscalateBody | None = None
) -> JSONResponse:
    number, given = _number(incident_id), body or EscalateBody()
    return _write(
        runtime,
        caller,
        given,
        lambda op: coordination.escalate(op, number, team=given.team, reason=given.reason),
        number=number,
        attempted="escalate",
    )


class DoneBody(Body):
    note: str | None = None


@router.post(
    "/incidents/{incident_id}/checklist/{key}/done", summary="Mark a checklist action done"
)
def checklist_done_route(
    incident_id: str, key: str, runtime: RuntimeDep, caller: Member, body: DoneBody | None = None
) -> JSONResponse:
    number, given = _number(incident_id), body or DoneBody()

    def action(op: Op) -> Incident:
        coordination.complete_action(op, number, key, note=given.note)
        incident = op.session.get(Incident, number)
        assert incident is not None
        return incident

    return _write(runtime, caller, given, action, number=number)


class VisibilityBody(Body):
    visibility: Visibility


@router.post("/incidents/{incident_id}/visibility", summary="Whether a SEV2 is customer-visible")
def visibility_route(
    incident_id: str, body: VisibilityBody, runtime: RuntimeDep, caller: Member
) -> JSONResponse:
    number = _number(incident_id)
    return _write(
        runtime,
        caller,
        body,
        lambda op: coordination.set_visibility(op, number, body.visibility),
        number=number,
        attempted="visibility",
    )


class PostmortemBody(Body):
    doc: str | None = None


@router.post("/incidents/{incident_id}/postmortem", summary="Record the post-mortem as complete")
def postmortem_route(
    incident_id: str, runtime: RuntimeDep, caller: Member, body: PostmortemBody | None = None
) -> JSONResponse:
    number, given = _number(incident_id), body or PostmortemBody()
    return _write(
        runtime,
        caller,
        given,
        lambda op: lifecycle.postmortem(op, number, given.doc),
        number=number,
        attempted="postmortem",
    )
