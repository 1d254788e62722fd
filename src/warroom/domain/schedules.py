"""On-call schedules: who is on call for a level at an instant, as pure arithmetic.

No database and no clock: every function takes the instants it reasons about, so the same
inputs always give the same answer and the rules can be property-tested.

The contract
------------

A schedule lives in one IANA time zone (``Schedule.zone``) and is made of layers and overrides.

*Hand-offs.* A layer hands off at the **local wall time** of its first hand-off, every
``rotation_days`` days, in the schedule's zone: a Monday 09:00 hand-off stays Monday 09:00
local across daylight-saving changes (so the UTC instant moves with the offset twice a year, and a
rotation period spanning a change is that much shorter or longer). Hand-off ``k`` (any integer;
the rotation also extends backwards before the first hand-off) happens at local date
``handoff_local.date() + k * rotation_days`` at ``handoff_local.time()``. Rotation period ``k``
runs from hand-off ``k`` to hand-off ``k + 1`` and belongs to ``participants[k % n]``.

Wall times that the clock skips or repeats follow RFC 5545 section 3.3.5 (which is also
PEP 495's ``fold=0``), so calendars and this module agree:

* a wall time that does not exist (spring-forward gap) is read with the UTC offset in force
  *before* the gap, i.e. it is pushed forward by the gap's length: 02:30 on 2026-03-29 in
  Europe/Berlin is 02:30+01:00 = 01:30 UTC = 03:30 CEST;
* a wall time that happens twice (fall-back) is its *first* occurrence: 02:30 on 2026-10-25 in
  Europe/Berlin is 02:30 CEST = 00:30 UTC.

The rule applies to hand-off 0 too: a first hand-off given as the second 02:30 of a fall-back
night is taken as the first one, since only its local wall time and date count.

*Restrictions.* A restricted layer covers instant ``t`` only when ``t``'s local time in the
schedule's zone lies in the daily window: ``start <= local < end``, or for a window that wraps
past midnight (``end <= start``, e.g. 19:00-07:00) ``local >= start or local < end``. Coverage
follows the local clock exactly: when the clock jumps over a window's edge the coverage changes
at the jump, and in a repeated hour the window applies to both occurrences.

*Precedence.* For a level, an override covering ``t`` (``start <= t < end``) wins over every
layer, the later override in ``Schedule.overrides`` winning among overlapping ones. Otherwise
the *last* layer of the level in ``Schedule.layers`` that covers ``t`` decides, as higher layers
do in commercial pagers. Follow-the-sun is several restricted layers of one level with
complementary windows. When nothing covers ``t`` nobody is on call (``None``).

*Shifts.* :func:`shifts` is :func:`on_call` over a range: it agrees with it at every instant.
It walks the instants where the answer can change (hand-offs, the local-clock crossings of
restriction edges and the clock jumps between them, override edges) rather than sampling, and
refuses ranges longer than :data:`MAX_RANGE` to bound the work.

*Calendar.* :func:`calendar` exports those shifts as iCalendar, one event per shift in UTC,
with a UID made of the schedule, level, person and start so that a re-export updates events.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_RANGE = timedelta(days=400)
"""The longest range :func:`shifts` and :func:`calendar` accept: a year of schedule and change."""

OVERRIDE_SOURCE = "override"
PRODID = "-//warroom//on-call//EN"

_ONE_DAY = timedelta(days=1)
_RESOLUTION = timedelta(microseconds=1)


@dataclass(frozen=True)
class Restriction:
    """A daily window in the schedule's time zone, e.g. 07:00-19:00; ``end <= start`` wraps
    past midnight (19:00-07:00). The times are naive: the schedule's zone gives them meaning."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("a restriction's times are local wall times: leave out the tzinfo")
        if _wall(self.start) == _wall(self.end):
            raise ValueError(
                f"a restriction from {self.start.isoformat()} to {self.end.isoformat()} is empty"
                " (or the whole day): leave the restriction out for round-the-clock coverage"
            )

    def contains(self, wall: time) -> bool:
        """Whether the local wall time ``wall`` falls in the window (start inclusive)."""
        start, end, wall = _wall(self.start), _wall(self.end), _wall(wall)
        if start < end:
            return start <= wall < end
        return wall >= start or wall < end


@dataclass(frozen=True)
class Layer:
    """One rotation of people for one level, e.g. the EU half of a follow-the-sun primary."""

    name: str
    level: str
    participants: tuple[str, ...]
    handoff: datetime
    rotation_days: int = 7
    restriction: Restriction | None = None

    def __post_init__(self) -> None:
        if not self.participants:
            raise ValueError(f"layer {self.name!r} has no participants: name at least one")
        if self.rotation_days < 1:
            raise ValueError(
                f"layer {self.name!r} rotates every {self.rotation_days} days: use 1 or more"
            )
        _require_aware(f"layer {self.name!r} hand-off", self.handoff)


