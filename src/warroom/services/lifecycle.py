"""Stage moves and the facts that drive them (product.md §3).

Every move goes through :func:`warroom.domain.lifecycle.transition`; this module only loads
what the rules need and writes down what they decided: the stage, its timestamps, the
timeline entry and the pending actions, in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from warroom.db.models import Incident, Report, RoleAssignment, TimelineEvent
from warroom.domain.actions import closure_actions, declaration_actions, notification_actions
from warroom.domain.channel import channel_name
from warroom.domain.errors import BadInput, Refused
from warroom.domain.facts import ClosureEvidence
from warroom.domain.lifecycle import MoveRequest, Outcome, transition
from warroom.domain.reclassify import reclassify
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
        return incident, False
    if not incident.stage.is_active:
        raise Refused(
            "illegal-move",
            f"INC-{number} is {incident.stage.value}: there is nothing to acknowledge",
            hint="Reopen it if it is happening again.",
        )
    incident.acknowledged_at = op.at
    incident.acknowledged_by = person(op, op.actor)
    record(op, incident, EventKind.ACKNOWLEDGED, f"acknowledged by {op.actor}")
    touch(op, incident)
    _default_responder(op, incident)
    return incident, True


def _default_responder(op: Op, incident: Incident) -> None:
    """A SEV2 (or a ticket) is worked by one responder: whoever acknowledged or triaged it."""
    if incident.severity is None or incident.severity.is_major:
        return
    if facts(op.session, incident).responder is not None:
        return
    who = incident.acknowledged_by.handle if incident.acknowledged_by else op.actor
    assign(op, incident, Role.RESPONDER, who)


def _request(op: Op, move: Move, **fields: object) -> MoveRequest:
    return MoveRequest(move=move, at=op.at, actor=op.actor, **fields)  # type: ignore[arg-type]


def _apply(op: Op, incident: Incident, outcome: Outcome, summary: str, **data: object) -> None:
    before = incident.stage
    if outcome.severity is not None and outcome.severity is not incident.severity:
        incident.severity = outcome.severity
    enter_stages(op, incident, outcome.entered, outcome.stage)
    if (
        incident.severity is not None
        and incident.severity.is_major
        and incident.major_since is None
    ):
        incident.major_since = op.at
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


def move(op: Op, number: int, which: Move, *, performed_by: str | None = None) -> Incident:
    """The plain stage moves: investigate, resolve, monitor."""
    incident = load(op, number)
    outcome = transition(facts(op.session, incident), _request(op, which), op.policy)
    data: dict[str, object] = {}
    if which is Move.INVESTIGATE:
        data = _hands_on(op, incident, performed_by)
    _apply(op, incident, outcome, _summary(outcome), **data)
    return incident


def _hands_on(op: Op, incident: Incident, performed_by: str | None) -> dict[str, object]:
    """Who did the work, and who was IC then: the IC-debugging anti-pattern reads both."""
    performer = person(op, performed_by).handle if performed_by else op.actor
    return {"performed_by": performer, "ic": facts(op.session, incident).ic}


def _summary(outcome: Outcome) -> str:
    if outcome.source is outcome.stage:
        return f"{outcome.move.value} (stays {outcome.stage.value})"
    return f"{outcome.source.value} → {' → '.join(s.value for s in outcome.entered)}"


def triage(
    op: Op, number: int, severity: Severity | None, *, reasons: list[str] | None = None
) -> Incident:
    incident = load(op, number)
    proposed = incident.severity
    outcome = transition(
        facts(op.session, incident), _request(op, Move.TRIAGE, severity=severity), op.policy
    )
    incident.severity_confirmed = True
    changed = proposed is not None and outcome.severity is not proposed
    note = f" (proposed {proposed.value})" if changed and proposed else ""
    _apply(
        op,
        incident,
        outcome,
        f"triaged as {outcome.severity}{note}: {_summary(outcome)}",
        severity=str(outcome.severity),
        proposed=proposed.value if proposed else None,
        reasons=reasons,
    )
    _default_responder(op, incident)
    if outcome.severity is Severity.SEV2:
        add_actions(
            op,
            incident,
            notification_actions(facts(op.session, incident), Severity.SEV2, op.policy, op.at),
        )
    return incident


def declare_new(
    op: Op,
    severity: Severity,
    title: str,
    *,
    ic: str | None = None,
    service_name: str | None = None,
) -> Incident:
    """``warroom declare SEVn "title"``: detected, acknowledged, triaged and declared at once."""
    if severity is Severity.SEV3:
        raise Refused(
            "sev3-is-a-ticket",
            "a SEV3 is a low-impact ticket and is never declared",
            hint='Record it with `warroom report "title"` and triage it as SEV3: '
            "it goes to the backlog.",
        )
    incident = report(op, title, service_name=service_name, severity=severity)
    return declare(op, incident.id, severity, ic=ic)


def declare(
    op: Op, number: int, severity: Severity | None = None, *, ic: str | None = None
) -> Incident:
    incident = load(op, number)
    outcome = transition(
        facts(op.session, incident), _request(op, Move.DECLARE, severity=severity), op.policy
    )
    incident.severity_confirmed = True
    _apply(op, incident, outcome, f"declared {outcome.severity}: {_summary(outcome)}")
    _declaration_effects(op, incident, ic)
    return incident


def _declaration_effects(op: Op, incident: Incident, ic: str | None) -> None:
    """Assign the IC, name the channel, prepare the initial status, queue the level's actions."""
    assert incident.severity is not None
    incident.declared_at = incident.declared_at or op.at
    level = op.policy.level(incident.severity)
    current = facts(op.session, incident)
    if incident.severity.is_major and (ic or current.ic is None):
        assign(op, incident, Role.IC, ic or op.actor)
    elif ic:
        assign(op, incident, Role.IC, ic)
    if level.incident_channel and incident.channel_name is None:
        incident.channel_name = _unique_channel(op, incident)
    current = facts(op.session, incident)
    actions = add_actions(
        op,
        incident,
        declaration_actions(current, incident.severity, op.policy, op.at, incident.channel_name),
    )
    initial = _initial_status(incident, current.ic)
    for action in actions:
        if action.key == "initial-status":
            action.note = initial
    record(
        op,
        incident,
        EventKind.DECLARED,
        f"declared {incident.severity.value}; IC {current.ic or 'none (single responder)'}"
        + (f"; channel #{incident.channel_name}" if incident.channel_name else ""),
        severity=incident.severity.value,
        ic=current.ic,
        channel=incident.channel_name,
        initial_status=initial,
    )
    _default_responder(op, incident)


