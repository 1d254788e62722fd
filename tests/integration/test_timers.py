"""Durable timers: armed by every change, fired once by the worker at their due time."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from tests.conftest import START, World
from warroom.db.models import TimelineEvent, Timer, TimerState
from warroom.domain.actions import ActionSpec
from warroom.domain.timers import TimerKind
from warroom.domain.types import (
    DismissReason,
    EventKind,
    MitigationKind,
    Move,
    ReportSource,
    Role,
    Severity,
)
from warroom.domain.updates import UpdateText
from warroom.jobs.worker import fire_one
from warroom.services import coordination, declaration, lifecycle
from warroom.services.reading import timeline
from warroom.services.records import add_actions, load

TEXT = UpdateText(
    issue="Checkout failing", impact="EU", progress="Rolling back", next_steps="Watch"
)


def fire_all(world: World, worker: str = "w1") -> int:
    fired = 0
    while fire_one(
        world.runtime.sessions, world.runtime.policy, now=world.clock.now, worker=worker
    ):
        fired += 1
    return fired


def events(world: World, number: int, *kinds: str) -> list[dict[str, Any]]:
    with world.runtime.reading() as session:
        return [e for e in timeline(session, number) if e["kind"] in kinds]


def pending(world: World, number: int) -> dict[str, object]:
    """Pending timers by kind (and by action for action deadlines)."""
    with world.runtime.reading() as session:
        rows = session.scalars(
            select(Timer).where(Timer.incident_id == number, Timer.state == TimerState.PENDING)
        )
        return {
            f"{row.kind.value}:{row.key}"
            if row.kind is TimerKind.ACTION_DUE
            else row.kind.value: row.due_at
            for row in rows
        }


def declared_sev1(world: World) -> int:
    return world.act(
        "alice", lambda op: declaration.declare_new(op, Severity.SEV1, "Checkout errors")
    ).id


def test_it_reminds_the_comms_owner_when_an_update_falls_due(world: World) -> None:
    number = declared_sev1(world)
    world.act("alice", lambda op: coordination.assign_role(op, number, Role.COMMS, "carol"))
    world.later(minutes=29, seconds=59)
    fire_all(world)  # the page's acknowledgement deadline has passed; the update is not due yet
    assert events(world, number, "reminder") == []
    world.later(seconds=1)
    fire_all(world)
    [reminder] = events(world, number, "reminder")
    assert (
        reminder["summary"] == "status update #1 is due (2026-03-02 10:30 UTC): reminder to carol"
    )
    assert fire_all(world) == 0  # once only

    world.later(minutes=30)
    fire_all(world)
    [missed] = [
        e for e in events(world, number, "missed") if e["data"].get("timer") == "update-due"
    ]
    assert missed["summary"] == "the status update due at 2026-03-02 10:30 UTC was not posted"
    world.later(minutes=5).act("carol", lambda op: coordination.post_update(op, number, TEXT))
    assert pending(world, number)["update-due"] == world.clock.now + timedelta(minutes=30)


def test_it_escalates_after_30_minutes_without_progress_and_rearms_on_progress(
    world: World,
) -> None:
    number = declared_sev1(world)
    world.later(minutes=30)
    fire_all(world)
    first = events(world, number, "escalated")
    assert [e["data"]["trigger"] for e in first] == ["no-progress"]
    world.later(minutes=5).act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="bob")
    )
    assert pending(world, number)["no-progress"] == START + timedelta(minutes=65)
    world.later(minutes=30)
    fire_all(world)
    assert len(events(world, number, "escalated")) == 2
    items = {i.key for i in world.detail(number).checklist}
    assert "escalate" in items


def test_it_proposes_sev0_with_the_sev1_resolve_target_in_one_event(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=1).act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="bob")
    )
    world.later(hours=4)
    fire_all(world)
    targets = [
        e for e in events(world, number, "escalated") if e["data"]["trigger"] == "resolve-target"
    ]
    assert len(targets) == 1
    assert targets[0]["data"]["proposal"] == "SEV0"
    assert not [
        e for e in events(world, number, "escalated") if e["data"]["trigger"] == "severity-proposal"
    ]


def test_it_escalates_past_the_resolve_target_an_incident_that_fell_back_from_monitoring(
    world: World,
) -> None:
    number = declared_sev1(world)
    world.later(minutes=5).act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="bob")
    )
    world.later(minutes=45).act(
        "alice",
        lambda op: lifecycle.mitigate(op, number, MitigationKind.ROLLBACK, performed_by="bob"),
    )
    world.later(minutes=10).act("alice", lambda op: lifecycle.move(op, number, Move.RESOLVE))
    world.later(minutes=5).act("alice", lambda op: lifecycle.move(op, number, Move.MONITOR))
    fire_all(world)
    # Unstable again at 11:20: unresolved once more, so the 4-hour target applies again.
    world.later(minutes=15).act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="bob")
    )
    world.clock.now = START + timedelta(hours=4)
    fire_all(world)
    [target] = [
        e for e in events(world, number, "escalated") if e["data"]["trigger"] == "resolve-target"
    ]
    assert target["at"] == "2026-03-02T14:00:00Z"
    assert target["data"]["proposal"] == "SEV0"


def test_it_swaps_the_old_levels_timers_when_severity_changes(world: World) -> None:
    number = world.act(
        "alice", lambda op: declaration.declare_new(op, Severity.SEV0, "All down")
    ).id
    assert pending(world, number)["update-due"] == START + timedelta(minutes=15)
    assert pending(world, number)["action-due:page-all-hands"] == START + timedelta(minutes=2)
    assert pending(world, number)["action-due:notify-executives"] == START + timedelta(minutes=15)
    world.later(minutes=1).act(
        "alice", lambda op: declaration.change_severity(op, number, Severity.SEV1, "one region")
    )
    timers = pending(world, number)
    # SEV1's 30 minutes count from the change: a level's cadence starts when it is set.
    assert timers["update-due"] == START + timedelta(minutes=31)
    assert "action-due:notify-executives" not in timers
    with world.runtime.reading() as session:
        cancelled = session.scalar(
            select(func.count())
            .select_from(Timer)
            .where(Timer.incident_id == number, Timer.state == TimerState.CANCELLED)
        )
    assert cancelled is not None
    assert cancelled >= 2  # SEV0's 15-minute update and executive deadline


def test_it_counts_a_raised_level_s_cadence_from_the_raise(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=30).act("alice", lambda op: coordination.post_update(op, number, TEXT))
    world.later(minutes=25).act(
        "alice", lambda op: declaration.change_severity(op, number, Severity.SEV0, "all regions")
    )
    # Under SEV1 the next update was due at 11:00; SEV0 wants one 15 minutes after the raise.
    assert pending(world, number)["update-due"] == START + timedelta(minutes=70)
    assert world.detail(number).schedule.missed == ()
    world.later(minutes=15)
    fire_all(world)
    assert [e["summary"] for e in events(world, number, "reminder")] == [
        "status update #2 is due (2026-03-02 11:10 UTC): reminder to alice"
    ]
    assert not [e for e in events(world, number, "missed") if "status update" in e["summary"]]


def test_it_owes_no_status_updates_for_the_time_an_incident_was_closed(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=5).act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="bob")
    )
    for _ in range(3):
        world.later(minutes=25).act("alice", lambda op: coordination.post_update(op, number, TEXT))
    world.act(
        "alice",
        lambda op: lifecycle.mitigate(op, number, MitigationKind.ROLLBACK, performed_by="bob"),
    )
    world.act("alice", lambda op: lifecycle.move(op, number, Move.RESOLVE))
    world.act("alice", lambda op: lifecycle.move(op, number, Move.MONITOR))
    world.later(minutes=29).act("alice", lambda op: coordination.post_update(op, number, TEXT))
    world.later(minutes=2).act("alice", lambda op: lifecycle.close(op, number))
    world.later(hours=8).act("alice", lambda op: lifecycle.reopen(op, number, "errors are back"))
    reopened = world.clock.now
    shown = world.detail(number)
    assert shown.schedule.missed == ()
    assert not [f for f in shown.findings if f.pattern == "no-status-updates"]
    assert pending(world, number)["update-due"] == reopened + timedelta(minutes=30)
    world.later(minutes=30)
    fire_all(world)
    assert [e["summary"] for e in events(world, number, "reminder")][-1].startswith(
        f"status update #5 is due ({(reopened + timedelta(minutes=30)):%Y-%m-%d %H:%M} UTC)"
    )
    assert not [e for e in events(world, number, "missed") if "status update" in e["summary"]]


def test_it_says_when_the_monitoring_window_is_complete(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=1).act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="bob")
    )
    world.act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="bob")
    ) if False else None

    world.later(minutes=1).act(
        "alice",
        lambda op: lifecycle.mitigate(op, number, MitigationKind.ROLLBACK, performed_by="bob"),
    )
    world.later(minutes=1).act("alice", lambda op: lifecycle.move(op, number, Move.RESOLVE))
    world.later(minutes=1).act("alice", lambda op: lifecycle.move(op, number, Move.MONITOR))
    world.later(minutes=20).act(
        "support",
        lambda op: lifecycle.customer_report(
            op, number, "still failing?", source=ReportSource.CUSTOMER
        ),
    )
    world.later(minutes=10)
    fire_all(world)
    ready = [e for e in events(world, number, "reminder") if e["data"]["timer"] == "ready-to-close"]
    assert len(ready) == 1
    assert ready[0]["data"]["unmet"] == ["closure-customer-report"]


def test_it_keeps_timers_across_a_restart(world: World) -> None:
    number = declared_sev1(world)
    world.runtime.engine.dispose()  # the process that armed it is gone
    world.later(minutes=31)
    assert fire_all(world, worker="after-restart") >= 1
    assert events(world, number, "reminder")


def test_it_fires_1000_timers_due_in_one_second_once_across_two_workers(world: World) -> None:
    def arm(op: object) -> None:
        from warroom.services.records import Op

        assert isinstance(op, Op)
        for n in range(100):
            incident = declaration.declare_new(op, Severity.SEV1, f"Storm {n}")
            due = START + timedelta(seconds=30, milliseconds=n * 7)
            specs = [ActionSpec(f"check-{k}", f"Check {k}", due) for k in range(10)]
            add_actions(op, load(op, incident.id), specs)
            op.touched[incident.id] = incident

    world.act("alice", arm)
    world.later(minutes=1)
    counts: dict[str, int] = {}

    def drain(name: str) -> None:
        counts[name] = fire_all(world, worker=name)

    threads = [threading.Thread(target=drain, args=(name,)) for name in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    storm = (Timer.kind == TimerKind.ACTION_DUE, Timer.key.startswith("check-"))
    with world.runtime.reading() as session:
        states = dict(
            session.execute(
                select(Timer.state, func.count()).where(*storm).group_by(Timer.state)
            ).all()
        )
        overdue = session.scalar(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.kind == EventKind.MISSED, TimelineEvent.summary.contains("Check"))
        )
    assert states == {TimerState.FIRED: 1000}
    assert overdue == 1000
    assert sum(counts.values()) == 1000
    assert min(counts.values()) > 0  # both workers took a share


def test_it_moves_a_pending_timer_when_the_policy_changes_how_long_it_waits(
    world: World,
) -> None:
    number = declared_sev1(world)
    assert pending(world, number)["no-progress"] == START + timedelta(minutes=30)
    lifecycle_policy = world.runtime.policy.lifecycle.model_copy(
        update={"no_progress_escalation": timedelta(minutes=45)}
    )
    world.runtime.__dict__["policy"] = world.runtime.policy.model_copy(
        update={"lifecycle": lifecycle_policy}
    )  # the process restarted with a new warroom.toml
    world.later(minutes=1).act("alice", lambda op: coordination.post_update(op, number, TEXT))
    assert pending(world, number)["no-progress"] == START + timedelta(minutes=45)
    world.later(minutes=30)  # 31 minutes after the declaration
    fire_all(world)
    assert not any("no progress" in e["summary"] for e in events(world, number, "escalated"))


def test_it_rearms_timers_when_a_change_is_undone(world: World) -> None:
    number = declared_sev1(world)
    before = pending(world, number)
    world.later(minutes=1).act(
        "alice", lambda op: declaration.change_severity(op, number, Severity.SEV2, "smaller")
    )
    assert "no-progress" not in pending(world, number)
    world.later(minutes=1).act(
        "alice", lambda op: declaration.change_severity(op, number, Severity.SEV1, "bigger again")
    )
    after = pending(world, number)
    assert after["no-progress"] == before["no-progress"]
    assert after["resolve-target"] == before["resolve-target"]


def test_it_rearms_the_deadlines_of_a_reopened_dismissal(world: World) -> None:
    number = world.act("bot", lambda op: lifecycle.report(op, "DB down", severity=Severity.SEV1)).id
    world.later(minutes=1).act(
        "dana", lambda op: lifecycle.dismiss(op, number, DismissReason.NOISE)
    )
    assert pending(world, number) == {}
    world.later(minutes=1).act("dana", lambda op: lifecycle.reopen(op, number, "it was real"))
    # Reopening acknowledged it; the declaration and resolve deadlines are armed again.
    assert {"declaration-deadline", "resolve-target"} <= set(pending(world, number))
