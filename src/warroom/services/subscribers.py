"""Customers who asked for e-mail: subscribing with a confirmed address, unsubscribing in one
click, and the customer outbox that carries their mail.

An address is used only once its owner confirmed it through the link sent to it (double
opt-in). Every message to a subscriber carries a link to unsubscribe. The public form never
says whether an address is already subscribed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from warroom.db.models import DeliveryState
from warroom.db.status_models import (
    EmailKind,
    OutboundEmail,
    PublicUpdate,
    Subscriber,
    SubscriberState,
)
from warroom.domain.addresses import check_email as check_address
from warroom.domain.errors import NotFound
from warroom.domain.policy import Policy
from warroom.domain.statuspage import STATUS_LABEL
from warroom.services.acklinks import mac, server_key
from warroom.services.records import insert_ignoring_duplicates
from warroom.services.status_views import public_name

KEY_NAME = "subscribers"
CONFIRM_VALID_FOR = timedelta(days=7)
# A pending address is sent its confirmation again at most this often.
RESEND_AFTER = timedelta(minutes=10)


def check_email(text: str) -> str:
    """A subscriber's address, lowercased: one subscription per mailbox however it is typed."""
    return check_address(text).lower()


# -- signed links -------------------------------------------------------------------------


def _token(session: Session, subscriber: Subscriber, purpose: str, now: datetime) -> str:
    expires = int((now + CONFIRM_VALID_FOR).timestamp()) if purpose == "c" else 0
    claim = f"{purpose}.{subscriber.id}.{expires}.{subscriber.nonce}"
    return f"{claim}.{mac(server_key(session, KEY_NAME, now), claim)}"


def _verify(session: Session, text: str, purpose: str, now: datetime) -> Subscriber:
    invalid = NotFound("this link is not valid (or has expired)")
    parts = text.split(".")
    if len(text) > 200 or len(parts) != 5 or parts[0] != purpose:
        raise invalid
    if not parts[1].isdigit() or not parts[2].isdigit():
        raise invalid
    claim = ".".join(parts[:4])
    if not text.isascii() or not hmac.compare_digest(
        mac(server_key(session, KEY_NAME, now), claim).encode(), parts[4].encode()
    ):
        raise invalid
    if purpose == "c" and int(parts[2]) < now.timestamp():
        raise invalid
    found = session.get(Subscriber, int(parts[1]))
    if found is None or not hmac.compare_digest(found.nonce.encode(), parts[3].encode()):
        raise invalid
    return found


def confirm_url(session: Session, base: str, subscriber: Subscriber, now: datetime) -> str:
    return f"{base}/status/subscribe/confirm/{_token(session, subscriber, 'c', now)}"


def unsubscribe_url(session: Session, base: str, subscriber: Subscriber, now: datetime) -> str:
    return f"{base}/status/unsubscribe/{_token(session, subscriber, 'u', now)}"


# -- subscribing --------------------------------------------------------------------------


def request(
    session: Session,
    email: str,
    *,
    incident_updates: bool,
    now: datetime,
    base_url: str,
    page_name: str,
) -> None:
    """The public form: a new address is stored pending and sent a confirmation link. The
    answer is the same whatever the address's state, so the form reveals nobody."""
    address = check_email(email)
    found = session.scalars(select(Subscriber).where(Subscriber.email == address)).one_or_none()
    if found is not None and found.state is SubscriberState.CONFIRMED:
        return
    if found is None:
        found = Subscriber(
            email=address,
            state=SubscriberState.PENDING,
            incident_updates=incident_updates,
            created_at=now,
            nonce=secrets.token_hex(8),
        )
        session.add(found)
        session.flush()
    else:
        found.incident_updates = incident_updates
        last = session.scalar(
            select(OutboundEmail.created_at)
            .where(OutboundEmail.to == address, OutboundEmail.kind == EmailKind.CONFIRM)
            .order_by(OutboundEmail.created_at.desc())
            .limit(1)
        )
        if last is not None and now - last < RESEND_AFTER:
            return  # a form submitted again and again sends no flood of mail
    link = confirm_url(session, base_url, found, now)
    queue(
        session,
        EmailKind.CONFIRM,
        found.email,
        subject=f"Confirm your subscription to {page_name}",
        body=(
            f"Someone (hopefully you) asked to get {page_name} updates by e-mail at "
            f"this address.\n\nTo confirm, open this link and press the button:\n{link}\n\n"
            "If it was not you, ignore this message: nothing is sent until the address "
            "is confirmed.\n"
        ),
        key=f"confirm-{found.id}-{int(now.timestamp())}",
        now=now,
    )


def confirm(session: Session, token: str, now: datetime) -> Subscriber:
    found = _verify(session, token, "c", now)
    if found.state is not SubscriberState.CONFIRMED:
        found.state = SubscriberState.CONFIRMED
        found.confirmed_at = now
    return found


