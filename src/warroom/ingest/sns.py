"""Amazon SNS message signatures (integrations.md §4): the certificate URL checked before it is
fetched, SignatureVersion 1 (SHA-1) and 2 (SHA-256) verified with the certificate's key, the
topic allowlisted and the message not older than SNS's retry window."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from warroom.domain.alerts import Malformed, Unsigned
from warroom.domain.errors import Unavailable
from warroom.ingest.common import instant

# The AWS SDKs' pattern: SNS's own hosts only, never S3 or another amazonaws.com host.
SNS_HOST = re.compile(r"^sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?$")
# SNS retries for at most an hour; a little clock skew on top.
MAX_AGE = timedelta(hours=1, minutes=5)
SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_KEYS["UnsubscribeConfirmation"] = SIGNED_KEYS["SubscriptionConfirmation"]
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


def fetch_https(url: str) -> bytes:
    """GET without following redirects: a redirect could lead off SNS's hosts."""
    response = httpx.get(url, timeout=5.0, follow_redirects=False)
    response.raise_for_status()
    return response.content


@dataclass
class SnsVerifier:
    """Checks SNS messages. The fetcher and host pattern are injectable so tests can sign
    messages with their own key and certificate."""

    host: re.Pattern[str] = SNS_HOST
    fetch: Callable[[str], bytes] = fetch_https
    _keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check_url(self, url: object, what: str) -> str:
        if not isinstance(url, str):
            raise Unsigned(f"{what} is missing")
        parts = urlsplit(url)
        if (
            parts.scheme != "https"
            or parts.username is not None
            or parts.password is not None
            or parts.port not in (None, 443)
            or not self.host.match(parts.hostname or "")
        ):
            raise Unsigned(f"{what} {url!r} is not an https URL on an SNS host")
        return url

    def verify(self, message: dict[str, Any], topics: list[str], now: datetime) -> None:
        kind = message.get("Type")
        keys = SIGNED_KEYS.get(kind) if isinstance(kind, str) else None
        if keys is None:
            raise Malformed(f"Type {kind!r} is not an SNS message type")
        version = message.get("SignatureVersion")
        algorithm = HASHES.get(version) if isinstance(version, str) else None
        if algorithm is None:
            raise Unsigned(f"SignatureVersion {version!r} is not supported (use 1 or 2)")
        cert_url = self.check_url(message.get("SigningCertURL"), "SigningCertURL")
        if not cert_url.endswith(".pem"):
            raise Unsigned("SigningCertURL does not name a .pem certificate")
        text = ""
        for key in keys:
            value = message.get(key)
            if value is None and key == "Subject":
                continue
            if not isinstance(value, str):
                raise Malformed(f"{key} is missing from the SNS message")
            text += f"{key}\n{value}\n"
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except ValueError:
            raise Unsigned("Signature is not base64") from None
        try:
            self._key(cert_url).verify(signature, text.encode(), padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise Unsigned("the SNS signature does not match the message") from None
        if message.get("TopicArn") not in topics:
            raise Unsigned(f"topic {message.get('TopicArn')!r} is not allowed for this integration")
        sent = instant(message.get("Timestamp"), "Timestamp")
        if sent is None or now - sent > MAX_AGE:
            raise Unsigned("the SNS message is older than SNS's one-hour retry window")

    def _key(self, url: str) -> rsa.RSAPublicKey:
        with self._lock:
            if url in self._keys:
                return self._keys[url]
        try:
            pem = self.fetch(url)
        except httpx.HTTPError as exc:
            # SNS retries a 5xx; a 4xx would lose the message for a passing network fault.
            raise Unavailable(f"the signing certificate cannot be fetched: {exc}") from None
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise Unsigned(f"the signing certificate cannot be read: {exc}") from None
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise Unsigned("the signing certificate does not hold an RSA key")
        with self._lock:
            self._keys[url] = key
        return key

    def confirm(self, message: dict[str, Any]) -> None:
        """Confirm a subscription by visiting its SubscribeURL (checked like the certificate)."""
        url = self.check_url(message.get("SubscribeURL"), "SubscribeURL")
        self.fetch(url)