@dataclass(frozen=True)
class Override:
    """Someone standing in for a level over ``[start, end)``, whatever the layers say."""

    level: str
    person: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _require_aware("an override's start", self.start)
        _require_aware("an override's end", self.end)
        if self.end <= self.start:
            raise ValueError(
                f"the override for {self.person} ends ({self.end.isoformat()}) at or before it"
                f" starts ({self.start.isoformat()})"
            )


@dataclass(frozen=True)
class Schedule:
    """Layers and overrides read in one time zone: hand-offs and restrictions are local."""

    name: str
    zone: str
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = ()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"schedule {self.name!r}: {self.zone!r} is not an IANA time zone"
                " (e.g. Europe/Berlin, America/New_York)"
            ) from None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


@dataclass(frozen=True)
class Shift:
    """A stretch of time one person is on call for a level, from one layer or an override."""

    person: str
    level: str
    start: datetime
    end: datetime
    source: str


def levels(schedule: Schedule) -> list[str]:
    """The levels the layers provide, in order of first appearance (the escalation order)."""
    return list(dict.fromkeys(layer.level for layer in schedule.layers))


def on_call(schedule: Schedule, level: str, at: datetime) -> str | None:
    """Who is on call for ``level`` at ``at``, or ``None`` when nothing covers it."""
    _require_aware("at", at)
    found = _resolve(schedule, level, at.astimezone(UTC))
    return None if found is None else found[0]


def handoffs(schedule: Schedule, layer: Layer, start: datetime, end: datetime) -> list[datetime]:
    """The layer's hand-off instants (UTC) in ``[start, end)``, in order."""
    start, end = _range(start, end)
    rotation = _Rotation.of(layer, schedule.tz)
    k = rotation.period(start)
    if rotation.handoff(k) < start:
        k += 1
    found: list[datetime] = []
    while (moment := rotation.handoff(k)) < end:
        # Two hand-offs can only coincide when a whole local day is skipped (Samoa, 2011).
        if not found or found[-1] != moment:
            found.append(moment)
        k += 1
    return found


