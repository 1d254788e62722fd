"""Outbound transports. Each says whether a failure is permanent or worth a retry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Message:
    """What a page or notification says, whatever carries it."""

    # Stable across every retry of this delivery.
    idempotency_key: str
    # Stable for the whole page (PagerDuty dedup_key, Opsgenie alias), so trigger,
    # acknowledge and resolve refer to one alert.
    dedup_key: str
    event: Literal["trigger", "acknowledge", "resolve"]
    incident: str  # "INC-42"
    title: str
    severity: str | None  # "SEV0".."SEV3"
    subject: str  # one line
    # Plain-text body; already includes the acknowledge link when there is one.
    text: str
    ack_url: str | None = None
    incident_url: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
