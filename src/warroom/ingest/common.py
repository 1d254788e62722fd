"""What every source's parser shares: JSON decoding, label maps, times, digests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from warroom.domain.alerts import KEY_MAX, Malformed
from warroom.domain.storable import check_storable

MAX_BODY = 512 * 1024  # PagerDuty's own limit; a larger body is refused with 413


def load_json(body: bytes) -> Any:
    if not body.strip():
        raise Malformed("the body is empty: send the notification as JSON")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Malformed(f"the body is not valid JSON: {exc}") from None
    # A NUL can only come in escaped (JSON refuses a raw one): look for it in the decoded text
    # only when the escape appears, since ``\\u0000`` may be a backslash and "u0000" as text.
    if b"\\u0000" in body:
        try:
            check_storable(value, "the body", longest=None)
        except ValueError as exc:
            raise Malformed(f"{exc} (\\u0000), which no text field takes") from None
    return value


def need_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{where} must be a JSON object")
    return value


def strings(value: object, where: str) -> dict[str, str]:
    """A label map: names to strings. Numbers and booleans are written as text; nested values
    are refused, since labels are matched and grouped by exact text."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{where} must be an object of names to strings")
    if all(type(item) is str for item in value.values()):
        return value  # the usual case: already what it must be
    out: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, str):
            out[name] = item
        elif isinstance(item, bool):
            out[name] = "true" if item else "false"
        elif isinstance(item, int | float):
            out[name] = str(item)
        elif item is not None:
            raise Malformed(f"{where}.{name} must be a string")
    return out


def optional_text(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Malformed(f"{where} must be a string")
    return value


ZERO_TIME_PREFIX = "0001-01-01"  # Alertmanager's endsAt while an alert is firing


def instant(value: object, where: str) -> datetime | None:
    """An RFC 3339 / ISO 8601 time, or ``None`` for empty and Go's zero time. A time without
    an offset is refused: it would silently be read in the wrong zone."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Malformed(f"{where} must be an RFC 3339 time string")
    if value.startswith(ZERO_TIME_PREFIX):
        return None
    try:
        return _instant(value)
    except ValueError as exc:
        raise Malformed(f"{where}: {exc}") from None


@lru_cache(maxsize=4096)
def cached_instant(value: str) -> datetime | None:
    """``instant`` for a string, cached (a group's alerts and its repeat notifications carry
    the same times). Raises ``ValueError`` where ``instant`` says why."""
    if not value or value.startswith(ZERO_TIME_PREFIX):
        return None
    return _instant(value)


@lru_cache(maxsize=4096)
def _instant(value: str) -> datetime:
    """Cached: a group's alerts and its repeat notifications carry the same times."""
    text = value
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # CloudWatch's +0000
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None


def epoch_millis(value: object, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise Malformed(f"{where}: {value!r} is not epoch milliseconds") from None


def digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def bounded_key(key: str) -> str:
    """Dedup keys longer than the column are replaced by their digest (stable and unique)."""
    return key if len(key) <= KEY_MAX else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def links(value: object, where: str) -> dict[str, str]:
    """``{"runbook": "https://…"}`` or ``[{"href": "https://…", "text": "runbook"}]``."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return strings(value, where)
    if isinstance(value, list):
        links = {}
        for i, link in enumerate(value):
            if not isinstance(link, dict) or not isinstance(link.get("href"), str):
                raise Malformed(f"{where}[{i}] must be an object with an href")
            text = link.get("text")
            links[text if isinstance(text, str) and text else f"link {i + 1}"] = link["href"]
        return links
    raise Malformed(f"{where} must be an object of names to URLs or a list of {{href, text}}")
