"""Alerts as people see and correct them: the listing behind ``warroom alerts``, and moving
an alert that was grouped into the wrong incident."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.alert_models import Alert
from warroom.db.models import Incident
from warroom.domain.alerts import AlertStatus
from warroom.domain.errors import BadInput, NotFound, Refused
from warroom.domain.types import EventKind
from warroom.services.records import Op, load, record, touch


def row(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "source": alert.source.value,
        "integration": alert.integration.name,
        "dedup_key": alert.dedup_key,
        "status": alert.status.value,
        "summary": alert.summary,
        "severity_hint": alert.severity_hint,
        "service": (alert.service or alert.integration.service).name,
        "labels": dict(alert.labels),
        "links": dict(alert.links),
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "count": alert.count,
        "first_seen_at": alert.first_seen_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "incident": f"INC-{alert.incident_id}" if alert.incident_id else None,
    }


def listing(
    session: Session,
    *,
    incident: int | None = None,
    status: AlertStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Alert]:
    query = select(Alert).order_by(Alert.id.desc()).limit(limit).offset(offset)
    if incident is not None:
        query = query.where(Alert.incident_id == incident)
    if status is not None:
        query = query.where(Alert.status == status)
    return list(session.scalars(query))


def move(op: Op, alert_id: int, number: int) -> Alert:
    """Move an alert to another incident: both timelines say so, and closure follows it."""
    alert = op.session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert #{alert_id} does not exist")
    target = load(op, number)
    if not target.stage.is_active:
        raise Refused(
            "illegal-move",
            f"INC-{number} is {target.stage.value}: alerts join active incidents only",
            hint="Reopen it first, or move the alert to an active incident.",
        )
    if alert.incident_id == number:
        raise BadInput(f"alert #{alert_id} is already on INC-{number}")
    if alert.pending:
        raise BadInput(
            f"alert #{alert_id} is still being grouped; try again in a moment (the worker "
            "groups alerts: `warroom worker`, or `warroom serve` without --no-worker)"
        )
    source = op.session.get(Incident, alert.incident_id) if alert.incident_id else None
    alert.incident_id = number
    if source is not None:
        record(
            op,
            source,
            EventKind.ALERT,
            f"alert #{alert.id} moved to INC-{number}: {alert.summary}",
            alert=alert.id,
            change="moved-out",
            to=f"INC-{number}",
        )
        touch(op, source)
    origin = f" from INC-{source.id}" if source else ""
    record(
        op,
        target,
        EventKind.ALERT,
        f"alert #{alert.id} moved here{origin}: {alert.summary}",
        alert=alert.id,
        change="moved-in",
        origin=f"INC-{source.id}" if source else None,
    )
    touch(op, target)
    return alert
