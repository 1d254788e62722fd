"""Alerts, the integrations they come through and the services they belong to: the routes
behind ``warroom alerts``, ``warroom integration`` and ``warroom service``. Integration keys are
in the answer that creates them, and never again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import ConfigDict, Field
from sqlalchemy import select

from warroom.db.alert_models import Alert
from warroom.db.models import Service
from warroom.domain.alerts import AlertSource, AlertStatus
from warroom.domain.errors import NotFound
from warroom.services import alert_views, directory, integrations
from warroom.services.records import Op
from warroom.web.deps import Admin, Member, RuntimeDep, Viewer
from warroom.web.writes import Input, flushed, number_of

router = APIRouter(prefix="/api/v1")
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/alerts", summary="List alerts, newest first, with their state and incident")
def list_alerts(
    runtime: RuntimeDep,
    _caller: Viewer,
    incident: str | None = None,
    status: AlertStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> dict[str, Any]:
    number = number_of(incident) if incident else None
    with runtime.reading() as session:
        rows = [
            alert_views.row(a)
            for a in alert_views.listing(
                session, incident=number, status=status, limit=limit + 1, offset=offset
            )
        ]
    more = len(rows) > limit
    return {
        "items": rows[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


@router.get("/alerts/{alert_id}", summary="One alert")
def get_alert(alert_id: RowId, runtime: RuntimeDep, _caller: Viewer) -> dict[str, Any]:
    with runtime.reading() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise NotFound(f"alert #{alert_id} does not exist")
        return alert_views.row(alert)


class MoveBody(Input):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(description="The incident the alert belongs to: INC-42 or 42.")


@router.post("/alerts/{alert_id}/move", summary="Move an alert to another incident")
def move_alert(
    alert_id: RowId, body: MoveBody, runtime: RuntimeDep, caller: Member
) -> dict[str, Any]:
    number = number_of(body.to)
    return runtime.write(
        lambda op: alert_views.row(flushed(op, alert_views.move(op, alert_id, number))),
        by=caller.handle,
        at=None,
        incident=number,
        attempted=f"move alert #{alert_id}",
    )


class IntegrationBody(Input):
    model_config = ConfigDict(extra="forbid")

    source: AlertSource
    service: str = Field(description="The service its alerts belong to (created on first use).")
    name: str | None = Field(None, description="Default: <source>-<service>.")
    secret: str | None = Field(None, description="Grafana: the HMAC secret to verify.")
    signature_header: str | None = None
    timestamp_header: str | None = None
    topics: list[str] = Field(default_factory=list, description="CloudWatch: SNS topic ARNs.")
    rate_limit: int | None = Field(None, description="Requests per minute; more get 429.")
    severity: str | None = Field(None, description="The severity hint for alerts without one.")


@router.post(
    "/integrations", status_code=201, summary="Create an integration (its key is shown once)"
)
def create_integration(
    body: IntegrationBody, request: Request, runtime: RuntimeDep, caller: Admin
) -> dict[str, Any]:
    options = integrations.Options(
        secret=body.secret,
        signature_header=body.signature_header,
        timestamp_header=body.timestamp_header,
        topics=tuple(body.topics),
        rate_limit=body.rate_limit,
        severity=body.severity,
    )

    def create(op: Op) -> dict[str, Any]:
        integration, key = integrations.create(op, body.source, body.service, body.name, options)
        shown = integrations.row(flushed(op, integration))
        return shown | {"key": key, "path": ingestion_path(body.source, key)}

    # Answered from the transaction that stored it: the key is never lost to a second one.
    created = runtime.write(create, by=caller.handle, at=None)
    request.app.state.ingestion.forget()  # a key unknown a moment ago is known now
    return created


def ingestion_path(source: AlertSource, key: str) -> str:
    if source is AlertSource.PAGERDUTY:
        return "/v2/enqueue"
    if source is AlertSource.OPSGENIE:
        return "/v2/alerts"
    return f"/api/v1/ingest/{source.value}/{key}"


@router.get("/integrations", summary="List integrations (never their keys)")
def list_integrations(runtime: RuntimeDep, _caller: Admin) -> list[dict[str, Any]]:
    with runtime.reading() as session:
        return [integrations.row(i) for i in integrations.listing(session)]


@router.delete("/integrations/{integration_id}", summary="Revoke an integration's key at once")
def revoke_integration(integration_id: RowId, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    # Every node refuses the key from the commit on (warroom.revocations).
    return runtime.write(
        lambda op: integrations.row(flushed(op, integrations.revoke(op, integration_id))),
        by=caller.handle,
        at=None,
    )


class ServiceBody(Input):
    model_config = ConfigDict(extra="forbid")

    name: str
    team: str | None = Field(None, max_length=100, description="The team that owns it.")
    policy: str | None = Field(
        None, max_length=100, description="Its own escalation policy (else its team's)."
    )


@router.post("/services", status_code=201, summary="Create a service, or say who owns it")
def create_service(body: ServiceBody, runtime: RuntimeDep, caller: Member) -> dict[str, Any]:
    def save(op: Op) -> dict[str, Any]:
        created = directory.save_service(op, body.name, team=body.team, policy=body.policy)
        return directory.service_row(op.session, flushed(op, created))

    return runtime.write(save, by=caller.handle, at=None)


@router.get("/services", summary="List services")
def list_services(runtime: RuntimeDep, _caller: Viewer) -> list[dict[str, Any]]:
    with runtime.reading() as session:
        return [
            directory.service_row(session, s)
            for s in session.scalars(select(Service).order_by(Service.name))
        ]
