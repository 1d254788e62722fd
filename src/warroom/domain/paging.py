"""Paging rules that need no database: escalation policies, their tiers and targets, and how a
page moves from tier to tier.

A policy is *copied onto the page* when paging starts (:class:`Snapshot`), so editing the
policy never changes a page in flight. Targets are resolved to people when their tier is paged,
not before: whoever is on call at that moment is the one paged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from warroom.domain.durations import format_duration, parse_duration
from warroom.domain.types import normalise_handle


class ContactKind(StrEnum):
    """How a person is reached. PagerDuty and Opsgenie are for teams that keep those as their
    pager: the address is the integration's routing key or API key."""

    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"
    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"


class PageKind(StrEnum):
    PAGE = "page"  # escalates tier by tier until acknowledged
    NOTIFY = "notify"  # told once, nothing to acknowledge (SEV2's on-call, the executives)


class PageState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    EXHAUSTED = "exhausted"  # every tier and repeat paged, nobody acknowledged
    ENDED = "ended"  # the incident resolved, was dismissed or merged first; or told once


class DeliveryEvent(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


LEVEL = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
TARGET_KINDS = ("person", "team", "schedule")
DEFAULT_TIERS = ("primary", "secondary", "lead")
MAX_TIERS = 10
MAX_REPEAT = 5


def parse_target(text: str) -> str:
    """A tier target in its normal form, or ValueError naming what is wrong:

    - ``primary``, ``secondary`` (any schedule level): the paged team's on-call at that level;
    - ``lead``: the paged team's lead;
    - ``person:HANDLE``; ``team:NAME`` (that team's primary); ``schedule:NAME[:LEVEL]``;
    - ``all-hands``: everyone on the all-hands list.
    """
    cleaned = text.strip().lower()
    kind, _, rest = cleaned.partition(":")
    if not rest:
        if cleaned in ("lead", "all-hands") or LEVEL.match(cleaned):
            return cleaned
        raise ValueError(f"{text!r} is not a tier target")
    if kind not in TARGET_KINDS:
        raise ValueError(
            f"{text!r} is not a tier target: the prefix must be one of {', '.join(TARGET_KINDS)}"
        )
    parts = rest.split(":")
    if kind == "schedule" and len(parts) == 2 and parts[0] and LEVEL.match(parts[1]):
        return f"schedule:{parts[0]}:{parts[1]}"
    if len(parts) != 1 or not parts[0]:
        raise ValueError(f"{text!r} is not a tier target")
    name = parts[0]
    if kind == "person":
        name = normalise_handle(name)
    return f"{kind}:{name}"


@dataclass(frozen=True)
class Tier:
    targets: tuple[str, ...]
    # None: the severity's acknowledge target, decided when paging starts.
    timeout: timedelta | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets),
            "timeout": format_duration(self.timeout) if self.timeout else None,
        }


def tiers_from_json(data: list[dict[str, Any]]) -> tuple[Tier, ...]:
    return tuple(
        Tier(
            tuple(item["targets"]),
            parse_duration(item["timeout"]) if item.get("timeout") else None,
        )
        for item in data
    )


def parse_tier(text: str) -> Tier:
    """``primary``, ``primary,person:lee``, ``secondary@10m``: targets separated by commas, an
    optional timeout after ``@``."""
    spec, _, timeout = text.partition("@")
    targets = tuple(parse_target(part) for part in spec.split(",") if part.strip())
    if not targets:
        raise ValueError(f"{text!r} names no target")
    if not timeout.strip():
        return Tier(targets)
    duration = parse_duration(timeout.strip())
    if duration < timedelta(seconds=30) or duration > timedelta(hours=24):
        raise ValueError(f"{text!r}: a tier timeout is between 30s and 24h")
    return Tier(targets, duration)


def check_policy(tiers: tuple[Tier, ...], repeat: int) -> None:
    if not tiers:
        raise ValueError("an escalation policy needs at least one tier")
    if len(tiers) > MAX_TIERS:
        raise ValueError(f"an escalation policy has at most {MAX_TIERS} tiers")
    if not 0 <= repeat <= MAX_REPEAT:
        raise ValueError(f"repeat is between 0 and {MAX_REPEAT}")


@dataclass(frozen=True)
class Snapshot:
    """What a page follows, copied when it starts: the tiers with their timeouts decided, the
    repeat count, and the team whose schedule ``primary``/``secondary``/``lead`` refer to."""

    policy: str  # the policy's name, or how the tiers were chosen
    team: str | None
    tiers: tuple[Tier, ...]
    repeat: int

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "team": self.team,
            "tiers": [tier.as_json() for tier in self.tiers],
            "repeat": self.repeat,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            policy=data["policy"],
            team=data.get("team"),
            tiers=tiers_from_json(data["tiers"]),
            repeat=int(data.get("repeat", 0)),
        )

    def timeout(self, tier: int) -> timedelta:
        timeout = self.tiers[tier].timeout
        assert timeout is not None, "a snapshot's timeouts are decided when paging starts"
        return timeout


def snapshot(
    policy: str, team: str | None, tiers: tuple[Tier, ...], repeat: int, default: timedelta
) -> Snapshot:
    """Copy a policy for one page, with every open timeout set to ``default`` (the severity's
    acknowledge target)."""
    decided = tuple(Tier(tier.targets, tier.timeout or default) for tier in tiers)
    return Snapshot(policy, team, decided, repeat)


def next_step(page: Snapshot, tier: int, round_: int) -> tuple[int, int] | None:
    """The tier and round to page after ``tier`` of ``round_`` went unacknowledged; None once
    the last tier of the last repeat is done."""
    if tier + 1 < len(page.tiers):
        return tier + 1, round_
    if round_ < page.repeat:
        return 0, round_ + 1
    return None
