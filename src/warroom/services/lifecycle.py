"""Stage moves and the facts that drive them (product.md §3).

Every move goes through :func:`warroom.domain.lifecycle.transition`; this module only loads
what the rules need and writes down what they decided: the stage, its timestamps, the
timeline entry and the pending actions, in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from warroom.db.alert_models import Alert
from warroom.db.models import Incident, Report, RoleAssignment, TimelineEvent
from warroom.domain.actions import closure_actions, notification_actions
from warroom.domain.errors import BadInput, Refused
from warroom.domain.facts import ClosureEvidence
from warroom.domain.lifecycle import MoveRequest, Outcome, transition
from warroom.domain.timefmt import utc_text
from warroom.domain.types import (
    DismissReason,
    EventKind,
    MitigationKind,
    Move,
    ReportSource,
    Role,
    Severity,
    Stage,
)
from warroom.services.alerts import with_alerts
from warroom.services.incident_rows import created
from warroom.services.records import (
    Op,
    acknowledge_implied,
    add_actions,
    assign,
    cancel_actions,
    enter_stages,
    facts,
    load,
    person,
    record,
    service,
    touch,
)

TITLE_MAX = 300
# What a closure queued; a reopen cancels what has not happened yet.
CLOSURE_KEYS = {
    "announce-resolution",
    "status-page-resolved",
    "customer-email",
    "schedule-postmortem",
}


def _title(text: str) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise BadInput("the title is empty: say in a few words what is broken")
    if len(cleaned) > TITLE_MAX:
        raise BadInput(f"the title is {len(cleaned)} characters long; keep it under {TITLE_MAX}")
    return cleaned


def report(
    op: Op,
    title: str,
    *,
    source: ReportSource = ReportSource.INTERNAL,
    service_name: str | None = None,
    severity: Severity | None = None,
) -> Incident:
    """Record a detection: a new incident in ``detected``, carrying a proposed severity."""
    title = _title(title)
    incident = Incident(
        title=title,
        severity=severity,
        severity_confirmed=False,
        stage=Stage.DETECTED,
        stage_entered_at=op.at,
        source=source,
        service=service(op, service_name) if service_name else None,
        detected_at=op.at,
        major_since=op.at if severity is not None and severity.is_major else None,
        created_at=op.now,
        updated_at=op.now,
    )
    op.session.add(incident)
    op.session.flush()
    op.touched[incident.id] = incident
    created(op.session, incident.id)
    reporter = person(op, op.actor)
    op.session.add(
        Report(
            incident_id=incident.id, at=op.at, source=source, title=title, reporter_id=reporter.id
        )
    )
    proposal = f", proposed {severity.value}" if severity else ""
    record(
        op,
        incident,
        EventKind.DETECTED,
        f"detected by {source.value} report: {title}{proposal}",
        source=source.value,
        severity=severity.value if severity else None,
        service=service_name,
    )
    return incident


def customer_report(op: Op, number: int, title: str, *, source: ReportSource) -> Incident:
    """A further report on an existing incident. A customer report in the monitoring window
    blocks closure."""
    incident = load(op, number)
    if incident.merged_into_id is not None:
        # Its reports moved to the survivor at the merge; a new one there would not hold up
        # the survivor's closure.
        raise Refused(
            "merged-incident",
            f"INC-{number} was merged into INC-{incident.merged_into_id}: "
            "a report on it would not reach the incident being worked",
            hint=f"Report it on INC-{incident.merged_into_id}.",
        )
    title = _title(title)
    op.session.add(
        Report(
            incident_id=incident.id,
            at=op.at,
            source=source,
            title=title,
            reporter_id=person(op, op.actor).id,
        )
    )
    record(op, incident, EventKind.REPORTED, f"{source.value} report: {title}", source=source.value)
    return incident


def acknowledge(op: Op, number: int) -> tuple[Incident, bool]:
    incident = load(op, number)
    if incident.acknowledged_at is not None:
        if incident.stage.is_active:
            op.acknowledging[incident.id] = incident  # its open pages stop all the same
        return incident, False
    if not incident.stage.is_active:
        raise Refused(
            "illegal-move",
            f"INC-{number} is {incident.stage.value}: there is nothing to acknowledge",
            hint="Reopen it if it is happening again.",
        )
    incident.acknowledged_at = op.at
    incident.acknowledged_by = person(op, op.actor)
    op.acknowledging[incident.id] = incident
    record(op, incident, EventKind.ACKNOWLEDGED, f"acknowledged by {op.actor}")
    touch(op, incident)
    default_responder(op, incident)
    return incident, True


def default_responder(op: Op, incident: Incident) -> None:
    """A SEV2 (or a ticket) is worked by one responder: whoever acknowledged or triaged it."""
    if incident.severity is None or incident.severity.is_major:
        return
    if facts(op.session, incident).responder is not None:
        return
    who = incident.acknowledged_by.handle if incident.acknowledged_by else op.actor
    assign(op, incident, Role.RESPONDER, who)


def request_for(op: Op, move: Move, **fields: object) -> MoveRequest:
    return MoveRequest(move=move, at=op.at, actor=op.actor, **fields)  # type: ignore[arg-type]


def apply_outcome(
    op: Op, incident: Incident, outcome: Outcome, summary: str, **data: object
) -> None:
    before = incident.stage
    if outcome.severity is not None and outcome.severity is not incident.severity:
        incident.severity = outcome.severity
        op.regraded.add(incident.id)
    enter_stages(op, incident, outcome.entered, outcome.stage)
    # Leaving detection classifies it: the severity triage settles is the one it had from
    # the start (product.md §3: not a reclassification), so its clock runs from detection.
    track_major_since(incident, op, classified=before is Stage.DETECTED)
    record(
        op,
        incident,
        EventKind.STAGE,
        summary,
        move=outcome.move.value,
        **{"from": before.value},
        to=outcome.stage.value,
        entered=[s.value for s in outcome.entered],
        **data,
    )
    acknowledge_implied(op, incident, f"{outcome.move.value}")


def track_major_since(incident: Incident, op: Op, *, classified: bool = False) -> None:
    """The delayed-declaration clock runs from when the incident became SEV0/SEV1 (from its
    detection when the write ``classified`` it: triage), and stops when it is no longer one."""
    if incident.severity is not None and incident.severity.is_major:
        started = incident.detected_at if classified else op.at
        incident.major_since = incident.major_since or started
    else:
        incident.major_since = None


def move(op: Op, number: int, which: Move, *, performed_by: str | None = None) -> Incident:
    """The plain stage moves: investigate, resolve, monitor."""
    incident = load(op, number)
    outcome = transition(facts(op.session, incident), request_for(op, which), op.policy)
    data: dict[str, object] = {}
    if which is Move.INVESTIGATE:
        data = _hands_on(op, incident, performed_by)
    apply_outcome(op, incident, outcome, summarise(outcome), **data)
    return incident


def _hands_on(op: Op, incident: Incident, performed_by: str | None) -> dict[str, object]:
    """Who did the work, and who was IC then: the IC-debugging anti-pattern reads both."""
    performer = person(op, performed_by).handle if performed_by else op.actor
    return {"performed_by": performer, "ic": facts(op.session, incident).ic}


def summarise(outcome: Outcome) -> str:
    if outcome.source is outcome.stage:
        return f"{outcome.move.value} (stays {outcome.stage.value})"
    return f"{outcome.source.value} → {' → '.join(s.value for s in outcome.entered)}"


def triage(
    op: Op, number: int, severity: Severity | None, *, reasons: list[str] | None = None
) -> Incident:
    incident = load(op, number)
    proposed = incident.severity
    outcome = transition(
        facts(op.session, incident), request_for(op, Move.TRIAGE, severity=severity), op.policy
    )
    incident.severity_confirmed = True
    changed = proposed is not None and outcome.severity is not proposed
    note = f" (proposed {proposed.value})" if changed and proposed else ""
    apply_outcome(
        op,
        incident,
        outcome,
        f"triaged as {outcome.severity}{note}: {summarise(outcome)}",
        severity=str(outcome.severity),
        proposed=proposed.value if proposed else None,
        reasons=reasons,
    )
    default_responder(op, incident)
    if outcome.severity is Severity.SEV2:
        add_actions(
            op,
            incident,
            notification_actions(facts(op.session, incident), Severity.SEV2, op.policy, op.at),
        )
    return incident


def mitigate(
    op: Op,
    number: int,
    kind: MitigationKind,
    *,
    note: str | None = None,
    permanent: bool = False,
    performed_by: str | None = None,
) -> Incident:
    incident = load(op, number)
    outcome = transition(
        facts(op.session, incident), request_for(op, Move.MITIGATE, permanent=permanent), op.policy
    )
    what = f"mitigation deployed: {kind.value}" + (f" ({note})" if note else "")
    if permanent:
        what += "; permanent, so also the resolution"
    apply_outcome(
        op,
        incident,
        outcome,
        what,
        action=kind.value,
        note=note,
        permanent=permanent or None,
        **_hands_on(op, incident, performed_by),
    )
    return incident


def close(op: Op, number: int) -> Incident:
    incident = load(op, number)
    current = facts(op.session, incident)
    evidence = with_alerts(
        op.session, incident.id, ClosureEvidence(customer_reports=_customer_reports(op, incident))
    )
    outcome = transition(current, request_for(op, Move.CLOSE, evidence=evidence), op.policy)
    if incident.stage is Stage.BACKLOG:
        apply_outcome(op, incident, outcome, "ticket closed")
        return incident
    thanks = _responders(op, incident)
    resolved = f"Incident resolved at {utc_text(op.at)}"
    apply_outcome(
        op,
        incident,
        outcome,
        f"{resolved}. Thanks to {', '.join(thanks) or 'the responders'}.",
        resolved_at=op.at.isoformat(),
        thanks=thanks,
    )
    specs = closure_actions(facts(op.session, incident), op.policy, op.at, thanks)
    add_actions(op, incident, specs, again=True)
    return incident


def _customer_reports(op: Op, incident: Incident) -> tuple[datetime, ...]:
    return tuple(
        op.session.scalars(
            select(Report.at).where(
                Report.incident_id == incident.id, Report.source == ReportSource.CUSTOMER
            )
        )
    )


def _responders(op: Op, incident: Incident) -> list[str]:
    """Everyone who held a role, in the order they joined."""
    rows = op.session.scalars(
        select(RoleAssignment)
        .where(RoleAssignment.incident_id == incident.id)
        .order_by(RoleAssignment.assigned_at, RoleAssignment.id)
    )
    return list(dict.fromkeys(row.person.handle for row in rows))


def reopen(op: Op, number: int, reason: str) -> Incident:
    incident = load(op, number)
    outcome = transition(
        facts(op.session, incident), request_for(op, Move.REOPEN, reason=reason), op.policy
    )
    was_dismissed = incident.dismissed_reason
    incident.dismissed_reason = None
    cancel_actions(op, incident, only=CLOSURE_KEYS)
    apply_outcome(
        op, incident, outcome, f"reopened: {reason}", reason=reason, was_dismissed=was_dismissed
    )
    return incident


def dismiss(op: Op, number: int, reason: DismissReason) -> Incident:
    incident = load(op, number)
    outcome = transition(
        facts(op.session, incident), request_for(op, Move.DISMISS, reason=reason.value), op.policy
    )
    incident.dismissed_reason = reason
    cancelled = cancel_actions(op, incident)
    apply_outcome(
        op,
        incident,
        outcome,
        f"dismissed as {reason.value}; excluded from metrics, no post-mortem",
        reason=reason.value,
        cancelled=cancelled or None,
    )
    return incident


def merge(op: Op, number: int, into: int) -> Incident:
    incident = load(op, number)
    target = load(op, into)
    outcome = transition(
        facts(op.session, incident),
        request_for(op, Move.MERGE, merge_target=facts(op.session, target)),
        op.policy,
    )
    incident.merged_into_id = target.id
    cancel_actions(op, incident)
    moved = op.session.scalars(select(Report).where(Report.incident_id == incident.id)).all()
    for row in moved:
        row.incident_id = target.id
    alerts = op.session.scalars(select(Alert).where(Alert.incident_id == incident.id)).all()
    for alert in alerts:
        alert.incident_id = target.id
    apply_outcome(
        op,
        incident,
        outcome,
        f"merged into INC-{target.id} as a duplicate",
        into=f"INC-{target.id}",
    )
    op.session.flush()
    _copy_timeline(op, incident, target)
    record(
        op,
        target,
        EventKind.MERGED,
        f"INC-{incident.id} merged into this incident "
        f"({len(moved)} report(s) and {len(alerts)} alert(s) moved)",
        merged=f"INC-{incident.id}",
    )
    touch(op, target)
    return incident


def _copy_timeline(op: Op, source: Incident, target: Incident) -> None:
    """The duplicate's history joins the survivor's timeline; the original rows stay put."""
    events = op.session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == source.id)
        .order_by(TimelineEvent.id)
    ).all()
    for event in events:
        op.session.add(
            TimelineEvent(
                incident_id=target.id,
                at=event.at,
                recorded_at=op.now,
                kind=event.kind,
                actor_id=event.actor_id,
                summary=f"[from INC-{source.id}] {event.summary}",
                data=event.data,
                origin_incident_id=event.origin_incident_id or source.id,
            )
        )


def postmortem(op: Op, number: int, doc: str | None) -> Incident:
    incident = load(op, number)
    outcome = transition(facts(op.session, incident), request_for(op, Move.POSTMORTEM), op.policy)
    if doc:
        incident.postmortem_doc = doc
    apply_outcome(
        op, incident, outcome, "post-mortem complete" + (f": {doc}" if doc else ""), doc=doc
    )
    return incident


def record_refusal(op: Op, number: int, refused: Refused, attempted: str) -> None:
    """A refused move is itself a fact: premature closure attempts are evidence (§3, §5)."""
    incident = op.session.get(Incident, number)
    if incident is None:
        return
    record(
        op,
        incident,
        EventKind.REFUSED,
        f"{attempted} refused [{refused.rule}]: {refused.message}",
        rule=refused.rule,
        attempted=attempted,
        hint=refused.hint,
    )
