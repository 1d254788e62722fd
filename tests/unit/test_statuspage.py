"""The status page's arithmetic: component status, the page's indicator, uptime by day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from warroom.domain.statuspage import (
    ComponentStatus,
    Impact,
    Outage,
    component_status,
    history,
    indicator,
    readable_on,
)
from warroom.domain.types import Severity

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=365)


def test_it_derives_a_components_status_from_its_worst_incident_unless_set() -> None:
    assert component_status(None, []) is ComponentStatus.OPERATIONAL
    assert component_status(None, [Severity.SEV2, Severity.SEV0]) is ComponentStatus.MAJOR_OUTAGE
    assert (
        component_status(ComponentStatus.UNDER_MAINTENANCE, [Severity.SEV1])
        is ComponentStatus.UNDER_MAINTENANCE
    )


@pytest.mark.parametrize(
    ("impacts", "components", "expected"),
    [
        ([], [ComponentStatus.OPERATIONAL], ("none", "All Systems Operational")),
        ([], [ComponentStatus.UNDER_MAINTENANCE], ("maintenance", "Service Under Maintenance")),
        ([], [ComponentStatus.DEGRADED], ("minor", "Minor Service Outage")),
        ([Impact.MINOR], [ComponentStatus.MAJOR_OUTAGE], ("major", "Partial System Outage")),
        ([Impact.CRITICAL], [ComponentStatus.OPERATIONAL], ("critical", "Major Service Outage")),
        (
            [Impact.NONE],
            [ComponentStatus.UNDER_MAINTENANCE, ComponentStatus.PARTIAL_OUTAGE],
            ("minor", "Minor Service Outage"),
        ),
    ],
)
def test_it_takes_the_worst_of_incidents_and_components_for_the_indicator(
    impacts: list[Impact], components: list[ComponentStatus], expected: tuple[str, str]
) -> None:
    found = indicator(impacts, components)
    assert (found.indicator, found.description) == expected


def test_it_counts_overlapping_outages_once_at_their_worst_weight() -> None:
    start = NOW - timedelta(hours=6)
    outages = [
        Outage(start, start + timedelta(hours=2), ComponentStatus.MAJOR_OUTAGE),
        Outage(start, start + timedelta(hours=2), ComponentStatus.MAJOR_OUTAGE),
        # A partial outage overlapping the major one's second hour, then an hour alone.
        Outage(
            start + timedelta(hours=1), start + timedelta(hours=3), ComponentStatus.PARTIAL_OUTAGE
        ),
    ]
    result = history(outages, now=NOW, zone=UTC, days=1, since=LONG_AGO)
    [today] = result.days
    assert today.status is ComponentStatus.MAJOR_OUTAGE
    assert today.downtime == timedelta(hours=2) + 0.3 * timedelta(hours=1)
    assert result.uptime == pytest.approx(100 * (1 - 2.3 / 12))


def test_it_ignores_degraded_performance_for_uptime_but_shows_it() -> None:
    outages = [
        Outage(NOW - timedelta(days=1, hours=2), NOW - timedelta(days=1), ComponentStatus.DEGRADED)
    ]
    result = history(outages, now=NOW, zone=UTC, days=7, since=LONG_AGO)
    assert result.uptime == 100.0
    assert result.uptime_text == "100 %"
    assert [d.status for d in result.days].count(ComponentStatus.DEGRADED) == 1


def test_it_splits_days_in_the_pages_time_zone_and_counts_an_ongoing_outage() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    # 23:30 to 00:30 Tokyo time: two local days, half an hour each; still going at NOW.
    outages = [
        Outage(
            datetime(2026, 3, 9, 14, 30, tzinfo=UTC),
            datetime(2026, 3, 9, 15, 30, tzinfo=UTC),
            ComponentStatus.MAJOR_OUTAGE,
        ),
        Outage(NOW - timedelta(minutes=10), None, ComponentStatus.MAJOR_OUTAGE),
    ]
    result = history(outages, now=NOW, zone=tokyo, days=3, since=LONG_AGO)
    by_day = {d.day.isoformat(): d.downtime for d in result.days}
    assert by_day["2026-03-09"] == timedelta(minutes=30)
    assert by_day["2026-03-10"] == timedelta(minutes=40)  # 30 past midnight, and the last 10


def test_it_counts_uptime_only_since_the_component_existed() -> None:
    since = NOW - timedelta(hours=10)
    outages = [Outage(NOW - timedelta(hours=1), NOW, ComponentStatus.MAJOR_OUTAGE)]
    result = history(outages, now=NOW, zone=UTC, days=90, since=since)
    assert result.uptime == pytest.approx(90.0)


def test_it_picks_readable_text_for_the_brand_colour() -> None:
    assert readable_on("#0b5cad") == "#ffffff"
    assert readable_on("#ffd33d") == "#000000"
