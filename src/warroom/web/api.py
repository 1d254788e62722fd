"""The REST API under /api/v1: everything the CLI does, as the token's person.

Writes run through the same services and the same transaction helper as the CLI; a refusal is
a 409 naming the rule, and is recorded on the timeline like any other refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from warroom.db.models import Incident
from warroom.domain.classifier import classify, parse_answers
from warroom.domain.errors import BadInput, NotFound
from warroom.domain.timefmt import parse_at
from warroom.domain.types import (
    DismissReason,
    MitigationKind,
    Move,
    ReportSource,
    Severity,
    Stage,
)
from warroom.services import declaration, lifecycle
from warroom.services.reading import ListFilter, detail, list_incidents, summary, timeline
from warroom.services.records import Op
from warroom.web.deps import Member, RuntimeDep, Viewer
from warroom.web.writes import (
    Body,
    IfMatch,
    Prose,
    Reason,
    etag,
    incident_action,
    number_of,
    write,
)

router = APIRouter(prefix="/api/v1")
MAX_ID = 2**63 - 1  # the largest value the databases store


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
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
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
        "as_of": runtime.clock().isoformat(),
    }


@router.get(
    "/incidents/{incident_id}", summary="An incident with its roles, checklist and findings"
)
def get_route(
    incident_id: str,
    runtime: RuntimeDep,
    _caller: Viewer,
    at: Annotated[
        str | None, Query(description="Evaluate the checklist at this time (past or future).")
    ] = None,
) -> JSONResponse:
    number = number_of(incident_id)
    now = parse_at(at, "at") if at else runtime.clock()
    with runtime.reading() as session:
        incident = session.get(Incident, number)
        if incident is None:
            raise NotFound(f"INC-{number} does not exist")
        data = detail(session, incident, runtime.policy, now).to_json()
        data["as_of"] = now.isoformat()
        return JSONResponse(data, headers={"ETag": etag(incident)})


@router.get("/incidents/{incident_id}/timeline", summary="The append-only timeline")
def timeline_route(incident_id: str, runtime: RuntimeDep, _caller: Viewer) -> list[dict[str, Any]]:
    number = number_of(incident_id)
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
    return write(
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
    return write(
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


incident_action(
    router,
    "reports",
    CustomerReportBody,
    lambda op, number, body: lifecycle.customer_report(op, number, body.title, source=body.source),
    summary="Add a (customer) report",
)


@router.post("/incidents/{incident_id}/ack", summary="Acknowledge")
def ack_route(
    incident_id: str,
    runtime: RuntimeDep,
    caller: Member,
    body: Body | None = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    number = number_of(incident_id)
    outcome: dict[str, Any] = {}

    def action(op: Op) -> Incident:
        incident, outcome["changed"] = lifecycle.acknowledge(op, number)
        return incident

    return write(
        runtime,
        caller,
        body or Body(),
        action,
        number=number,
        if_match=if_match,
        attempted="ack",
        extra=outcome,
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
    number = number_of(incident_id)
    reasons: list[str] | None = None
    chosen = body.severity
    if chosen is None:
        if body.answers is None:
            raise BadInput("give a severity, or the classifier's answers")
        result = classify(parse_answers(body.answers), runtime.policy)
        chosen, reasons = result.severity, list(result.reasons)
    level = chosen
    return write(
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


incident_action(
    router,
    "declare",
    DeclareBody,
    lambda op, number, body: declaration.declare(op, number, body.severity, ic=body.ic),
    summary="Declare an existing incident",
    attempted="declare",
    body_required=False,
)


class WorkBody(Body):
    performed_by: str | None = None


incident_action(
    router,
    "investigate",
    WorkBody,
    lambda op, number, body: lifecycle.move(
        op, number, Move.INVESTIGATE, performed_by=body.performed_by
    ),
    summary="Move to investigating",
    attempted="investigate",
    body_required=False,
)


class MitigateBody(WorkBody):
    action: MitigationKind
    note: Prose | None = None
    permanent: bool = False


incident_action(
    router,
    "mitigate",
    MitigateBody,
    lambda op, number, body: lifecycle.mitigate(
        op,
        number,
        body.action,
        note=body.note,
        permanent=body.permanent,
        performed_by=body.performed_by,
    ),
    summary="Record the mitigation",
    attempted="mitigate",
)


def _without_body(act: Callable[[Op, int], Incident]) -> Callable[[Op, int, Body], Incident]:
    return lambda op, number, _body: act(op, number)


PLAIN_MOVES: dict[Move, Callable[[Op, int], Incident]] = {
    Move.RESOLVE: lambda op, number: lifecycle.move(op, number, Move.RESOLVE),
    Move.MONITOR: lambda op, number: lifecycle.move(op, number, Move.MONITOR),
    Move.CLOSE: lifecycle.close,  # the closure criteria, not just the stage table
}
for _move, _act in PLAIN_MOVES.items():
    incident_action(
        router,
        _move.value,
        Body,
        _without_body(_act),
        summary=f"Stage move: {_move.value}",
        attempted=_move.value,
        body_required=False,
    )


class ReasonBody(Body):
    reason: Reason


incident_action(
    router,
    "reopen",
    ReasonBody,
    lambda op, number, body: lifecycle.reopen(op, number, body.reason),
    summary="Reopen a closed incident",
    attempted="reopen",
)


class DismissBody(Body):
    reason: DismissReason


incident_action(
    router,
    "dismiss",
    DismissBody,
    lambda op, number, body: lifecycle.dismiss(op, number, body.reason),
    summary="Close as noise, duplicate or test",
    attempted="dismiss",
)


class MergeBody(Body):
    into: str


incident_action(
    router,
    "merge",
    MergeBody,
    lambda op, number, body: lifecycle.merge(op, number, number_of(body.into)),
    summary="Merge a duplicate into another incident",
    attempted="merge",
)


class SeverityBody(Body):
    severity: Severity
    reason: Reason


incident_action(
    router,
    "severity",
    SeverityBody,
    lambda op, number, body: declaration.change_severity(op, number, body.severity, body.reason),
    summary="Reclassify",
    attempted="severity",
)
