"""Alerts from monitoring tools, in the one shape every source normalises to, and how an alert
becomes a proposal: which service, which team, which severity, and why.

Parsing a source's wire format is in :mod:`warroom.ingest`; this module only knows the result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from warroom.domain.classifier import ANSWER_KEYS, classify, parse_answers
from warroom.domain.errors import BadInput
from warroom.domain.policy import Policy, RoutingRule
from warroom.domain.types import Severity


class AlertSource(StrEnum):
    """Where an integration's alerts come from: the path segment of its ingestion URL."""

    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    DATADOG = "datadog"
    CLOUDWATCH = "cloudwatch"
    GENERIC = "generic"
    PAGERDUTY = "pagerduty"  # the PagerDuty Events API v2 at /v2/enqueue
    OPSGENIE = "opsgenie"  # the Opsgenie Alert API at /v2/alerts


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Signal(StrEnum):
    """What a notification says about one alert."""

    FIRE = "fire"
    RESOLVE = "resolve"
    ACKNOWLEDGE = "acknowledge"


class Malformed(BadInput):
    """A body the source's format does not allow: refused with 400, never retried."""


class Unsigned(BadInput):
    """A body whose signature, certificate or timestamp does not check out."""


@dataclass(slots=True)
class Observation:
    """One alert as a notification reports it, whatever the source. ``starts_at`` is ``None``
    when the sender does not say (it is then the time warroom received it)."""

    signal: Signal
    key: str
    summary: str = ""
    severity: str | None = None
    service: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    # The sender's times order its notices (CloudWatch, Datadog, Alertmanager): a firing
    # notice dated before the key's last resolution is a late retry, and dropped. PagerDuty
    # and Opsgenie say instead that a trigger after a resolve is a new alert, whatever its
    # timestamp.
    ordered: bool = True
    # Opsgenie's close/acknowledge by ``id`` or ``tiny``: warroom's alert number, not a key.
    alert_id: int | None = None


@dataclass(slots=True)
class Notification:
    """A parsed request: its idempotency key and what it says about which alerts. ``ignored``
    explains a request that is accepted and deliberately does nothing (a test alert, a state
    we do not page on)."""

    # None when the sender gives no event id: its notices are then absorbed by the alerts'
    # own dedup keys (a repeated trigger counts again), never by remembering whole bodies,
    # which would swallow the next episode of a flapping alert.
    idempotency_key: str | None
    observations: list[Observation]
    ignored: str | None = None


KEY_MAX = 255
GROUP_MAX = 300
SUMMARY_MAX = 1024


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- proposals ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """What an alert proposes for the incident it opens. A human confirms it at triage."""

    service: str | None
    team: str | None
    severity: Severity | None
    reasons: tuple[str, ...]


def group_key(labels: Mapping[str, str], service: str | None, by: tuple[str, ...]) -> str | None:
    """The grouping key, e.g. ``service=checkout``: alerts with the same key share an incident.
    ``service`` is the routed service, which may differ from the label."""
    parts = []
    for name in by:
        value = service if name == "service" else labels.get(name)
        if value:
            parts.append(f"{name}={value}")
    key = ",".join(parts)
    if len(key) > GROUP_MAX:  # the stored column's size; a digest is as good a key
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key or None


def first_rule(labels: Mapping[str, str], policy: Policy) -> RoutingRule | None:
    """The routing rule an alert's labels match first, if any."""
    for rule in policy.routing:
        if all(labels.get(name) == value for name, value in rule.match.items()):
            return rule
    return None


def routed_service(labels: Mapping[str, str], service: str | None, policy: Policy) -> str | None:
    """``propose(...).service`` without the severity: what grouping needs of every alert,
    where the rest is needed only for an alert that opens an incident."""
    rule = first_rule(labels, policy)
    return service_name(rule.service if rule is not None and rule.service else service)


def propose(
    labels: Mapping[str, str],
    hint: str | None,
    service: str | None,
    policy: Policy,
) -> Proposal:
    """Routing rules first (the first matching rule wins), then the source's severity hint,
    then the classifier on any classifier answers the alert carries (e.g. an annotation
    ``error_rate_pct``). The most severe of what is known is proposed, with every reason."""
    reasons: list[str] = []
    team = None
    candidates: list[Severity] = []
    rule = first_rule(labels, policy)
    if rule is not None:
        described = ", ".join(f"{k}={v}" for k, v in rule.match.items()) or "every alert"
        if rule.service:
            service = rule.service
        team = rule.team
        if rule.severity is not None:
            candidates.append(rule.severity)
            reasons.append(f"routing rule {described} proposes {rule.severity.value}")
        else:
            reasons.append(f"routing rule {described} routes to {service or team}")
    if hint:
        mapped = policy.alerts.severity_map.get(hint.strip().lower())
        if mapped is None and _looks_like_severity(hint):
            mapped = Severity.parse(hint)
        if mapped is not None:
            candidates.append(mapped)
            reasons.append(f"the alert's severity {hint!r} maps to {mapped.value}")
    answers = {key: labels[key] for key in ANSWER_KEYS if key in labels}
    if answers:
        try:
            classification = classify(parse_answers(_typed(answers)), policy)
        except BadInput as exc:
            reasons.append(f"classifier answers ignored: {exc}")
        else:
            candidates.append(classification.severity)
            reasons.extend(classification.reasons)
    # The most severe: SEV0 < SEV1 < … as text, so no key function per alert of a storm.
    severity = min(candidates) if candidates else None
    return Proposal(service_name(service), team, severity, tuple(reasons))


def service_name(text: str | None) -> str | None:
    """Services are named in lower case, 1-100 characters; anything else names none (the
    integration's service applies), so a sender's odd label cannot stop grouping."""
    if text is None:
        return None
    cleaned = text.strip().lower()
    return cleaned if 0 < len(cleaned) <= 100 else None


def _looks_like_severity(text: str) -> bool:
    try:
        Severity.parse(text)
    except ValueError:
        return False
    return True


def _typed(answers: Mapping[str, str]) -> dict[str, object]:
    """Labels are strings; the classifier wants booleans and numbers."""
    typed: dict[str, object] = {}
    for key, value in answers.items():
        lowered = value.strip().lower()
        if lowered in ("true", "yes"):
            typed[key] = True
        elif lowered in ("false", "no"):
            typed[key] = False
        else:
            try:
                typed[key] = float(lowered)
            except ValueError:
                typed[key] = value.strip()
    return typed
