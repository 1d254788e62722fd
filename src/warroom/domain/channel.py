"""The incident channel's name: ``incident-YYYY-MM-DD-topic`` within Slack's naming rules."""

from __future__ import annotations

import re
from datetime import datetime

from warroom.domain.timefmt import as_utc

MAX_LENGTH = 80
_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")


def channel_name(title: str, declared_at: datetime, *, suffix: int = 1) -> str:
    """Lowercase; runs of other characters become ``-``; the topic is cut so the whole name,
    with any ``-N`` suffix, stays within 80 characters. The date is the UTC date."""
    prefix = f"incident-{as_utc(declared_at):%Y-%m-%d}"
    topic = _DASHES.sub("-", _NOT_ALLOWED.sub("-", title.lower())).strip("-_")
    tail = f"-{suffix}" if suffix > 1 else ""
    room = MAX_LENGTH - len(prefix) - len(tail) - 1
    topic = topic[:room].strip("-_")
    name = f"{prefix}-{topic}" if topic else prefix
    return name + tail
