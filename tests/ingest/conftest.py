"""Ingestion under test: a real uvicorn serving the app on a real database, integrations made
through the service, the worker's grouping step run by the test, and an SNS certificate of the
test's own so it can sign messages as SNS does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from tests.conftest import World
from tests.web.conftest import serving
from warroom.db.alert_models import Alert, AlertIntake, InboundRequest
from warroom.db.models import Incident
from warroom.domain.alerts import AlertSource
from warroom.ingest.sns import SIGNED_KEYS, SnsVerifier
from warroom.jobs.grouping import group_alerts
from warroom.services import integrations
from warroom.services.reading import timeline
from warroom.web.app import create_app

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ingest"
GRAFANA_SECRET = "grafana-shared-secret-0123456789"
TOPIC = "arn:aws:sns:eu-west-1:111122223333:warroom-alarms"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class SnsSigner:
    """Signs SNS messages with the test's own key; its certificate is what the verifier's
    fetcher (the outbound HTTP seam) returns."""

    key: rsa.RSAPrivateKey
    pem: bytes
    fetched: list[str] = field(default_factory=list)

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem

    def sign(self, message: dict[str, Any], version: str | None = None) -> bytes:
        message = dict(message)
        if version:
            message["SignatureVersion"] = version
        text = "".join(f"{k}\n{message[k]}\n" for k in SIGNED_KEYS[message["Type"]] if k in message)
        algorithm = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()  # noqa: S303 - SNS's SignatureVersion 1 is SHA1withRSA
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        message["Signature"] = base64.b64encode(signature).decode()
        return json.dumps(message).encode()


@pytest.fixture(scope="session")
def signer_key() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def signer(signer_key: tuple[rsa.RSAPrivateKey, bytes]) -> SnsSigner:
    return SnsSigner(*signer_key)


@dataclass
class Sender:
    """Posts to a running warroom as the monitoring tools do, and reads what it stored."""

    http: httpx.Client
    world: World
    signer: SnsSigner
    keys: dict[AlertSource, str] = field(default_factory=dict)

    def key(self, source: AlertSource, **options: Any) -> str:
        if source not in self.keys:
            _, key = self.world.act(
                "admin",
                lambda op: integrations.create(
                    op, source, "checkout", None, integrations.Options(**options)
                ),
            )
            self.keys[source] = key
        return self.keys[source]

    def post(
        self, source: AlertSource, body: bytes, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        options: dict[str, Any] = {}
        if source is AlertSource.GRAFANA:
            options["secret"] = GRAFANA_SECRET
        if source is AlertSource.CLOUDWATCH:
            options["topics"] = (TOPIC,)
        key = self.key(source, **options)
        return self.http.post(
            f"/api/v1/ingest/{source.value}/{key}",
            content=body,
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    def grafana(self, name: str, secret: str = GRAFANA_SECRET) -> httpx.Response:
        body = fixture(f"grafana/{name}")
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return self.post(AlertSource.GRAFANA, body, {"X-Grafana-Alerting-Signature": signature})

    def sns(self, name: str, version: str | None = None, **changes: Any) -> httpx.Response:
        message = json.loads(fixture(f"cloudwatch/{name}")) | changes
        return self.post(
            AlertSource.CLOUDWATCH,
            self.signer.sign(message, version),
            {
                "Content-Type": "text/plain; charset=UTF-8",
                "x-amz-sns-message-type": message["Type"],
                "x-amz-sns-message-id": message["MessageId"],
            },
        )

    def pagerduty(self, name: str, routing_key: str | None = None) -> httpx.Response:
        text = fixture(f"pagerduty/{name}").decode()
        key = routing_key or self.key(AlertSource.PAGERDUTY)
        return self.http.post(
            "/v2/enqueue",
            content=text.replace("<routing_key>", key),
            headers={"Content-Type": "application/json"},
        )

    def opsgenie(self, path: str, name: str, key: str | None = None) -> httpx.Response:
        return self.http.post(
            path,
            content=fixture(f"opsgenie/{name}"),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"GenieKey {key or self.key(AlertSource.OPSGENIE)}",
            },
        )

    # --- what was stored ------------------------------------------------------------------

    def group(self) -> int:
        runtime = self.world.runtime
        return group_alerts(runtime.sessions, runtime.policy, now=runtime.clock())

    def alerts(self) -> list[Alert]:
        """The alerts, once the ingestion writer has folded its intake into them (within
        ``SETTLE_SECONDS`` of a 2xx on SQLite; at once on PostgreSQL)."""
        deadline = time.monotonic() + 10
        while self.waiting():
            assert time.monotonic() < deadline, "the intake was not folded into alerts"
            time.sleep(0.01)
        with self.world.runtime.reading() as session:
            return list(session.scalars(select(Alert).order_by(Alert.id)))

    def waiting(self) -> int:
        """Firing notices in the intake, not folded into alerts yet."""
        with self.world.runtime.reading() as session:
            return int(session.scalar(select(func.count()).select_from(AlertIntake)) or 0)

    def incidents(self) -> list[Incident]:
        with self.world.runtime.reading() as session:
            return list(session.scalars(select(Incident).order_by(Incident.id)))

    def requests(self) -> list[InboundRequest]:
        with self.world.runtime.reading() as session:
            return list(session.scalars(select(InboundRequest).order_by(InboundRequest.id)))

    def timeline(self, number: int) -> list[str]:
        with self.world.runtime.reading() as session:
            return [event["summary"] for event in timeline(session, number)]


@pytest.fixture
def sender(world: World, signer: SnsSigner) -> Iterator[Sender]:
    app = create_app(world.runtime, sns=SnsVerifier(fetch=signer.fetch))
    with serving(app) as http:
        yield Sender(http, world, signer)
