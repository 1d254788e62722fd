"""Prometheus Alertmanager's webhook (payload version 4) and Grafana Alerting's webhook contact
point, which embeds an Alertmanager and sends the same envelope as version 1
(integrations.md §1 and §2)."""

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
from warroom.domain.classifier import ANSWER_KEYS
from warroom.ingest.common import bounded_key, digest, instant, need_object, strings

LINK_FIELDS = {
    "generatorURL": "source",
    "dashboardURL": "dashboard",
    "panelURL": "panel",
    "silenceURL": "silence",
    "imageURL": "image",
}
# Grafana's synthetic alerts about the data source rather than the service.
DATA_QUALITY = frozenset({"DatasourceNoData", "DatasourceError"})
GRAFANA_TEST = "TestAlert"


def parse(data: Any, *, grafana: bool = False) -> Notification:
    body = need_object(data, "the body")
    version = body.get("version")
    expected = "1" if grafana else "4"
    if grafana and "orgId" not in body and version == "4":
        raise Malformed("this is an Alertmanager notification: send it to the alertmanager URL")
    if version != expected:
        sender = "Grafana's webhook contact point" if grafana else "Alertmanager's webhook"
        raise Malformed(
            f"version {version!r} is not {sender} format version {expected}; a custom payload "
            "template replaces the format warroom reads, so remove it"
        )
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise Malformed("alerts must be a list")
    observations = [_alert(item, f"alerts[{i}]", grafana) for i, item in enumerate(alerts)]
    episodes = sorted(
        f"{o.key}|{o.starts_at.isoformat() if o.starts_at else ''}|{o.signal.value}"
        for o in observations
    )
    key = digest([str(body.get("groupKey", "")), str(body.get("status", "")), *episodes])
    if (
        grafana
        and observations
        and all(o.labels.get("alertname") == GRAFANA_TEST for o in observations)
    ):
        return Notification(key, [], ignored="Grafana's contact point test: received, nobody paged")
    return Notification(key, observations)


def _alert(item: object, where: str, grafana: bool) -> Observation:
    alert = need_object(item, where)
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        raise Malformed(f"{where}.status must be firing or resolved, not {status!r}")
    labels = strings(alert.get("labels"), f"{where}.labels")
    annotations = strings(alert.get("annotations"), f"{where}.annotations")
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        # Older senders and hand-written bodies: the label set identifies the alert.
        fingerprint = digest(f"{k}={v}" for k, v in sorted(labels.items()))[:16]
    links = {
        name: url
        for field, name in LINK_FIELDS.items()
        if isinstance(url := alert.get(field), str) and url
    }
    if runbook := annotations.get("runbook_url"):
        links["runbook"] = runbook
    # Classifier answers may come as annotations (e.g. error_rate_pct); labels win.
    carried = {k: v for k, v in annotations.items() if k in ANSWER_KEYS}
    severity = labels.get("severity")
    if grafana and labels.get("alertname") in DATA_QUALITY:
        # No data is a problem with the data source, not proof the service is down.
        labels.setdefault("kind", "data-quality")
        severity = severity or "warning"
    summary = (
        annotations.get("summary")
        or annotations.get("description")
        or labels.get("alertname")
        or f"alert {fingerprint}"
    )
    return Observation(
        signal=Signal.FIRE if status == "firing" else Signal.RESOLVE,
        key=bounded_key(fingerprint),
        summary=clip(summary, SUMMARY_MAX),
        severity=severity,
        service=labels.get("service"),
        labels=carried | labels,
        links=links,
        starts_at=instant(alert.get("startsAt"), f"{where}.startsAt"),
        ends_at=instant(alert.get("endsAt"), f"{where}.endsAt"),
    )
