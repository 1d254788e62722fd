"""Deliver queued webhook events: at least once, with backoff, never silently dropped.

A delivery is leased (its next attempt moved past the lease) and committed before the HTTP
call, so a worker that dies mid-send leaves it to be retried when the lease runs out, under
the same delivery id. The outcome is written in a second transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from warroom.db.engine import unit_of_work
from warroom.db.listen import announce
from warroom.db.models import Delivery, DeliveryState, PageDelivery, Webhook
from warroom.db.slack_models import SlackJob
from warroom.db.status_models import OutboundEmail
from warroom.domain.errors import Conflict
from warroom.domain.policy import Policy
from warroom.metrics import DELIVERIES
from warroom.notify import TransportError
from warroom.notify.http import shown
from warroom.notify.webhook import send
from warroom.services import executives
from warroom.services.records import Op
from warroom.services.timers import SYSTEM_ACTOR, settle

log = logging.getLogger("warroom.deliveries")

# Guards a transaction: the process's SQLite writer lock, or nothing.
Writer = Callable[[], AbstractContextManager[object]]

LEASE = timedelta(seconds=60)
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(hours=1)
MAX_ATTEMPTS = 12
SETTLE_ATTEMPTS = 3


def backoff(attempts: int) -> timedelta:
    return min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 20)), LONGEST_RETRY)


Outbox = TypeVar("Outbox", Delivery, PageDelivery, OutboundEmail, SlackJob)


def lease(
    session: Session,
    model: type[Outbox],
    now: datetime,
    *,
    also: ColumnElement[bool] | None = None,
) -> Outbox | None:
    """Take the earliest due row of an outbox (and meeting ``also``) for one attempt: its
    next attempt moves past the lease, so a worker that dies mid-send leaves it to the next
    one."""
    due = (
        select(model)
        .where(
            model.state == DeliveryState.PENDING,
            model.next_attempt_at <= now,
            *([also] if also is not None else []),
        )
        .order_by(model.next_attempt_at, model.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        delivery = session.scalars(due.with_for_update(skip_locked=True, of=model)).first()
    else:
        candidate = session.scalars(due).first()
        if candidate is None:
            return None
        won = session.execute(
            update(model)
            .where(model.id == candidate.id, model.next_attempt_at == candidate.next_attempt_at)
            .values(next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            return None
        session.refresh(candidate)
        delivery = candidate
    if delivery is not None:
        delivery.next_attempt_at = now + LEASE
        delivery.attempts += 1
    return delivery


def outlasted(row: Outbox, attempts: int) -> bool:
    """Whether attempt number ``attempts`` has lost ``row``: the send outlasted its lease and
    another attempt took the row (that one's outcome counts), or it is already settled."""
    return row.attempts != attempts or row.state is not DeliveryState.PENDING


def deliver_one(
    sessions: sessionmaker[Session],
    policy: Policy,
    *,
    now: datetime,
    writer: Writer = nullcontext,
) -> bool:
    """Send the earliest due delivery. Returns whether there may be more work. ``writer``
    guards each transaction (the process's SQLite writer lock); never the HTTP call."""
    with writer(), unit_of_work(sessions) as session:
        delivery = lease(session, Delivery, now)
        if delivery is None:
            return False
        if not executives.still_wanted(session, delivery):
            # The action it carries out was cancelled (the incident left SEV0, was dismissed or
            # merged) or a person marked it done: not sent.
            delivery.state = DeliveryState.FAILED
            delivery.last_error = "not sent: its checklist action is no longer open"
            outcome = "dropped"
        else:
            hook = session.get(Webhook, delivery.webhook_id)
            assert hook is not None
            job = (delivery.id, delivery.delivery_id, dict(delivery.payload), delivery.attempts)
            target = (hook.url, hook.secret, hook.disabled_at is not None)
            outcome = ""
    if outcome:
        DELIVERIES.labels(outcome).inc()
        return True
    delivery_pk, delivery_id, payload, attempts = job
    url, secret, disabled = target
    error: TransportError | None = None
    if attempts > MAX_ATTEMPTS:  # leased again and again without an outcome: give up
        error = TransportError(f"no outcome after {MAX_ATTEMPTS} attempts", permanent=True)
    elif disabled:
        error = TransportError("the webhook was removed or disabled", permanent=True)
    else:
        try:
            send(url, secret, delivery_id=delivery_id, payload=payload, now=now)
        except TransportError as exc:
            error = exc
    for attempt in range(1, SETTLE_ATTEMPTS + 1):
        try:
            outcome = _outcome(sessions, policy, delivery_pk, url, error, attempts, now, writer)
            break
        except Conflict:
            # A concurrent change to the incident whose checklist action the delivery did:
            # settled again on the new state. The send is never repeated for this.
            if attempt == SETTLE_ATTEMPTS:
                raise
    DELIVERIES.labels(outcome).inc()
    return True


def _outcome(
    sessions: sessionmaker[Session],
    policy: Policy,
    delivery_pk: int,
    url: str,
    error: TransportError | None,
    attempts: int,
    now: datetime,
    writer: Writer,
) -> str:
    """Record what became of a send, and of the checklist action it carried out, in one
    transaction: either both are kept or neither is, and the delivery, still leased, is sent
    again (under its id) once the lease ends.

    A send that outlasted its lease has been taken by another attempt, which decides: its
    late outcome is not recorded (a 410 that arrives after the retry was delivered must not
    undo it, nor disable the webhook)."""
    with writer(), unit_of_work(sessions) as session:
        # Locked: an attempt leasing it now is either seen (its count) or waited for.
        delivery = session.get(Delivery, delivery_pk, with_for_update={"of": Delivery})
        assert delivery is not None
        if outlasted(delivery, attempts):
            log.warning(
                "webhook delivery %s: attempt %s outlasted its lease; attempt %s decides",
                delivery.delivery_id,
                attempts,
                delivery.attempts,
                extra={"incident": delivery.payload.get("incident")},
            )
            return "superseded"
        _settle(session, delivery, error, attempts, now)
        outcome = {DeliveryState.PENDING: "retry"}.get(delivery.state, delivery.state.value)
        if delivery.action_id is not None and outcome != "retry":
            op = Op(session, policy, SYSTEM_ACTOR, now, now)
            if error is None:
                executives.delivered(op, delivery, url)
            else:
                executives.failed(op, delivery, url, str(error))
            settle(op)
            announce(session)
    return outcome


def _settle(
    session: Session, delivery: Delivery, error: TransportError | None, attempts: int, now: datetime
) -> None:
    if error is None:
        delivery.state, delivery.delivered_at, delivery.last_error = (
            DeliveryState.DELIVERED,
            now,
            None,
        )
        return
    delivery.last_error = str(error)
    log.warning(
        "webhook delivery %s failed (attempt %s): %s",
        delivery.delivery_id,
        attempts,
        error,
        extra={"incident": delivery.payload.get("incident")},
    )
    if error.permanent or attempts >= MAX_ATTEMPTS:
        delivery.state = DeliveryState.FAILED
        hook = session.get(Webhook, delivery.webhook_id)
        assert hook is not None
        if hook.disabled_at is None:
            # A failing endpoint is marked, not retried for ever; the CLI and API show why.
            hook.disabled_at = now
            hook.disabled_reason = f"delivery {delivery.delivery_id} failed: {error}"
            log.warning("webhook %s disabled: %s", shown(hook.url), error)
        return
    delivery.next_attempt_at = now + backoff(attempts)
