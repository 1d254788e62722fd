"""The SEV0 executive notification (product.md §1), sent through the outbox.

Declaring a SEV0 asks for the ``notify-executives`` action. In the same transaction, a
delivery to every webhook whose audience is the executive list is queued, and each of them
goes out; the first one marks the action done, so the 15-minute deadline only checks that one
went out. With
no such webhook the action stays on the checklist for a person (``warroom checklist ID done
notify-executives``). The people on ``[paging] executives`` are told by their own contact
methods too (``services.paging``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.models import (
    Action,
    Delivery,
    DeliveryState,
    Incident,
    Webhook,
)
from warroom.domain.timefmt import utc_text
from warroom.domain.types import EventKind, WebhookAudience
from warroom.notify.http import shown
from warroom.services import webhooks
from warroom.services.records import Op, facts, finish_action, record, touch

ACTION_KEY = "notify-executives"


def base_key(key: str) -> str:
    """``notify-executives-2`` (a second occurrence) is still ``notify-executives``."""
    head, _, tail = key.rpartition("-")
    return head if head and tail.isdigit() else key


def queue(op: Op, incident: Incident, actions: list[Action]) -> None:
    """Queue the deliveries for the new actions that warroom carries out itself."""
    for action in actions:
        if base_key(action.key) == ACTION_KEY:
            _queue_notification(op, incident, action)


def _queue_notification(op: Op, incident: Incident, action: Action) -> None:
    hooks = op.session.scalars(
        select(Webhook.id).where(
            Webhook.audience == WebhookAudience.EXECUTIVES, Webhook.disabled_at.is_(None)
        )
    ).all()
    if not hooks:
        return
    op.session.flush()  # the deliveries name the action by id
    payload = notification(op, incident, action)
    for hook_id in hooks:
        op.session.add(webhooks.delivery(op, hook_id, payload, action_id=action.id))


def notification(op: Op, incident: Incident, action: Action) -> dict[str, Any]:
    """What the executives read. ``text`` makes it readable in chat tools' incoming webhooks
    as it is; the other members are for programs."""
    assert incident.severity is not None
    ic = facts(op.session, incident).ic
    declared = incident.declared_at or op.at
    text = (
        f"{incident.severity.value} declared: {incident.title} (INC-{incident.id}). "
        f"Incident Commander: {ic or 'not yet assigned'}. Declared at {utc_text(declared)}; "
        f"stage {incident.stage.value}."
    )
    return {
        "type": "executive-notification",
        "incident": f"INC-{incident.id}",
        "severity": incident.severity.value,
        "title": incident.title,
        "stage": incident.stage.value,
        "ic": ic,
        "detected_at": incident.detected_at.isoformat(),
        "declared_at": declared.isoformat(),
        "action": action.key,
        "text": text,
    }


def _action(session: Session, delivery: Delivery) -> Action | None:
    """The action a delivery carries out, unless it was cancelled."""
    action = session.get(Action, delivery.action_id) if delivery.action_id else None
    return action if action is not None and action.cancelled_at is None else None


def _sent(session: Session, action: Action) -> bool:
    """Whether one of the list's webhooks has carried the action out."""
    return (
        session.scalar(
            select(Delivery.id)
            .where(Delivery.action_id == action.id, Delivery.state == DeliveryState.DELIVERED)
            .limit(1)
        )
        is not None
    )


def still_wanted(session: Session, delivery: Delivery) -> bool:
    """Whether a delivery should still go out. One that carries out an action goes to every
    webhook of the list: while the action is open, and once another of them carried it out;
    not once the action was cancelled (the incident left SEV0, was dismissed or merged) or a
    person marked it done."""
    if delivery.action_id is None:
        return True
    action = _action(session, delivery)
    return action is not None and (action.done_at is None or _sent(session, action))


def _where(delivery: Delivery, url: str) -> str:
    """The webhook as the timeline names it: by id, and its URL shortened to its origin (a
    chat tool's incoming webhook carries its secret in the path)."""
    return f"webhook {delivery.webhook_id} ({shown(url)})"


def delivered(op: Op, delivery: Delivery, url: str) -> None:
    """The notification went out: the first one marks its action done; the timeline says
    where each went."""
    action = _action(op.session, delivery)
    if action is None:
        return
    incident = op.session.get(Incident, action.incident_id)
    assert incident is not None
    where = _where(delivery, url)
    if action.done_at is None:
        finish_action(op, action, f"sent to {where}")
        summary = f"done: {action.title} (sent to {where})"
    else:
        summary = f"{action.title}: also sent to {where}"
    record(
        op, incident, EventKind.ACTION, summary, action=action.key, delivery=delivery.delivery_id
    )
    touch(op, incident)


def failed(op: Op, delivery: Delivery, url: str, error: str) -> None:
    """A notification that will not go out is said on the timeline at once, so the IC can
    tell the executives another way before the deadline (unless another of the list's
    webhooks already told them)."""
    action = _action(op.session, delivery)
    if action is None or (action.done_at is not None and not _sent(op.session, action)):
        return
    incident = op.session.get(Incident, action.incident_id)
    assert incident is not None
    where = _where(delivery, url)
    if action.done_at is None:
        advice = (
            f"tell them another way, then `warroom checklist INC-{incident.id} done {action.key}`"
        )
    else:
        advice = "the list's other webhooks have it"
    record(
        op,
        incident,
        EventKind.MISSED,
        f"{action.title}: the {where} failed ({error}); {advice}",
        action=action.key,
        delivery=delivery.delivery_id,
    )
    touch(op, incident)
