"""What customers see, through the services on a real database: each stage publishes its
public status, visibility follows severity, components follow their incidents, nothing
internal leaks, and the customer e-mail goes out once, through a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from tests.conftest import World
from tests.fakes import SmtpSink
from warroom.db.models import Action, TimelineEvent
from warroom.db.status_models import OutboundEmail, PublicUpdate
from warroom.domain.errors import BadInput, Refused
from warroom.domain.policy import DEFAULT_POLICY, StatusPagePolicy
from warroom.domain.statuspage import ComponentStatus
from warroom.domain.types import (
    EventKind,
    MitigationKind,
    Move,
    NoteKind,
    ReportSource,
    Role,
    Severity,
    Visibility,
)
from warroom.domain.updates import UpdateText
from warroom.jobs.emails import deliver_email, fan_out
from warroom.jobs.worker import fire_due
from warroom.notify.dispatch import Transports
from warroom.services import (
    comms,
    coordination,
    declaration,
    lifecycle,
    records,
    statuspage,
    subscribers,
)
from warroom.services.status_views import Snapshot, snapshot
from warroom.web.status_render import atom, files, json_documents, page_html, rss

SECRET_NOTE = "hypothesis: pg-primary-7 connection pool exhausted by batch job"
SECRET_LABEL = "alertname=CheckoutLatencyP99 instance=10.0.4.17:9100"
TEXT = UpdateText(
    issue="pg-primary-7 pool exhausted",
    impact="Some customers cannot complete checkout.",
    progress="We are rolling back the latest release.",
    next_steps="Page the DBA on-call",
)


def view(world: World) -> Snapshot:
    with world.runtime.reading() as session:
        return snapshot(
            session, world.runtime.policy, now=world.clock.now, public_url="https://status.test"
        )


def summary(world: World) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(json_documents(view(world))["summary.json"])
    return document


def with_components(world: World) -> None:
    world.act("admin", lambda op: statuspage.create_component(op, "API"))
    world.act("admin", lambda op: records.service(op, "checkout"))
    world.act(
        "admin", lambda op: statuspage.create_component(op, "Checkout", services=["checkout"])
    )


def declared(world: World, severity: Severity = Severity.SEV1) -> int:
    return world.act(
        "alice",
        lambda op: declaration.declare_new(
            op, severity, "CheckoutLatencyP99 firing on pg-primary-7", service_name="checkout"
        ),
    ).id


def run_to_closure(world: World, number: int) -> None:
    world.later(minutes=2).act(
        "alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="sme")
    )
    world.later(minutes=10).act(
        "alice",
        lambda op: lifecycle.mitigate(op, number, MitigationKind.ROLLBACK, performed_by="sme"),
    )
    world.later(minutes=10).act("alice", lambda op: lifecycle.move(op, number, Move.RESOLVE))
    world.later(minutes=5).act("alice", lambda op: lifecycle.move(op, number, Move.MONITOR))
    world.later(minutes=31).act("alice", lambda op: lifecycle.close(op, number))


def test_it_publishes_each_stage_of_a_sev1_with_its_public_status(world: World) -> None:
    with_components(world)
    number = declared(world)
    first = summary(world)
    assert first["status"] == {"indicator": "major", "description": "Partial System Outage"}
    [incident] = first["incidents"]
    assert (incident["status"], incident["impact"]) == ("investigating", "major")
    checkout = next(c for c in first["components"] if c["name"] == "Checkout")
    assert checkout["status"] == "partial_outage"

    seen = []
    run_to_closure(world, number)
    document = orjson.loads(json_documents(view(world))["incidents.json"])
    [closed] = document["incidents"]
    seen = [u["status"] for u in reversed(closed["incident_updates"])]
    assert seen == ["investigating", "identified", "monitoring", "resolved"]
    assert closed["status"] == "resolved"
    assert closed["resolved_at"] is not None
    assert closed["monitoring_at"] is not None
    after = summary(world)
    assert after["incidents"] == []  # resolved ones leave unresolved lists...
    assert after["status"]["indicator"] == "none"
    assert all(c["status"] == "operational" for c in after["components"])
    # ...and the manual checklist steps for the status page were done by publishing.
    with world.runtime.reading() as session:
        actions = {
            a.key: a.done_at
            for a in session.scalars(select(Action).where(Action.incident_id == number))
        }
    assert actions["status-page"] is not None
    assert actions["status-page-resolved"] is not None


def test_it_moves_the_page_on_every_change_customers_see_and_only_then(world: World) -> None:
    with_components(world)
    before = view(world)
    number = declared(world)
    declared_view = view(world)
    assert declared_view.revision > before.revision
    # Internal progress customers cannot see leaves the page (and its times) alone.
    world.later(minutes=3).act("alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE))
    world.later(minutes=1).act(
        "alice", lambda op: coordination.assign_role(op, number, Role.SCRIBE, "sam")
    )
    quiet = view(world)
    assert quiet.revision == declared_view.revision
    assert quiet.updated_at == declared_view.updated_at
    [incident] = quiet.incidents
    assert incident.updated_at == declared_view.incidents[0].updated_at
    # Raising the severity changes the impact and the component: everything moves.
    world.later(minutes=1).act(
        "alice",
        lambda op: declaration.change_severity(op, number, Severity.SEV0, "all regions"),
    )
    raised = view(world)
    assert raised.revision > quiet.revision
    assert raised.updated_at > quiet.updated_at
    assert raised.incidents[0].updated_at > incident.updated_at
    checkout = next(c for c in raised.components if c.name == "Checkout")
    assert checkout.status is ComponentStatus.MAJOR_OUTAGE
    assert checkout.updated_at == world.clock.now
    # Two changes within one second still get distinct Last-Modified seconds.
    world.act("alice", lambda op: lifecycle.mitigate(op, number, MitigationKind.ROLLBACK))
    assert view(world).updated_at >= raised.updated_at + timedelta(seconds=1)


def test_it_shows_a_sev2_only_when_customer_visible_and_a_sev3_never(world: World) -> None:
    with_components(world)
    sev2 = declared(world, Severity.SEV2)
    assert summary(world)["incidents"] == []
    world.later(minutes=1).act(
        "alice", lambda op: coordination.set_visibility(op, sev2, Visibility.PUBLIC)
    )
    [shown] = summary(world)["incidents"]
    assert (shown["impact"], shown["status"]) == ("minor", "investigating")
    assert summary(world)["status"]["indicator"] == "minor"
    world.later(minutes=1).act(
        "alice", lambda op: coordination.set_visibility(op, sev2, Visibility.INTERNAL)
    )
    assert summary(world)["incidents"] == []
    assert orjson.loads(json_documents(view(world))["incidents.json"])["incidents"] == []
    with pytest.raises(Refused) as hidden:
        world.act(
            "alice",
            lambda op: coordination.post_update(op, sev2, TEXT, public=True),
            incident=sev2,
        )
    assert hidden.value.rule == "not-on-status-page"

    sev3 = world.act("bob", lambda op: lifecycle.report(op, "Typo", service_name="checkout")).id
    world.act("bob", lambda op: lifecycle.triage(op, sev3, Severity.SEV3))
    with pytest.raises(Refused) as refused:
        world.act(
            "bob",
            lambda op: coordination.post_update(op, sev3, TEXT, public=True),
            incident=sev3,
        )
    assert refused.value.rule == "updates-not-applicable"
    assert summary(world)["incidents"] == []


def test_it_publishes_a_chosen_text_and_a_public_title(world: World) -> None:
    with_components(world)
    number = declared(world)
    world.later(minutes=4).act(
        "alice",
        lambda op: coordination.post_update(
            op,
            number,
            TEXT,
            public=True,
            public_text="Card payments fail for some customers. A fix is rolling out.",
            public_title="Card payments failing",
        ),
    )
    [incident] = summary(world)["incidents"]
    assert incident["name"] == "Card payments failing"
    assert incident["incident_updates"][0]["body"] == (
        "Card payments fail for some customers. A fix is rolling out."
    )
    # This update moved no component; the first (the declaration) moved Checkout.
    assert incident["incident_updates"][0]["affected_components"] is None
    assert incident["incident_updates"][-1]["affected_components"] == [
        {
            "code": incident["components"][0]["id"],
            "name": "Checkout",
            "old_status": "operational",
            "new_status": "partial_outage",
        }
    ]


def test_it_never_shows_internal_text_on_any_public_surface(world: World) -> None:
    with_components(world)
    number = declared(world)
    world.later(minutes=1).act(
        "alice", lambda op: coordination.note(op, number, NoteKind.HYPOTHESIS, SECRET_NOTE)
    )
    world.later(minutes=1).act(
        "alice",
        lambda op: coordination.post_update(op, number, TEXT),  # internal
    )
    world.later(minutes=1).act(
        "alice", lambda op: coordination.post_update(op, number, TEXT, public=True)
    )
    world.later(minutes=1).act(
        "alice",
        lambda op: lifecycle.customer_report(
            op, number, SECRET_LABEL, source=ReportSource.CUSTOMER
        ),
    )
    run_to_closure(world, number)
    snap = view(world)
    surfaces = [page_html(snap).encode(), atom(snap), rss(snap), *files(snap).values()]
    surfaces += list(json_documents(snap).values())
    forbidden = [
        SECRET_NOTE,
        "pg-primary-7",
        "10.0.4.17",
        "CheckoutLatencyP99",
        "Page the DBA",
        "alice",
        "sme",
    ]
    for body in surfaces:
        text = body.decode()
        for secret in forbidden:
            assert secret not in text, secret
    # What the person chose to publish did reach customers.
    assert any(b"Some customers cannot complete checkout." in body for body in surfaces)


def test_it_derives_component_status_unless_set_by_hand(world: World) -> None:
    with_components(world)
    declared(world, Severity.SEV0)
    status = {c.name: c.status for c in view(world).components}
    assert status == {"API": ComponentStatus.OPERATIONAL, "Checkout": ComponentStatus.MAJOR_OUTAGE}
    assert view(world).indicator.indicator == "critical"
    world.act(
        "admin",
        lambda op: statuspage.set_component(op, "api", status=ComponentStatus.UNDER_MAINTENANCE),
    )
    world.act("admin", lambda op: statuspage.set_component(op, "Checkout", status=None))
    status = {c.name: c.status for c in view(world).components}
    assert status["API"] is ComponentStatus.UNDER_MAINTENANCE
    assert status["Checkout"] is ComponentStatus.MAJOR_OUTAGE
    world.act("admin", lambda op: statuspage.remove_component(op, "API"))
    names = [
        c["name"]
        for c in orjson.loads(json_documents(view(world))["components.json"])["components"]
    ]
    assert names == ["Checkout"]
    with pytest.raises(BadInput, match="already a component"):
        world.act("admin", lambda op: statuspage.create_component(op, "checkout"))


def test_it_counts_uptime_from_the_outages_of_the_last_90_days(world: World) -> None:
    with_components(world)
    number = declared(world, Severity.SEV0)
    world.later(minutes=30).act("alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE))
    world.later(minutes=30).act(
        "alice", lambda op: lifecycle.mitigate(op, number, MitigationKind.ROLLBACK)
    )
    world.later(minutes=1).act("alice", lambda op: lifecycle.move(op, number, Move.RESOLVE))
    world.later(days=2)
    checkout = next(c for c in view(world).components if c.name == "Checkout")
    assert checkout.history is not None
    bad_days = [d for d in checkout.history.days if d.status is ComponentStatus.MAJOR_OUTAGE]
    # Affected from declaration until resolved (monitoring): identified still counts.
    assert len(bad_days) == 1
    assert bad_days[0].downtime == timedelta(minutes=61)
    # Counted since the component was made, two days and an hour ago.
    counted = world.clock.now - checkout.created_at
    expected = 100 * (1 - timedelta(minutes=61) / counted)
    assert checkout.history.uptime == pytest.approx(expected)
    assert checkout.history.uptime_text == f"{expected:.2f} %"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def test_it_drafts_and_sends_the_customer_email_once(world: World, smtp: SmtpSink) -> None:
    world.runtime.__dict__["policy"] = DEFAULT_POLICY.model_copy(
        update={"status_page": StatusPagePolicy(name="Acme Status", customers=("cto@client.test",))}
    )
    with_components(world)
    number = declared(world)
    with world.runtime.reading() as session:
        subscribers.add(session, "fan@example.test", incident_updates=False, now=world.clock.now)
    with pytest.raises(Refused, match="not resolved"):
        world.act("alice", lambda op: comms.send(op, number, base_url="https://status.test"))
    run_to_closure(world, number)

    with world.runtime.reading() as session:
        draft = comms.draft(world.runtime.op(session, by="alice", at=None), number)
    assert draft.subject == "[Acme Status] Incident report: Partial outage affecting Checkout"
    assert "We rolled back the change that caused the problem." in draft.body
    assert "Checkout had a partial outage" in draft.body
    assert "pg-primary-7" not in draft.body
    assert "alice" not in draft.body

    world.act(
        "alice",
        lambda op: comms.edit(
            op, number, subject=None, body=draft.body + "\nWe will credit affected orders.\n"
        ),
    )
    sent = world.act("alice", lambda op: comms.send(op, number, base_url="https://status.test"))
    assert sent.recipients == 2
    with pytest.raises(Refused, match="was sent"):
        world.act("alice", lambda op: comms.send(op, number, base_url="https://status.test"))

    transports = Transports(public_url="https://status.test", smtp=smtp.settings())
    deliveries = 0
    while (
        deliver_email(world.runtime.sessions, transports, now=world.clock.now) and deliveries < 10
    ):
        deliveries += 1
    mails = smtp.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in mails) == ["cto@client.test", "fan@example.test"]
    for mail in mails:
        assert "We will credit affected orders." in mail.message.get_content()
    fan = next(m for m in mails if m.rcpt_tos[0] == "fan@example.test")
    assert fan.message["List-Unsubscribe"].startswith("<https://status.test/status/unsubscribe/")
    with world.runtime.reading() as session:
        action = session.scalars(
            select(Action).where(Action.incident_id == number, Action.key == "customer-email")
        ).one()
        assert action.done_at is not None


def test_it_records_and_reminds_a_customer_email_not_sent_within_a_day(world: World) -> None:
    with_components(world)
    number = declared(world)
    world.act("alice", lambda op: coordination.assign_role(op, number, Role.COMMS, "carol"))
    run_to_closure(world, number)
    world.later(hours=24, minutes=1)
    fire_due(world.runtime.sessions, world.runtime.policy, now=world.clock.now, worker="t")
    with world.runtime.reading() as session:
        events = list(
            session.scalars(
                select(TimelineEvent).where(
                    TimelineEvent.incident_id == number,
                    TimelineEvent.kind.in_((EventKind.MISSED, EventKind.REMINDER)),
                )
            )
        )
    texts = [e.summary for e in events]
    assert any("E-mail customers what happened" in t for t in texts)
    assert any("customer e-mail is overdue: reminder to carol" in t for t in texts)


def test_it_emails_confirmed_subscribers_each_published_update(
    world: World, smtp: SmtpSink
) -> None:
    with_components(world)
    now = world.clock.now
    with world.runtime.reading() as session:
        subscribers.add(session, "ops@customer.test", incident_updates=True, now=now)
        subscribers.add(session, "quiet@customer.test", incident_updates=False, now=now)
        subscribers.request(
            session,
            "pending@customer.test",
            incident_updates=True,
            now=now,
            base_url="https://status.test",
            page_name="Status",
        )
    number = declared(world)
    world.later(minutes=5).act("alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE))
    policy, sessions = world.runtime.policy, world.runtime.sessions
    for _ in range(3):
        fan_out(sessions, policy, base_url="https://status.test", now=world.clock.now)
    transports = Transports(public_url="https://status.test", smtp=smtp.settings())
    for _ in range(10):
        if not deliver_email(sessions, transports, now=world.clock.now):
            break
    mails = smtp.wait_for(2)  # the confirmation to the pending address, one update
    by_kind = {("confirm" if "Confirm" in m.message["Subject"] else "update"): m for m in mails}
    assert by_kind["confirm"].rcpt_tos == ("pending@customer.test",)
    update = by_kind["update"]
    assert update.rcpt_tos == ("ops@customer.test",)
    assert update.message["Subject"] == "[Status] Partial outage affecting Checkout: Investigating"
    with world.runtime.reading() as session:
        published = session.scalars(select(PublicUpdate)).all()
        assert all(p.notified_at is not None for p in published)
        queued = session.scalars(select(OutboundEmail)).all()
    assert len(queued) == 2  # told once, though fan-out ran three times


def test_it_lets_a_subscriber_leave_while_their_email_is_being_sent(
    world: World, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaving deletes the e-mails still to be sent, the one on the wire included: the worker
    records nothing for it and goes on (it used to fail on the missing row)."""
    from warroom.notify.email import send_plain

    with_components(world)
    with world.runtime.reading() as session:
        subscribers.add(session, "ops@customer.test", incident_updates=True, now=world.clock.now)
    number = declared(world)
    world.later(minutes=5).act("alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE))
    policy, sessions = world.runtime.policy, world.runtime.sessions
    fan_out(sessions, policy, base_url="https://status.test", now=world.clock.now)

    def send_then_leave(*args: Any, **kwargs: Any) -> None:
        send_plain(*args, **kwargs)
        with world.runtime.reading() as session:
            subscribers.remove(session, "ops@customer.test")
            session.commit()

    monkeypatch.setattr("warroom.jobs.emails.send_plain", send_then_leave)
    transports = Transports(public_url="https://status.test", smtp=smtp.settings())
    assert deliver_email(sessions, transports, now=world.clock.now)
    assert not deliver_email(sessions, transports, now=world.clock.now)  # nothing left
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == ("ops@customer.test",)
    with world.runtime.reading() as session:
        assert session.scalars(select(OutboundEmail)).all() == []


def test_it_refuses_a_group_inside_a_group(world: World) -> None:
    world.act("admin", lambda op: statuspage.create_component(op, "Web", is_group=True))
    with pytest.raises(BadInput, match="groups do not nest"):
        world.act(
            "admin",
            lambda op: statuspage.create_component(op, "Inner", is_group=True, group="Web"),
        )
    world.act("admin", lambda op: statuspage.create_component(op, "Inner", is_group=True))
    with pytest.raises(BadInput, match="groups do not nest"):
        world.act("admin", lambda op: statuspage.set_component(op, "Inner", group="Web"))
    assert [c.name for c in view(world).components] == ["Web", "Inner"]


def test_it_times_a_reopened_incident_from_its_last_resolution(world: World) -> None:
    with_components(world)
    number = declared(world)
    run_to_closure(world, number)
    first_close = world.clock.now
    world.later(hours=1).act("alice", lambda op: lifecycle.reopen(op, number, "it came back"))
    reopened = world.clock.now
    with pytest.raises(Refused, match="not resolved yet"):
        world.act("alice", lambda op: comms.send(op, number, base_url="https://status.test"))
    [incident] = view(world).unresolved
    assert incident.status.value == "investigating"
    assert incident.monitoring_at is None
    assert incident.resolved_at is None
    world.later(minutes=10).act(
        "alice", lambda op: lifecycle.mitigate(op, number, MitigationKind.FEATURE_FLAG)
    )
    world.later(minutes=10).act("alice", lambda op: lifecycle.move(op, number, Move.RESOLVE))
    world.later(minutes=1).act("alice", lambda op: lifecycle.move(op, number, Move.MONITOR))
    world.later(minutes=31).act("alice", lambda op: lifecycle.close(op, number))
    [closed] = view(world).incidents
    assert closed.resolved_at == world.clock.now
    assert closed.resolved_at > first_close
    assert closed.monitoring_at == reopened + timedelta(minutes=20)
    checkout = next(c for c in view(world).components if c.name == "Checkout")
    assert checkout.history is not None
    # Both spans count (SEV1, a partial outage at 30 %): 22 minutes from declaration to
    # resolution, then 20 minutes from the reopening.
    down = sum((d.downtime for d in checkout.history.days), timedelta(0))
    assert down == 0.3 * timedelta(minutes=42)
