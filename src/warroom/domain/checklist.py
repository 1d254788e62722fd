"""The incident's checklist, computed whenever it is read (product.md §1, §3, §4).

It joins three things: the service-level targets of the severity (counted from detection),
the roles the level requires, and the pending actions stored for the incident. A target that
passes is *recorded* here as overdue; it never pages anyone by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from warroom.domain.actions import postmortem_due
from warroom.domain.facts import IncidentFacts
from warroom.domain.policy import Policy, PostmortemRule
from warroom.domain.types import Role, Stage
from warroom.domain.updates import UpdateSchedule


class ItemState(StrEnum):
    DONE = "done"
    LATE = "done late"
    DUE = "due"
    OVERDUE = "overdue"
    PENDING = "pending"
    CANCELLED = "cancelled"
    OPTIONAL = "optional"


@dataclass(frozen=True)
class StoredAction:
    key: str
    title: str
    due_at: datetime | None
    done_at: datetime | None
    cancelled: bool = False
    note: str | None = None


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    title: str
    state: ItemState
    due_at: datetime | None = None
    done_at: datetime | None = None
    note: str | None = None

    @property
    def open(self) -> bool:
        return self.state in (ItemState.DUE, ItemState.OVERDUE, ItemState.PENDING)


def state_of(due: datetime | None, done: datetime | None, now: datetime) -> ItemState:
    if done is not None:
        return ItemState.LATE if due is not None and done > due else ItemState.DONE
    if due is None:
        return ItemState.PENDING
    return ItemState.OVERDUE if now > due else ItemState.DUE


def _target(
    key: str,
    title: str,
    start: datetime,
    within: timedelta | None,
    done: datetime | None,
    now: datetime,
) -> ChecklistItem | None:
    if within is None:
        return None
    due = start + within
    return ChecklistItem(key, title, state_of(due, done, now), due, done)


def checklist(
    incident: IncidentFacts,
    policy: Policy,
    *,
    now: datetime,
    actions: Sequence[StoredAction],
    updates: UpdateSchedule,
    update_count: int,
    major_since: datetime | None,
) -> list[ChecklistItem]:
    if incident.severity is None or incident.dismissed or incident.merged_into is not None:
        return [_stored(a, now) for a in actions]
    level = policy.level(incident.severity)
    times = incident.stage_times
    items: list[ChecklistItem | None] = [
        _target(
            "acknowledge",
            "Acknowledge (target)",
            incident.detected_at,
            level.acknowledge_within,
            incident.acknowledged_at,
            now,
        ),
    ]
    if incident.severity.is_major and major_since is not None:
        items.append(
            _target(
                "declare",
                "Declare the incident",
                major_since,
                policy.lifecycle.declaration_delay,
                incident.declared_at,
                now,
            )
        )
    items += [
        _target(
            "mitigate",
            "Mitigate (target)",
            incident.detected_at,
            level.mitigate_within,
            times.get(Stage.MITIGATED),
            now,
        ),
        _target(
            "resolve",
            "Resolve (target)",
            incident.detected_at,
            level.resolve_within,
            times.get(Stage.RESOLVED),
            now,
        ),
    ]
    items += _roles(incident, level.roles, now)
    items.append(_next_update(incident, updates, update_count, now))
    items += [_stored(a, now) for a in actions]
    items.append(_postmortem(incident, policy, now))
    return [item for item in items if item is not None]


def _roles(incident: IncidentFacts, roles: Sequence[Role], now: datetime) -> list[ChecklistItem]:
    """Required roles: held, or overdue from declaration (SEV0/SEV1) or triage (SEV2)."""
    assert incident.severity is not None
    major = incident.severity.is_major
    if major and incident.declared_at is None:
        return []  # the declaration target speaks for it until then
    due: datetime | None
    if major:
        due = incident.declared_at
    elif incident.severity.rank == 2:
        due = incident.stage_times.get(Stage.TRIAGED)
    else:
        due = None  # a ticket's assignee has no deadline
    items = []
    for role in roles:
        key = f"role-{role.value}"
        holders = incident.roles.get(role, ())
        if holders:
            items.append(
                ChecklistItem(key, f"{role.display_name}: {', '.join(holders)}", ItemState.DONE)
            )
        else:
            items.append(
                ChecklistItem(key, f"Assign a {role.display_name}", state_of(due, None, now), due)
            )
    return items


def _next_update(
    incident: IncidentFacts, updates: UpdateSchedule, update_count: int, now: datetime
) -> ChecklistItem | None:
    if updates.next_due is None:
        return None
    title = f"Status update #{update_count + 1}"
    missed = len(updates.missed)
    note = f"{missed} update{'s' if missed != 1 else ''} missed so far" if missed else None
    state = state_of(updates.next_due, None, now)
    return ChecklistItem("status-update", title, state, updates.next_due, note=note)


def _stored(action: StoredAction, now: datetime) -> ChecklistItem:
    state = (
        ItemState.CANCELLED if action.cancelled else state_of(action.due_at, action.done_at, now)
    )
    return ChecklistItem(
        action.key, action.title, state, action.due_at, action.done_at, action.note
    )


def _postmortem(incident: IncidentFacts, policy: Policy, now: datetime) -> ChecklistItem | None:
    assert incident.severity is not None
    rule = policy.level(incident.severity).postmortem
    done = incident.stage_times.get(Stage.POSTMORTEM_COMPLETE)
    if rule is PostmortemRule.NONE:
        return None
    if rule is PostmortemRule.OPTIONAL:
        if incident.closed_at is None and done is None:
            return None
        state = ItemState.DONE if done else ItemState.OPTIONAL
        return ChecklistItem(
            "postmortem", "Post-mortem (optional; recommended if novel)", state, None, done
        )
    due = postmortem_due(incident, policy)
    if due is None:
        return None
    return ChecklistItem("postmortem", "Post-mortem complete", state_of(due, done, now), due, done)
