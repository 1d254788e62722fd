"""Durable timers: reconciled with the domain's plan after every change, fired by a worker.

``settle`` runs at the end of every write, in the same transaction: the stored timers become
exactly what :func:`warroom.domain.timers.plan` asks for. ``fire`` is what happens when one
falls due; the worker calls it in the transaction that marks the timer fired, so its effects
happen once or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, or_, select

from warroom.db.models import Incident, Report, Timer, TimerState
from warroom.domain.actions import ActionSpec
from warroom.domain.durations import humanize
from warroom.domain.facts import ClosureEvidence, IncidentFacts
from warroom.domain.lifecycle import closers, unmet_closure_criteria
from warroom.domain.timefmt import utc_text
from warroom.domain.timers import SELF_MANAGED, TimerKind, plan
from warroom.domain.types import EventKind, ReportSource, Role
from warroom.services import paging, slack_sync, statuspage
from warroom.services.alerts import with_alerts
from warroom.services.incident_rows import is_new
from warroom.services.reading import COURSE_KINDS, CourseEntry, Progress, progress
from warroom.services.records import Op, add_actions, arm, record

SYSTEM_ACTOR = "warroom"
log = logging.getLogger("warroom.timers")


# Read after every write: built once. What reconciling can act on: the pending timers, and
# the planned occasions (a cancelled one is armed again; a fired one never is). The rest, a
# long incident's passed reminders, are left unread.
TIMERS_OF = select(Timer).where(
    Timer.incident_id == bindparam("incident"),
    or_(Timer.state == TimerState.PENDING, Timer.key.in_(bindparam("keys", expanding=True))),
)


def settle(op: Op) -> None:
    """Carry out the paging this write asked for, then reconcile the timers of every
    incident it touched."""
    paging.settle(op)
    statuspage.settle(op)
    slack_sync.settle(op)
    for incident in list(op.touched.values()):
        reconcile(op, incident)


def reconcile(op: Op, incident: Incident) -> None:
    # No flush of its own: the reads below flush what they need to see.
    state = progress(op.session, incident, op.policy, op.now, course=_own_course(op, incident))
    wanted = {
        (spec.kind, spec.key): spec
        for spec in plan(
            state.facts,
            op.policy,
            now=op.now,
            updates=state.schedule,
            actions=state.actions,
            major_since=incident.major_since,
        )
    }
    stored = {
        (timer.kind, timer.key): timer
        for timer in _timers_of(op, incident.id, {key for _, key in wanted})
        if timer.kind not in SELF_MANAGED
    }
    for identity, timer in stored.items():
        if timer.state is TimerState.PENDING and identity not in wanted:
            timer.state = TimerState.CANCELLED
            timer.cancelled_at = op.now
    for identity, spec in wanted.items():
        existing = stored.get(identity)
        if existing is not None and existing.state is TimerState.CANCELLED:
            # The same occurrence is wanted again (a change undone, a reopen): re-arm it.
            # Only a timer that fired is never armed twice.
            existing.state, existing.cancelled_at, existing.due_at = (
                TimerState.PENDING,
                None,
                spec.due_at,
            )
        elif existing is not None and existing.state is TimerState.PENDING:
            # Still wanted, at the time the plan says now: the policy may have changed how
            # long it waits (the key names the occasion, not always the due time).
            if existing.due_at != spec.due_at:
                existing.due_at = spec.due_at
        elif existing is None:
            arm(op, incident.id, spec.kind, spec.key, spec.due_at)


def _own_course(op: Op, incident: Incident) -> list[CourseEntry] | None:
    """An incident this write created (its detection is among this write's entries) has only
    the stage and severity entries this write recorded: they need no reading back. ``None``
    (read them) for any other."""
    if not is_new(op.session, incident.id):
        return None
    own = [event for event in op.events if event.incident_id == incident.id]
    if not any(event.kind is EventKind.DETECTED for event in own):
        return None
    return [
        (event.at, event.kind, event.data)
        for event in own
        if event.kind in COURSE_KINDS and event.origin_incident_id is None
    ]


RECONCILED = "warroom.reconciled"


def _timers_of(op: Op, incident_id: int, keys: set[str]) -> Iterable[Timer]:
    """The incident's pending timers, and those with one of ``keys`` in any state. One this
    transaction created has none until its first reconciling: only reconciling arms the
    planned timers (paging's own are not read here)."""
    reconciled: set[int] = op.session.info.setdefault(RECONCILED, set())
    first = incident_id not in reconciled
    reconciled.add(incident_id)
    if first and is_new(op.session, incident_id):
        return ()
    return op.session.scalars(TIMERS_OF, {"incident": incident_id, "keys": sorted(keys)})


@dataclass(frozen=True)
class Firing:
    op: Op
    incident: Incident
    timer: Timer
    state: Progress

    @property
    def due(self) -> str:
        return utc_text(self.timer.due_at)

    def note(self, kind: EventKind, summary: str, **data: object) -> None:
        record(self.op, self.incident, kind, summary, timer=self.timer.kind.value, **data)


def fire(op: Op, timer: Timer) -> None:
    """Record what a due timer means, on the incident's timeline and checklist."""
    fire_all(op, [timer])


def fire_all(op: Op, timers: list[Timer]) -> None:
    """Fire claimed timers. An incident is read once for all its timers, and only the
    timers whose firing moves the plan on (the next status update) re-arm anything."""
    states: dict[int, tuple[Incident, Progress]] = {}
    for timer in timers:
        if timer.incident_id not in states:
            incident = op.session.get(Incident, timer.incident_id)
            assert incident is not None
            states[incident.id] = (incident, progress(op.session, incident, op.policy, op.now))
        incident, state = states[timer.incident_id]
        log.info(
            "%s timer due %s fired",
            timer.kind.value,
            utc_text(timer.due_at),
            extra={"incident": f"INC-{incident.id}"},
        )
        HANDLERS[timer.kind](Firing(op, incident, timer, state))
        if timer.kind in REARMING:
            op.touched[incident.id] = incident
    settle(op)


# Firing these moves the incident's plan on; the others leave it as it was.
REARMING = frozenset({TimerKind.UPDATE_DUE})


def _update_due(f: Firing) -> None:
    current = f.state.facts
    owner = comms_owner(current)
    number = f.state.update_count + 1
    f.note(
        EventKind.REMINDER,
        f"status update #{number} is due ({f.due}): reminder to "
        f"{owner or 'nobody (assign a communications lead)'}",
        due_at=f.timer.due_at.isoformat(),
        owner=owner,
    )
    assert current.severity is not None
    cadence = f.op.policy.level(current.severity).update_cadence
    previous = f.timer.due_at - cadence if cadence is not None else None
    if previous is not None and previous in f.state.schedule.missed:
        f.note(
            EventKind.MISSED,
            f"the status update due at {utc_text(previous)} was not posted",
            due_at=previous.isoformat(),
        )


def _ack_target(f: Firing) -> None:
    f.note(
        EventKind.MISSED,
        f"not acknowledged by the target ({f.due})",
        due_at=f.timer.due_at.isoformat(),
    )


def _declaration_deadline(f: Firing) -> None:
    f.note(
        EventKind.MISSED,
        f"a {f.state.facts.severity} not declared by {f.due}: delayed declaration",
        due_at=f.timer.due_at.isoformat(),
    )


def _no_progress(f: Firing) -> None:
    current = f.state.facts
    _escalate(f, f"no progress: {current.stage.value} since {utc_text(current.stage_entered_at)}")


def _resolve_target(f: Firing) -> None:
    assert f.state.facts.severity is not None
    level = f.op.policy.level(f.state.facts.severity)
    text = f"unresolved past the resolve target ({f.due})"
    if level.escalate_to is not None and level.escalate_after == level.resolve_within:
        _escalate(
            f, f"{text}: propose raising to {level.escalate_to.value}", level.escalate_to.value
        )
    else:
        _escalate(f, text)


def _severity_proposal(f: Firing) -> None:
    assert f.state.facts.severity is not None
    level = f.op.policy.level(f.state.facts.severity)
    if level.escalate_to is None:  # the policy changed since the timer was armed
        f.note(EventKind.REMINDER, "a severity proposal fell due, but the policy no longer has one")
        return
    after = humanize(level.escalate_after or timedelta())
    _escalate(
        f,
        f"unresolved after {after}: propose raising to {level.escalate_to.value}",
        level.escalate_to.value,
    )


def _ready_to_close(f: Firing) -> None:
    current = f.state.facts
    unmet = unmet_closure_criteria(current, _evidence(f.op, f.incident), f.op.policy, f.op.now)
    if unmet:
        still = "; ".join(f"{r.rule}: {r.message}" for r in unmet)
        text = f"monitoring window complete, but not ready to close: {still}"
    else:
        who = ", ".join(sorted(closers(current))) or "its IC or responder"
        text = f"monitoring window complete: ready to close ({who} can close it)"
    f.note(EventKind.REMINDER, text, unmet=[r.rule for r in unmet])


def _action_due(f: Firing) -> None:
    action = next((a for a in f.state.actions if a.key == f.timer.key), None)
    title = action.title if action else f.timer.key
    f.note(EventKind.MISSED, f"overdue since {f.due}: {title}", action=f.timer.key)
    if f.timer.key == "customer-email":
        owner = comms_owner(f.state.facts)
        f.note(
            EventKind.REMINDER,
            f"the customer e-mail is overdue: reminder to "
            f"{owner or 'nobody (assign a communications lead)'} "
            f"(`warroom comms draft INC-{f.incident.id}`, then `warroom comms send`)",
            owner=owner,
        )


def _postmortem_due(f: Firing) -> None:
    f.note(
        EventKind.MISSED, f"the post-mortem was due at {f.due}", due_at=f.timer.due_at.isoformat()
    )


HANDLERS: dict[TimerKind, Callable[[Firing], None]] = {
    TimerKind.UPDATE_DUE: _update_due,
    TimerKind.ACK_TARGET: _ack_target,
    TimerKind.DECLARATION_DEADLINE: _declaration_deadline,
    TimerKind.NO_PROGRESS: _no_progress,
    TimerKind.RESOLVE_TARGET: _resolve_target,
    TimerKind.SEVERITY_PROPOSAL: _severity_proposal,
    TimerKind.READY_TO_CLOSE: _ready_to_close,
    TimerKind.ACTION_DUE: _action_due,
    TimerKind.POSTMORTEM_DUE: _postmortem_due,
    TimerKind.PAGE_TIER: lambda f: paging.tier_timed_out(f.op, f.incident, f.timer),
}


def _escalate(f: Firing, text: str, proposal: str | None = None) -> None:
    """An escalation event, and the `escalate` action: paging pages the next tier for it."""
    add_actions(
        f.op, f.incident, [ActionSpec("escalate", "Page the next escalation tier")], again=True
    )
    f.note(EventKind.ESCALATED, f"escalated: {text}", trigger=f.timer.kind.value, proposal=proposal)


def comms_owner(incident: IncidentFacts) -> str | None:
    """Who gets the update reminder: the communications lead, else the IC, else the responder."""
    for role in (Role.COMMS, Role.IC, Role.RESPONDER):
        holders = incident.roles.get(role, ())
        if holders:
            return holders[0]
    return None


def _evidence(op: Op, incident: Incident) -> ClosureEvidence:
    reports = op.session.scalars(
        select(Report.at).where(
            Report.incident_id == incident.id, Report.source == ReportSource.CUSTOMER
        )
    )
    return with_alerts(op.session, incident.id, ClosureEvidence(customer_reports=tuple(reports)))
