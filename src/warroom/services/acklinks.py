"""Signed acknowledgement links: every page carries one, so whoever is paged can stop the
escalation with one click, without a token or a login.

A link names a page and a person and expires; it is signed with a key the server makes on
first use and keeps in the database, so every process of a deployment accepts the links of
the others.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from warroom.db.models import ServerKey
from warroom.domain.errors import NotFound
from warroom.services.records import insert_ignoring_duplicates

KEY_NAME = "ack-links"
VALID_FOR = timedelta(days=2)


def server_key(session: Session, name: str, now: datetime) -> bytes:
    """The named key, made once (safe when two processes make it at the same time)."""
    found = session.get(ServerKey, name)
    if found is None:
        session.execute(
            insert_ignoring_duplicates(session, ServerKey).values(
                name=name, value=secrets.token_hex(32), created_at=now
            )
        )
        found = session.get(ServerKey, name)
        assert found is not None
    return bytes.fromhex(found.value)


def mac(key: bytes, claim: str) -> str:
    digest = hmac.new(key, claim.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def token(session: Session, page_id: int, person_id: int, now: datetime) -> str:
    expires = int((now + VALID_FOR).timestamp())
    claim = f"{page_id}.{person_id}.{expires}"
    return f"{claim}.{mac(server_key(session, KEY_NAME, now), claim)}"


@dataclass(frozen=True)
class Claim:
    page_id: int
    person_id: int


def verify(session: Session, text: str, now: datetime) -> Claim:
    """The page and person a link names, if its signature holds and it has not expired.
    Any flaw is the same answer: the link is not valid (nothing to learn by probing)."""
    invalid = NotFound("this acknowledgement link is not valid (or has expired)")
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]) or len(text) > 200:
        raise invalid
    claim = ".".join(parts[:3])
    expected = mac(server_key(session, KEY_NAME, now), claim)
    if not text.isascii() or not hmac.compare_digest(expected.encode(), parts[3].encode()):
        raise invalid
    if int(parts[2]) < now.timestamp():
        raise invalid
    return Claim(int(parts[0]), int(parts[1]))


# Calendar feeds: a schedule's shifts (all, or one person's) at a URL a calendar app can
# subscribe to, which cannot send a token. The URL is the credential; it does not expire.
FEED_KEY = "calendar-feeds"


def feed_token(session: Session, schedule_id: int, person_id: int | None, now: datetime) -> str:
    claim = f"{schedule_id}.{person_id or 0}"
    return f"{claim}.{mac(server_key(session, FEED_KEY, now), claim)}"


def verify_feed(session: Session, text: str, now: datetime) -> tuple[int, int | None]:
    """The schedule and person (None: everyone) a feed URL names, if its signature holds."""
    invalid = NotFound("this calendar feed does not exist")
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts[:2]) or len(text) > 100:
        raise invalid
    claim = ".".join(parts[:2])
    expected = mac(server_key(session, FEED_KEY, now), claim)
    if not text.isascii() or not hmac.compare_digest(expected.encode(), parts[2].encode()):
        raise invalid
    return int(parts[0]), int(parts[1]) or None
