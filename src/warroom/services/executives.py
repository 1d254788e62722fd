"""The SEV0 executive notification (product.md §1), sent through the outbox.

Declaring a SEV0 asks for the ``notify-executives`` action. In the same transaction, a
delivery to every webhook whose audience is the executive list is queued; the first one that
goes out marks the action done, so the 15-minute deadline only checks that it went out. With
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
    Incident,
    Webhook,
)
from warroom.domain.timefmt import utc_text
from warroom.domain.types import EventKind, WebhookAudience
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


def _open_action(session: Session, delivery: Delivery) -> Action | None:
    """The action a delivery carries out, while it is still open."""
    action = session.get(Action, delivery.action_id) if delivery.action_id else None
    if action is None or action.done_at is not None or action.cancelled_at is not None:
        return None
    return action


def still_wanted(session: Session, delivery: Delivery) -> bool:
    """Whether a delivery should still go out: one that carries out an action only while
    that action is open."""
    return delivery.action_id is None or _open_action(session, delivery) is not None


def delivered(op: Op, delivery: Delivery, url: str) -> None:
    """The notification went out: its action is done, and the timeline says where to."""
    action = _open_action(op.session, delivery)
    if action is None:
        return  # another of the list's webhooks got there first, or it is no longer wanted
    incident = op.session.get(Incident, action.incident_id)
    assert incident is not None
    finish_action(op, action, f"sent to {url}")
    record(
        op,
        incident,
        EventKind.ACTION,
        f"done: {action.title} (sent to {url})",
        action=action.key,
        delivery=delivery.delivery_id,
    )
    touch(op, incident)


def failed(op: Op, delivery: Delivery, url: str, error: str) -> None:
    """A notification that will not go out is said on the timeline at once, so the IC can
    tell the executives another way before the deadline."""
    action = _open_action(op.session, delivery)
    if action is None:
        return
    incident = op.session.get(Incident, action.incident_id)
    assert incident is not None
    record(
        op,
        incident,
        EventKind.MISSED,
        f"{action.title}: the webhook {url} failed ({error}); tell them another way, then "
        f"`warroom checklist INC-{incident.id} done {action.key}`",
        action=action.key,
        delivery=delivery.delivery_id,
    )
    touch(op, incident)
