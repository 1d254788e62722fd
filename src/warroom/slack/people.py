"""Slack users as warroom people: a person's Slack contact method links them. The first
time someone unknown acts from Slack they are linked once, by the e-mail address Slack
knows for them (a person with that address), else as a new person named after their Slack
handle."""

from __future__ import annotations

import re

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.db.models import ContactMethod, Person
from warroom.domain.paging import ContactKind
from warroom.domain.types import normalise_handle
from warroom.runtime import Runtime
from warroom.services.records import Op, person

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def linked(session: Session, user_id: str) -> str | None:
    return session.scalars(
        select(Person.handle)
        .join(ContactMethod, ContactMethod.person_id == Person.id)
        .where(ContactMethod.kind == ContactKind.SLACK, ContactMethod.address == user_id)
    ).first()


def handle_for(runtime: Runtime, web: WebClient | None, user_id: str, user_name: str) -> str:
    """The warroom handle of a Slack user, linking them on first use."""
    if not USER_ID.match(user_id):
        raise ValueError(f"{user_id!r} is not a Slack user id")
    with runtime.reading() as session:
        found = linked(session, user_id)
    if found is not None:
        return found
    email = None
    if web is not None:
        try:
            profile = web.users_info(user=user_id).get("user") or {}
            email = (profile.get("profile") or {}).get("email")
        except (SlackClientError, OSError):  # no e-mail known: linked by name instead
            email = None
    return runtime.write(lambda op: _link(op, user_id, email, user_name), by="warroom", at=None)


def _link(op: Op, user_id: str, email: str | None, user_name: str) -> str:
    found = linked(op.session, user_id)
    if found is not None:
        return found
    someone = None
    if email:
        someone = op.session.scalars(
            select(Person).where(func.lower(Person.email) == email.strip().lower())
        ).first()
    if someone is None:
        someone = person(op, _handle(op, user_name, user_id))
        if email and someone.email is None:
            someone.email = email.strip()
    position = op.session.scalar(
        select(func.count()).select_from(ContactMethod).where(ContactMethod.person_id == someone.id)
    )
    op.session.add(
        ContactMethod(
            person_id=someone.id,
            kind=ContactKind.SLACK,
            address=user_id,
            position=position or 0,
            created_at=op.now,
        )
    )
    op.session.flush()
    return someone.handle


def _handle(op: Op, user_name: str, user_id: str) -> str:
    """Their Slack handle as a warroom handle, unless someone else already has it."""
    try:
        wanted = normalise_handle(user_name)
    except ValueError:
        return normalise_handle(f"slack-{user_id.lower()}")
    taken = op.session.scalars(select(Person.id).where(Person.handle == wanted)).first()
    return wanted if taken is None else normalise_handle(f"{wanted}-{user_id.lower()}"[:63])
