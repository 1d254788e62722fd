"""The status-update template and cadence (§4), and incident channel names (§3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warroom.domain.channel import channel_name
from warroom.domain.facts import IncidentFacts
from warroom.domain.policy import DEFAULT_POLICY
from warroom.domain.types import Severity, Stage, UpdateStatus
from warroom.domain.updates import (
    UpdateText,
    counts_stage_changes,
    default_status,
    render,
    schedule,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_it_renders_the_update_template_exactly() -> None:
    text = render(
        number=3,
        at=T0 + timedelta(minutes=31, seconds=40),
        status=UpdateStatus.IDENTIFIED,
        text=UpdateText(
            "Checkout errors", "EU customers", "Cause found", "Roll out fix", "20 minutes"
        ),
        next_update=T0 + timedelta(hours=1, minutes=1),
    )
    assert text == (
        "[2026-03-02 10:31 UTC] Update #3 - Identified\n"
        "Current Status: Identified\n"
        "Issue: Checkout errors\n"
        "Impact: EU customers\n"
        "Progress: Cause found\n"
        "Next Steps: Roll out fix\n"
        "ETA: 20 minutes\n"
        "Next Update: [2026-03-02 11:01 UTC]"
    )


def test_it_says_next_milestone_when_there_is_no_cadence() -> None:
    text = render(
        number=1,
        at=T0,
        status=UpdateStatus.INVESTIGATING,
        text=UpdateText("a", "b", "c", "d"),
        next_update=None,
    )
    assert text.endswith("ETA: Unknown\nNext Update: at the next milestone")


def test_it_defaults_the_status_from_the_stage() -> None:
    assert default_status(Stage.DECLARED) is UpdateStatus.INVESTIGATING
    assert default_status(Stage.MITIGATED) is UpdateStatus.IDENTIFIED
    assert default_status(Stage.RESOLVED) is UpdateStatus.MONITORING
    assert default_status(Stage.MONITORING) is UpdateStatus.MONITORING


def facts(severity: Severity, declared: bool = True) -> IncidentFacts:
    return IncidentFacts(
        number=1,
        title="x",
        severity=severity,
        stage=Stage.INVESTIGATING,
        stage_entered_at=T0,
        detected_at=T0,
        declared_at=T0 if declared else None,
    )


def test_it_counts_the_cadence_from_declaration_then_from_each_update() -> None:
    updates = [T0 + timedelta(minutes=10), T0 + timedelta(minutes=50)]
    result = schedule(
        facts(Severity.SEV1),
        DEFAULT_POLICY,
        updates=updates,
        stage_changes=[],
        now=T0 + timedelta(minutes=55),
    )
    assert result.missed == (T0 + timedelta(minutes=40),)
    assert result.next_due == T0 + timedelta(minutes=80)


def test_it_wants_a_sev2_update_within_30_minutes_of_each_stage_change() -> None:
    changes = [T0, T0 + timedelta(minutes=40)]
    result = schedule(
        facts(Severity.SEV2, declared=False),
        DEFAULT_POLICY,
        updates=[T0 + timedelta(minutes=45)],
        stage_changes=changes,
        now=T0 + timedelta(minutes=90),
    )
    assert result.missed == (T0 + timedelta(minutes=30),)
    assert result.next_due is None


def test_it_leaves_stage_changes_unread_only_where_the_schedule_ignores_them() -> None:
    # A write skips reading the stage changes when counts_stage_changes says so: for every
    # level, declared or not, the schedule must then come out the same without them.
    changes = [T0 + timedelta(minutes=m) for m in (5, 40, 70)]
    now = T0 + timedelta(minutes=120)
    counted = set()
    for severity in Severity:
        for declared in (True, False):
            incident = facts(severity, declared=declared)
            with_changes = schedule(
                incident, DEFAULT_POLICY, updates=[], stage_changes=changes, now=now
            )
            without = schedule(incident, DEFAULT_POLICY, updates=[], stage_changes=[], now=now)
            if counts_stage_changes(incident, DEFAULT_POLICY):
                counted.add((severity, declared))
                assert with_changes != without
            else:
                assert with_changes == without
    # SEV2's after-stage-change rule, and no cadenced level, needs them by default.
    assert (Severity.SEV2, True) in counted
    assert not any(severity in (Severity.SEV0, Severity.SEV1) for severity, _ in counted)


def test_it_names_the_channel_after_the_utc_date_and_topic() -> None:
    late_evening = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert channel_name("API experiencing elevated error rates!", late_evening) == (
        "incident-2026-03-02-api-experiencing-elevated-error-rates"
    )
    assert channel_name("Ünïcode & spaces -- here", T0) == "incident-2026-03-02-n-code-spaces-here"


def test_it_keeps_channel_names_within_80_characters_with_a_suffix() -> None:
    name = channel_name("x" * 200, T0, suffix=12)
    assert len(name) == 80
    assert name.endswith("x-12")


def test_it_refuses_instants_beyond_the_calendar() -> None:
    import pytest

    from warroom.domain.timefmt import parse_instant

    for text in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"):
        with pytest.raises(ValueError, match="not a time"):
            parse_instant(text)
