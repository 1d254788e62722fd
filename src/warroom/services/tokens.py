"""API tokens: created for a person with an access level, shown once, stored as a hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from warroom.db.models import ApiToken, Person
from warroom.domain.errors import BadInput, NotFound
from warroom.domain.types import Access
from warroom.revocations import revoked
from warroom.services.records import Op, person

LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKEN_PREFIX = "wr_"  # noqa: S105 - a public prefix that marks warroom tokens, not a secret


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(op: Op, *, holder: str, access: Access, name: str) -> tuple[ApiToken, str]:
    """A new token; the secret is returned once and never stored."""
    label = name.strip()
    if not label or len(label) > 100:
        raise BadInput("a token needs a name of 1-100 characters: --name TEXT")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        person_id=person(op, holder).id,
        name=label,
        access=access,
        secret_hash=digest(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        created_at=op.now,
    )
    op.session.add(token)
    op.session.flush()
    return token, secret


def row(token: ApiToken) -> dict[str, Any]:
    """A token as the CLI and the API show it: never its secret, nor its hash."""
    return {
        "id": token.id,
        "person": token.person.handle,
        "name": token.name,
        "access": token.access.value,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked": token.revoked_at is not None,
    }


def listing(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke(op: Op, token_id: int) -> ApiToken:
    token = op.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"token {token_id} does not exist")
    if token.revoked_at is None:
        token.revoked_at = op.now
        revoked(op.session)
    return token


def has_admin(session: Session) -> bool:
    return (
        session.scalar(
            select(ApiToken.id)
            .where(ApiToken.access == Access.ADMIN, ApiToken.revoked_at.is_(None))
            .limit(1)
        )
        is not None
    )


@dataclass(frozen=True)
class Caller:
    handle: str
    access: Access
    token_id: int


def identify(session: Session, secret: str, now: datetime) -> tuple[Caller, bool] | None:
    """The caller a secret belongs to, and whether its use is due to be recorded (at most
    once a minute, not on every request); ``None`` for an unknown or revoked secret. Only
    reads. The hash lookup is the comparison: no secret is compared character by character."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    found = session.execute(
        select(ApiToken.id, ApiToken.access, ApiToken.last_used_at, Person.handle)
        .join(Person, Person.id == ApiToken.person_id)
        .where(ApiToken.secret_hash == digest(secret), ApiToken.revoked_at.is_(None))
    ).one_or_none()
    if found is None:
        return None
    token_id, access, last, handle = found
    return Caller(handle, access, token_id), last is None or now - last > LAST_USED_RESOLUTION


def record_use(session: Session, token_id: int, now: datetime) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
