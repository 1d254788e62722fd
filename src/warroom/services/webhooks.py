"""Webhook subscriptions, and the deliveries every timeline event queues for them (the
executive list's webhooks get only the executive notification: ``services.executives``)."""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.models import Delivery, DeliveryState, TimelineEvent, Webhook
from warroom.domain.errors import BadInput, NotFound
from warroom.domain.types import WebhookAudience

if TYPE_CHECKING:
    from warroom.services.records import Op


def add(
    op: Op,
    url: str,
    secret: str | None = None,
    audience: WebhookAudience = WebhookAudience.EVENTS,
) -> Webhook:
    parts = urlsplit(url.strip())
    try:
        parsed = httpx.URL(url.strip())
        valid = parts.scheme in ("http", "https") and bool(parsed.host) and parsed.port != 0
    except (httpx.InvalidURL, ValueError):
        valid = False
    if not valid:
        raise BadInput(f"{url!r} is not a webhook URL: use http:// or https:// and a valid host")
    hook = Webhook(
        url=url.strip(),
        secret=secret or secrets.token_hex(32),
        audience=audience,
        created_at=op.now,
    )
    op.session.add(hook)
    op.session.flush()
    return hook


def row(hook: Webhook) -> dict[str, Any]:
    """A webhook as the CLI and the API show it: never its secret."""
    return {
        "id": hook.id,
        "url": hook.url,
        "audience": hook.audience.value,
        "active": hook.disabled_at is None,
        "disabled_reason": hook.disabled_reason,
    }


def listing(session: Session) -> list[Webhook]:
    return list(session.scalars(select(Webhook).order_by(Webhook.id)))


def remove(op: Op, hook_id: int) -> Webhook:
    hook = op.session.get(Webhook, hook_id)
    if hook is None:
        raise NotFound(f"webhook {hook_id} does not exist")
    if hook.disabled_at is None:
        hook.disabled_at, hook.disabled_reason = op.now, "removed"
    return hook


def enable(op: Op, hook_id: int) -> Webhook:
    """Deliver to a webhook again after it was disabled by a failing delivery or removed.
    Events from while it was disabled were not queued for it and are not sent now."""
    hook = op.session.get(Webhook, hook_id)
    if hook is None:
        raise NotFound(f"webhook {hook_id} does not exist")
    hook.disabled_at, hook.disabled_reason = None, None
    return hook


def event_payload(event: TimelineEvent, actor: str | None) -> dict[str, Any]:
    return {
        "incident": f"INC-{event.incident_id}",
        "kind": event.kind.value,
        "at": event.at.isoformat(),
        "actor": actor,
        "summary": event.summary,
        "data": event.data,
    }


# Read on every write: built once (building and keying a statement costs about what running
# it on SQLite does).
ACTIVE_EVENT_HOOKS = select(Webhook.id).where(
    Webhook.disabled_at.is_(None), Webhook.audience == WebhookAudience.EVENTS
)


def enqueue(op: Op, event: TimelineEvent, actor: str | None) -> None:
    """Queue the event for every active webhook, in the transaction that records it."""
    if op.webhooks is None:
        # Nothing this write has pending changes the webhooks: no need to flush first.
        with op.session.no_autoflush:
            op.webhooks = list(op.session.scalars(ACTIVE_EVENT_HOOKS))
    for hook_id in op.webhooks:
        op.session.add(delivery(op, hook_id, event_payload(event, actor)))


def delivery(
    op: Op, hook_id: int, payload: dict[str, Any], *, action_id: int | None = None
) -> Delivery:
    """A delivery due now, under a fresh idempotency key that every retry keeps."""
    return Delivery(
        delivery_id=str(uuid.uuid4()),
        webhook_id=hook_id,
        action_id=action_id,
        payload=payload,
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at=op.now,
        created_at=op.now,
    )
