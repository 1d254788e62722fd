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


@dataclass(frozen=True)
class LevelChange:
    """The incident's severity changed from ``was`` to ``now`` at ``at``."""

    at: datetime
    was: Severity | None
    now: Severity | None


@dataclass(frozen=True)
class Course:
    """What the update rules count from besides the updates themselves: the incident's own
    stage changes (each one asks for an update under an after-stage-change rule), its severity
    changes, and the times it left or re-entered the active stages (closed, reopened)."""

    stage_changes: Sequence[datetime] = ()
    level_changes: Sequence[LevelChange] = ()
    activity: Sequence[tuple[datetime, bool]] = ()


def schedule(
    incident: IncidentFacts,
    policy: Policy,
    *,
    updates: Sequence[datetime],
    course: Course,
    now: datetime,
) -> UpdateSchedule:
    """Walk the incident's history against the cadence of the level it had at each moment.

    Cadenced levels (SEV0/SEV1) count from declaration and then from each update. Levels with
    an after-stage-change rule (SEV2) need an update within that delay of every stage change.
    Nothing is due while the incident is out of the active stages. A change of severity, and a
    reopen, start the count over under the level from then on: a level's cadence never
    applies to the time before the incident had it, and a closed incident owes nothing for the
    time it was closed.
    """
    end = now if incident.stage.is_active else (incident.closed_at or now)
    ordered = sorted(updates)
    missed: list[datetime] = []
    next_due: datetime | None = None
    for start, stop, rule in _spans(incident, course, policy, end):
        last = stop == end
        if rule is None:
            continue
        every, after_change = rule
        # The last span takes every later update (one posted at ``now`` included).
        within = [u for u in ordered if start <= u and (last or u < stop)]
        if after_change:
            changes = [c for c in course.stage_changes if start <= c < stop]
            found, due = _after_changes(every, within, changes, stop)
        else:
            found, due = _cadenced(start, every, within, stop)
        missed += found
        if last:
            next_due = due
    return UpdateSchedule(next_due if incident.stage.is_active else None, tuple(missed))


Rule = tuple[timedelta, bool]


def needs_course(incident: IncidentFacts, policy: Policy) -> bool:
    """Whether :func:`schedule` needs the incident's :class:`Course` to plan what is due now:
    any level with an update rule (a cadence once declared, or an after-stage-change rule).
    A reader may leave the course unread otherwise."""
    return _rule(incident.severity, incident.declared_at is not None, policy) is not None


def _rule(level: Severity | None, declared: bool, policy: Policy) -> Rule | None:
    """The update rule of ``level``: its cadence (once the incident is declared), else its
    after-stage-change delay (``True`` in second place), else ``None``."""
    if level is None:
        return None
    spec = policy.level(level)
    if declared and spec.update_cadence is not None:
        return spec.update_cadence, False
    if spec.update_after_stage_change is not None:
        return spec.update_after_stage_change, True
    return None


def _spans(
    incident: IncidentFacts, course: Course, policy: Policy, end: datetime
) -> list[tuple[datetime, datetime, Rule | None]]:
    """The spans the incident spent in the active stages under one update rule, from its
    detection to ``end``. A span ends where the rule changed (a severity change, the
    declaration that starts a cadence) or the incident was closed; a reopen starts a new one.
    Where the rule stays the same across a change, the span goes on: what it asked for is
    still owed."""
    origin = incident.detected_at
    changes = sorted((c for c in course.level_changes if c.at > origin), key=lambda c: c.at)
    level = changes[0].was if changes else incident.severity
    declared_at = incident.declared_at
    declared = declared_at is not None and declared_at <= origin
    # (when, the level from then on, activity from then on, declared from then on)
    turns: list[tuple[datetime, Severity | None, bool | None, bool]] = [
        (c.at, c.now, None, False) for c in changes if c.at <= end
    ]
    turns += [(at, None, active, False) for at, active in course.activity if origin < at <= end]
    if declared_at is not None and origin < declared_at <= end:
        turns.append((declared_at, None, None, True))
    turns.sort(key=lambda turn: turn[0])
    spans: list[tuple[datetime, datetime, Rule | None]] = []
    start, active = origin, True

    def close(stop: datetime) -> None:
        rule = _rule(level, declared, policy)
        if spans and spans[-1][1] == start and spans[-1][2] == rule:
            spans[-1] = (spans[-1][0], stop, rule)  # the same rule goes on
        else:
            spans.append((start, stop, rule))

    for at, now_level, now_active, now_declared in turns:
        if active and at > start:
            close(at)
        if now_declared:
            declared = True
        elif now_active is None:
            level = now_level
        else:
            active = now_active
        start = at
    if active and end >= start:
        close(end)
    return spans


def _cadenced(
    start: datetime, cadence: timedelta, updates: list[datetime], end: datetime
) -> tuple[list[datetime], datetime]:
    missed: list[datetime] = []
    last = start
    for posted in updates:
        missed += _slots(last + cadence, posted, cadence)
        last = posted
    missed += _slots(last + cadence, end, cadence)
    return missed, last + cadence


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
) -> tuple[list[datetime], datetime | None]:
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
    return missed, next_due