def _initial_status(incident: Incident, ic: str | None) -> str:
    who = f"IC: {ic}" if ic else "Responder-led (no IC)"
    return f"{incident.severity} declared: {incident.title}. {who}. Status: Investigating."


def _unique_channel(op: Op, incident: Incident) -> str:
    assert incident.declared_at is not None
    for suffix in range(1, 1000):
        name = channel_name(incident.title, incident.declared_at, suffix=suffix)
        taken = op.session.scalar(select(Incident.id).where(Incident.channel_name == name))
        if taken is None or taken == incident.id:
            return name
    raise BadInput("too many incidents share this title today: choose a more specific title")


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
        facts(op.session, incident), _request(op, Move.MITIGATE, permanent=permanent), op.policy
    )
    what = f"mitigation deployed: {kind.value}" + (f" ({note})" if note else "")
    if permanent:
        what += "; permanent, so also the resolution"
    _apply(
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
    evidence = ClosureEvidence(customer_reports=_customer_reports(op, incident))
    outcome = transition(current, _request(op, Move.CLOSE, evidence=evidence), op.policy)
    if incident.stage is Stage.BACKLOG:
        _apply(op, incident, outcome, "ticket closed")
        return incident
    thanks = _responders(op, incident)
    resolved = f"Incident resolved at {utc_text(op.at)}"
    _apply(
        op,
        incident,
        outcome,
        f"{resolved}. Thanks to {', '.join(thanks) or 'the responders'}.",
        resolved_at=op.at.isoformat(),
        thanks=thanks,
    )
    add_actions(
        op, incident, closure_actions(facts(op.session, incident), op.policy, op.at, thanks)
    )
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
        facts(op.session, incident), _request(op, Move.REOPEN, reason=reason), op.policy
    )
    was_dismissed = incident.dismissed_reason
    incident.dismissed_reason = None
    _apply(op, incident, outcome, f"reopened: {reason}", reason=reason, was_dismissed=was_dismissed)
    return incident


def dismiss(op: Op, number: int, reason: DismissReason) -> Incident:
    incident = load(op, number)
    outcome = transition(
        facts(op.session, incident), _request(op, Move.DISMISS, reason=reason.value), op.policy
    )
    incident.dismissed_reason = reason
    cancelled = cancel_actions(op, incident)
    _apply(
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
        _request(op, Move.MERGE, merge_target=facts(op.session, target)),
        op.policy,
    )
    incident.merged_into_id = target.id
    cancel_actions(op, incident)
    moved = op.session.scalars(select(Report).where(Report.incident_id == incident.id)).all()
    for row in moved:
        row.incident_id = target.id
    _apply(
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
        f"INC-{incident.id} merged into this incident ({len(moved)} report(s) moved)",
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
    outcome = transition(facts(op.session, incident), _request(op, Move.POSTMORTEM), op.policy)
    if doc:
        incident.postmortem_doc = doc
    _apply(op, incident, outcome, "post-mortem complete" + (f": {doc}" if doc else ""), doc=doc)
    return incident


def change_severity(op: Op, number: int, new: Severity, reason: str) -> Incident:
    incident = load(op, number)
    change = reclassify(facts(op.session, incident), new, reason=reason, at=op.at)
    before = incident.stage
    incident.severity = new
    incident.severity_confirmed = True
    if new.is_major and incident.major_since is None:
        incident.major_since = op.at
    enter_stages(op, incident, change.entered, change.stage)
    direction = "raised" if change.raised else "lowered"
    record(
        op,
        incident,
        EventKind.SEVERITY,
        f"severity {direction} {change.old.value} → {new.value}: {reason}",
        **{"from": change.old.value},
        to=new.value,
        reason=reason,
        stage_from=before.value if before is not change.stage else None,
        stage_to=change.stage.value if before is not change.stage else None,
    )
    current = facts(op.session, incident)
    if change.declares:
        _declaration_effects(op, incident, None)
    elif change.raised and incident.declared_at is not None:
        add_actions(op, incident, notification_actions(current, new, op.policy, op.at))
    if not change.raised:
        keep = {a.key for a in notification_actions(current, new, op.policy, op.at)}
        keep |= NON_NOTIFICATION_KEYS
        cancel_actions(op, incident, keep=keep)
    _default_responder(op, incident)
    return incident


# Lowering a severity cancels the old level's notifications, never the work already asked for.
NON_NOTIFICATION_KEYS = {
    "incident-channel",
    "initial-status",
    "status-page",
    "status-page-resolved",
    "announce-resolution",
    "customer-email",
    "schedule-postmortem",
}


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
