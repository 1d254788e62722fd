"""Grafana's optional HMAC signature (integrations.md §2): lowercase hex of HMAC-SHA256 over the
body, or over ``timestamp:body`` when Grafana is set to send a timestamp header."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from warroom.domain.alerts import Unsigned

DEFAULT_SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
WINDOW = timedelta(minutes=5)


def check_signature(
    secret: str, options: Mapping[str, Any], body: bytes, headers: Mapping[str, str], now: datetime
) -> None:
    """``headers`` have lower-case names. Raises :class:`Unsigned` naming what is wrong."""
    name = options.get("signature_header", DEFAULT_SIGNATURE_HEADER)
    signature = headers.get(name.lower(), "").strip().lower()
    if not signature:
        raise Unsigned(f"the {name} header is missing: this integration is signed (HMAC)")
    signed = body
    if stamp_header := options.get("timestamp_header"):
        stamp = headers.get(stamp_header.lower(), "")
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 11:
            raise Unsigned(f"the {stamp_header} header is missing or not Unix seconds")
        if abs(now - datetime.fromtimestamp(int(stamp), now.tzinfo)) > WINDOW:
            raise Unsigned(f"{stamp_header} is more than 5 minutes from now")
        signed = stamp.encode() + b":" + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Unsigned(f"the {name} signature does not match the body")
