"""Prometheus Alertmanager's webhook (payload version 4) and Grafana Alerting's webhook contact
point, which embeds an Alertmanager and sends the same envelope as version 1
(integrations.md §1 and §2)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
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
from warroom.ingest.common import (
    bounded_key,
    cached_instant,
    digest,
    instant,
    need_object,
    strings,
)

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
    # The hot path of a storm: one pass per alert, errors located only when there is one.
    observations = [_alert(item, i, grafana) for i, item in enumerate(alerts)]
    episodes = sorted(
        f"{o.key}|{_iso(o.starts_at) if o.starts_at else ''}|{SIGNAL_TEXT[o.signal]}"
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


SIGNALS = {"firing": Signal.FIRE, "resolved": Signal.RESOLVE}
SIGNAL_TEXT = {signal: signal.value for signal in Signal}  # an enum's .value is a slow lookup
LINKS = tuple(LINK_FIELDS.items())
ANSWERS = frozenset(ANSWER_KEYS)
_iso = lru_cache(maxsize=4096)(datetime.isoformat)  # a group's alerts share their times


def _alert(item: object, index: int, grafana: bool) -> Observation:
    if type(item) is not dict:
        raise Malformed(f"alerts[{index}] must be a JSON object")
    alert: dict[str, Any] = item
    status = alert.get("status")
    signal = SIGNALS.get(status) if type(status) is str else None
    if signal is None:
        raise Malformed(f"alerts[{index}].status must be firing or resolved, not {status!r}")
    labels = alert.get("labels")
    if type(labels) is not dict or not _texts(labels):
        labels = strings(labels, f"alerts[{index}].labels")
    annotations = alert.get("annotations")
    if type(annotations) is not dict or not _texts(annotations):
        annotations = strings(annotations, f"alerts[{index}].annotations")
    fingerprint = alert.get("fingerprint")
    if type(fingerprint) is not str or not fingerprint:
        # Older senders and hand-written bodies: the label set identifies the alert.
        fingerprint = digest(f"{k}={v}" for k, v in sorted(labels.items()))[:16]
    links = {}
    for field, name in LINKS:
        url = alert.get(field)
        if url and type(url) is str:
            links[name] = url
    if runbook := annotations.get("runbook_url"):
        links["runbook"] = runbook
    # Classifier answers may come as annotations (e.g. error_rate_pct); labels win.
    if not annotations.keys().isdisjoint(ANSWERS):
        labels = {k: v for k, v in annotations.items() if k in ANSWERS} | labels
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
        signal,
        bounded_key(fingerprint),
        clip(summary, SUMMARY_MAX),
        severity,
        labels.get("service"),
        labels,
        links,
        _time(alert.get("startsAt"), index, "startsAt"),
        _time(alert.get("endsAt"), index, "endsAt"),
    )


def _texts(values: dict[str, Any]) -> bool:
    """Every value is text. A plain loop: for a handful of labels, twice as fast as all()."""
    for value in values.values():  # noqa: SIM110
        if type(value) is not str:
            return False
    return True


def _time(value: object, index: int, name: str) -> datetime | None:
    if type(value) is str:
        try:
            return cached_instant(value)
        except ValueError:
            pass  # instant() says what is wrong with it
    return instant(value, f"alerts[{index}].{name}")
