"""The lifecycle through the services, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from tests.conftest import START, World
from warroom.db.engine import make_engine, unit_of_work
from warroom.db.models import Incident, Report, TimelineEvent
from warroom.domain.errors import BadInput, Conflict, Refused, Unavailable
from warroom.domain.types import (
    DismissReason,
    MitigationKind,
    Move,
    NoteKind,
    ReportSource,
    Role,
    Severity,
    Stage,
    Visibility,
)
from warroom.domain.updates import UpdateText
from warroom.services import coordination, declaration, lifecycle
from warroom.services.reading import timeline
from warroom.services.records import Op, load, person

TEXT = UpdateText(
    issue="Checkout failing", impact="All EU customers", progress="Rolled back", next_steps="Watch"
)


def declared_sev1(world: World, by: str = "alice") -> int:
    return world.act(
        by, lambda op: declaration.declare_new(op, Severity.SEV1, "Checkout API errors")
    ).id


def to_monitoring(world: World, number: int, by: str = "alice") -> None:
    """The IC coordinates; an SME does the hands-on work."""
    world.later(minutes=2).act(
        by, lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="sme")
    )
    world.later(minutes=10).act(
        by, lambda op: lifecycle.mitigate(op, number, MitigationKind.ROLLBACK, performed_by="sme")
    )
    world.later(minutes=10).act(by, lambda op: lifecycle.move(op, number, Move.RESOLVE))
    world.later(minutes=5).act(by, lambda op: lifecycle.move(op, number, Move.MONITOR))


def test_it_declares_a_new_incident_with_every_stage_at_one_instant(world: World) -> None:
    number = declared_sev1(world)
    view = world.detail(number)
    s = view.summary
    start = world.clock.now.isoformat().replace("+00:00", "Z")
    assert (s["stage"], s["severity"], s["declared"]) == ("declared", "SEV1", True)
    assert s["detected_at"] == s["acknowledged_at"] == s["triaged_at"] == s["declared_at"] == start
    assert s["ic"] == "alice"
    assert s["channel"] == "incident-2026-03-02-checkout-api-errors"
    assert s["public_status"] == "investigating"
    pending = {item.key for item in view.checklist if item.state.value == "pending"}
    assert {"incident-channel", "initial-status", "page-oncall"} <= pending | {
        item.key for item in view.checklist if item.due_at
    }
    # The status page itself said Investigating: that step is done.
    done = {item.key for item in view.checklist if item.state.value == "done"}
    assert "status-page" in done


def test_it_runs_a_sev1_through_all_nine_stages(world: World) -> None:
    number = world.act(
        "uptime",
        lambda op: lifecycle.report(
            op, "Checkout slow", source=ReportSource.SYNTHETIC, service_name="checkout"
        ),
    ).id
    world.later(minutes=2).act("alice", lambda op: lifecycle.acknowledge(op, number))
    world.later(minutes=1).act("alice", lambda op: lifecycle.triage(op, number, Severity.SEV1))
    world.later(minutes=1).act("alice", lambda op: declaration.declare(op, number, ic="carol"))
    to_monitoring(world, number, by="carol")
    world.later(minutes=31).act("carol", lambda op: lifecycle.close(op, number))
    world.later(hours=20).act(
        "carol", lambda op: lifecycle.postmortem(op, number, "https://wiki/pm/1")
    )

    s = world.detail(number).summary
    assert s["stage"] == "postmortem_complete"
    assert s["ic"] == "carol"
    assert s["acknowledged_by"] == "alice"
    for stage in (
        "detected",
        "triaged",
        "declared",
        "investigating",
        "mitigated",
        "resolved",
        "monitoring",
        "closed",
        "postmortem_complete",
    ):
        assert s[f"{stage}_at"] is not None, stage
    assert s["postmortem_doc"] == "https://wiki/pm/1"
    assert s["public_status"] == "resolved"


def test_it_refuses_a_closure_10_minutes_into_monitoring_and_records_it(world: World) -> None:
    number = declared_sev1(world)
    to_monitoring(world, number)
    world.later(minutes=10)
    with pytest.raises(Refused) as refused:
        world.act("alice", lambda op: lifecycle.close(op, number), incident=number)
    assert refused.value.rule == "closure-window"

    with world.runtime.reading() as session:
        events = timeline(session, number)
    assert events[-1]["kind"] == "refused"
    assert events[-1]["data"]["rule"] == "closure-window"
    assert "premature-closure" in [f.pattern for f in world.detail(number).findings]

    world.later(minutes=21).act("alice", lambda op: lifecycle.close(op, number))
    view = world.detail(number)
    assert view.summary["stage"] == "closed"
    closing = [e for e in view.checklist if e.key == "announce-resolution"]
    assert "Incident resolved at 2026-03-02 10:58 UTC; thanks to alice" in closing[0].title
    postmortem = next(e for e in view.checklist if e.key == "postmortem")
    assert postmortem.due_at == world.clock.now + timedelta(hours=48)


def test_it_blocks_closure_after_a_customer_report_in_the_window(world: World) -> None:
    number = declared_sev1(world)
    to_monitoring(world, number)
    world.later(minutes=25).act(
        "support",
        lambda op: lifecycle.customer_report(
            op, number, "Checkout failed again", source=ReportSource.CUSTOMER
        ),
    )
    world.later(minutes=10)
    with pytest.raises(Refused) as refused:
        world.act("alice", lambda op: lifecycle.close(op, number), incident=number)
    assert refused.value.rule == "closure-customer-report"
    world.later(minutes=21).act("alice", lambda op: lifecycle.close(op, number))


def test_it_lets_only_the_ic_close(world: World) -> None:
    number = declared_sev1(world)
    to_monitoring(world, number)
    world.later(minutes=40)
    with pytest.raises(Refused) as refused:
        world.act("bob", lambda op: lifecycle.close(op, number), incident=number)
    assert refused.value.rule == "closure-confirmer"
    world.act("alice", lambda op: coordination.assign_role(op, number, Role.IC, "bob"))
    world.act("bob", lambda op: lifecycle.close(op, number))


def test_it_raises_an_undeclared_sev2_to_sev1_and_declares_it_in_place(world: World) -> None:
    number = world.act("dana", lambda op: lifecycle.report(op, "Search stale")).id
    world.act("dana", lambda op: lifecycle.triage(op, number, Severity.SEV2))
    world.later(minutes=5).act("dana", lambda op: lifecycle.move(op, number, Move.INVESTIGATE))
    world.later(minutes=30).act(
        "erin",
        lambda op: declaration.change_severity(op, number, Severity.SEV1, "checkout affected too"),
    )
    view = world.detail(number)
    assert view.summary["stage"] == "investigating"
    assert view.summary["declared_at"] is not None
    assert view.summary["ic"] == "erin"
    assert view.summary["responder"] == "dana"
    keys = {item.key for item in view.checklist}
    assert {"page-oncall", "incident-channel", "status-page"} <= keys
    # Known as SEV1 only now: declaring at once is not a delayed declaration. The update
    # its SEV2 rule asked for after triage (due 10:30) stays counted (decision 109).
    assert [(f.pattern, f.at) for f in view.findings] == [
        ("no-status-updates", START + timedelta(minutes=30))
    ]


def test_it_pages_all_hands_and_notifies_executives_when_raised_to_sev0(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=3).act(
        "alice",
        lambda op: declaration.change_severity(op, number, Severity.SEV0, "all regions down"),
    )
    items = {item.key: item for item in world.detail(number).checklist}
    assert items["notify-executives"].due_at == world.clock.now + timedelta(minutes=15)
    assert "page-all-hands" in items
    assert items["role-comms"].state.value == "overdue"
    assert items["role-scribe"].state.value == "overdue"

    world.later(minutes=5).act(
        "alice", lambda op: declaration.change_severity(op, number, Severity.SEV1, "one region")
    )
    items = {item.key: item for item in world.detail(number).checklist}
    assert items["notify-executives"].state.value == "cancelled"
    assert items["page-all-hands"].state.value == "cancelled"
    assert "role-comms" not in items


def test_it_puts_a_sev3_in_the_backlog_and_never_declares_it(world: World) -> None:
    number = world.act("dana", lambda op: lifecycle.report(op, "Button colour wrong")).id
    world.act("dana", lambda op: lifecycle.triage(op, number, Severity.SEV3))
    assert world.detail(number).summary["stage"] == "backlog"
    with pytest.raises(Refused) as refused:
        world.act("dana", lambda op: declaration.declare(op, number), incident=number)
    assert refused.value.rule == "illegal-move"
    with pytest.raises(Refused) as refused:
        world.act("dana", lambda op: declaration.declare_new(op, Severity.SEV3, "tiny"))
    assert refused.value.rule == "sev3-is-a-ticket"
    with pytest.raises(Refused) as refused:
        world.act("dana", lambda op: coordination.post_update(op, number, TEXT), incident=number)
    assert refused.value.rule == "updates-not-applicable"
    world.act("dana", lambda op: lifecycle.close(op, number))
    with pytest.raises(Refused) as refused:
        world.act("dana", lambda op: lifecycle.postmortem(op, number, None), incident=number)
    assert refused.value.rule == "postmortem-not-applicable"


def test_it_merges_a_duplicate_into_the_survivor(world: World) -> None:
    survivor = declared_sev1(world)
    duplicate = (
        world.later(minutes=1)
        .act("bob", lambda op: lifecycle.report(op, "Checkout 500s", source=ReportSource.CUSTOMER))
        .id
    )
    world.act("bob", lambda op: lifecycle.merge(op, duplicate, survivor))
    assert world.detail(duplicate).summary["merged_into"] == f"INC-{survivor}"
    assert world.detail(duplicate).summary["stage"] == "closed"
    with world.runtime.reading() as session:
        reports = session.scalars(
            select(Report.incident_id).where(Report.source == ReportSource.CUSTOMER)
        ).all()
        copied = [e for e in timeline(session, survivor) if e["origin"] == f"INC-{duplicate}"]
    assert reports == [survivor]
    assert any("Checkout 500s" in e["summary"] for e in copied)
    with pytest.raises(Refused) as refused:
        world.act("bob", lambda op: lifecycle.postmortem(op, duplicate, None), incident=duplicate)
    assert refused.value.rule == "postmortem-not-applicable"
    # A customer report on the duplicate would not hold up the survivor's closure: refused.
    with pytest.raises(Refused) as refused:
        world.act(
            "bob",
            lambda op: lifecycle.customer_report(
                op, duplicate, "still failing", source=ReportSource.CUSTOMER
            ),
            incident=duplicate,
        )
    assert refused.value.rule == "merged-incident"
    assert refused.value.hint == f"Report it on INC-{survivor}."


def test_it_dismisses_noise_and_reopens_it_to_triage(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=2).act(
        "alice", lambda op: lifecycle.dismiss(op, number, DismissReason.TEST)
    )
    view = world.detail(number)
    assert view.summary["dismissed_reason"] == "test"
    # Everything still open is cancelled; the status page had already said Investigating.
    assert all(
        item.state.value == "cancelled" for item in view.checklist if item.key != "status-page"
    )
    world.later(minutes=2).act("alice", lambda op: lifecycle.reopen(op, number, "it was real"))
    view = world.detail(number)
    assert view.summary["stage"] == "triaged"
    assert view.summary["dismissed_reason"] is None
    assert "premature-closure" in [f.pattern for f in view.findings]


def test_it_hands_the_ic_role_over_and_keeps_the_history(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=30).act(
        "alice", lambda op: coordination.assign_role(op, number, Role.IC, "bob")
    )
    _, changed = world.act("bob", lambda op: coordination.assign_role(op, number, Role.IC, "bob"))
    assert changed is False
    view = world.detail(number)
    assert view.facts.ic == "bob"
    history = [
        (r.role.value, r.person.handle, r.relieved_at is not None) for r in view.role_history
    ]
    assert history == [("ic", "alice", True), ("ic", "bob", False)]


def test_it_numbers_updates_and_tracks_the_cadence(world: World) -> None:
    number = declared_sev1(world)
    first = world.later(minutes=20).act(
        "alice", lambda op: coordination.post_update(op, number, TEXT)
    )
    assert first.number == 1
    assert first.rendered.splitlines()[0] == "[2026-03-02 10:20 UTC] Update #1 - Investigating"
    assert first.rendered.splitlines()[-1] == "Next Update: [2026-03-02 10:50 UTC]"
    world.later(minutes=45)  # 10:65 = 11:05, past the 10:50 due time
    view = world.detail(number)
    assert view.schedule.missed == (first.at + timedelta(minutes=30),)
    assert "no-status-updates" in [f.pattern for f in view.findings]
    second = world.act("alice", lambda op: coordination.post_update(op, number, TEXT))
    assert second.number == 2


def test_it_flags_the_ic_doing_hands_on_work(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=1).act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="bob")
    )
    assert world.detail(number).findings == []
    world.act(
        "alice", lambda op: coordination.note(op, number, NoteKind.HYPOTHESIS, "pool exhausted")
    )
    assert [f.pattern for f in world.detail(number).findings] == ["ic-hands-on"]


def test_it_flags_a_delayed_declaration(world: World) -> None:
    number = world.act("bot", lambda op: lifecycle.report(op, "DB down", severity=Severity.SEV0)).id
    world.later(minutes=11)
    assert [f.pattern for f in world.detail(number).findings] == ["delayed-declaration"]
    items = {i.key: i for i in world.detail(number).checklist}
    assert items["declare"].state.value == "overdue"
    assert items["acknowledge"].state.value == "overdue"


def test_it_counts_a_severity_set_at_triage_from_detection(world: World) -> None:
    # Proposed SEV2, triaged SEV1 15 minutes in, declared at 20: settling the severity at
    # triage is no reclassification (product.md §3), so the declaration came 20 minutes after
    # detection, past the 10-minute limit.
    number = world.act(
        "bot", lambda op: lifecycle.report(op, "API errors", severity=Severity.SEV2)
    ).id
    world.later(minutes=15).act("bob", lambda op: lifecycle.triage(op, number, Severity.SEV1))
    world.later(minutes=5).act("bob", lambda op: declaration.declare(op, number))
    [finding] = world.detail(number).findings
    assert finding.pattern == "delayed-declaration"
    assert finding.at == START + timedelta(minutes=10)
    # A SEV2 raised to SEV1 later, by a reclassification (which declares it), counts from the
    # raise (decision 4).
    raised = world.act(
        "bot", lambda op: lifecycle.report(op, "Search slow", severity=Severity.SEV2)
    ).id
    world.act("bob", lambda op: lifecycle.triage(op, raised, Severity.SEV2))
    world.later(hours=3).act(
        "bob", lambda op: declaration.change_severity(op, raised, Severity.SEV1, "spreading")
    )
    assert world.detail(raised).summary["stage"] == "declared"
    # No delayed declaration; the update SEV2 asked for after triage stays counted.
    assert [f.pattern for f in world.detail(raised).findings] == ["no-status-updates"]


def test_it_notifies_as_sev2_does_when_a_backlog_sev3_is_raised_to_sev2(world: World) -> None:
    # Raising re-runs the new level's notification policy (product.md §3): the same
    # notifications as triaging it SEV2 in the first place.
    direct = world.act("bob", lambda op: lifecycle.report(op, "Search slow")).id
    world.act("bob", lambda op: lifecycle.triage(op, direct, Severity.SEV2))
    raised = world.act("bob", lambda op: lifecycle.report(op, "Typo on pricing")).id
    world.act("bob", lambda op: lifecycle.triage(op, raised, Severity.SEV3))
    assert "notify-oncall" not in {i.key for i in world.detail(raised).checklist}
    world.later(minutes=30).act(
        "bob",
        lambda op: declaration.change_severity(op, raised, Severity.SEV2, "customers see it"),
    )
    notifications = {"notify-oncall"}
    assert notifications <= {i.key for i in world.detail(direct).checklist}
    assert notifications <= {i.key for i in world.detail(raised).checklist}


def test_it_refuses_facts_dated_in_the_future_or_before_detection(world: World) -> None:
    number = declared_sev1(world)
    with pytest.raises(BadInput, match="in the future"):
        world.runtime.write(
            lambda op: lifecycle.move(op, number, Move.INVESTIGATE),
            by="alice",
            at="2026-03-02T10:01:00Z",
        )
    with pytest.raises(BadInput, match="before INC-1 was detected"):
        world.later(minutes=5).runtime.write(
            lambda op: lifecycle.move(op, number, Move.INVESTIGATE),
            by="alice",
            at="2026-03-02T09:00:00Z",
        )
    with pytest.raises(BadInput, match="no UTC offset"):
        world.runtime.write(
            lambda op: lifecycle.move(op, number, Move.INVESTIGATE),
            by="alice",
            at="2026-03-02T10:01:00",
        )
    world.runtime.write(
        lambda op: lifecycle.move(op, number, Move.INVESTIGATE),
        by="alice",
        at="2026-03-02T10:03:00+00:00",
    )
    assert world.detail(number).summary["investigating_at"] == "2026-03-02T10:03:00Z"


def test_it_marks_a_manual_action_done(world: World) -> None:
    number = world.act(
        "alice", lambda op: declaration.declare_new(op, Severity.SEV0, "Everything down")
    ).id
    world.later(minutes=4).act(
        "alice",
        lambda op: coordination.complete_action(
            op, number, "notify-executives", note="called the CTO"
        ),
    )
    item = next(i for i in world.detail(number).checklist if i.key == "notify-executives")
    assert (item.state.value, item.note) == ("done", "called the CTO")
    with pytest.raises(BadInput, match="already done"):
        world.act("alice", lambda op: coordination.complete_action(op, number, "notify-executives"))
    with pytest.raises(BadInput, match="pending: "):
        world.act("alice", lambda op: coordination.complete_action(op, number, "bake-a-cake"))


def test_it_gives_a_sev2_a_responder_and_chooses_its_visibility(world: World) -> None:
    number = world.act("bot", lambda op: lifecycle.report(op, "Exports slow")).id
    world.later(minutes=3).act("dana", lambda op: lifecycle.triage(op, number, Severity.SEV2))
    view = world.detail(number)
    assert view.summary["responder"] == "dana"
    assert view.summary["public_status"] is None
    world.act("dana", lambda op: lifecycle.move(op, number, Move.INVESTIGATE))
    world.act("dana", lambda op: coordination.set_visibility(op, number, Visibility.PUBLIC))
    assert world.detail(number).summary["public_status"] == "investigating"
    with pytest.raises(Refused) as refused:
        world.act(
            "dana",
            lambda op: coordination.set_visibility(op, declared_sev1(world), Visibility.INTERNAL),
        )
    assert refused.value.rule == "visibility-fixed-by-severity"


def test_it_keeps_the_timeline_append_only(world: World) -> None:
    declared_sev1(world)
    for statement in (
        "UPDATE timeline_events SET summary = 'rewritten'",
        "DELETE FROM timeline_events",
    ):
        with (
            pytest.raises(DBAPIError, match="append-only"),
            world.runtime.engine.begin() as connection,
        ):
            connection.execute(text(statement))
    with world.runtime.reading() as session:
        assert session.scalar(select(TimelineEvent).limit(1)) is not None


def test_it_refuses_the_loser_of_a_race_between_two_connections(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=1)
    sessions = world.runtime.sessions
    first, second = sessions(), sessions()
    try:
        seen_by_bob = second.get(Incident, number)  # bob reads the incident ...
        assert seen_by_bob is not None
        lifecycle.move(world.runtime.op(first, by="alice", at=None), number, Move.INVESTIGATE)
        first.commit()  # ... alice moves it on and commits first ...
        # ... so bob's change, made on what he read, loses.
        with pytest.raises(Conflict), unit_of_work(lambda: second):  # type: ignore[arg-type]
            lifecycle.dismiss(
                world.runtime.op(second, by="bob", at=None), number, DismissReason.NOISE
            )
    finally:
        first.close()
        second.close()
    view = world.detail(number)
    assert view.summary["stage"] == "investigating"
    assert view.summary["dismissed_reason"] is None


def test_it_reads_incidents_as_they_are_stored(world: World) -> None:
    number = declared_sev1(world)
    with world.runtime.reading() as session:
        stored = session.get(Incident, number)
        assert stored is not None
        assert stored.detected_at.tzinfo is not None
        assert stored.stage is Stage.DECLARED


def test_it_records_an_escalation_and_queues_the_team_page(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=40).act(
        "alice", lambda op: coordination.escalate(op, number, team="database", reason="replica lag")
    )
    view = world.detail(number)
    assert "page-team-database" in {item.key for item in view.checklist}
    with world.runtime.reading() as session:
        last = [e for e in timeline(session, number) if e["kind"] == "escalated"][-1]
    assert last["data"]["team"] == "database"


def test_it_resolves_with_a_permanent_mitigation(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=1).act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="bob")
    )
    world.later(minutes=9).act(
        "alice",
        lambda op: lifecycle.mitigate(
            op, number, MitigationKind.FEATURE_FLAG, permanent=True, performed_by="bob"
        ),
    )
    s = world.detail(number).summary
    assert s["stage"] == "resolved"
    assert s["mitigated_at"] == s["resolved_at"] == "2026-03-02T10:10:00Z"


def test_it_filters_the_list(world: World) -> None:
    from warroom.services.reading import ListFilter, list_incidents

    declared_sev1(world)
    other = world.act(
        "bot", lambda op: lifecycle.report(op, "Search stale", service_name="search")
    ).id
    world.act("bot", lambda op: lifecycle.triage(op, other, Severity.SEV3))
    with world.runtime.reading() as session:
        active = [i.id for i in list_incidents(session, ListFilter())]
        everything = [i.id for i in list_incidents(session, ListFilter(include_inactive=True))]
        search = [
            i.id
            for i in list_incidents(session, ListFilter(service="search", include_inactive=True))
        ]
        sev1 = [i.id for i in list_incidents(session, ListFilter(severities=(Severity.SEV1,)))]
    assert active == [1]
    assert everything == [2, 1]
    assert search == [2]
    assert sev1 == [1]


def test_it_gives_a_declared_sev2_raised_to_sev1_an_ic_and_a_channel(world: World) -> None:
    number = world.act("dana", lambda op: lifecycle.report(op, "Exports slow")).id
    world.act("dana", lambda op: lifecycle.triage(op, number, Severity.SEV2))
    world.act("dana", lambda op: lifecycle.move(op, number, Move.INVESTIGATE))
    world.act("dana", lambda op: declaration.declare(op, number))
    assert world.detail(number).summary["ic"] is None
    world.later(minutes=5).act(
        "erin", lambda op: declaration.change_severity(op, number, Severity.SEV1, "spreading")
    )
    s = world.detail(number).summary
    assert s["ic"] == "erin"
    assert s["channel"] == "incident-2026-03-02-exports-slow"


def test_it_starts_the_declaration_clock_when_the_incident_becomes_major(world: World) -> None:
    number = world.act("bot", lambda op: lifecycle.report(op, "Latency", severity=Severity.SEV1)).id
    world.later(minutes=2).act("dana", lambda op: lifecycle.triage(op, number, Severity.SEV2))
    world.later(hours=4).act(
        "dana", lambda op: declaration.change_severity(op, number, Severity.SEV1, "worse")
    )
    # No delayed declaration; the update its SEV2 rule asked for after triage (due 10:32)
    # stays counted (decision 109).
    assert [(f.pattern, f.at) for f in world.detail(number).findings] == [
        ("no-status-updates", START + timedelta(minutes=32))
    ]


def test_it_counts_every_missed_update_and_shows_the_next_one_overdue(world: World) -> None:
    number = declared_sev1(world)
    world.later(hours=2, minutes=5)
    view = world.detail(number)
    assert len(view.schedule.missed) == 4  # due at 10:30, 11:00, 11:30 and 12:00
    item = next(i for i in view.checklist if i.key == "status-update")
    assert item.state.value == "overdue"


def test_it_cancels_the_closure_work_when_reopened(world: World) -> None:
    number = declared_sev1(world)
    to_monitoring(world, number)
    world.later(minutes=31).act("alice", lambda op: lifecycle.close(op, number))
    world.later(minutes=5).act("alice", lambda op: lifecycle.reopen(op, number, "errors again"))
    items = {i.key: i for i in world.detail(number).checklist}
    assert items["customer-email"].state.value == "cancelled"
    assert items["announce-resolution"].state.value == "cancelled"
    assert "postmortem" not in items


def test_it_refuses_a_handover_dated_before_the_current_holder_took_over(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=20).act(
        "alice", lambda op: coordination.assign_role(op, number, Role.IC, "bob")
    )
    world.later(minutes=10)
    with pytest.raises(BadInput, match="handover cannot be dated earlier"):
        world.runtime.write(
            lambda op: coordination.assign_role(op, number, Role.IC, "carol"),
            by="bob",
            at="2026-03-02T10:10:00Z",
        )


def test_it_triages_a_reopened_detection_that_has_no_severity(world: World) -> None:
    number = world.act("bot", lambda op: lifecycle.report(op, "Odd graph")).id
    world.act("dana", lambda op: lifecycle.dismiss(op, number, DismissReason.NOISE))
    world.act("dana", lambda op: lifecycle.reopen(op, number, "real after all"))
    world.act("dana", lambda op: lifecycle.triage(op, number, Severity.SEV3))
    assert world.detail(number).summary["stage"] == "backlog"


def test_it_refuses_to_change_severity_by_declaring(world: World) -> None:
    number = world.act("bot", lambda op: lifecycle.report(op, "Errors")).id
    world.act("dana", lambda op: lifecycle.triage(op, number, Severity.SEV1))
    with pytest.raises(BadInput, match="change its severity first"):
        world.act("dana", lambda op: declaration.declare(op, number, Severity.SEV2))


def test_it_runs_a_write_that_lost_a_race_again_on_the_new_state(world: World) -> None:
    number = declared_sev1(world)
    world.later(minutes=1)
    runs: list[str] = []
    text = UpdateText(issue="Checkout failing", impact="EU", progress="Rollback", next_steps="-")

    def alice_updates_while_bob_moves_it_on(op: Op) -> Incident:
        seen = load(op, number)  # alice reads the incident ...
        runs.append(seen.stage.value)
        if len(runs) == 1:  # ... bob moves it on and commits before alice writes ...
            world.act("bob", lambda other: lifecycle.move(other, number, Move.INVESTIGATE))
        coordination.post_update(op, number, text)  # ... so alice's first run loses
        return seen

    world.act("alice", alice_updates_while_bob_moves_it_on)
    assert runs == ["declared", "investigating"]  # the second run saw bob's move
    with world.runtime.reading() as session:
        kinds = [(e["kind"], e["actor"]) for e in timeline(session, number)]
    assert kinds.count(("update", "alice")) == 1  # the lost run left nothing behind
    assert ("stage", "bob") in kinds


def test_it_takes_concurrent_updates_to_one_incident_in_turn(world: World) -> None:
    """Two people post an update at the same moment. The second must not be refused for
    being earlier than the first, nor run again: writes to one incident take turns, and
    each reads the clock when its turn comes."""
    number = declared_sev1(world)
    text = UpdateText(issue="Checkout failing", impact="EU", progress="Rollback", next_steps="-")
    alice_started, alice_may_go = threading.Event(), threading.Event()
    runs: list[str] = []
    errors: list[Exception] = []

    def alice(op: Op) -> None:
        runs.append("alice")
        alice_started.set()
        alice_may_go.wait(10)  # she is slow to type; bob posts meanwhile
        coordination.post_update(op, number, text)

    def in_thread(by: str, action: Callable[[Op], object]) -> threading.Thread:
        def run() -> None:
            try:
                world.runtime.write(action, by=by, at=None, incident=number)
            except (BadInput, Conflict) as exc:  # what losing the race looked like
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    world.later(minutes=1)
    first = in_thread("alice", alice)
    assert alice_started.wait(10)
    world.later(seconds=5)
    second = in_thread("bob", lambda op: coordination.post_update(op, number, text))
    second.join(1)  # bob waits for alice's turn to end
    alice_may_go.set()
    first.join(10)
    second.join(10)
    assert errors == []
    assert runs == ["alice"]  # nobody ran twice
    with world.runtime.reading() as session:
        updates = [
            (e["actor"], e["data"]["number"])
            for e in timeline(session, number)
            if e["kind"] == "update"
        ]
    assert updates == [("alice", 1), ("bob", 2)]


def test_it_keeps_connections_for_other_incidents_while_writes_queue_on_a_busy_one(
    world: World,
) -> None:
    """Another node holds an incident's row (a slow write). Three status updates to it arrive
    here meanwhile: they queue, and a write to another incident still gets a connection from
    a pool of two instead of waiting behind them."""
    if world.runtime.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one write at a time")
    busy, other = declared_sev1(world), declared_sev1(world)
    url = world.runtime.engine.url
    world.runtime.engine.dispose()
    world.runtime.__dict__["engine"] = make_engine(
        url.render_as_string(hide_password=False), pool_size=2, max_overflow=0, pool_timeout=3
    )
    world.runtime.__dict__.pop("sessions", None)
    text_ = UpdateText(issue="Checkout failing", impact="EU", progress="Rollback", next_steps="-")
    errors: list[Exception] = []

    def update(number: int) -> None:
        try:
            world.runtime.write(
                lambda op: coordination.post_update(op, number, text_),
                by="alice",
                at=None,
                incident=number,
            )
        except Exception as exc:  # noqa: BLE001 - the test reports whatever went wrong
            errors.append(exc)

    outside = make_engine(url.render_as_string(hide_password=False), poolclass=NullPool)
    with outside.connect() as node:
        node.execute(text("SELECT id FROM incidents WHERE id = :id FOR UPDATE"), {"id": busy})
        queued = [threading.Thread(target=update, args=(busy,)) for _ in range(3)]
        for thread in queued:
            thread.start()
        for _ in range(100):  # one of them reaches the row and waits for the other node
            waiting = node.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar_one()
            if waiting:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # the other two queue behind it
        update(other)  # a connection is free for it
        assert errors == []
        assert all(thread.is_alive() for thread in queued)
        node.rollback()  # the other node's write ends
    for thread in queued:
        thread.join(30)
    outside.dispose()
    assert errors == []
    with world.runtime.reading() as session:
        numbers = [e["data"]["number"] for e in timeline(session, busy) if e["kind"] == "update"]
    assert numbers == [1, 2, 3]


def test_it_runs_again_a_write_that_postgresql_chose_to_end_a_deadlock(world: World) -> None:
    """Each write holds its own incident and then updates the other's: PostgreSQL ends the
    deadlock by rolling one back, and that one runs again instead of failing."""
    if world.runtime.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one write at a time")
    first, second = declared_sev1(world), declared_sev1(world)
    text = UpdateText(issue="Checkout failing", impact="EU", progress="Rollback", next_steps="-")
    holding = {first: threading.Event(), second: threading.Event()}
    runs: list[int] = []
    errors: list[Exception] = []

    def crossing(own: int, other: int) -> threading.Thread:
        def action(op: Op) -> None:
            runs.append(own)
            holding[own].set()
            holding[other].wait(10)
            coordination.post_update(op, other, text)

        def run() -> None:
            try:
                world.runtime.write(action, by="alice", at=None, incident=own)
            except (Conflict, Unavailable) as exc:  # what the deadlock looked like
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    world.later(minutes=1)
    threads = [crossing(first, second), crossing(second, first)]
    for thread in threads:
        thread.join(30)
    assert errors == []
    # One ran again; both may, when the run again took its row back before the survivor of
    # the first deadlock did, and PostgreSQL ended a second one. Each ran to its end once.
    assert len(runs) > 2
    assert set(runs) == {first, second}
    with world.runtime.reading() as session:
        for number in (first, second):
            assert [e["kind"] for e in timeline(session, number)].count("update") == 1


def test_it_records_a_new_persons_writes_after_their_first_one_rolled_back(world: World) -> None:
    """People are remembered by id once stored: a first appearance that rolled back (here, a
    detection refused for its empty title after the reporter was written) stores nobody, and
    the person's next writes are recorded under them."""

    def report_then_fail(op: Op) -> None:
        person(op, "newcomer")
        lifecycle.report(op, "   ")

    with pytest.raises(BadInput):
        world.act("newcomer", report_then_fail)
    first = world.act("newcomer", lambda op: lifecycle.report(op, "Queue backing up")).id
    world.later(minutes=1).act("newcomer", lambda op: lifecycle.acknowledge(op, first))
    with world.runtime.reading() as session:
        actors = [entry["actor"] for entry in timeline(session, first)]
    assert actors == ["newcomer", "newcomer"]


def test_it_shows_a_known_persons_new_name_in_their_next_write(world: World) -> None:
    """A person's id is remembered between writes, their details are not: a name changed in
    between is the one the next write sees."""
    number = world.act("dana", lambda op: lifecycle.report(op, "Disk filling")).id
    world.later(minutes=1).act("dana", lambda op: lifecycle.acknowledge(op, number))
    with world.runtime.reading() as session:
        session.execute(
            text("UPDATE people SET display_name = 'Dana Scully' WHERE handle = 'dana'")
        )
        session.commit()
    seen = world.later(minutes=1).act("dana", lambda op: person(op, "dana").display_name)
    assert seen == "Dana Scully"
