"""Who can be paged and how: people and their contact methods, teams, the services they own,
and escalation policies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from warroom.db.models import (
    ContactMethod,
    EscalationPolicy,
    PageDelivery,
    Person,
    Service,
    Team,
)
from warroom.domain.addresses import check_email
from warroom.domain.errors import BadInput, NotFound
from warroom.domain.paging import ContactKind, Tier, check_policy, parse_tier, tiers_from_json
from warroom.notify.http import shown
from warroom.services.records import Op, normalise_actor, person, service

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
ROUTING_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def check_name(text: str, what: str) -> str:
    """A team, policy, schedule or layer name in its normal form."""
    cleaned = text.strip().lower()
    if not NAME.match(cleaned):
        raise BadInput(
            f"{text!r} is not a {what} name: 1-63 lowercase letters, digits, '.', '_' or '-'"
        )
    return cleaned


def existing_person(session: Session, handle: str) -> Person:
    found = session.scalars(
        select(Person).where(Person.handle == normalise_actor(handle))
    ).one_or_none()
    if found is None:
        raise NotFound(f"nobody has the handle {handle!r}")
    return found


def update_person(op: Op, handle: str, *, name: str | None) -> Person:
    """Create the person on first use, like everywhere; set the display name if given."""
    someone = person(op, handle)
    if name is not None:
        cleaned = name.strip()
        if not 1 <= len(cleaned) <= 200:
            raise BadInput("a display name has 1-200 characters")
        someone.display_name = cleaned
    return someone


def check_address(kind: ContactKind, address: str) -> str:
    """The address in its normal form, or BadInput saying what a good one looks like."""
    text = address.strip()
    if kind is ContactKind.EMAIL:
        return check_email(text)
    if kind is ContactKind.SLACK:
        if not SLACK_USER.match(text):
            raise BadInput(f"{address!r} is not a Slack user id (like U024BE7LH)")
        return text
    if kind is ContactKind.WEBHOOK:
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, ValueError):
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise BadInput(f"{address!r} is not a webhook URL: use http:// or https://")
        return text
    if not ROUTING_KEY.match(text):
        what = (
            "a PagerDuty integration (routing) key"
            if kind is ContactKind.PAGERDUTY
            else "an Opsgenie API key"
        )
        raise BadInput(f"{address!r} is not {what}")
    return text


def add_contact(op: Op, handle: str, kind: ContactKind, address: str) -> ContactMethod:
    someone = person(op, handle)
    cleaned = check_address(kind, address)
    found = op.session.scalars(
        select(ContactMethod).where(
            ContactMethod.person_id == someone.id,
            ContactMethod.kind == kind,
            ContactMethod.address == cleaned,
        )
    ).one_or_none()
    if found is not None:
        return found
    position = op.session.scalar(
        select(func.count()).select_from(ContactMethod).where(ContactMethod.person_id == someone.id)
    )
    method = ContactMethod(
        person_id=someone.id, kind=kind, address=cleaned, position=position or 0, created_at=op.now
    )
    op.session.add(method)
    if kind is ContactKind.EMAIL and someone.email is None:
        someone.email = cleaned
    op.session.flush()
    return method


def _method(op: Op, handle: str, kind: ContactKind, address: str) -> ContactMethod:
    someone = existing_person(op.session, handle)
    found = op.session.scalars(
        select(ContactMethod).where(
            ContactMethod.person_id == someone.id,
            ContactMethod.kind == kind,
            ContactMethod.address == address.strip(),
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"{someone.handle} has no {kind.value} contact {address!r}")
    return found


def remove_contact(op: Op, handle: str, kind: ContactKind, address: str) -> None:
    method = _method(op, handle, kind, address)
    # Deliveries already made keep their kind and address; they only lose the link.
    op.session.execute(
        update(PageDelivery)
        .where(PageDelivery.contact_method_id == method.id)
        .values(contact_method_id=None)
        .execution_options(synchronize_session=False)
    )
    op.session.delete(method)


def reset_contact(op: Op, handle: str, kind: ContactKind, address: str) -> ContactMethod:
    """Someone fixed the address: use it again."""
    method = _method(op, handle, kind, address)
    method.failing_since = method.failing_reason = None
    return method


def person_row(session: Session, someone: Person) -> dict[str, Any]:
    methods = session.scalars(
        select(ContactMethod)
        .where(ContactMethod.person_id == someone.id)
        .order_by(ContactMethod.position, ContactMethod.id)
    )
    return {
        "handle": someone.handle,
        "name": someone.display_name,
        "contacts": [
            {
                "kind": m.kind.value,
                "address": shown_address(m),
                "failing_since": m.failing_since.isoformat() if m.failing_since else None,
                "failing_reason": m.failing_reason,
            }
            for m in methods
        ],
    }


def shown_address(method: ContactMethod) -> str:
    """Keys are credentials: shown by their first characters only. So is a webhook's path (a
    chat tool's incoming webhook carries its secret there): shown by its origin only. Whoever
    removes or resets one gives the whole address, as they gave it when they added it."""
    if method.kind in (ContactKind.PAGERDUTY, ContactKind.OPSGENIE):
        return method.address[:6] + "…"
    if method.kind is ContactKind.WEBHOOK:
        return shown(method.address)
    return method.address


def methods_by_person(session: Session) -> dict[int, list[ContactMethod]]:
    grouped: dict[int, list[ContactMethod]] = {}
    for method in session.scalars(
        select(ContactMethod).order_by(ContactMethod.position, ContactMethod.id)
    ):
        grouped.setdefault(method.person_id, []).append(method)
    return grouped


def people(session: Session) -> list[Person]:
    return list(session.scalars(select(Person).order_by(Person.handle)))


def team_named(session: Session, name: str) -> Team:
    found = session.scalars(select(Team).where(Team.name == name.strip().lower())).one_or_none()
    if found is None:
        raise NotFound(f"team {name!r} does not exist: `warroom team create {name}`")
    return found


def policy_named(session: Session, name: str) -> EscalationPolicy:
    found = session.scalars(
        select(EscalationPolicy).where(EscalationPolicy.name == name.strip().lower())
    ).one_or_none()
    if found is None:
        raise NotFound(f"escalation policy {name!r} does not exist")
    return found


def save_team(op: Op, name: str, *, lead: str | None = None, policy: str | None = None) -> Team:
    """Create a team, or change its lead or policy (``""`` clears one)."""
    cleaned = check_name(name, "team")
    team = op.session.scalars(select(Team).where(Team.name == cleaned)).one_or_none()
    if team is None:
        team = Team(name=cleaned, created_at=op.now)
        op.session.add(team)
    if lead is not None:
        team.lead = person(op, lead) if lead.strip() else None
    if policy is not None:
        team.policy = policy_named(op.session, policy) if policy.strip() else None
    op.session.flush()
    return team


def team_row(session: Session, team: Team) -> dict[str, Any]:
    services = session.scalars(
        select(Service.name).where(Service.team_id == team.id).order_by(Service.name)
    )
    return {
        "name": team.name,
        "lead": team.lead.handle if team.lead else None,
        "policy": team.policy.name if team.policy else None,
        "services": list(services),
    }


def teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


def save_service(
    op: Op, name: str, *, team: str | None = None, policy: str | None = None
) -> Service:
    """Create a service (also created on first use), or say who owns it and how they are
    paged (``""`` clears)."""
    found = service(op, name)
    if team is not None:
        found.team_id = team_named(op.session, team).id if team.strip() else None
    if policy is not None:
        found.policy_id = policy_named(op.session, policy).id if policy.strip() else None
    op.session.flush()
    return found


def service_row(session: Session, found: Service) -> dict[str, Any]:
    team = session.get(Team, found.team_id) if found.team_id else None
    policy = session.get(EscalationPolicy, found.policy_id) if found.policy_id else None
    return {
        "id": found.id,
        "name": found.name,
        "team": team.name if team else None,
        "policy": policy.name if policy else None,
        "created_at": found.created_at.isoformat(),
    }


def save_policy(op: Op, name: str, tiers: list[str], repeat: int) -> EscalationPolicy:
    """Create or replace a policy. Pages already in flight keep the copy they started with."""
    cleaned = check_name(name, "policy")
    try:
        parsed: tuple[Tier, ...] = tuple(parse_tier(text) for text in tiers)
        check_policy(parsed, repeat)
    except ValueError as exc:
        raise BadInput(f"policy {cleaned}: {exc}") from None
    found = op.session.scalars(
        select(EscalationPolicy).where(EscalationPolicy.name == cleaned)
    ).one_or_none()
    if found is None:
        found = EscalationPolicy(name=cleaned, created_at=op.now, updated_at=op.now, tiers=[])
        op.session.add(found)
    found.tiers = [tier.as_json() for tier in parsed]
    found.repeat = repeat
    found.updated_at = op.now
    op.session.flush()
    return found


def policy_row(policy: EscalationPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "tiers": [tier.as_json() for tier in tiers_from_json(policy.tiers)],
        "repeat": policy.repeat,
        "updated_at": policy.updated_at.isoformat(),
    }


def tier_text(tier: dict[str, Any]) -> str:
    text = ",".join(tier["targets"])
    return f"{text}@{tier['timeout']}" if tier.get("timeout") else text


def policies(session: Session) -> list[EscalationPolicy]:
    return list(session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name)))


def mark_failing(session: Session, method_id: int | None, now: datetime, reason: str) -> bool:
    """A method that failed for good is skipped from now on. True if newly marked."""
    method = session.get(ContactMethod, method_id) if method_id else None
    if method is None or method.failing_since is not None:
        return False
    method.failing_since, method.failing_reason = now, reason[:2000]
    return True