def unsubscribe(session: Session, token: str, now: datetime) -> str:
    found = _verify(session, token, "u", now)
    address = found.email
    session.delete(found)
    # Mail still waiting for that address is not sent (nor kept).
    session.execute(
        delete(OutboundEmail).where(
            OutboundEmail.to == address, OutboundEmail.state == DeliveryState.PENDING
        )
    )
    return address


def describe_token(session: Session, token: str, purpose: str, now: datetime) -> Subscriber:
    """The subscriber a link is for, checked, without acting on it (a GET never acts)."""
    return _verify(session, token, purpose, now)


def add(session: Session, email: str, *, incident_updates: bool, now: datetime) -> Subscriber:
    """An administrator adds an address they vouch for: confirmed at once."""
    address = check_email(email)
    found = session.scalars(select(Subscriber).where(Subscriber.email == address)).one_or_none()
    if found is not None:
        found.state = SubscriberState.CONFIRMED
        found.confirmed_at = found.confirmed_at or now
        found.incident_updates = incident_updates
        return found
    created = Subscriber(
        email=address,
        state=SubscriberState.CONFIRMED,
        incident_updates=incident_updates,
        created_at=now,
        confirmed_at=now,
        nonce=secrets.token_hex(8),
    )
    session.add(created)
    session.flush()
    return created


def remove(session: Session, email: str) -> None:
    address = check_email(email)
    found = session.scalars(select(Subscriber).where(Subscriber.email == address)).one_or_none()
    if found is None:
        raise NotFound(f"{address} is not subscribed")
    session.delete(found)
    session.execute(
        delete(OutboundEmail).where(
            OutboundEmail.to == address, OutboundEmail.state == DeliveryState.PENDING
        )
    )


def listing(session: Session) -> list[Subscriber]:
    return list(session.scalars(select(Subscriber).order_by(Subscriber.email)))


def as_row(subscriber: Subscriber) -> dict[str, object]:
    return {
        "email": subscriber.email,
        "state": subscriber.state.value,
        "incident_updates": subscriber.incident_updates,
        "created_at": subscriber.created_at.isoformat().replace("+00:00", "Z"),
        "confirmed_at": (
            subscriber.confirmed_at.isoformat().replace("+00:00", "Z")
            if subscriber.confirmed_at
            else None
        ),
    }


def confirmed(session: Session, *, incident_updates_only: bool = False) -> list[Subscriber]:
    query = select(Subscriber).where(Subscriber.state == SubscriberState.CONFIRMED)
    if incident_updates_only:
        query = query.where(Subscriber.incident_updates.is_(True))
    return list(session.scalars(query.order_by(Subscriber.id)))


# -- the customer outbox ------------------------------------------------------------------


def queue(
    session: Session,
    kind: EmailKind,
    to: str,
    *,
    subject: str,
    body: str,
    key: str,
    now: datetime,
    unsubscribe: str | None = None,
    incident_id: int | None = None,
) -> None:
    """One message, once: a second queueing under the same key is a no-op."""
    digest = hashlib.sha256(f"{key}\n{to}".encode()).hexdigest()[:40]
    session.execute(
        insert_ignoring_duplicates(session, OutboundEmail).values(
            delivery_id=f"{kind.value}-{digest}",
            kind=kind,
            to=to,
            subject=subject[:300],
            body=body,
            unsubscribe_url=unsubscribe,
            incident_id=incident_id,
            state=DeliveryState.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def fan_out(session: Session, policy: Policy, *, now: datetime, base_url: str, limit: int) -> int:
    """Queue the subscribers' e-mail for published updates not yet told: each update once."""
    query = (
        select(PublicUpdate)
        .where(PublicUpdate.notified_at.is_(None))
        .order_by(PublicUpdate.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    updates = list(session.scalars(query))
    if not updates:
        return 0
    page_name = policy.status_page.name
    audience = confirmed(session, incident_updates_only=True)
    for update in updates:
        update.notified_at = now
        title = public_name(session, policy, update.incident_id)
        if title is None:  # hidden again before anyone was told
            continue
        name, public_id = title
        link = f"{base_url}/status/incidents/{public_id}"
        label = STATUS_LABEL[update.status]
        for subscriber in audience:
            stop = unsubscribe_url(session, base_url, subscriber, now)
            queue(
                session,
                EmailKind.UPDATE,
                subscriber.email,
                subject=f"[{page_name}] {name}: {label}",
                body=(
                    f"{name}\n\n{label} - {update.body}\n\nFollow this incident: {link}\n\n"
                    f"--\nYou get this because you subscribed to {page_name}.\n"
                    f"Unsubscribe: {stop}\n"
                ),
                key=f"update-{update.public_id}",
                now=now,
                unsubscribe=stop,
                incident_id=update.incident_id,
            )
    return len(updates)
