"""Durations as people write them in configuration and commands: ``90s``, ``15m``, ``4h``."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([dhms])")
_WHOLE = re.compile(r"^(?:\d+[dhms])+$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# Longer than any rule waits (the longest default is a post-mortem's 48h), and far enough from
# the calendar's end that adding it to any stored time stays a time.
LONGEST = timedelta(days=365)
# Written back in hours at most: policies speak of "48h", not "2d".
_FORMAT_UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``15m``, ``4h``, ``2d`` or a combination such as ``1h30m``."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or not _WHOLE.match(compact):
        raise ValueError(f"expected a duration like 90s, 15m or 4h, got {text!r}")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(compact))
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"{text!r} is longer than a duration may be (365d)")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """An exact form in hours, minutes and seconds: ``15m``, ``48h``, ``1h30m``, ``45s``."""
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts = []
    for unit, size in _FORMAT_UNITS.items():
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def humanize(value: timedelta) -> str:
    """A rounded reading for people: ``12m``, ``3h 5m``, ``2d 4h``."""
    total = int(abs(value.total_seconds()))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"
