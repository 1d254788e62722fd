"""Declaration and severity changes (product.md §3): the moves that run a level's policy.

Declaring assigns the Incident Commander, names the channel, prepares the initial status and
queues the level's actions; a severity change may declare, and re-runs or cancels the
level's notifications.
"""

from __future__ import annotations

from sqlalchemy import select

from warroom.db.models import Incident
from warroom.domain.actions import declaration_actions, notification_actions
from warroom.domain.channel import channel_name
from warroom.domain.errors import BadInput, Refused
from warroom.domain.lifecycle import transition
from warroom.domain.reclassify import reclassify
from warroom.domain.types import EventKind, Move, Role, Severity
from warroom.services import executives, oncall, paging_targets
from warroom.services.lifecycle import (
    apply_outcome,
    default_responder,
    report,
    request_for,
    summarise,
    track_major_since,
)
from warroom.services.records import (
    Op,
    add_actions,
    assign,
    cancel_actions,
    enter_stages,
    facts,
    load,
    record,
)


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
    if severity is not None and incident.severity_confirmed and severity is not incident.severity:
        raise BadInput(
            f"INC-{number} is {incident.severity}: change its severity first, with a reason "
            f"(`warroom severity INC-{number} {severity.value} --reason TEXT`)"
        )
    outcome = transition(
        facts(op.session, incident), request_for(op, Move.DECLARE, severity=severity), op.policy
    )
    incident.severity_confirmed = True
    apply_outcome(op, incident, outcome, f"declared {outcome.severity}: {summarise(outcome)}")
    _declaration_effects(op, incident, ic)
    return incident


def on_call_primary(op: Op, incident: Incident) -> str | None:
    team = paging_targets.team_of(op.session, incident)
    return oncall.on_call(op.session, team, "primary", op.at) if team is not None else None


def _declaration_effects(op: Op, incident: Incident, ic: str | None) -> None:
    """Assign the IC, name the channel, prepare the initial status, queue the level's actions."""
    assert incident.severity is not None
    incident.declared_at = incident.declared_at or op.at
    level = op.policy.level(incident.severity)
    current = facts(op.session, incident)
    if incident.severity.is_major and (ic or current.ic is None):
        # product.md §3: --ic, else the on-call primary of the service's team, else the
        # declarer.
        assign(op, incident, Role.IC, ic or on_call_primary(op, incident) or op.actor)
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
    executives.queue(op, incident, actions)
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
    default_responder(op, incident)


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


def change_severity(op: Op, number: int, new: Severity, reason: str) -> Incident:
    incident = load(op, number)
    change = reclassify(facts(op.session, incident), new, reason=reason, at=op.at)
    before = incident.stage
    incident.severity = new
    incident.severity_confirmed = True
    op.regraded.add(incident.id)
    track_major_since(incident, op)
    if change.old.is_major and not new.is_major and incident.declared_at is not None:
        incident.customer_visible = True  # it was on the status page; it stays there
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
    if change.declares or (new.is_major and not change.old.is_major):
        # Becoming SEV0/SEV1 always means an IC, a channel and the level's actions, even for
        # a SEV2 that had been declared already.
        _declaration_effects(op, incident, None)
    elif change.raised and incident.declared_at is not None:
        added = add_actions(op, incident, declaration_actions(current, new, op.policy, op.at, None))
        executives.queue(op, incident, added)
    elif change.raised:
        # An undeclared incident raised (a SEV3 from the backlog to SEV2): the new level's
        # notifications, as triaging it at that level would have asked for.
        add_actions(op, incident, notification_actions(current, new, op.policy, op.at))
    if not change.raised:
        keep = {a.key for a in notification_actions(current, new, op.policy, op.at)}
        keep |= NON_NOTIFICATION_KEYS
        cancel_actions(op, incident, keep=keep)
    default_responder(op, incident)
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
