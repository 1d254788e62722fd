"""Integrations: one per sender and service, each with its own key, shown once and stored as a
hash. The key in the ingestion URL (or the PagerDuty routing key, or the GenieKey) finds it."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.alert_models import Integration
from warroom.domain.alerts import AlertSource
from warroom.domain.errors import BadInput, NotFound
from warroom.domain.types import Severity
from warroom.ingest.store import Sender
from warroom.revocations import revoked
from warroom.services.records import Op, service

TOPIC_ARN = re.compile(r"^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Options:
    """What a source needs beyond its key; validated when the integration is created."""

    secret: str | None = None  # Grafana: the HMAC secret
    signature_header: str | None = None  # Grafana: default X-Grafana-Alerting-Signature
    timestamp_header: str | None = None  # Grafana: set when Grafana sends a timestamp
    topics: tuple[str, ...] = ()  # CloudWatch: the SNS topics allowed to post
    rate_limit: int | None = None  # requests per minute; more are answered 429
    severity: str | None = None  # the severity hint when an alert carries none


NAME_LENGTH = 100  # integrations.name


def create(
    op: Op, source: AlertSource, service_name: str, name: str | None, options: Options
) -> tuple[Integration, str]:
    """A new integration; its key is returned once and never stored."""
    if name is None:
        # Named after its source and service unless told otherwise: cut to the name's length
        # (a service name may be as long as the whole of it).
        label = f"{source.value}-{service_name.strip()}"[:NAME_LENGTH]
    else:
        label = name.strip()
        if not label or len(label) > NAME_LENGTH:
            raise BadInput(
                f"an integration's name is 1-{NAME_LENGTH} characters: --name TEXT "
                f"(it was {len(label)})"
            )
    stored: dict[str, Any] = {}
    if options.rate_limit is not None:
        if not 1 <= options.rate_limit <= 1_000_000:
            raise BadInput("--rate-limit: give requests per minute, 1 to 1000000")
        stored["rate_limit"] = options.rate_limit
    if options.severity is not None:
        stored["severity"] = options.severity.strip().lower()
        if not stored["severity"] or len(stored["severity"]) > 32:
            raise BadInput("--severity: give a severity hint such as critical or SEV2")
        if re.fullmatch(r"sev\s*-?\s*\d", stored["severity"]):
            try:
                stored["severity"] = Severity.parse(stored["severity"]).value
            except ValueError as exc:
                raise BadInput(f"--severity: {exc}") from None
    if source is AlertSource.CLOUDWATCH:
        if not options.topics:
            raise BadInput(
                "a cloudwatch integration needs the SNS topics allowed to post: --topic ARN"
            )
        for topic in options.topics:
            if not TOPIC_ARN.match(topic):
                raise BadInput(f"--topic {topic!r} is not an SNS topic ARN")
        stored["topics"] = list(options.topics)
    elif options.topics:
        raise BadInput("--topic applies to cloudwatch integrations only")
    if options.secret is not None and source is not AlertSource.GRAFANA:
        raise BadInput("--secret applies to grafana integrations only (the HMAC signature)")
    if source is not AlertSource.GRAFANA and (options.signature_header or options.timestamp_header):
        raise BadInput("--signature-header and --timestamp-header apply to grafana only")
    if source is AlertSource.GRAFANA:
        for header, value in (
            ("signature_header", options.signature_header),
            ("timestamp_header", options.timestamp_header),
        ):
            if value is not None:
                if not HEADER_NAME.match(value):
                    raise BadInput(f"{value!r} is not an HTTP header name")
                stored[header] = value
        if options.secret is not None and len(options.secret) < 16:
            raise BadInput("--secret: use at least 16 characters")
    key = secrets.token_hex(16)  # 32 characters, the shape of a PagerDuty routing key
    integration = Integration(
        source=source,
        name=label,
        service=service(op, service_name),
        key_hash=key_hash(key),
        prefix=key[:6],
        secret=options.secret,
        options=stored,
        created_at=op.now,
    )
    op.session.add(integration)
    op.session.flush()
    return integration, key


def row(integration: Integration) -> dict[str, Any]:
    """An integration as the CLI and API show it: never its key, nor its HMAC secret."""
    return {
        "id": integration.id,
        "source": integration.source.value,
        "name": integration.name,
        "service": integration.service.name,
        "prefix": integration.prefix,
        "signed": integration.secret is not None,
        "options": dict(integration.options),
        "created_at": integration.created_at.isoformat(),
        "revoked": integration.revoked_at is not None,
    }


def listing(session: Session) -> list[Integration]:
    return list(session.scalars(select(Integration).order_by(Integration.id)))


def revoke(op: Op, integration_id: int) -> Integration:
    integration = op.session.get(Integration, integration_id)
    if integration is None:
        raise NotFound(f"integration {integration_id} does not exist")
    if integration.revoked_at is None:
        integration.revoked_at = op.now
        revoked(op.session)
    return integration


@dataclass(frozen=True)
class Found:
    """An active integration, found by its key."""

    sender: Sender
    secret: str | None
    options: dict[str, Any]


def find(session: Session, key: str) -> Found | None:
    """The active integration this key belongs to. The hash lookup is the comparison; no key
    is compared character by character."""
    if not key or len(key) > 200:
        return None
    integration = session.scalars(
        select(Integration).where(
            Integration.key_hash == key_hash(key), Integration.revoked_at.is_(None)
        )
    ).one_or_none()
    if integration is None:
        return None
    return Found(
        Sender(
            integration.id,
            integration.source,
            integration.service.name,
            integration.options.get("severity"),
        ),
        integration.secret,
        dict(integration.options),
    )
