"""Outbound webhooks: the event as JSON, signed, with a stable delivery id.

Receivers verify ``Warroom-Signature: t=<unix seconds>,v1=<hex>``, the HMAC-SHA256 of
``"<t>." + body`` with the webhook's secret, reject old timestamps, and drop repeats of a
``Warroom-Delivery-Id`` they have seen: delivery is at least once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from warroom.notify.http import post


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def send(
    url: str, secret: str, *, delivery_id: str, payload: dict[str, Any], now: datetime
) -> None:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(now.timestamp())
    post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "warroom-webhook/1",
            "Warroom-Delivery-Id": delivery_id,
            "Warroom-Signature": signature(secret, timestamp, body),
        },
    )
