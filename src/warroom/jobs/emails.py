"""The customer outbox: subscribers told of each published update, and every queued e-mail
(confirmations, updates, the customer e-mail) delivered at least once under its own key.

Like webhook deliveries, a message is leased and committed before the SMTP conversation, so
a worker that dies mid-send leaves it to be retried under the same Message-ID.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from warroom.db.engine import unit_of_work
from warroom.db.models import DeliveryState
from warroom.db.status_models import OutboundEmail
from warroom.domain.policy import Policy
from warroom.jobs.deliveries import MAX_ATTEMPTS, Writer, backoff, lease, outlasted
from warroom.metrics import DELIVERIES
from warroom.notify import TransportError
from warroom.notify.dispatch import NotConfigured, Transports
from warroom.notify.email import send_plain
from warroom.services import subscribers

log = logging.getLogger("warroom.emails")
FAN_OUT_BATCH = 20


def fan_out(
    sessions: sessionmaker[Session],
    policy: Policy,
    *,
    base_url: str,
    now: datetime,
    writer: Writer = nullcontext,
) -> bool:
    with writer(), unit_of_work(sessions) as session:
        done = subscribers.fan_out(session, policy, now=now, base_url=base_url, limit=FAN_OUT_BATCH)
    return done >= FAN_OUT_BATCH


def deliver_email(
    sessions: sessionmaker[Session],
    transports: Transports,
    *,
    now: datetime,
    writer: Writer = nullcontext,
) -> bool:
    """Send the earliest due e-mail. Returns whether there may be more."""
    with writer(), unit_of_work(sessions) as session:
        email = lease(session, OutboundEmail, now)
        if email is None:
            return False
        job = (email.id, email.delivery_id, email.to, email.subject, email.body)
        stop, attempts = email.unsubscribe_url, email.attempts
    pk, key, to, subject, body = job
    error: TransportError | None = None
    if attempts > MAX_ATTEMPTS:
        error = TransportError(f"no outcome after {MAX_ATTEMPTS} attempts", permanent=True)
    elif transports.smtp is None:
        error = NotConfigured("e-mail is not configured (set WARROOM_SMTP_HOST)")
    else:
        headers = {}
        if stop:
            # RFC 2369 and RFC 8058: mail clients offer their own one-click unsubscribe.
            headers["List-Unsubscribe"] = f"<{stop}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        try:
            send_plain(
                transports.smtp,
                to,
                subject=subject,
                text=body,
                idempotency_key=key,
                headers=headers,
            )
        except TransportError as exc:
            error = exc
    with writer(), unit_of_work(sessions) as session:
        # Locked, as in deliveries: an attempt leasing it now is either seen or waited for.
        email = session.get(OutboundEmail, pk, with_for_update={"of": OutboundEmail})
        if email is None:  # its subscriber left while it was being sent
            DELIVERIES.labels("dropped").inc()
            return True
        # A send that outlasted its lease: the attempt that took the e-mail over decides.
        outcome = "superseded" if outlasted(email, attempts) else _settle(email, error, now)
    DELIVERIES.labels(outcome).inc()
    return True


def _settle(email: OutboundEmail, error: TransportError | None, now: datetime) -> str:
    if error is None:
        email.state, email.delivered_at, email.last_error = DeliveryState.DELIVERED, now, None
        return "delivered"
    email.last_error = str(error)
    if error.permanent:
        email.state = DeliveryState.FAILED
        log.warning("e-mail %s to %s failed for good: %s", email.delivery_id, email.to, error)
        return "failed"
    email.next_attempt_at = now + backoff(email.attempts)
    return "retry"
