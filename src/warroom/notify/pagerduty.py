"""PagerDuty Events API v2: one alert per page, keyed by the page's dedup key.

Trigger opens (or adds to) the alert; acknowledge and resolve refer to it by the same
``dedup_key``. A 400 means the routing key or the event is wrong: permanent. 429 and 5xx
are temporary (the HTTP seam classifies them).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from warroom.notify import Message, TransportError
from warroom.notify.http import post

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

SUMMARY_LIMIT = 1024
DEDUP_KEY_LIMIT = 255
SEVERITIES = {"SEV0": "critical", "SEV1": "critical", "SEV2": "error", "SEV3": "warning"}
DEFAULT_SEVERITY = "error"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dedup_key(key: str) -> str:
    """The page's key, or its SHA-256 when PagerDuty would refuse it as too long: the same
    page always maps to the same key, so acknowledge and resolve still find the alert."""
    if len(key) <= DEDUP_KEY_LIMIT:
        return key
    return "warroom-" + hashlib.sha256(key.encode()).hexdigest()


def event(routing_key: str, message: Message) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": message.event,
        "dedup_key": dedup_key(message.dedup_key),
    }
    if message.event != "trigger":
        return body
    summary = " ".join(message.subject.split()) or f"{message.incident}: {message.title}"
    body["payload"] = {
        "summary": _cut(summary, SUMMARY_LIMIT),
        "source": "warroom",
        "severity": SEVERITIES.get(message.severity or "", DEFAULT_SEVERITY),
        "custom_details": {
            "incident": message.incident,
            "title": message.title,
            **({"severity": message.severity} if message.severity else {}),
            **message.details,
        },
    }
    body["client"] = "warroom"
    if message.incident_url:
        body["client_url"] = message.incident_url
    if message.ack_url:
        body["links"] = [{"href": message.ack_url, "text": "Acknowledge in warroom"}]
    return body


def send_pagerduty(routing_key: str, message: Message, *, url: str = EVENTS_URL) -> None:
    content = json.dumps(event(routing_key, message), separators=(",", ":")).encode()
    try:
        response = post(
            url,
            content=content,
            headers={"Content-Type": "application/json", "User-Agent": "warroom-pagerduty/1"},
        )
    except TransportError as exc:
        verdict = "rejected the event" if exc.permanent else "did not take the event"
        raise TransportError(f"PagerDuty {verdict}: {exc}", permanent=exc.permanent) from None
    if response.status_code != 202:
        raise TransportError(
            f"PagerDuty answered HTTP {response.status_code}, expected 202", permanent=False
        )
