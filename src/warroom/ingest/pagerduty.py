"""The PagerDuty Events API v2 (integrations.md §5): ``POST /v2/enqueue``, the routing key in
the body. Its answers are PagerDuty's: 202 with the dedup key, 400 ``invalid event`` with the
reasons."""

from __future__ import annotations

from typing import Any

from warroom.domain.alerts import SUMMARY_MAX, Malformed, Notification, Observation, Signal
from warroom.ingest.common import body_digest, instant, links, strings

ACTIONS = {"trigger": Signal.FIRE, "acknowledge": Signal.ACKNOWLEDGE, "resolve": Signal.RESOLVE}
SEVERITIES = ("critical", "error", "warning", "info")
LEGACY = ("service_key", "incident_key", "event_type", "description")


class InvalidEvent(Exception):
    """An event PagerDuty would answer 400 to; ``errors`` are its reasons."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def routing_key(data: Any) -> str:
    if not isinstance(data, dict):
        raise InvalidEvent(["The event must be a JSON object."])
    if any(name in data for name in LEGACY) and "routing_key" not in data:
        raise InvalidEvent(
            ["Events API v1 fields (service_key, event_type) are not accepted: send v2 events."]
        )
    key = data.get("routing_key")
    if not isinstance(key, str) or not key:
        raise InvalidEvent(["'routing_key' is missing or blank."])
    return key


def parse(data: dict[str, Any], body: bytes) -> Notification:
    errors: list[str] = []
    action = data.get("event_action")
    signal = ACTIONS.get(action) if isinstance(action, str) else None
    if signal is None:
        errors.append("'event_action' must be one of trigger, acknowledge or resolve.")
    dedup = data.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not dedup or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of 1-255 characters.")
        dedup = None
    payload = data.get("payload")
    if signal is not Signal.FIRE and dedup is None and not errors:
        errors.append("'dedup_key' is required to acknowledge or resolve.")
    summary = ""
    severity = None
    labels: dict[str, str] = {}
    starts_at = None
    if signal is Signal.FIRE or isinstance(payload, dict):
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object.")
            payload = {}
        given = payload.get("summary")
        if isinstance(given, str) and given.strip():
            summary = given
            if len(summary) > SUMMARY_MAX:
                errors.append(f"'payload.summary' is longer than {SUMMARY_MAX} characters.")
        elif signal is Signal.FIRE:
            errors.append("'payload.summary' is missing or blank.")
        source = payload.get("source")
        if signal is Signal.FIRE and (not isinstance(source, str) or not source.strip()):
            errors.append("'payload.source' is missing or blank.")
        severity = payload.get("severity")
        if signal is Signal.FIRE and severity not in SEVERITIES:
            errors.append("'payload.severity' must be one of critical, error, warning or info.")
        for name in ("source", "component", "group", "class"):
            if isinstance(payload.get(name), str):
                labels[name] = payload[name]
        try:
            labels |= strings(
                {
                    k: v
                    for k, v in (payload.get("custom_details") or {}).items()
                    if isinstance(v, str | int | float | bool)
                }
                if isinstance(payload.get("custom_details"), dict)
                else {},
                "payload.custom_details",
            )
            starts_at = instant(payload.get("timestamp"), "payload.timestamp")
        except Malformed as exc:
            errors.append(exc.message)
    if errors:
        raise InvalidEvent(errors)
    assert signal is not None
    try:
        named = links(data.get("links"), "links")
    except Malformed as exc:
        raise InvalidEvent([exc.message]) from None
    digest = body_digest(body)
    return Notification(
        None,
        [
            Observation(
                signal=signal,
                # A trigger without a dedup key gets one derived from the event, so a retry
                # of the same event is answered with the same key.
                key=dedup or digest[:32],
                summary=summary,
                severity=severity if isinstance(severity, str) else None,
                service=labels.get("service"),  # custom_details.service; else the integration's
                labels=labels,
                links=named,
                starts_at=starts_at if signal is Signal.FIRE else None,
                ends_at=starts_at if signal is Signal.RESOLVE else None,
                ordered=False,
            )
        ],
    )
