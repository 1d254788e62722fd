"""What customers are told: component status, impact, the page's indicator and uptime.

The vocabulary is Atlassian Statuspage's (integrations.md §8), so the tools that poll such
pages read warroom's unchanged. Everything here is pure: the services hand in the incidents
and components, and the clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from warroom.domain.types import PublicStatus, Severity


class ComponentStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def rank(self) -> int:
        """How bad: maintenance sits between operational and degraded."""
        return _RANK[self]


_LABELS = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED: "Degraded performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
    ComponentStatus.UNDER_MAINTENANCE: "Under maintenance",
}
_RANK = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}


class Impact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


IMPACT: dict[Severity, Impact] = {
    Severity.SEV0: Impact.CRITICAL,
    Severity.SEV1: Impact.MAJOR,
    Severity.SEV2: Impact.MINOR,
    Severity.SEV3: Impact.NONE,
}

# What an incident does to the components of its service while customers are affected.
COMPONENT_STATUS: dict[Severity, ComponentStatus] = {
    Severity.SEV0: ComponentStatus.MAJOR_OUTAGE,
    Severity.SEV1: ComponentStatus.PARTIAL_OUTAGE,
    Severity.SEV2: ComponentStatus.DEGRADED,
    Severity.SEV3: ComponentStatus.OPERATIONAL,
}

# Customers are affected until the fix is in: once an incident is monitored (or resolved)
# its components read operational again, though the incident stays on the page.
AFFECTING = frozenset({PublicStatus.INVESTIGATING, PublicStatus.IDENTIFIED})

# The body of the update published automatically when the public status changes. Nothing in
# it comes from the incident's record: internal text reaches the page only when a person
# publishes it.
STATUS_TEXT: dict[PublicStatus, str] = {
    PublicStatus.INVESTIGATING: "We are investigating this issue and will post an update soon.",
    PublicStatus.IDENTIFIED: "The cause has been identified and a fix is being implemented.",
    PublicStatus.MONITORING: "A fix has been implemented and we are monitoring the results.",
    PublicStatus.RESOLVED: "This incident has been resolved.",
}

STATUS_LABEL: dict[PublicStatus, str] = {
    PublicStatus.INVESTIGATING: "Investigating",
    PublicStatus.IDENTIFIED: "Identified",
    PublicStatus.MONITORING: "Monitoring",
    PublicStatus.RESOLVED: "Resolved",
}

_IMPACT_RANK = {Impact.NONE: 0, Impact.MINOR: 1, Impact.MAJOR: 2, Impact.CRITICAL: 3}


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=lambda status: status.rank, default=ComponentStatus.OPERATIONAL)


def component_status(
    override: ComponentStatus | None, affecting: Iterable[Severity]
) -> ComponentStatus:
    """A status set by hand wins; otherwise the worst of the incidents affecting it."""
    if override is not None:
        return override
    return worst(COMPONENT_STATUS[severity] for severity in affecting)


@dataclass(frozen=True)
class Indicator:
    indicator: str  # none, minor, major, critical, maintenance
    description: str


def indicator(impacts: Iterable[Impact], components: Iterable[ComponentStatus]) -> Indicator:
    """integrations.md §8: the worst of the unresolved incidents' impacts and the components'
    statuses (degraded or partial → minor, major outage → major); ``critical`` only from an
    incident; maintenance only when nothing is worse."""
    statuses = list(components)
    level = max((_IMPACT_RANK[impact] for impact in impacts), default=0)
    for status in statuses:
        if status in (ComponentStatus.DEGRADED, ComponentStatus.PARTIAL_OUTAGE):
            level = max(level, 1)
        elif status is ComponentStatus.MAJOR_OUTAGE:
            level = max(level, 2)
    if level == 3:
        return Indicator("critical", "Major Service Outage")
    if level == 2:
        return Indicator("major", "Partial System Outage")
    if level == 1:
        return Indicator("minor", "Minor Service Outage")
    if ComponentStatus.UNDER_MAINTENANCE in statuses:
        return Indicator("maintenance", "Service Under Maintenance")
    return Indicator("none", "All Systems Operational")


@dataclass(frozen=True)
class Outage:
    """One stretch of time a component was not operational because of an incident."""

    start: datetime
    end: datetime | None  # still going
    status: ComponentStatus


# How much of a stretch counts as downtime: a partial outage is counted at 30 %, degraded
# performance not at all (the weights Statuspage's uptime bars use).
DOWNTIME_WEIGHT = {
    ComponentStatus.MAJOR_OUTAGE: 1.0,
    ComponentStatus.PARTIAL_OUTAGE: 0.3,
}


@dataclass(frozen=True)
class Day:
    day: date
    status: ComponentStatus  # the worst of the day
    downtime: timedelta  # weighted


@dataclass(frozen=True)
class History:
    days: tuple[Day, ...]  # oldest first, today last
    uptime: float  # percent over the days shown

    @property
    def uptime_text(self) -> str:
        return f"{self.uptime:.2f} %" if self.uptime < 100 else "100 %"


def history(
    outages: Sequence[Outage], *, now: datetime, zone: tzinfo, days: int, since: datetime
) -> History:
    """Day by day (in the page's time zone) over the last ``days`` days, today included,
    counted from ``since`` when the component is younger than that."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    result = []
    total_counted = timedelta(0)
    total_down = timedelta(0)
    for offset in range(days):
        day = first + timedelta(days=offset)
        start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        end = min(start + timedelta(days=1), now)
        counted_from = max(start, since)
        status, down = _day(outages, start, end, now)
        if end > counted_from:
            total_counted += end - counted_from
            total_down += min(down, end - counted_from)
        result.append(Day(day, status, down))
    uptime = 100.0
    if total_counted > timedelta(0):
        uptime = max(0.0, 100.0 * (1 - total_down / total_counted))
    return History(tuple(result), uptime)


def _day(
    outages: Sequence[Outage], start: datetime, end: datetime, now: datetime
) -> tuple[ComponentStatus, timedelta]:
    """The worst status of a day and its downtime. Overlapping outages count once, at the
    worst weight of those going on at each moment."""
    spans = [
        (max(o.start, start), min(o.end or now, end), o.status)
        for o in outages
        if min(o.end or now, end) > max(o.start, start)
    ]
    if not spans:
        return ComponentStatus.OPERATIONAL, timedelta(0)
    cuts = sorted({moment for a, b, _ in spans for moment in (a, b)})
    down = timedelta(0)
    for left, right in itertools.pairwise(cuts):
        weight = max(
            (
                DOWNTIME_WEIGHT.get(status, 0.0)
                for a, b, status in spans
                if a <= left and b >= right
            ),
            default=0.0,
        )
        down += (right - left) * weight
    return worst(status for _, _, status in spans), down


def readable_on(hex_colour: str) -> str:
    """Black or white, whichever has the higher contrast on ``hex_colour`` (WCAG 2.1)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    on_white = 1.05 / (luminance + 0.05)
    on_black = (luminance + 0.05) / 0.05
    return "#ffffff" if on_white >= on_black else "#000000"