def shifts(schedule: Schedule, level: str, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call for ``level`` over ``[start, end)``, as UTC shifts in order.

    Contiguous stretches of the same person from the same source are merged, stretches where
    nobody is on call are left out, and the first and last shift are clipped to the range.
    """
    start, end = _range(start, end)
    if start == end:
        return []
    zone = schedule.tz
    bounds = {start}
    for layer in schedule.layers:
        if layer.level != level:
            continue
        bounds.update(handoffs(schedule, layer, start, end))
        if layer.restriction is not None:
            edges = _restriction_edges(layer.restriction, zone, start, end)
            bounds.update(edge for edge in edges if start < edge < end)
    for override in schedule.overrides:
        if override.level == level:
            for edge in (override.start.astimezone(UTC), override.end.astimezone(UTC)):
                if start < edge < end:
                    bounds.add(edge)

    # The answer is constant between consecutive bounds, so one look per stretch suffices.
    found: list[Shift] = []
    for lo, hi in pairwise([*sorted(bounds), end]):
        who = _resolve(schedule, level, lo)
        if who is None:
            continue
        person, source = who
        last = found[-1] if found else None
        if last is not None and last.end == lo and (last.person, last.source) == who:
            found[-1] = replace(last, end=hi)
        else:
            found.append(Shift(person, level, lo, hi, source))
    return found


def calendar(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    *,
    person: str | None = None,
    levels: Sequence[str] | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """The shifts over ``[start, end)`` as an iCalendar (RFC 5545) file, one VEVENT each.

    ``person`` and ``levels`` narrow the events; by default every level of the layers and then
    any level only overrides mention. UIDs depend on the shift only, so re-importing an export
    updates events instead of duplicating them. Events are the shifts of :func:`shifts`, clipped
    to the range like them, so a shift straddling ``start`` is identified by the clipped start:
    export from a stable point (a hand-off, midnight) to keep that UID too. DTSTAMP is ``stamp``
    when given and otherwise the shift's start, never the wall clock, so the same inputs give
    the same bytes.
    """
    if isinstance(levels, str):
        raise TypeError("levels is a sequence of levels: pass [level], not a bare string")
    if stamp is not None:
        _require_aware("stamp", stamp)
    chosen = list(dict.fromkeys(levels if levels is not None else _all_levels(schedule)))
    picked = [
        shift
        for level in chosen
        for shift in shifts(schedule, level, start, end)
        if person is None or shift.person == person
    ]
    order = {level: index for index, level in enumerate(chosen)}
    picked.sort(key=lambda shift: (shift.start, order[shift.level]))

    from icalendar import Calendar, Event  # loaded by the one export that needs it

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"On call: {schedule.name}")
    for shift in picked:
        event = Event()
        event.add("uid", shift_uid(schedule, shift))
        event.add("dtstamp", (stamp or shift.start).astimezone(UTC))
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", f"On call ({shift.level}): {shift.person} — {schedule.name}")
        cal.add_component(event)
    ical: bytes = cal.to_ical()  # icalendar leaves the return type unannotated
    return ical


def shift_uid(schedule: Schedule, shift: Shift) -> str:
    """``<schedule>-<level>-<person>-<start UTC>@warroom``: a shift's identity across exports.

    One person never has two shifts of one level starting at the same instant, so this is
    unique within a calendar.
    """
    moment = shift.start.astimezone(UTC)
    compact = moment.strftime("%Y%m%dT%H%M%S")
    if moment.microsecond:
        compact += f".{moment.microsecond:06d}"
    return f"{schedule.name}-{shift.level}-{shift.person}-{compact}Z@warroom"


@dataclass(frozen=True)
class _Rotation:
    """A layer's hand-offs, numbered: hand-off ``k`` is ``k * days`` local days after 0."""

    zone: ZoneInfo
    day: date
    wall: time
    days: int

    @classmethod
    def of(cls, layer: Layer, zone: ZoneInfo) -> _Rotation:
        local = layer.handoff.astimezone(zone)
        return cls(zone, local.date(), _wall(local.time()), layer.rotation_days)

    def handoff(self, k: int) -> datetime:
        return _to_utc(self.day + timedelta(days=k * self.days), self.wall, self.zone)

    def period(self, at: datetime) -> int:
        """The ``k`` of the last hand-off at or before ``at``.

        The local date gives ``k`` to within one, since a hand-off is at most a day's offset
        change away from its local date; the loops settle it exactly.
        """
        k = (at.astimezone(self.zone).date() - self.day).days // self.days
        while self.handoff(k + 1) <= at:
            k += 1
        while self.handoff(k) > at:
            k -= 1
        return k


def _resolve(schedule: Schedule, level: str, at: datetime) -> tuple[str, str] | None:
    """``(person, source)`` on call for ``level`` at ``at``: the precedence rules, in one place."""
    for override in reversed(schedule.overrides):
        if override.level == level and override.start <= at < override.end:
            return override.person, OVERRIDE_SOURCE
    zone = schedule.tz
    wall = _wall(at.astimezone(zone).time())
    for layer in reversed(schedule.layers):
        if layer.level != level:
            continue
        if layer.restriction is not None and not layer.restriction.contains(wall):
            continue
        k = _Rotation.of(layer, zone).period(at)
        return layer.participants[k % len(layer.participants)], layer.name
    return None


def _restriction_edges(
    restriction: Restriction, zone: ZoneInfo, start: datetime, end: datetime
) -> Iterator[datetime]:
    """Every instant near ``[start, end)`` at which the window's coverage may change.

    A day either side of the local dates, because a clock going back at midnight shows the
    previous date, and an edge's instant is up to a day's UTC offset from its date.
    """
    day = start.astimezone(zone).date() - _ONE_DAY
    last = end.astimezone(zone).date() + _ONE_DAY
    while day <= last:
        for wall in (restriction.start, restriction.end):
            yield from _crossings(day, _wall(wall), zone)
        day += _ONE_DAY


def _crossings(day: date, wall: time, zone: ZoneInfo) -> list[datetime]:
    """The instants at which the local clock reaches ``wall`` on ``day``.

    Normally one. When the clock skips or repeats ``wall`` the two readings (``fold`` 0 and 1)
    differ, and the transition between them matters too: there the clock jumps across
    ``wall`` rather than passing it, so coverage changes at the jump.
    """
    first = _to_utc(day, wall, zone, fold=0)
    second = _to_utc(day, wall, zone, fold=1)
    if first == second:
        return [first]
    lo, hi = sorted((first, second))
    return [lo, _transition(lo, hi, zone), hi]


def _transition(lo: datetime, hi: datetime, zone: ZoneInfo) -> datetime:
    """The instant in ``(lo, hi]`` at which the UTC offset changes, by bisection.

    ``zoneinfo`` does not expose its transitions; the bracket is at most the size of the jump
    (an hour, rarely a day), so some thirty halvings reach the microsecond.
    """
    target = hi.astimezone(zone).utcoffset()
    while hi - lo > _RESOLUTION:
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi


def _to_utc(day: date, wall: time, zone: ZoneInfo, fold: int = 0) -> datetime:
    """A local date and wall time as a UTC instant; ``fold=0`` is the module's DST rule."""
    return datetime.combine(day, wall.replace(fold=fold), tzinfo=zone).astimezone(UTC)


def _wall(moment: time) -> time:
    """A time with ``fold`` cleared: the module reads wall times, never which occurrence."""
    return moment.replace(fold=0)


def _all_levels(schedule: Schedule) -> list[str]:
    return list(
        dict.fromkeys([*levels(schedule), *(override.level for override in schedule.overrides)])
    )


def _range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    _require_aware("start", start)
    _require_aware("end", end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end < start:
        raise ValueError(
            f"the range ends ({end.isoformat()}) before it starts ({start.isoformat()})"
        )
    if end - start > MAX_RANGE:
        raise ValueError(
            f"the range {start.isoformat()} to {end.isoformat()} is longer than"
            f" {MAX_RANGE.days} days: ask for it in parts"
        )
    return start, end


def _require_aware(what: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} ({moment.isoformat()}) has no time zone: give an aware datetime")
