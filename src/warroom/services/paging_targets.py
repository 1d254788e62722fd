"""Whom a page reaches: the team an incident belongs to, the escalation policy it follows
(copied onto the page), and a tier's targets resolved to people at the moment it is paged."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.models import ContactMethod, EscalationPolicy, Incident, Person, Schedule, Team
from warroom.domain.paging import DEFAULT_TIERS, Snapshot, Tier, snapshot, tiers_from_json
from warroom.domain.types import Severity
from warroom.services import oncall
from warroom.services.records import Op, person

# Without a severity (nothing proposed yet) a page still needs a timeout.
FALLBACK_TIMEOUT = timedelta(minutes=5)


def team_of(session: Session, incident: Incident) -> Team | None:
    """The team a routing rule chose, if it has a schedule; else the owner of the incident's
    service (a rule naming a team nobody set up must not page nobody)."""
    owner = (
        _team(session, incident.service.team_id)
        if incident.service is not None and incident.service.team_id is not None
        else None
    )
    routed = _team(session, incident.team_id) if incident.team_id is not None else None
    if routed is not None and (owner is None or oncall.team_schedules(session, routed)):
        return routed
    return owner


def _team(session: Session, team_id: int) -> Team | None:
    """A team, held for the transaction: the session's identity map keeps objects only while
    something refers to them, and reloading one flushes everything pending first."""
    held: dict[int, Team | None] = session.info.setdefault(TEAMS, {})
    if team_id not in held:
        held[team_id] = session.get(Team, team_id)
    return held[team_id]


TEAMS = "warroom.teams"


def team_name(team: Team | None) -> str | None:
    return team.name if team is not None else None


def policy_for(op: Op, incident: Incident, team: Team | None) -> Snapshot:
    """The service's own policy, else its team's, else primary → secondary → lead."""
    chosen: EscalationPolicy | None = None
    if incident.service is not None and incident.service.policy_id is not None:
        chosen = op.session.get(EscalationPolicy, incident.service.policy_id)
    if chosen is None and team is not None:
        chosen = team.policy
    if chosen is None:
        tiers = tuple(Tier((target,)) for target in DEFAULT_TIERS)
        return make_snapshot(
            op, incident, "default", team_name(team), tiers, op.policy.paging.repeat
        )
    return make_snapshot(
        op, incident, chosen.name, team_name(team), tiers_from_json(chosen.tiers), chosen.repeat
    )


def expertise(op: Op, incident: Incident, need: str) -> Snapshot:
    """`escalate --team NEED`: the escalation matrix's target for it, else the team NEED
    through its own policy."""
    target = op.policy.escalation_matrix.get(need)
    if target is not None:
        return make_snapshot(op, incident, f"matrix:{need}", None, (Tier((target,)),), 0)
    team = op.session.scalars(select(Team).where(Team.name == need)).one_or_none()
    if team is None:
        return make_snapshot(op, incident, f"team:{need}", need, (Tier((f"team:{need}",)),), 0)
    if team.policy is not None:
        policy = team.policy
        return make_snapshot(
            op, incident, policy.name, team.name, tiers_from_json(policy.tiers), policy.repeat
        )
    tiers = tuple(Tier((target,)) for target in DEFAULT_TIERS)
    return make_snapshot(op, incident, "default", team.name, tiers, op.policy.paging.repeat)


def make_snapshot(
    op: Op,
    incident: Incident,
    name: str,
    team: str | None,
    tiers: tuple[Tier, ...],
    repeat: int,
) -> Snapshot:
    return snapshot(name, team, tiers, repeat, ack_timeout(op, incident.severity))


def ack_timeout(op: Op, severity: Severity | None) -> timedelta:
    """A tier's default timeout: the severity's acknowledge target (SEV1: the workflow's five
    minutes)."""
    if severity is None:
        return FALLBACK_TIMEOUT
    return op.policy.level(severity).acknowledge_within or FALLBACK_TIMEOUT


@dataclass(frozen=True)
class Reached:
    person: Person
    why: str  # "primary on-call of payments", "lead of payments", "named in the tier"


def resolve(op: Op, targets: Iterable[str], team: str | None, at: datetime) -> list[Reached]:
    """The people a tier's targets name at ``at``, each once, in target order."""
    found: dict[int, Reached] = {}
    for target in targets:
        for handle, why in _expand(op, target, team, at, depth=0):
            someone = person(op, handle)
            found.setdefault(someone.id, Reached(someone, why))
    return list(found.values())


def _expand(
    op: Op, target: str, team: str | None, at: datetime, depth: int
) -> list[tuple[str, str]]:
    kind, _, rest = target.partition(":")
    if not rest:
        if target == "all-hands":
            if depth > 0:
                return []
            return [
                found
                for item in op.policy.paging.all_hands
                for found in _expand(op, item, team, at, depth + 1)
            ]
        if team is None:
            return []
        team_row = op.session.scalars(select(Team).where(Team.name == team)).one_or_none()
        if team_row is None:
            return []
        if target == "lead":
            lead = team_row.lead
            return [(lead.handle, f"lead of {team}")] if lead is not None else []
        handle = oncall.on_call(op.session, team_row, target, at)
        return [(handle, f"{target} on-call of {team}")] if handle else []
    if kind == "person":
        return [(rest, "named in the tier")]
    if kind == "team":
        return _expand(op, "primary", rest, at, depth + 1)
    if kind == "schedule":
        name, _, level = rest.partition(":")
        schedule = op.session.scalars(select(Schedule).where(Schedule.name == name)).one_or_none()
        if schedule is None:
            return []
        handle = oncall.schedule_on_call(op.session, schedule, level or "primary", at)
        return [(handle, f"{level or 'primary'} on-call of schedule {name}")] if handle else []
    return []


def methods_of(session: Session, person_ids: list[int]) -> dict[int, list[ContactMethod]]:
    rows = session.scalars(
        select(ContactMethod)
        .where(ContactMethod.person_id.in_(person_ids))
        .order_by(ContactMethod.position, ContactMethod.id)
    )
    grouped: dict[int, list[ContactMethod]] = {}
    for row in rows:
        grouped.setdefault(row.person_id, []).append(row)
    return grouped
