"""Status updates (product.md §4): the template, the default status per stage, and the cadence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from warroom.domain.errors import Refused
from warroom.domain.facts import IncidentFacts
from warroom.domain.policy import Policy
from warroom.domain.timefmt import utc_text
from warroom.domain.types import PublicStatus, Severity, Stage, UpdateStatus

DEFAULT_STATUS: dict[Stage, UpdateStatus] = {
    Stage.DETECTED: UpdateStatus.INVESTIGATING,
    Stage.TRIAGED: UpdateStatus.INVESTIGATING,
    Stage.DECLARED: UpdateStatus.INVESTIGATING,
    Stage.INVESTIGATING: UpdateStatus.INVESTIGATING,
    Stage.MITIGATED: UpdateStatus.IDENTIFIED,
    Stage.RESOLVED: UpdateStatus.MONITORING,
    Stage.MONITORING: UpdateStatus.MONITORING,
}

PUBLIC_STATUS: dict[Stage, PublicStatus] = {
    Stage.DECLARED: PublicStatus.INVESTIGATING,
    Stage.INVESTIGATING: PublicStatus.INVESTIGATING,
    Stage.MITIGATED: PublicStatus.IDENTIFIED,
    Stage.RESOLVED: PublicStatus.MONITORING,
    Stage.MONITORING: PublicStatus.MONITORING,
    Stage.CLOSED: PublicStatus.RESOLVED,
    Stage.POSTMORTEM_COMPLETE: PublicStatus.RESOLVED,
}

NEXT_MILESTONE = "at the next milestone"


@dataclass(frozen=True)
class UpdateText:
    issue: str
    impact: str
    progress: str
    next_steps: str
    eta: str = "Unknown"


def check_update_allowed(incident: IncidentFacts) -> None:
    if incident.severity is Severity.SEV3:
        raise Refused(
            "updates-not-applicable",
            f"{incident.label} is a SEV3 ticket: tickets take no status updates",
            hint="Add a note instead, or raise its severity if customers are affected.",
        )
    if not incident.stage.is_active:
        raise Refused(
            "updates-not-applicable",
            f"{incident.label} is {incident.stage.value}: status updates are for active incidents",
            hint=f"Reopen it first if it is not over: `warroom reopen {incident.label}`.",
        )


def default_status(stage: Stage) -> UpdateStatus:
    return DEFAULT_STATUS.get(stage, UpdateStatus.INVESTIGATING)


def render(
    *,
    number: int,
    at: datetime,
    status: UpdateStatus,
    text: UpdateText,
    next_update: datetime | None,
) -> str:
    """The update template of the workflow, exactly."""
    next_line = f"[{utc_text(next_update)}]" if next_update is not None else NEXT_MILESTONE
    return "\n".join(
        [
            f"[{utc_text(at)}] Update #{number} - {status.value}",
            f"Current Status: {status.value}",
            f"Issue: {text.issue}",
            f"Impact: {text.impact}",
            f"Progress: {text.progress}",
            f"Next Steps: {text.next_steps}",
            f"ETA: {text.eta or 'Unknown'}",
            f"Next Update: {next_line}",
        ]
    )


def next_update_after(incident: IncidentFacts, policy: Policy, at: datetime) -> datetime | None:
    """The Next Update of an update posted at ``at``; ``None``: "at the next milestone"."""
    if incident.severity is None:
        return None
    cadence = policy.level(incident.severity).update_cadence
    return at + cadence if cadence is not None else None


@dataclass(frozen=True)
class UpdateSchedule:
    """When the next update is due and which earlier dues were missed."""

    next_due: datetime | None
    missed: tuple[datetime, ...]


def schedule(
    incident: IncidentFacts,
    policy: Policy,
    *,
    updates: Sequence[datetime],
    stage_changes: Sequence[datetime],
    now: datetime,
) -> UpdateSchedule:
    """Walk the incident's history against its level's cadence.

    Cadenced levels (SEV0/SEV1) count from declaration and then from each update. Levels with
    an after-stage-change rule (SEV2) need an update within that delay of every stage change.
    Nothing is due once the incident has left the active stages.
    """
    end = now if incident.stage.is_active else (incident.closed_at or now)
    ordered = sorted(updates)
    if (cadence := _cadence(incident, policy)) is not None:
        declared_at, every = cadence
        return _cadenced(declared_at, every, ordered, end, incident)
    if (delay := _after_change_delay(incident, policy)) is not None:
        return _after_changes(delay, ordered, stage_changes, end, incident)
    return UpdateSchedule(None, ())


def counts_stage_changes(incident: IncidentFacts, policy: Policy) -> bool:
    """Whether :func:`schedule` looks at the incident's stage changes: only a level with an
    after-stage-change rule and no cadence running (SEV2 by default). A reader may leave them
    unread otherwise."""
    return _after_change_delay(incident, policy) is not None


def _cadence(incident: IncidentFacts, policy: Policy) -> tuple[datetime, timedelta] | None:
    """When a cadenced level's count starts (declaration) and its cadence; None otherwise."""
    if incident.severity is None or incident.declared_at is None:
        return None
    every = policy.level(incident.severity).update_cadence
    return (incident.declared_at, every) if every is not None else None


def _after_change_delay(incident: IncidentFacts, policy: Policy) -> timedelta | None:
    """The after-stage-change rule's delay, for a level with no cadence running."""
    if incident.severity is None or _cadence(incident, policy) is not None:
        return None
    return policy.level(incident.severity).update_after_stage_change


def _cadenced(
    declared_at: datetime,
    cadence: timedelta,
    updates: list[datetime],
    end: datetime,
    incident: IncidentFacts,
) -> UpdateSchedule:
    missed: list[datetime] = []
    last = declared_at
    for posted in (u for u in updates if u >= declared_at):
        missed += _slots(last + cadence, posted, cadence)
        last = posted
    missed += _slots(last + cadence, end, cadence)
    due = last + cadence
    return UpdateSchedule(due if incident.stage.is_active else None, tuple(missed))


MAX_LISTED_MISSES = 1000


def _slots(first: datetime, until: datetime, cadence: timedelta) -> list[datetime]:
    """Every due time from ``first`` that passed before ``until``: each one is a missed update."""
    slots: list[datetime] = []
    due = first
    while due < until and len(slots) < MAX_LISTED_MISSES:
        slots.append(due)
        due += cadence
    return slots


def _after_changes(
    delay: timedelta,
    updates: list[datetime],
    changes: Sequence[datetime],
    end: datetime,
    incident: IncidentFacts,
) -> UpdateSchedule:
    missed: list[datetime] = []
    next_due: datetime | None = None
    for change in sorted(changes):
        if change >= end:
            break
        due = change + delay
        answered = any(change <= u <= due for u in updates)
        if answered:
            continue
        if due < end:
            missed.append(due)
        else:
            next_due = due if next_due is None else min(next_due, due)
    return UpdateSchedule(next_due if incident.stage.is_active else None, tuple(missed))
