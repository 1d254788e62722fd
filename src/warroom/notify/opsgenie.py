"""Opsgenie Alert API v2: one alert per page, its alias the page's dedup key.

Trigger creates the alert; acknowledge and close address it by alias. Opsgenie answers 202
and processes the request later. 401/403 (a bad or under-privileged key) and 422 (a request
it will never accept) are permanent; 429 and 5xx are temporary (the HTTP seam classifies).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from warroom.notify import Message, TransportError
from warroom.notify.http import post

API_URL = "https://api.opsgenie.com"

MESSAGE_LIMIT = 130
ALIAS_LIMIT = 512
DESCRIPTION_LIMIT = 15000
NOTE_LIMIT = 25000
DETAIL_VALUE_LIMIT = 8000  # the whole details map is limited to 8000 characters
TAG_LIMIT = 50
PRIORITIES = {"SEV0": "P1", "SEV1": "P2", "SEV2": "P3", "SEV3": "P4"}
DEFAULT_PRIORITY = "P3"
NOTES = {"acknowledge": "Acknowledged in warroom", "resolve": "Resolved in warroom"}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alias(key: str) -> str:
    """The page's key, or its SHA-256 when Opsgenie would refuse it as too long."""
    if len(key) <= ALIAS_LIMIT:
        return key
    return "warroom-" + hashlib.sha256(key.encode()).hexdigest()


def _details(message: Message) -> dict[str, str]:
    details = {"incident": message.incident, "title": message.title}
    if message.severity:
        details["severity"] = message.severity
    if message.ack_url:
        details["ack_url"] = message.ack_url
    if message.incident_url:
        details["incident_url"] = message.incident_url
    details.update(message.details)
    # Opsgenie caps the whole map: keep what fits, in this order.
    kept: dict[str, str] = {}
    budget = DETAIL_VALUE_LIMIT
    for key, value in details.items():
        cost = len(key) + len(value)
        if cost > budget:
            continue
        kept[key] = value
        budget -= cost
    return kept


def request(message: Message) -> tuple[str, dict[str, Any]]:
    """The path (under the base URL) and JSON body for the message's event."""
    key = alias(message.dedup_key)
    if message.event == "trigger":
        summary = " ".join(message.subject.split()) or f"{message.incident}: {message.title}"
        tags = ["warroom", *([message.severity] if message.severity else [])]
        return "/v2/alerts", {
            "message": _cut(summary, MESSAGE_LIMIT),
            "alias": key,
            "description": _cut(message.text, DESCRIPTION_LIMIT),
            "priority": PRIORITIES.get(message.severity or "", DEFAULT_PRIORITY),
            "source": "warroom",
            "details": _details(message),
            "tags": [_cut(tag, TAG_LIMIT) for tag in tags],
        }
    action = "acknowledge" if message.event == "acknowledge" else "close"
    note = f"{NOTES[message.event]}: {message.incident} {message.title}"
    return (
        f"/v2/alerts/{quote(key, safe='')}/{action}?identifierType=alias",
        {"source": "warroom", "note": _cut(note, NOTE_LIMIT)},
    )


def send_opsgenie(api_key: str, message: Message, *, base_url: str = API_URL) -> None:
    path, body = request(message)
    try:
        response = post(
            base_url.rstrip("/") + path,
            content=json.dumps(body, separators=(",", ":")).encode(),
            headers={
                "Authorization": f"GenieKey {api_key}",
                "Content-Type": "application/json",
                "User-Agent": "warroom-opsgenie/1",
            },
        )
    except TransportError as exc:
        verdict = "rejected the request" if exc.permanent else "did not take the request"
        raise TransportError(f"Opsgenie {verdict}: {exc}", permanent=exc.permanent) from None
    if response.status_code != 202:
        raise TransportError(
            f"Opsgenie answered HTTP {response.status_code}, expected 202", permanent=False
        )
