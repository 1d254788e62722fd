"""The one outbound HTTP seam: every transport posts through here."""

from __future__ import annotations

import threading

import httpx

from warroom.notify import TransportError

TIMEOUT_SECONDS = 10.0
RETRYABLE_STATUSES = frozenset({408, 425, 429})

# One client for the process: making one costs tens of milliseconds (its TLS context), which a
# page should not wait for, and it keeps connections to a receiver alive between sends.
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(timeout=TIMEOUT_SECONDS, limits=httpx.Limits(max_connections=64))
        return _client


def shown(url: str) -> str:
    """A URL as errors, logs and the API show it: its origin only when it has a path, a query
    or credentials, where chat tools put an incoming webhook's secret."""
    try:
        parsed = httpx.URL(url)
        origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
    except (httpx.InvalidURL, ValueError, UnicodeDecodeError):
        return "(an invalid URL)"
    if parsed.raw_path not in (b"", b"/") or parsed.userinfo:
        return f"{origin}/…"
    return url


def post(url: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST and classify the outcome: 2xx returns; 5xx, 408/429 and network errors are
    temporary; any other status is permanent."""
    try:
        response = client().post(url, content=content, headers=headers)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
        raise TransportError(f"invalid URL {shown(url)}: {exc}", permanent=True) from None
    except httpx.HTTPError as exc:  # the network, or an answer that cannot be read
        raise TransportError(f"{type(exc).__name__}: {exc}", permanent=False) from None
    if response.is_success:
        return response
    permanent = response.status_code < 500 and response.status_code not in RETRYABLE_STATUSES
    raise TransportError(f"HTTP {response.status_code} from {shown(url)}", permanent=permanent)
