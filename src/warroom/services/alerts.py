"""Alerts into incidents: grouping, resolution, moves, and what closure needs to know.

Ingestion only makes alerts durable (:mod:`warroom.ingest.store`) and marks them ``pending``;
the worker runs :func:`group_pending` promptly after, in transactions of its own. An alert
joins the active incident of its grouping key (e.g. ``service=checkout``) whose last alert came
in within the group window; otherwise it opens a new incident in ``detected`` with the
proposal of :func:`warroom.domain.alerts.propose`. An alert first seen already resolved opens
nothing: nothing is wrong any more.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from warroom.db.models import Alert, Incident
from warroom.domain.alerts import AlertStatus, Proposal, clip, group_key, propose
from warroom.domain.errors import BadInput, NotFound, Refused
from warroom.domain.facts import ClosureEvidence
from warroom.domain.types import ACTIVE_STAGES, EventKind, ReportSource, Stage
from warroom.services.records import (
    Op,
    acknowledge_implied,
    load,
    no_roles_yet,
    record,
    service,
    touch,
)

BATCH = 200
TITLE_MAX = 300
# Serialises grouping across workers on PostgreSQL, so two alerts of one group arriving
# together open one incident, not two. (SQLite has one writer at a time anyway.)
GROUPING_LOCK = 0x5741_5252_4F4F_4D01


def group_pending(op: Op, limit: int = BATCH) -> int:
    """Tell incidents' timelines what their alerts did; open incidents for new groups."""
    session = op.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": GROUPING_LOCK})
    pending = list(
        session.scalars(select(Alert).where(Alert.pending).order_by(Alert.id).limit(limit))
    )
    for alert in pending:
        _settle(op, alert)
        alert.pending = False
    session.flush()
    return len(pending)


def _settle(op: Op, alert: Alert) -> None:
    incident = None
    if alert.incident_id is None:
        incident = _group(op, alert)
        if incident is None:
            alert.noted = alert.status.value
            return
    else:
        incident = op.session.get(Incident, alert.incident_id)
        assert incident is not None
    if alert.acknowledged_at is not None and alert.noted == AlertStatus.FIRING.value:
        alert.noted = "acknowledged"
        record(
            op,
            incident,
            EventKind.ALERT,
            f"alert #{alert.id} acknowledged in {alert.source.value}: {alert.summary}",
            alert=alert.id,
            change="acknowledged",
        )
        if incident.stage.is_active:
            acknowledge_implied(
                op, incident, f"alert #{alert.id} acknowledged in {alert.source.value}"
            )
    if alert.status is AlertStatus.RESOLVED and alert.noted != AlertStatus.RESOLVED.value:
        alert.noted = AlertStatus.RESOLVED.value
        still_open = _open_count(op.session, incident.id)
        tail = (
            "; all linked alerts are resolved"
            if still_open == 0
            else f"; {still_open} linked alert{'s' if still_open > 1 else ''} still firing"
        )
        record(
            op,
            incident,
            EventKind.ALERT,
            f"alert #{alert.id} resolved: {alert.summary}{tail}",
            alert=alert.id,
            change="resolved",
            open_alerts=still_open,
        )
        touch(op, incident)


def _group(op: Op, alert: Alert) -> Incident | None:
    policy = op.policy
    service_name = alert.labels.get("service") or alert.integration.service.name
    proposal = propose(alert.labels, alert.severity_hint, service_name, policy)
    if proposal.service:
        alert.service = service(op, proposal.service)
    key = group_key(alert.labels, proposal.service, policy.alerts.group_by)
    incident = _joinable(op, key) if key else None
    if incident is None:
        if alert.status is AlertStatus.RESOLVED:
            return None
        return _open(op, alert, proposal, key)
    alert.incident_id = incident.id
    alert.noted = AlertStatus.FIRING.value
    record(
        op,
        incident,
        EventKind.ALERT,
        f"alert #{alert.id} joined from {alert.source.value}: {alert.summary}",
        alert=alert.id,
        change="joined",
        severity_hint=alert.severity_hint,
        proposed=proposal.severity.value if proposal.severity else None,
    )
    touch(op, incident)
    return incident


def _joinable(op: Op, key: str) -> Incident | None:
    """The active incident of this group whose last alert came in within the window."""
    since = op.now - op.policy.alerts.group_window
    last_alert = (
        select(func.max(Alert.first_seen_at))
        .where(Alert.incident_id == Incident.id)
        .scalar_subquery()
    )
    return op.session.scalars(
        select(Incident)
        .where(
            Incident.alert_group == key,
            Incident.stage.in_(ACTIVE_STAGES),
            func.coalesce(last_alert, Incident.detected_at) >= since,
        )
        .order_by(Incident.id.desc())
        .limit(1)
    ).first()


def _open(op: Op, alert: Alert, proposal: Proposal, key: str | None) -> Incident:
    # Detection is when the monitoring tool saw it start (never later than now): the
    # acknowledge target counts from there.
    detected = min(alert.starts_at, op.now)
    at = replace(op, at=detected)
    severity = proposal.severity
    incident = Incident(
        title=clip(" ".join(alert.summary.split()) or alert.dedup_key, TITLE_MAX),
        severity=severity,
        severity_confirmed=False,
        stage=Stage.DETECTED,
        stage_entered_at=detected,
        source=ReportSource.ALERT,
        service=alert.service,
        detected_at=detected,
        major_since=detected if severity is not None and severity.is_major else None,
        alert_group=key,
        created_at=op.now,
        updated_at=op.now,
    )
    op.session.add(incident)
    op.session.flush()
    op.touched[incident.id] = incident
    no_roles_yet(op.session, incident.id)
    alert.incident_id = incident.id
    alert.noted = AlertStatus.FIRING.value
    proposed = f", proposed {severity.value}" if severity else ""
    record(
        at,
        incident,
        EventKind.DETECTED,
        f"detected by alert #{alert.id} from {alert.source.value}: {incident.title}{proposed}",
        source=ReportSource.ALERT.value,
        alert=alert.id,
        severity=severity.value if severity else None,
        service=alert.service.name if alert.service else None,
        team=proposal.team,
        group=key,
        reasons=list(proposal.reasons) or None,
    )
    return incident


def _open_count(session: Session, incident_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.incident_id == incident_id, Alert.status == AlertStatus.FIRING)
        )
        or 0
    )


# --- closure ------------------------------------------------------------------------------


def closure_facts(session: Session, incident_id: int) -> dict[str, Any]:
    """What closure needs from linked alerts: when each started, and how many still fire."""
    rows = session.execute(
        select(Alert.starts_at, Alert.status).where(Alert.incident_id == incident_id)
    ).all()
    return {
        "alerts_fired": tuple(sorted(started for started, _ in rows)),
        "open_alerts": sum(1 for _, status in rows if status is AlertStatus.FIRING),
    }


def with_alerts(session: Session, incident_id: int, evidence: ClosureEvidence) -> ClosureEvidence:
    return replace(evidence, **closure_facts(session, incident_id))


# --- reading and moving -------------------------------------------------------------------


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
        raise BadInput(f"alert #{alert_id} is still being grouped; try again in a moment")
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
