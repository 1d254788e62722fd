"""Which timers an incident needs now: the durable projection of its schedule (§1, §3, §4).

The planner is pure. After every change the services reconcile the stored timers with
:func:`plan`: timers no longer wanted are cancelled, new ones armed. Each timer's ``key``
names one occurrence (a due time, or the moment a stage began), so a timer that fired is
never armed again for the same occurrence, and progress re-arms it with a new key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from warroom.domain.actions import postmortem_due
from warroom.domain.checklist import StoredAction
from warroom.domain.facts import IncidentFacts
from warroom.domain.policy import Policy, PostmortemRule
from warroom.domain.types import Stage
from warroom.domain.updates import UpdateSchedule


class TimerKind(StrEnum):
    UPDATE_DUE = "update-due"
    ACK_TARGET = "ack-target"
    DECLARATION_DEADLINE = "declaration-deadline"
    NO_PROGRESS = "no-progress"
    RESOLVE_TARGET = "resolve-target"
    SEVERITY_PROPOSAL = "severity-proposal"
    READY_TO_CLOSE = "ready-to-close"
    ACTION_DUE = "action-due"
    POSTMORTEM_DUE = "postmortem-due"
    # A page's tier went unacknowledged for its timeout: page the next tier. Armed by paging
    # itself (one per tier paged), never by the plan below.
    PAGE_TIER = "page-tier"


# Timers that the incident's plan does not own: reconciling leaves them alone.
SELF_MANAGED = frozenset({TimerKind.PAGE_TIER})


NO_PROGRESS_STAGES = frozenset({Stage.DECLARED, Stage.INVESTIGATING})


@dataclass(frozen=True)
class TimerSpec:
    kind: TimerKind
    key: str
    due_at: datetime


def _key(moment: datetime) -> str:
    return moment.isoformat()


def plan(
    incident: IncidentFacts,
    policy: Policy,
    *,
    now: datetime,
    updates: UpdateSchedule,
    actions: Sequence[StoredAction],
    major_since: datetime | None,
) -> list[TimerSpec]:
    if incident.severity is None or incident.dismissed or incident.merged_into is not None:
        return []
    level = policy.level(incident.severity)
    specs: list[TimerSpec] = []
    specs += _update_reminders(incident, policy, updates, now)
    if incident.stage.is_active:
        if incident.acknowledged_at is None and level.acknowledge_within is not None:
            due = incident.detected_at + level.acknowledge_within
            specs.append(TimerSpec(TimerKind.ACK_TARGET, _key(due), due))
        if incident.severity.is_major and not incident.declared and major_since is not None:
            due = major_since + policy.lifecycle.declaration_delay
            specs.append(TimerSpec(TimerKind.DECLARATION_DEADLINE, _key(due), due))
        if incident.severity.is_major and incident.stage in NO_PROGRESS_STAGES:
            due = incident.stage_entered_at + policy.lifecycle.no_progress_escalation
            specs.append(TimerSpec(TimerKind.NO_PROGRESS, _key(incident.stage_entered_at), due))
        specs += _escalations(incident, policy)
        if incident.stage is Stage.MONITORING:
            due = incident.stage_entered_at + policy.lifecycle.monitoring_window
            specs.append(TimerSpec(TimerKind.READY_TO_CLOSE, _key(incident.stage_entered_at), due))
    for action in actions:
        if action.due_at is not None and action.done_at is None and not action.cancelled:
            specs.append(TimerSpec(TimerKind.ACTION_DUE, action.key, action.due_at))
    if incident.stage is Stage.CLOSED and level.postmortem is PostmortemRule.MANDATORY:
        deadline = postmortem_due(incident, policy)
        if deadline is not None:
            specs.append(TimerSpec(TimerKind.POSTMORTEM_DUE, _key(deadline), deadline))
    return specs


RESOLVED_STAGES = frozenset({Stage.RESOLVED, Stage.MONITORING})


def _escalations(incident: IncidentFacts, policy: Policy) -> list[TimerSpec]:
    """The resolve target passed, and the time-based severity proposal. When both fall at the
    same time (SEV1 at 4 h) they are one event: the resolve-target timer carries the proposal.
    Only while unresolved: an incident that fell back from resolved or monitoring (unstable
    again, or reopened) is unresolved again, and its target applies again."""
    if incident.stage in RESOLVED_STAGES:
        return []
    assert incident.severity is not None
    level = policy.level(incident.severity)
    specs = []
    resolve_due = (
        incident.detected_at + level.resolve_within if level.resolve_within is not None else None
    )
    if resolve_due is not None:
        specs.append(
            TimerSpec(
                TimerKind.RESOLVE_TARGET, f"{incident.severity}:{_key(resolve_due)}", resolve_due
            )
        )
    if level.escalate_after is not None and level.escalate_to is not None:
        propose_due = incident.detected_at + level.escalate_after
        if propose_due != resolve_due:
            key = f"{incident.severity}:{_key(propose_due)}"
            specs.append(TimerSpec(TimerKind.SEVERITY_PROPOSAL, key, propose_due))
    return specs


def _update_reminders(
    incident: IncidentFacts, policy: Policy, updates: UpdateSchedule, now: datetime
) -> list[TimerSpec]:
    """The latest due time already passed (if its reminder has not gone out yet, it goes now)
    and the next one to come. With a cadence, missed slots keep recurring every cadence."""
    if updates.next_due is None or incident.severity is None:
        return []
    cadence: timedelta | None = policy.level(incident.severity).update_cadence
    due = updates.next_due
    if cadence is None or incident.declared_at is None:
        slots = [due]
        if updates.missed:
            slots.append(updates.missed[-1])
    else:
        passed = max(0, (now - due) // cadence + 1) if due <= now else 0
        latest_passed = due + (passed - 1) * cadence if passed else None
        upcoming = due + passed * cadence
        slots = [upcoming] + ([latest_passed] if latest_passed is not None else [])
    return [TimerSpec(TimerKind.UPDATE_DUE, _key(slot), slot) for slot in slots]
