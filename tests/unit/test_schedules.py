"""On-call schedule arithmetic: hand-offs in local time across DST, layers, overrides, shifts.

Properties are checked with Hypothesis on schedules in zones with different DST rules (northern
and southern hemisphere, none, a 30-minute shift), worked examples pin exact UTC instants.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from warroom.domain.schedules import (
    MAX_RANGE,
    Layer,
    Override,
    Restriction,
    Schedule,
    Shift,
    calendar,
    handoffs,
    levels,
    on_call,
    shifts,
)

PROPERTY = settings(max_examples=100, deadline=None, database=None, derandomize=True)

BERLIN = ZoneInfo("Europe/Berlin")
TICK = timedelta(microseconds=1)
MINUTE = timedelta(minutes=1)
ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",  # southern hemisphere: summer time from October to April
    "Asia/Kolkata",  # no DST, and a half-hour offset
    "Australia/Lord_Howe",  # a 30-minute DST shift
)
DST_ZONES = tuple(zone for zone in ZONES if zone != "Asia/Kolkata")
# Chile changes its clocks at midnight: the skipped or repeated hour straddles two dates.
ALL_ZONES = (*ZONES, "America/Santiago")
# The 2026 changes of those zones: ranges drawn near them cross a change most of the time.
DST_CHANGES = (
    date(2026, 3, 8),  # New York springs forward
    date(2026, 3, 29),  # Berlin springs forward
    date(2026, 4, 5),  # Sydney, Lord Howe and Santiago fall back
    date(2026, 9, 6),  # Santiago springs forward
    date(2026, 10, 4),  # Sydney and Lord Howe spring forward
    date(2026, 10, 25),  # Berlin falls back
    date(2026, 11, 1),  # New York falls back
)
PEOPLE = ("ana", "bo", "chen", "dara", "emeka", "fei")
LEVELS = ("primary", "secondary")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int, minute: int, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def weekly(*people: str, handoff: datetime, level: str = "primary", name: str = "rota") -> Layer:
    return Layer(name, level, people, handoff)


# Strategies. Everything is on whole minutes so that every instant at which the answer can
# change is a whole minute too (the zones' offsets and transitions are): sampling each minute
# is then exhaustive.

# Wall times, with the ones DST skips or repeats in these zones drawn often.
walls = st.one_of(
    st.builds(time, st.integers(0, 23), st.integers(0, 59)),
    st.sampled_from(
        [time(0, 0), time(0, 30), time(1, 30), time(2, 0), time(2, 30), time(3, 0), time(23, 30)]
    ),
)
# Wall times that exist every day in every zone of ZONES: DST skips nothing outside 02:00-03:00.
existing_walls = st.builds(
    time, st.sampled_from([h for h in range(24) if h != 2]), st.integers(0, 59)
)
minutes_near_changes = st.builds(
    lambda day, minutes: datetime.combine(day, time(), UTC) + timedelta(minutes=minutes),
    st.sampled_from(DST_CHANGES),
    st.integers(-10 * 24 * 60, 3 * 24 * 60),
)


@st.composite
def restrictions(draw: st.DrawFn) -> Restriction:
    start = draw(walls)
    end = draw(walls.filter(lambda wall: wall != start))
    return Restriction(start, end)


@st.composite
def layers(draw: st.DrawFn, zone: str, level: st.SearchStrategy[str]) -> Layer:
    people = draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4, unique=True))
    local = datetime.combine(
        draw(st.dates(date(2025, 6, 1), date(2026, 12, 31))),
        draw(walls),
        tzinfo=ZoneInfo(zone),
    ).replace(fold=draw(st.integers(0, 1)))
    # Given in UTC or in the zone alike: only the local wall time and date count.
    handoff = local.astimezone(UTC) if draw(st.booleans()) else local
    return Layer(
        name=f"layer-{draw(st.integers(0, 99))}",
        level=draw(level),
        participants=tuple(people),
        handoff=handoff,
        rotation_days=draw(st.sampled_from([1, 2, 7, 14])),
        restriction=draw(st.none() | restrictions()),
    )


@st.composite
def overrides(draw: st.DrawFn) -> Override:
    start = draw(minutes_near_changes)
    length = timedelta(minutes=draw(st.integers(1, 5 * 24 * 60)))
    return Override(
        draw(st.sampled_from(LEVELS)), draw(st.sampled_from(PEOPLE)), start, start + length
    )


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    zone = draw(st.sampled_from(ALL_ZONES))
    return Schedule(
        name="payments",
        zone=zone,
        layers=tuple(draw(st.lists(layers(zone, st.sampled_from(LEVELS)), min_size=1, max_size=3))),
        overrides=tuple(draw(st.lists(overrides(), max_size=3))),
    )


@st.composite
def ranges(draw: st.DrawFn, longest: timedelta = timedelta(days=14)) -> tuple[datetime, datetime]:
    start = draw(minutes_near_changes)
    length = draw(st.integers(1, int(longest / MINUTE)))
    return start, start + length * MINUTE


def covering(found: list[Shift], at: datetime) -> str | None:
    """Who ``found`` says is on call at ``at``, read from the shifts alone."""
    people = [shift.person for shift in found if shift.start <= at < shift.end]
    assert len(people) <= 1, f"shifts overlap at {at}"
    return people[0] if people else None


def local_wall(moment: datetime, zone: str) -> time:
    return moment.astimezone(ZoneInfo(zone)).time().replace(fold=0)


# shifts agrees with on_call


@PROPERTY
@given(schedule=schedules(), level=st.sampled_from(LEVELS), span=ranges(), data=st.data())
def test_it_agrees_with_on_call_at_shift_edges_in_gaps_and_at_random_instants(
    schedule: Schedule, level: str, span: tuple[datetime, datetime], data: st.DataObject
) -> None:
    start, end = span
    found = shifts(schedule, level, start, end)
    for shift in found:
        assert on_call(schedule, level, shift.start) == shift.person
        assert on_call(schedule, level, shift.end - TICK) == shift.person
        if shift.end < end and covering(found, shift.end) is None:
            assert on_call(schedule, level, shift.end) is None
    if not found or found[0].start > start:
        assert on_call(schedule, level, start) is None
    offsets = st.integers(0, (end - start) // TICK - 1)
    for offset in data.draw(st.lists(offsets, min_size=1, max_size=25)):
        at = start + offset * TICK
        assert on_call(schedule, level, at) == covering(found, at)


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(schedule=schedules(), level=st.sampled_from(LEVELS), span=ranges(timedelta(days=1)))
def test_it_agrees_with_on_call_at_every_minute_of_a_day(
    schedule: Schedule, level: str, span: tuple[datetime, datetime]
) -> None:
    start, end = span
    found = shifts(schedule, level, start, end)
    at = start
    while at < end:
        assert on_call(schedule, level, at) == covering(found, at), at
        at += MINUTE


@PROPERTY
@given(schedule=schedules(), level=st.sampled_from(LEVELS), span=ranges())
def test_it_returns_sorted_disjoint_merged_shifts_within_the_range(
    schedule: Schedule, level: str, span: tuple[datetime, datetime]
) -> None:
    start, end = span
    found = shifts(schedule, level, start, end)
    layer_names = {layer.name for layer in schedule.layers if layer.level == level}
    for shift in found:
        assert start <= shift.start < shift.end <= end
        assert shift.start.utcoffset() == shift.end.utcoffset() == timedelta(0)
        assert shift.level == level
        assert shift.source in layer_names | {"override"}
    for before, after in pairwise(found):
        assert before.end <= after.start
        if before.end == after.start:
            assert (before.person, before.source) != (after.person, after.source)


@PROPERTY
@given(
    zone=st.sampled_from(ALL_ZONES),
    layer=st.sampled_from(ALL_ZONES).flatmap(lambda zone: layers(zone, st.just("primary"))),
    span=ranges(timedelta(days=60)),
)
def test_it_leaves_no_gap_with_one_unrestricted_layer(
    zone: str, layer: Layer, span: tuple[datetime, datetime]
) -> None:
    start, end = span
    schedule = Schedule(
        "payments",
        zone,
        (Layer("rota", "primary", layer.participants, layer.handoff, layer.rotation_days),),
    )
    found = shifts(schedule, "primary", start, end)
    assert found[0].start == start
    assert found[-1].end == end
    for before, after in pairwise(found):
        assert before.end == after.start


# Hand-offs in local time


@PROPERTY
@given(
    zone=st.sampled_from(ALL_ZONES),
    people=st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=6, unique=True),
    first=st.dates(date(2025, 1, 1), date(2026, 12, 31)),
    wall=walls,
    weeks_later=st.integers(-60, 60),
)
def test_it_gives_each_of_n_people_exactly_one_shift_every_n_weeks(
    zone: str, people: list[str], first: date, wall: time, weeks_later: int
) -> None:
    layer = Layer(
        "rota", "primary", tuple(people), datetime.combine(first, wall, tzinfo=ZoneInfo(zone))
    )
    schedule = Schedule("payments", zone, (layer,))
    # Start at a hand-off, before or after the first one: the rotation extends both ways.
    near = datetime.combine(first, time(), UTC) + timedelta(weeks=weeks_later)
    begin = handoffs(schedule, layer, near, near + timedelta(days=8))[0]
    weeks = len(people)
    found = shifts(schedule, "primary", begin, begin + timedelta(weeks=weeks, days=1))
    ends = handoffs(schedule, layer, begin, begin + timedelta(weeks=weeks, days=1))
    assert len(ends) == weeks + 1
    cycle = [shift for shift in found if shift.start < ends[-1]]
    assert Counter(shift.person for shift in cycle) == Counter(people)
    assert [shift.start for shift in cycle] == ends[:-1]
    if weeks > 1:
        assert [shift.end for shift in cycle] == ends[1:]


@PROPERTY
@given(
    zone=st.sampled_from(ZONES),
    first=st.dates(date(2025, 1, 1), date(2026, 12, 31)),
    wall=existing_walls,
    rotation_days=st.integers(1, 14),
)
def test_it_hands_off_at_the_same_local_time_across_daylight_saving(
    zone: str, first: date, wall: time, rotation_days: int
) -> None:
    tz = ZoneInfo(zone)
    layer = Layer(
        "rota", "primary", ("ana", "bo"), datetime.combine(first, wall, tzinfo=tz), rotation_days
    )
    schedule = Schedule("payments", zone, (layer,))
    start = datetime.combine(first, time(), UTC) - timedelta(days=180)
    found = handoffs(schedule, layer, start, start + timedelta(days=366))
    local = [moment.astimezone(tz) for moment in found]
    assert all(moment.time() == wall for moment in local)
    assert all((moment.date() - first).days % rotation_days == 0 for moment in local)
    assert all(
        (later.date() - earlier.date()).days == rotation_days for earlier, later in pairwise(local)
    )
    # Not vacuous: a year of hand-offs spans summer and winter time where there is DST.
    offsets = {moment.utcoffset() for moment in local}
    assert len(offsets) == (2 if zone in DST_ZONES else 1)


@PROPERTY
@given(
    zone=st.sampled_from(DST_ZONES),
    first=st.dates(date(2025, 1, 1), date(2026, 12, 31)),
    wall=st.builds(time, st.just(2), st.integers(0, 59)),
)
def test_it_pushes_a_skipped_hand_off_forward_by_the_length_of_the_gap(
    zone: str, first: date, wall: time
) -> None:
    tz = ZoneInfo(zone)
    layer = Layer("rota", "primary", ("ana", "bo"), datetime.combine(first, wall, tzinfo=tz), 1)
    schedule = Schedule("payments", zone, (layer,))
    # July to June: exactly one spring-forward in either hemisphere.
    start = datetime(first.year, 7, 1, tzinfo=UTC)
    skipped = 0
    for moment in handoffs(schedule, layer, start, start + timedelta(days=365)):
        local = moment.astimezone(tz)
        intended = datetime.combine(local.date(), wall)
        shown = local.replace(tzinfo=None)
        if shown != intended:
            skipped += 1
            after = local.utcoffset()
            before = (moment - timedelta(hours=3)).astimezone(tz).utcoffset()
            assert after is not None
            assert before is not None
            gap = after - before
            assert gap > timedelta(0)
            assert shown == intended + gap
    # These zones skip 02:00-02:59 once a year, Lord Howe only 02:00-02:29.
    assert skipped == (0 if zone == "Australia/Lord_Howe" and wall >= time(2, 30) else 1)


# Layers and overrides


@PROPERTY
@given(
    schedule=schedules(),
    extra=overrides(),
    span=ranges(),
    data=st.data(),
)
def test_it_lets_an_override_win_inside_and_restores_the_rotation_outside(
    schedule: Schedule, extra: Override, span: tuple[datetime, datetime], data: st.DataObject
) -> None:
    start, end = span
    overridden = Schedule(
        schedule.name, schedule.zone, schedule.layers, (*schedule.overrides, extra)
    )
    level = extra.level
    instants = [extra.start, extra.end - TICK, extra.end, extra.start - TICK]
    offsets = st.integers(0, (end - start) // MINUTE - 1)
    instants += [start + n * MINUTE for n in data.draw(st.lists(offsets, max_size=20))]
    for at in instants:
        if extra.start <= at < extra.end:
            assert on_call(overridden, level, at) == extra.person
        else:
            assert on_call(overridden, level, at) == on_call(schedule, level, at)
    inside_start, inside_end = max(start, extra.start), min(end, extra.end)
    if inside_start < inside_end:
        assert any(
            shift.source == "override"
            and shift.person == extra.person
            and shift.start <= inside_start
            and inside_end <= shift.end
            for shift in shifts(overridden, level, start, end)
        )


@PROPERTY
@given(
    zone=st.sampled_from(ALL_ZONES),
    a=st.sampled_from(ALL_ZONES).flatmap(lambda zone: layers(zone, st.just("primary"))),
    b=st.sampled_from(ALL_ZONES).flatmap(lambda zone: layers(zone, st.just("primary"))),
    window=restrictions(),
    span=ranges(),
)
def test_it_covers_all_day_without_gap_with_complementary_follow_the_sun_layers(
    zone: str, a: Layer, b: Layer, window: Restriction, span: tuple[datetime, datetime]
) -> None:
    start, end = span
    day = Layer("day", "primary", a.participants, a.handoff, a.rotation_days, window)
    night_window = Restriction(window.end, window.start)
    night = Layer("night", "primary", b.participants, b.handoff, b.rotation_days, night_window)
    schedule = Schedule("payments", zone, (day, night))
    found = shifts(schedule, "primary", start, end)
    assert found[0].start == start
    assert found[-1].end == end
    for before, after in pairwise(found):
        assert before.end == after.start
    for shift in found:
        window_of = window if shift.source == "day" else night_window
        assert window_of.contains(local_wall(shift.start, zone))
        assert window_of.contains(local_wall(shift.end - TICK, zone))


@PROPERTY
@given(
    zone=st.sampled_from(ALL_ZONES),
    handoff=minutes_near_changes,
    window=restrictions(),
    later_first=st.booleans(),
    span=ranges(),
    data=st.data(),
)
def test_it_lets_a_later_layer_win_over_an_earlier_one_where_it_covers(
    zone: str,
    handoff: datetime,
    window: Restriction,
    later_first: bool,
    span: tuple[datetime, datetime],
    data: st.DataObject,
) -> None:
    start, end = span
    base = Layer("base", "primary", ("ana", "bo"), handoff)
    cover = Layer("cover", "primary", ("chen", "dara"), handoff, 1, window)
    stack = (cover, base) if later_first else (base, cover)
    schedule = Schedule("payments", zone, stack)
    offsets = st.integers(0, (end - start) // MINUTE - 1)
    for n in data.draw(st.lists(offsets, min_size=1, max_size=30)):
        at = start + n * MINUTE
        person = on_call(schedule, "primary", at)
        if not later_first and window.contains(local_wall(at, zone)):
            assert person in cover.participants
        else:
            assert person in base.participants
    sources = {shift.source for shift in shifts(schedule, "primary", start, end)}
    if later_first:
        assert sources == {"base"}


# The calendar


def parsed_events(ical: bytes) -> list[tuple[str, datetime, datetime, str]]:
    events = Calendar.from_ical(ical).walk("VEVENT")
    return [
        (
            str(event["UID"]),
            event.decoded("DTSTART"),
            event.decoded("DTEND"),
            str(event["SUMMARY"]),
        )
        for event in events
    ]


@PROPERTY
@given(schedule=schedules(), span=ranges(), person=st.none() | st.sampled_from(PEOPLE))
def test_it_exports_exactly_the_shifts_as_a_calendar_with_stable_uids(
    schedule: Schedule, span: tuple[datetime, datetime], person: str | None
) -> None:
    start, end = span
    ical = calendar(schedule, start, end, person=person)
    all_levels = list(dict.fromkeys([*levels(schedule), *(o.level for o in schedule.overrides)]))
    expected = sorted(
        (
            shift
            for level in all_levels
            for shift in shifts(schedule, level, start, end)
            if person is None or shift.person == person
        ),
        key=lambda shift: (shift.start, all_levels.index(shift.level)),
    )
    events = parsed_events(ical)
    assert [(s, e, summary) for _, s, e, summary in events] == [
        (shift.start, shift.end, f"On call ({shift.level}): {shift.person} — payments")
        for shift in expected
    ]
    uids = [uid for uid, *_ in events]
    assert len(set(uids)) == len(uids)
    assert [uid for uid, *_ in parsed_events(calendar(schedule, start, end, person=person))] == uids
    assert calendar(schedule, start, end, person=person) == ical


def test_it_names_the_calendar_and_its_events_after_the_schedule_and_shift() -> None:
    layer = weekly("ana", "bo", handoff=berlin(2026, 3, 23, 9, 0))
    schedule = Schedule("Payments", "Europe/Berlin", (layer,))
    stamp = utc(2026, 3, 1, 12, 0)
    ical = calendar(schedule, utc(2026, 3, 23), utc(2026, 4, 6), levels=["primary"], stamp=stamp)
    cal = Calendar.from_ical(ical)
    assert str(cal["PRODID"]) == "-//warroom//on-call//EN"
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["X-WR-CALNAME"]) == "On call: Payments"
    first, second, third = cal.walk("VEVENT")
    assert str(first["UID"]) == "Payments-primary-bo-20260323T000000Z@warroom"
    assert str(second["UID"]) == "Payments-primary-ana-20260323T080000Z@warroom"
    assert second.decoded("DTSTART") == utc(2026, 3, 23, 8, 0)
    assert second.decoded("DTEND") == utc(2026, 3, 30, 7, 0)  # 09:00 CEST
    assert second.decoded("DTSTAMP") == stamp
    assert str(third["SUMMARY"]) == "On call (primary): bo — Payments"
    assert b"DTSTART:20260330T070000Z" in ical


def test_it_exports_only_the_named_person_and_levels() -> None:
    schedule = Schedule(
        "payments",
        "Europe/Berlin",
        (
            weekly("ana", "bo", handoff=berlin(2026, 3, 23, 9, 0)),
            weekly("chen", "bo", handoff=berlin(2026, 3, 23, 9, 0), level="secondary", name="two"),
        ),
    )
    start, end = utc(2026, 3, 23, 8, 0), utc(2026, 4, 6, 7, 0)
    events = parsed_events(calendar(schedule, start, end, person="bo"))
    assert [(summary, s, e) for _, s, e, summary in events] == [
        ("On call (primary): bo — payments", utc(2026, 3, 30, 7, 0), end),
        ("On call (secondary): bo — payments", utc(2026, 3, 30, 7, 0), end),
    ]
    only_secondary = parsed_events(calendar(schedule, start, end, levels=["secondary"]))
    assert {summary.split(":")[0] for *_, summary in only_secondary} == {"On call (secondary)"}
    with pytest.raises(TypeError, match="bare string"):
        calendar(schedule, start, end, levels="primary")


# Worked examples: Berlin's 2026 changes (spring forward 2026-03-29 02:00 CET -> 03:00 CEST,
# fall back 2026-10-25 03:00 CEST -> 02:00 CET).


def test_it_hands_off_at_nine_on_mondays_across_the_spring_forward() -> None:
    layer = weekly("ana", "bo", handoff=berlin(2026, 3, 16, 9, 0))
    schedule = Schedule("payments", "Europe/Berlin", (layer,))
    assert handoffs(schedule, layer, utc(2026, 3, 16), utc(2026, 4, 7)) == [
        utc(2026, 3, 16, 8, 0),
        utc(2026, 3, 23, 8, 0),
        utc(2026, 3, 30, 7, 0),  # 09:00 CEST
        utc(2026, 4, 6, 7, 0),
    ]
    week = shifts(schedule, "primary", utc(2026, 3, 23, 8, 0), utc(2026, 3, 30, 7, 0))
    assert week == [Shift("bo", "primary", utc(2026, 3, 23, 8, 0), utc(2026, 3, 30, 7, 0), "rota")]
    assert week[0].end - week[0].start == timedelta(hours=167)


def test_it_hands_off_at_nine_on_mondays_across_the_fall_back() -> None:
    layer = weekly("ana", "bo", handoff=berlin(2026, 3, 16, 9, 0))
    schedule = Schedule("payments", "Europe/Berlin", (layer,))
    assert handoffs(schedule, layer, utc(2026, 10, 19), utc(2026, 11, 3)) == [
        utc(2026, 10, 19, 7, 0),
        utc(2026, 10, 26, 8, 0),  # 09:00 CET
        utc(2026, 11, 2, 8, 0),
    ]
    week = shifts(schedule, "primary", utc(2026, 10, 19, 7, 0), utc(2026, 10, 26, 8, 0))
    assert [shift.end - shift.start for shift in week] == [timedelta(hours=169)]


def test_it_moves_a_skipped_sunday_half_past_two_hand_off_to_half_past_three() -> None:
    layer = weekly("ana", "bo", handoff=berlin(2026, 3, 22, 2, 30))
    schedule = Schedule("payments", "Europe/Berlin", (layer,))
    assert handoffs(schedule, layer, utc(2026, 3, 22), utc(2026, 4, 6)) == [
        utc(2026, 3, 22, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 30),  # 02:30 does not exist: 02:30+01:00 = 03:30 CEST
        utc(2026, 4, 5, 0, 30),  # 02:30 CEST
    ]
    assert on_call(schedule, "primary", utc(2026, 3, 29, 1, 30) - TICK) == "ana"
    assert on_call(schedule, "primary", berlin(2026, 3, 29, 3, 30)) == "bo"


def test_it_takes_the_first_of_a_repeated_sunday_half_past_two() -> None:
    layer = weekly("ana", "bo", handoff=berlin(2026, 10, 18, 2, 30))
    schedule = Schedule("payments", "Europe/Berlin", (layer,))
    assert handoffs(schedule, layer, utc(2026, 10, 18), utc(2026, 11, 2)) == [
        utc(2026, 10, 18, 0, 30),
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, the first of the two
        utc(2026, 11, 1, 1, 30),  # 02:30 CET
    ]
    assert on_call(schedule, "primary", berlin(2026, 10, 25, 2, 15, fold=0)) == "ana"
    assert on_call(schedule, "primary", berlin(2026, 10, 25, 2, 15, fold=1)) == "bo"


def test_it_reads_a_first_hand_off_at_the_second_half_past_two_as_the_first() -> None:
    second = berlin(2026, 10, 25, 2, 30, fold=1)  # 01:30 UTC
    layer = weekly("ana", "bo", handoff=second)
    schedule = Schedule("payments", "Europe/Berlin", (layer,))
    assert handoffs(schedule, layer, utc(2026, 10, 25), utc(2026, 10, 26)) == [
        utc(2026, 10, 25, 0, 30)
    ]


def test_it_ends_a_restricted_window_when_the_clock_jumps_over_its_end() -> None:
    night = Layer(
        "night",
        "primary",
        ("ana",),
        berlin(2026, 3, 1, 12, 0),
        7,
        Restriction(time(1), time(2, 30)),
    )
    schedule = Schedule("payments", "Europe/Berlin", (night,))
    assert shifts(schedule, "primary", utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 12, 0)) == [
        # 01:00 CET until the clock jumps from 02:00 CET to 03:00 CEST.
        Shift("ana", "primary", utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0), "night"),
    ]


def test_it_covers_both_occurrences_of_a_repeated_hour_in_a_window() -> None:
    night = Layer(
        "night",
        "primary",
        ("ana",),
        berlin(2026, 10, 1, 12, 0),
        7,
        Restriction(time(22), time(2, 30)),
    )
    schedule = Schedule("payments", "Europe/Berlin", (night,))
    assert shifts(schedule, "primary", utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 12, 0)) == [
        # 22:00 CEST to the first 02:30 CEST, then the repeated 02:00-02:30 CET.
        Shift("ana", "primary", utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 0, 30), "night"),
        Shift("ana", "primary", utc(2026, 10, 25, 1, 0), utc(2026, 10, 25, 1, 30), "night"),
    ]


def test_it_extends_the_rotation_backwards_before_the_first_hand_off() -> None:
    layer = weekly("ana", "bo", "chen", handoff=utc(2026, 6, 1, 9, 0))
    schedule = Schedule("payments", "UTC", (layer,))
    assert on_call(schedule, "primary", utc(2026, 6, 1, 9, 0)) == "ana"
    assert on_call(schedule, "primary", utc(2026, 6, 1, 8, 59)) == "chen"
    assert on_call(schedule, "primary", utc(2026, 5, 18, 9, 0)) == "bo"
    assert on_call(schedule, "primary", utc(2026, 5, 18, 8, 59)) == "ana"


def test_it_prefers_the_later_of_overlapping_overrides_and_answers_none_when_uncovered() -> None:
    layer = Layer(
        "day", "primary", ("ana",), utc(2026, 6, 1, 9, 0), 7, Restriction(time(9), time(17))
    )
    schedule = Schedule(
        "payments",
        "UTC",
        (layer,),
        (
            Override("primary", "bo", utc(2026, 6, 2, 8, 0), utc(2026, 6, 2, 12, 0)),
            Override("primary", "chen", utc(2026, 6, 2, 10, 0), utc(2026, 6, 2, 11, 0)),
            Override("secondary", "dara", utc(2026, 6, 2, 0, 0), utc(2026, 6, 3, 0, 0)),
        ),
    )
    assert shifts(schedule, "primary", utc(2026, 6, 2), utc(2026, 6, 3)) == [
        Shift("bo", "primary", utc(2026, 6, 2, 8, 0), utc(2026, 6, 2, 10, 0), "override"),
        Shift("chen", "primary", utc(2026, 6, 2, 10, 0), utc(2026, 6, 2, 11, 0), "override"),
        Shift("bo", "primary", utc(2026, 6, 2, 11, 0), utc(2026, 6, 2, 12, 0), "override"),
        Shift("ana", "primary", utc(2026, 6, 2, 12, 0), utc(2026, 6, 2, 17, 0), "day"),
    ]
    assert on_call(schedule, "primary", utc(2026, 6, 2, 18, 0)) is None
    assert on_call(schedule, "tertiary", utc(2026, 6, 2, 12, 0)) is None
    assert levels(schedule) == ["primary"]


def test_it_lists_levels_in_order_of_first_appearance() -> None:
    handoff = utc(2026, 6, 1, 9, 0)
    schedule = Schedule(
        "payments",
        "UTC",
        (
            weekly("ana", handoff=handoff, level="secondary", name="a"),
            weekly("bo", handoff=handoff, level="primary", name="b"),
            weekly("chen", handoff=handoff, level="secondary", name="c"),
        ),
    )
    assert levels(schedule) == ["secondary", "primary"]


def test_it_computes_a_whole_year_of_a_follow_the_sun_schedule() -> None:
    handoff = berlin(2026, 1, 5, 7, 0)  # at the windows' edge: no hand-off splits a shift
    schedule = Schedule(
        "payments",
        "Europe/Berlin",
        (
            Layer("eu", "primary", ("ana", "bo"), handoff, 7, Restriction(time(7), time(19))),
            Layer("us", "primary", ("chen", "dara"), handoff, 7, Restriction(time(19), time(7))),
        ),
    )
    start = utc(2026, 1, 1)
    found = shifts(schedule, "primary", start, start + MAX_RANGE)
    # The night shift clipped at the start, then a day and a night shift each day.
    assert len(found) == 1 + 2 * 400
    assert all(before.end == after.start for before, after in pairwise(found))
    assert {shift.person for shift in found} == {"ana", "bo", "chen", "dara"}


# Refusals


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Restriction(time(9), time(9)), "empty"),
        (lambda: Restriction(time(9, tzinfo=UTC), time(17)), "local wall times"),
        (lambda: Layer("rota", "primary", (), utc(2026, 1, 1)), "no participants"),
        (lambda: Layer("rota", "primary", ("ana",), utc(2026, 1, 1), 0), "rotates every 0"),
        (lambda: Layer("rota", "primary", ("ana",), datetime(2026, 1, 1)), "no time zone"),  # noqa: DTZ001
        (lambda: Override("primary", "ana", utc(2026, 1, 2), utc(2026, 1, 2)), "at or before"),
        (lambda: Schedule("payments", "Mars/Olympus", ()), "'Mars/Olympus' is not an IANA"),
        (lambda: Schedule("payments", "../etc/passwd", ()), "is not an IANA"),
    ],
)
def test_it_refuses_invalid_definitions(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_it_refuses_ranges_over_four_hundred_days_reversed_or_naive() -> None:
    schedule = Schedule("payments", "UTC", (weekly("ana", handoff=utc(2026, 1, 1)),))
    start = utc(2026, 1, 1)
    with pytest.raises(ValueError, match="longer than 400 days"):
        shifts(schedule, "primary", start, start + MAX_RANGE + TICK)
    with pytest.raises(ValueError, match="before it starts"):
        shifts(schedule, "primary", start, start - TICK)
    with pytest.raises(ValueError, match="no time zone"):
        on_call(schedule, "primary", datetime(2026, 1, 1))  # noqa: DTZ001
    assert shifts(schedule, "primary", start, start) == []


def test_it_finds_window_edges_on_the_previous_date_when_the_clock_goes_back_past_midnight() -> (
    None
):
    # Goose Bay fell back at 00:01 ADT on 2009-11-01, to 23:01 AST on 2009-10-31: the range
    # starts on the 1st, then the clock shows the 31st again, 23:30 included.
    night = Layer(
        "night", "primary", ("ana",), utc(2009, 1, 1), 7, Restriction(time(23, 30), time(23, 45))
    )
    schedule = Schedule("payments", "America/Goose_Bay", (night,))
    start = utc(2009, 11, 1, 3, 0) + timedelta(seconds=30)  # 00:00:30 ADT
    assert shifts(schedule, "primary", start, utc(2009, 11, 1, 5, 0)) == [
        Shift("ana", "primary", utc(2009, 11, 1, 3, 30), utc(2009, 11, 1, 3, 45), "night"),
    ]
