"""The Opsgenie Alert API (integrations.md §6): create at ``POST /v2/alerts``, close and
acknowledge by alias or id, ``Authorization: GenieKey <key>``; every answer is a 202 "Request
will be processed" as Opsgenie gives it, or its 422 for an invalid body."""

from __future__ import annotations

import re
from typing import Any

from warroom.domain.alerts import Notification, Observation, Signal
from warroom.ingest.common import body_digest, bounded_key, strings

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
IDENTIFIER_TYPES = ("id", "alias", "tiny")


class Invalid(Exception):
    """An Opsgenie request it would answer 422 to."""


def create(data: Any, body: bytes) -> Notification:
    if not isinstance(data, dict):
        raise Invalid("The request body must be a JSON object.")
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        raise Invalid("Message can not be empty.")
    if len(message) > 130:
        raise Invalid("Message can not be longer than 130 characters.")
    alias = data.get("alias")
    if alias is not None and (not isinstance(alias, str) or len(alias) > 512):
        raise Invalid("Alias must be a string of at most 512 characters.")
    priority = data.get("priority", "P3")
    if priority not in PRIORITIES:
        raise Invalid("Priority should be one of P1, P2, P3, P4, P5.")
    tags = data.get("tags") or []
    if not isinstance(tags, list) or len(tags) > 20 or not all(isinstance(t, str) for t in tags):
        raise Invalid("Tags must be a list of at most 20 strings.")
    details = strings(data.get("details"), "details")  # Malformed: answered 422 as well
    labels = {tag: "" for tag in tags} | details
    for name in ("entity", "source"):
        if isinstance(data.get(name), str):
            labels[name] = data[name]
    digest = body_digest(body)
    return Notification(
        None,
        [
            Observation(
                signal=Signal.FIRE,
                key=bounded_key(alias or digest[:32]),
                summary=message.strip(),
                severity=priority,
                service=details.get("service"),
                labels=labels,
                ordered=False,
            )
        ],
    )


def act(signal: Signal, identifier: str, identifier_type: str, body: bytes) -> Notification:
    """Close or acknowledge. ``id`` and ``tiny`` name warroom's alert number."""
    if identifier_type not in IDENTIFIER_TYPES:
        raise Invalid("identifierType should be one of id, alias or tiny.")
    if "\x00" in identifier or len(identifier) > 512:
        raise Invalid("The identifier is not a valid alias or id.")
    if identifier_type == "alias":
        return Notification(None, [Observation(signal=signal, key=bounded_key(identifier))])
    if not re.fullmatch(r"[0-9]{1,18}", identifier):
        raise Invalid(f"{identifier_type} {identifier!r} is not an alert number.")
    return Notification(
        None, [Observation(signal=signal, key=identifier, alert_id=int(identifier))]
    )
