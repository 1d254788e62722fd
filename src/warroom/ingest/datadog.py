"""Datadog's Webhooks integration with warroom's template (integrations.md §3,
docs/integrations/datadog.md). Every value is a string; a variable Datadog did not fill in
arrives literally (``$ALERT_CYCLE_KEY``) and counts as missing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from warroom.domain.alerts import (
    SUMMARY_MAX,
    Malformed,
    Notification,
    Observation,
    Signal,
    clip,
)
from warroom.ingest.common import bounded_key, epoch_millis, load_json, need_object

FIRING = {"triggered", "re-triggered", "renotify"}
WARNING = {"warn", "re-warn", "no data", "re-no data"}
RECOVERED = {"recovered"}


def decode(body: bytes, content_type: str) -> Any:
    """JSON, or the same fields form-encoded when "Encode as form" is ticked."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            fields = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise Malformed("the form-encoded body cannot be read") from None
        if any("\x00" in value for value in fields.values()):
            raise Malformed("the body contains a NUL character, which no text field takes")
        return fields
    return load_json(body)


def _field(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return None if not text or text.startswith("$") else text


def parse(data: Any) -> Notification:
    body = need_object(data, "the body")
    event_id = _field(body, "id")
    monitor = _field(body, "alert_id")
    if event_id is None or monitor is None:
        raise Malformed(
            "id and alert_id are required: use warroom's Datadog template "
            "(docs/integrations/datadog.md), which sends $ID and $ALERT_ID"
        )
    transition = (_field(body, "transition") or "").lower()
    alert_type = (_field(body, "alert_type") or "").lower()
    if transition in RECOVERED or (not transition and alert_type == "success"):
        signal = Signal.RESOLVE
    elif transition in FIRING or transition in WARNING:
        signal = Signal.FIRE
    else:
        return Notification(
            event_id, [], ignored=f"Datadog transition {transition or 'none'!r} pages no one"
        )
    scope = ",".join(sorted(part.strip() for part in (_field(body, "scope") or "").split(",")))
    labels = _tags(_field(body, "tags"))
    for name in ("host", "metric", "aggreg_key", "alert_cycle_key"):
        if value := _field(body, name):
            labels[name] = value
    labels["monitor_id"] = monitor
    severity = _field(body, "priority") or ("warning" if transition in WARNING else alert_type)
    summary = _field(body, "alert_title") or _field(body, "event_title") or f"monitor {monitor}"
    links = {name: url for name in ("link", "snapshot") if (url := _field(body, name))}
    when = epoch_millis(_field(body, "date"), "date")
    observation = Observation(
        signal=signal,
        key=bounded_key(f"{monitor}|{scope}"),
        summary=clip(summary, SUMMARY_MAX),
        severity=severity or None,
        service=labels.get("service"),
        labels=labels,
        links={"datadog" if name == "link" else name: url for name, url in links.items()},
        starts_at=when,
        ends_at=when if signal is Signal.RESOLVE else None,
    )
    return Notification(event_id, [observation])


def _tags(text: str | None) -> dict[str, str]:
    """``env:prod, service:api, canary`` -> ``{"env": "prod", "service": "api", "canary": ""}``."""
    tags: dict[str, str] = {}
    for tag in (text or "").split(","):
        name, _, value = tag.strip().partition(":")
        if name:
            tags[name] = value
    return tags
