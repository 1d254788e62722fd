"""The status-update template and cadence (§4), and incident channel names (§3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from warroom.domain.channel import channel_name
from warroom.domain.facts import IncidentFacts
from warroom.domain.policy import DEFAULT_POLICY
from warroom.domain.types import Severity, Stage, UpdateStatus
from warroom.domain.updates import (
    Course,
    LevelChange,
    UpdateText,
    default_status,
    needs_course,
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
        course=Course(),
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
        course=Course(stage_changes=changes),
        now=T0 + timedelta(minutes=90),
    )
    assert result.missed == (T0 + timedelta(minutes=30),)
    assert result.next_due is None


def test_it_leaves_the_course_unread_only_where_nothing_is_due_without_it() -> None:
    # A write skips reading the incident's course when needs_course says so: for every level,
    # declared or not, what is due next must then come out the same without it.
    def course(severity: Severity) -> Course:
        before = Severity.SEV0 if severity is Severity.SEV1 else Severity.SEV1
        return Course(
            stage_changes=[T0 + timedelta(minutes=m) for m in (5, 40, 70)],
            level_changes=[LevelChange(T0 + timedelta(minutes=20), before, severity)],
            activity=[(T0 + timedelta(minutes=50), False), (T0 + timedelta(minutes=90), True)],
        )

    now = T0 + timedelta(minutes=120)
    read = set()
    for severity in Severity:
        for declared in (True, False):
            incident = facts(severity, declared=declared)
            with_course = schedule(
                incident, DEFAULT_POLICY, updates=[], course=course(severity), now=now
            )
            without = schedule(incident, DEFAULT_POLICY, updates=[], course=Course(), now=now)
            if needs_course(incident, DEFAULT_POLICY):
                read.add((severity, declared))
            else:
                assert with_course.next_due == without.next_due is None
    # Every level with an update rule reads it: SEV0/SEV1 once declared, SEV2 always.
    assert read == {
        (Severity.SEV0, True),
        (Severity.SEV1, True),
        (Severity.SEV2, True),
        (Severity.SEV2, False),
    }


def closed_and_reopened(severity: Severity) -> IncidentFacts:
    return IncidentFacts(
        number=1,
        title="x",
        severity=severity,
        stage=Stage.INVESTIGATING,
        stage_entered_at=T0 + timedelta(hours=10),
        detected_at=T0,
        declared_at=T0,
        closed_at=T0 + timedelta(hours=1, minutes=41),
    )


def test_it_owes_no_updates_for_the_time_an_incident_was_closed() -> None:
    # SEV1, updates every 30 minutes on time, closed at 11:41, reopened at 20:00.
    updates = [T0 + timedelta(minutes=m) for m in (30, 60, 90)]
    closed, reopened = T0 + timedelta(hours=1, minutes=41), T0 + timedelta(hours=10)
    course = Course(activity=[(closed, False), (reopened, True)])
    result = schedule(
        closed_and_reopened(Severity.SEV1),
        DEFAULT_POLICY,
        updates=updates,
        course=course,
        now=reopened + timedelta(minutes=5),
    )
    assert result.missed == ()
    assert result.next_due == reopened + timedelta(minutes=30)
    # Not posted after the reopen: the misses count from the reopen.
    later = schedule(
        closed_and_reopened(Severity.SEV1),
        DEFAULT_POLICY,
        updates=updates,
        course=course,
        now=reopened + timedelta(minutes=65),
    )
    assert later.missed == (reopened + timedelta(minutes=30), reopened + timedelta(minutes=60))


def test_it_counts_a_new_level_s_cadence_from_the_change_not_from_declaration() -> None:
    # SEV1 declared at 10:00, update at 10:30, raised to SEV0 at 10:55: under SEV1 nothing
    # was missed, and SEV0's 15 minutes run from the raise.
    raised = T0 + timedelta(minutes=55)
    course = Course(level_changes=[LevelChange(raised, Severity.SEV1, Severity.SEV0)])
    result = schedule(
        facts(Severity.SEV0),
        DEFAULT_POLICY,
        updates=[T0 + timedelta(minutes=30)],
        course=course,
        now=raised + timedelta(minutes=1),
    )
    assert result.missed == ()
    assert result.next_due == raised + timedelta(minutes=15)


def test_it_keeps_the_misses_of_the_level_an_incident_had_then() -> None:
    # SEV1 declared at 10:00 and never updated, raised to SEV0 at 11:10: the SEV1 update due
    # at 10:30 and 11:00 were missed; SEV0's count starts at 11:10.
    raised = T0 + timedelta(minutes=70)
    course = Course(level_changes=[LevelChange(raised, Severity.SEV1, Severity.SEV0)])
    result = schedule(
        facts(Severity.SEV0),
        DEFAULT_POLICY,
        updates=[],
        course=course,
        now=raised + timedelta(minutes=20),
    )
    assert result.missed == (
        T0 + timedelta(minutes=30),
        T0 + timedelta(minutes=60),
        raised + timedelta(minutes=15),
    )
    assert result.next_due == raised + timedelta(minutes=15)


def test_it_keeps_what_a_sev2_owed_from_before_its_declaration() -> None:
    # Detected at 10:00, triaged at 10:01 and investigated at 10:02 without an update, then
    # declared in place: the declaration changes no SEV2 rule, so what was owed stays owed.
    changes = Course(stage_changes=[T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)])

    def declared_at(minutes: int) -> IncidentFacts:
        return replace(facts(Severity.SEV2), declared_at=T0 + timedelta(minutes=minutes))

    late = schedule(
        declared_at(45), DEFAULT_POLICY, updates=[], course=changes, now=T0 + timedelta(minutes=50)
    )
    assert late.missed == (T0 + timedelta(minutes=31), T0 + timedelta(minutes=32))
    early = schedule(
        declared_at(10), DEFAULT_POLICY, updates=[], course=changes, now=T0 + timedelta(minutes=11)
    )
    assert early.missed == ()
    assert early.next_due == T0 + timedelta(minutes=31)


def test_it_asks_no_sev2_update_for_a_move_out_of_the_active_stages() -> None:
    # SEV2, closed at 10:55 and reopened at 15:00, updated at 15:01: the closure asks for no
    # update, the reopen asks for one and got it.
    closed, reopened = T0 + timedelta(minutes=55), T0 + timedelta(hours=5)
    incident = IncidentFacts(
        number=1,
        title="x",
        severity=Severity.SEV2,
        stage=Stage.INVESTIGATING,
        stage_entered_at=reopened,
        detected_at=T0,
        closed_at=closed,
    )
    result = schedule(
        incident,
        DEFAULT_POLICY,
        updates=[reopened + timedelta(minutes=1)],
        course=Course(stage_changes=[reopened], activity=[(closed, False), (reopened, True)]),
        now=reopened + timedelta(minutes=40),
    )
    assert result.missed == ()
    assert result.next_due is None


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
