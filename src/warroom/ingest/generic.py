"""The generic body (product.md §7) for synthetic monitors and anything else: one alert object,
or a list of them. The idempotency key is the ``Idempotency-Key`` header when the sender sets
one; without it a re-post is absorbed by the alerts' dedup keys (counted again, never a second
alert)."""

from __future__ import annotations

from typing import Any

from warroom.domain.alerts import (
    SUMMARY_MAX,
    Malformed,
    Notification,
    Observation,
    Signal,
    clip,
)
from warroom.ingest.common import bounded_key, digest, instant, links, optional_text, strings

MAX_ALERTS = 1000


def parse(data: Any, idempotency_key: str | None) -> Notification:
    items = data if isinstance(data, list) else [data]
    if not items:
        raise Malformed("the list of alerts is empty")
    if len(items) > MAX_ALERTS:
        raise Malformed(f"{len(items)} alerts in one request; send at most {MAX_ALERTS}")
    single = not isinstance(data, list)
    return Notification(
        idempotency_key,
        [_alert(item, "the body" if single else f"[{i}]") for i, item in enumerate(items)],
    )


def _alert(item: object, where: str) -> Observation:
    if not isinstance(item, dict):
        raise Malformed(f"{where} must be a JSON object with at least a summary")
    status = item.get("status", "firing")
    if status not in ("firing", "resolved"):
        raise Malformed(f"{where}.status must be firing or resolved, not {status!r}")
    summary = optional_text(item.get("summary"), f"{where}.summary")
    labels = strings(item.get("labels"), f"{where}.labels")
    service = optional_text(item.get("service"), f"{where}.service")
    key = optional_text(item.get("dedup_key"), f"{where}.dedup_key")
    if key is None:
        if summary is None:
            raise Malformed(f"{where} needs a summary (or a dedup_key to resolve)")
        key = digest([summary, service or "", *(f"{k}={v}" for k, v in sorted(labels.items()))])
    if status == "firing" and summary is None:
        raise Malformed(f"{where}.summary is required for a firing alert")
    return Observation(
        signal=Signal.FIRE if status == "firing" else Signal.RESOLVE,
        key=bounded_key(key),
        summary=clip(summary or key, SUMMARY_MAX),
        severity=optional_text(item.get("severity"), f"{where}.severity"),
        service=service,
        labels=labels,
        links=links(item.get("links"), f"{where}.links"),
        starts_at=instant(item.get("starts_at"), f"{where}.starts_at"),
        ends_at=instant(item.get("ends_at"), f"{where}.ends_at"),
    )
