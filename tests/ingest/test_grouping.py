"""Alerts into incidents: grouping by key and window, routing rules and proposals, closure
criteria from linked alerts, moves and merges."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.ingest.conftest import Sender
from tests.integration.test_incidents import to_monitoring
from warroom.db.engine import unit_of_work
from warroom.db.models import Timer
from warroom.domain import alerts as domain_alerts
from warroom.domain.alerts import AlertSource
from warroom.domain.errors import Conflict, Refused
from warroom.domain.policy import DEFAULT_POLICY, RoutingRule
from warroom.domain.timers import TimerKind
from warroom.domain.types import DismissReason, Move, Severity, Stage
from warroom.services import alert_views, alerts, declaration, lifecycle
from warroom.services.reading import timeline
from warroom.services.records import Op

GENERIC = AlertSource.GENERIC


def fire(sender: Sender, key: str, service: str | None = None, **extra: Any) -> None:
    body = {"summary": f"{key} is failing", "dedup_key": key, "service": service} | extra
    response = sender.post(GENERIC, json.dumps(body).encode())
    assert response.status_code == 202, response.text
    sender.group()


def resolve(sender: Sender, key: str) -> None:
    body = {"status": "resolved", "dedup_key": key}
    assert sender.post(GENERIC, json.dumps(body).encode()).status_code == 202
    sender.group()


def test_it_groups_alerts_by_service_and_opens_one_incident_per_group(sender: Sender) -> None:
    fire(sender, "latency", labels={"service": "checkout"})
    fire(sender, "errors", labels={"service": "checkout"})
    fire(sender, "disk", labels={"service": "search"})
    checkout, search = sender.incidents()
    assert [a.incident_id for a in sender.alerts()] == [checkout.id, checkout.id, search.id]
    assert (checkout.alert_group, search.alert_group) == ("service=checkout", "service=search")
    assert search.service is not None
    assert search.service.name == "search"


def test_it_opens_a_new_incident_once_the_group_window_has_passed(sender: Sender) -> None:
    fire(sender, "latency")
    resolve(sender, "latency")
    sender.world.later(hours=5)
    fire(sender, "errors")
    assert len(sender.incidents()) == 2


def test_it_keeps_adding_to_an_incident_while_one_of_its_alerts_fires(sender: Sender) -> None:
    fire(sender, "latency")  # firing for longer than the window
    sender.world.later(hours=5)
    fire(sender, "errors")
    assert len(sender.incidents()) == 1


def test_it_never_adds_alerts_to_a_closed_incident(sender: Sender) -> None:
    fire(sender, "latency")
    [first] = sender.incidents()
    resolve(sender, "latency")
    sender.world.act("alice", lambda op: lifecycle.dismiss(op, first.id, DismissReason.NOISE))
    fire(sender, "errors")
    assert len(sender.incidents()) == 2


def test_it_proposes_sev0_from_a_routing_rule_and_says_why(sender: Sender) -> None:
    rule = RoutingRule(
        match={"service": "payments", "severity": "critical"},
        service="payments",
        team="payments-team",
        severity=Severity.SEV0,
    )
    sender.world.runtime.__dict__["policy"] = DEFAULT_POLICY.model_copy(update={"routing": (rule,)})
    fire(
        sender,
        "card-auth",
        service="payments",
        severity="critical",
        labels={"service": "payments", "severity": "critical"},
    )
    [incident] = sender.incidents()
    assert incident.severity is Severity.SEV0
    assert not incident.severity_confirmed
    assert incident.service is not None
    assert incident.service.name == "payments"
    with sender.world.runtime.reading() as session:
        detected = timeline(session, incident.id)[0]
    assert (
        "routing rule service=payments, severity=critical proposes SEV0"
        in detected["data"]["reasons"]
    )
    assert detected["data"]["team"] == "payments-team"


def test_it_runs_the_classifier_on_answers_an_alert_carries(sender: Sender) -> None:
    fire(sender, "orders", severity="warning", labels={"revenue_loss": "true"})
    [incident] = sender.incidents()
    assert incident.severity is Severity.SEV1  # the classifier outranks the "warning" hint


def test_it_counts_the_acknowledge_target_from_detection(sender: Sender) -> None:
    fire(sender, "latency", severity="critical", starts_at="2026-03-02T09:57:00Z")
    [incident] = sender.incidents()
    assert incident.detected_at.isoformat() == "2026-03-02T09:57:00+00:00"
    with sender.world.runtime.reading() as session:
        due = session.scalars(
            select(Timer.due_at).where(
                Timer.incident_id == incident.id, Timer.kind == TimerKind.ACK_TARGET
            )
        ).one()
    assert due == incident.detected_at + timedelta(minutes=5)  # SEV1's target


def sev1_from_an_alert(sender: Sender) -> int:
    fire(sender, "latency", severity="critical")
    [incident] = sender.incidents()
    sender.world.act("alice", lambda op: declaration.declare(op, incident.id))
    return incident.id


def test_it_refuses_closure_while_a_linked_alert_is_still_firing(sender: Sender) -> None:
    number = sev1_from_an_alert(sender)
    to_monitoring(sender.world, number)
    sender.world.later(minutes=31)
    with pytest.raises(Refused) as refused:
        sender.world.act("alice", lambda op: lifecycle.close(op, number), incident=number)
    assert refused.value.rule == "closure-alerts-open"
    resolve(sender, "latency")
    sender.world.act("alice", lambda op: lifecycle.close(op, number))


def test_it_refuses_closure_after_a_linked_alert_fired_in_the_window(sender: Sender) -> None:
    number = sev1_from_an_alert(sender)
    resolve(sender, "latency")
    to_monitoring(sender.world, number)
    sender.world.later(minutes=20)
    fire(sender, "latency")  # flapping: a new alert on the same key joins the incident
    resolve(sender, "latency")
    sender.world.later(minutes=15)
    with pytest.raises(Refused) as refused:
        sender.world.act("alice", lambda op: lifecycle.close(op, number), incident=number)
    assert refused.value.rule == "closure-alert-fired"
    assert [a.incident_id for a in sender.alerts()] == [number, number]


def test_it_moves_an_alert_and_closure_follows_it(sender: Sender) -> None:
    number = sev1_from_an_alert(sender)
    other = sender.world.act(
        "alice", lambda op: declaration.declare_new(op, Severity.SEV2, "Search slow")
    ).id
    [alert] = sender.alerts()
    sender.world.act("alice", lambda op: alert_views.move(op, alert.id, other))
    assert sender.alerts()[0].incident_id == other
    assert f"alert #{alert.id} moved to INC-{other}" in sender.timeline(number)[-1]
    assert f"moved here from INC-{number}" in sender.timeline(other)[-1]
    to_monitoring(sender.world, number)
    sender.world.later(minutes=31).act("alice", lambda op: lifecycle.close(op, number))


def test_it_refuses_moving_an_alert_to_a_closed_incident(sender: Sender) -> None:
    number = sev1_from_an_alert(sender)
    closed = sender.world.act("alice", lambda op: lifecycle.report(op, "noise")).id
    sender.world.act("alice", lambda op: lifecycle.dismiss(op, closed, DismissReason.NOISE))
    [alert] = sender.alerts()
    with pytest.raises(Refused):
        sender.world.act(
            "alice", lambda op: alert_views.move(op, alert.id, closed), incident=closed
        )
    assert sender.alerts()[0].incident_id == number


def test_it_hands_alerts_to_the_survivor_of_a_merge(sender: Sender) -> None:
    fire(sender, "latency", labels={"zone": "a"})
    sender.world.runtime.__dict__["policy"] = DEFAULT_POLICY.model_copy(
        update={"alerts": DEFAULT_POLICY.alerts.model_copy(update={"group_by": ("zone",)})}
    )
    fire(sender, "errors", labels={"zone": "b"})
    first, second = sender.incidents()
    sender.world.act("alice", lambda op: lifecycle.merge(op, second.id, first.id))
    assert {a.incident_id for a in sender.alerts()} == {first.id}
    fire(sender, "more", labels={"zone": "b"})  # the merged group's next alert follows it
    assert {a.incident_id for a in sender.alerts()} == {first.id}


def test_it_opens_nothing_for_an_alert_first_seen_resolved(sender: Sender) -> None:
    body = {
        "status": "resolved",
        "dedup_key": "blip",
        "summary": "a blip",
        "starts_at": "2026-03-02T09:50:00Z",
        "ends_at": "2026-03-02T09:51:00Z",
    }
    assert sender.post(GENERIC, json.dumps(body).encode()).status_code == 202
    sender.group()
    [alert] = sender.alerts()
    assert alert.status.value == "resolved"
    assert alert.incident_id is None
    assert sender.incidents() == []


def test_it_keeps_stage_moves_separate_from_alerts(sender: Sender) -> None:
    number = sev1_from_an_alert(sender)
    sender.world.later(minutes=1).act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE)
    )
    resolve(sender, "latency")
    [incident] = sender.incidents()
    assert incident.stage is Stage.INVESTIGATING  # a resolved alert never moves the stage


def test_it_groups_services_whatever_their_case_and_ignores_names_that_are_none(
    sender: Sender,
) -> None:
    fire(sender, "latency", labels={"service": "Checkout"})
    fire(sender, "errors", labels={"service": "checkout "})
    fire(sender, "blank", labels={"service": "   "})  # the integration's service applies
    fire(sender, "long", labels={"service": "x" * 300})
    [incident] = sender.incidents()
    assert incident.alert_group == "service=checkout"
    assert {a.incident_id for a in sender.alerts()} == {incident.id}


def test_it_never_loses_a_resolution_that_lands_while_its_alert_is_being_grouped(
    sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    fire(sender, "latency")
    body = {"summary": "errors is failing", "dedup_key": "errors"}
    assert sender.post(GENERIC, json.dumps(body).encode()).status_code == 202  # pending
    real_route = domain_alerts.routed_service
    raced: list[int] = []

    def route_while_the_sender_resolves(*args: Any) -> Any:
        if not raced:  # the pass has read "errors" as firing; it resolves before the pass writes
            raced.append(1)
            resolved = {"status": "resolved", "dedup_key": "errors"}
            assert sender.post(GENERIC, json.dumps(resolved).encode()).status_code == 202
        return real_route(*args)

    monkeypatch.setattr(alerts, "routed_service", route_while_the_sender_resolves)
    runtime = sender.world.runtime

    def one_pass() -> None:  # group_alerts without the writer lock the sender's write needs
        with unit_of_work(runtime.sessions) as session:
            alerts.fold_intake(session)
        with unit_of_work(runtime.sessions) as session:
            now = runtime.clock()
            alerts.group_pending(Op(session, runtime.policy, "warroom", now, now))

    with pytest.raises(Conflict):
        one_pass()
    monkeypatch.undo()
    sender.group()  # the next pass reads the alert afresh
    [incident] = sender.incidents()
    errors = next(a for a in sender.alerts() if a.dedup_key == "errors")
    assert (errors.status.value, errors.incident_id, errors.noted) == (
        "resolved",
        incident.id,
        "resolved",
    )
    assert "still firing" in sender.timeline(incident.id)[-1]  # "latency" still is
