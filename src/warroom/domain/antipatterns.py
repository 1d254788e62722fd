"""The workflow's anti-patterns, detected from the record (product.md §5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from warroom.domain.durations import humanize
from warroom.domain.facts import Event, IncidentFacts
from warroom.domain.policy import Policy
from warroom.domain.timefmt import utc_text
from warroom.domain.types import EventKind, Move
from warroom.domain.updates import UpdateSchedule

HANDS_ON_MOVES = frozenset({Move.INVESTIGATE.value, Move.MITIGATE.value})


@dataclass(frozen=True)
class Finding:
    pattern: str
    at: datetime
    detail: str


def findings(
    incident: IncidentFacts,
    policy: Policy,
    *,
    now: datetime,
    events: Sequence[Event],
    updates: UpdateSchedule,
    major_since: datetime | None,
) -> list[Finding]:
    found = _delayed_declaration(incident, policy, now, major_since)
    found += _ic_hands_on(events)
    found += [
        Finding(
            "no-status-updates", due, f"the update due at {utc_text(due)} was not posted on time"
        )
        for due in updates.missed
    ]
    found += _premature_closure(policy, events)
    return sorted(found, key=lambda f: f.at)


def _delayed_declaration(
    incident: IncidentFacts, policy: Policy, now: datetime, major_since: datetime | None
) -> list[Finding]:
    if major_since is None or incident.dismissed or incident.merged_into is not None:
        return []
    limit = policy.lifecycle.declaration_delay
    deadline = major_since + limit
    declared = incident.declared_at
    if declared is not None and declared > deadline:
        late = humanize(declared - major_since)
        return [
            Finding(
                "delayed-declaration",
                deadline,
                f"declared {late} after it was known as "
                f"{incident.severity} (limit {humanize(limit)})",
            )
        ]
    if declared is None and incident.stage.is_active and now > deadline:
        return [
            Finding(
                "delayed-declaration",
                deadline,
                f"not declared {humanize(now - major_since)} "
                f"after it was known as {incident.severity} (limit {humanize(limit)})",
            )
        ]
    return []


def _ic_hands_on(events: Sequence[Event]) -> list[Finding]:
    found = []
    for event in events:
        performer, ic = event.data.get("performed_by"), event.data.get("ic")
        if performer is None or performer != ic:
            continue
        hands_on = event.kind == EventKind.NOTE or (
            event.kind == EventKind.STAGE and event.data.get("move") in HANDS_ON_MOVES
        )
        if hands_on:
            work = event.data.get("move") or f"{event.data.get('note_kind', 'a')} note"
            found.append(
                Finding(
                    "ic-hands-on",
                    event.at,
                    f"the IC {ic} did the {work} work themselves; "
                    "the IC delegates debugging to SMEs",
                )
            )
    return found


def _premature_closure(policy: Policy, events: Sequence[Event]) -> list[Finding]:
    found = []
    last_closed: datetime | None = None
    window = policy.lifecycle.premature_reopen_window
    for event in sorted(events, key=lambda e: e.at):
        if event.kind == EventKind.REFUSED and str(event.data.get("rule", "")).startswith(
            "closure-"
        ):
            found.append(
                Finding("premature-closure", event.at, f"closure refused by {event.data['rule']}")
            )
        elif event.kind == EventKind.STAGE and event.data.get("to") == "closed":
            last_closed = event.at
        elif (
            event.kind == EventKind.STAGE
            and event.data.get("move") == Move.REOPEN.value
            and last_closed is not None
            and event.at - last_closed < window
        ):
            found.append(
                Finding(
                    "premature-closure",
                    event.at,
                    f"reopened {humanize(event.at - last_closed)} after closure",
                )
            )
    return found
