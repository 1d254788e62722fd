"""Paging end to end through the real worker steps: schedules decide who is paged, the outbox
delivers by e-mail (a real SMTP server) and webhook (a local receiver), tiers escalate on
their timeouts, and an acknowledgement stops it. The clock is the test's."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import START, World
from tests.fakes import OpsgenieFake, PagerDutyFake, SlackFake, SmtpSink
from warroom.db.models import Action, ContactMethod, Page, PageDelivery, TimelineEvent, Timer
from warroom.domain.paging import ContactKind, PageState
from warroom.domain.policy import DEFAULT_POLICY, PagingPolicy
from warroom.domain.timers import TimerKind
from warroom.domain.types import MitigationKind, Move, Severity
from warroom.jobs.pages import deliver_page_one
from warroom.jobs.worker import fire_due
from warroom.notify.dispatch import Transports
from warroom.services import declaration, directory, lifecycle, oncall, page_stops
from warroom.services.coordination import escalate
from warroom.services.records import Op

# A Monday, 09:00 in Berlin: the weekly hand-off.
HANDOFF = datetime.fromisoformat("2026-03-02T09:00:00+01:00")


@dataclass
class Hooks:
    """A webhook receiver that keeps every page it is sent."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    found = Hooks()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                found.received.append(json.loads(body))
                found.ids.append(self.headers["Warroom-Delivery-Id"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/page"
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def transports(smtp: SmtpSink) -> Transports:
    return Transports(public_url="http://warroom.test", smtp=smtp.settings())


@pytest.fixture
def payments(world: World, hooks: Hooks) -> World:
    """Team payments owns checkout. Primary rotates ana → ben weekly, secondary cat → dan; lee
    leads. ana is reached by e-mail and webhook, the others by e-mail."""

    def setup(op: Op) -> None:
        directory.save_team(op, "payments", lead="lee")
        directory.save_service(op, "checkout", team="payments")
        oncall.create(op, "payments", team="payments", zone="Europe/Berlin")
        for layer, level, people in (
            ("primary", "primary", ["ana", "ben"]),
            ("secondary", "secondary", ["cat", "dan"]),
        ):
            oncall.set_layer(
                op,
                "payments",
                layer,
                level=level,
                participants=people,
                handoff=HANDOFF,
                rotation_days=7,
                window=None,
            )
        for handle in ("ana", "ben", "cat", "dan", "lee"):
            directory.add_contact(op, handle, ContactKind.EMAIL, f"{handle}@example.test")
        directory.add_contact(op, "ana", ContactKind.WEBHOOK, hooks.url)

    world.act("admin", setup)
    return world


def step(world: World, transports: Transports) -> int:
    """One pass of the worker: fire what is due, then deliver every queued page."""
    runtime = world.runtime
    fire_due(runtime.sessions, runtime.policy, now=world.clock.now)
    sent = 0
    while deliver_page_one(runtime.sessions, runtime.policy, transports, now=world.clock.now):
        sent += 1
    return sent


def declare_sev1(world: World) -> int:
    incident = world.act(
        "oscar",
        lambda op: declaration.declare_new(
            op, Severity.SEV1, "Checkout failing", service_name="checkout"
        ),
    )
    return incident.id


def recipients(smtp: SmtpSink) -> list[str]:
    return [mail.message["To"] for mail in smtp.received]


def timeline(world: World, number: int) -> list[str]:
    with world.runtime.reading() as session:
        return list(
            session.scalars(
                select(TimelineEvent.summary)
                .where(TimelineEvent.incident_id == number)
                .order_by(TimelineEvent.id)
            )
        )


def actions(world: World, number: int) -> dict[str, Action]:
    with world.runtime.reading() as session:
        rows = session.scalars(select(Action).where(Action.incident_id == number)).all()
        for row in rows:
            session.expunge(row)
        return {row.key: row for row in rows}


def page_of(world: World, number: int) -> Page:
    with world.runtime.reading() as session:
        page = session.scalars(select(Page).where(Page.incident_id == number)).first()
        assert page is not None
        session.expunge(page)
        return page


def test_it_pages_the_on_call_primary_by_email_and_webhook_for_a_sev1(
    payments: World, smtp: SmtpSink, hooks: Hooks, transports: Transports
) -> None:
    number = declare_sev1(payments)
    step(payments, transports)

    assert recipients(smtp) == ["ana@example.test"]
    mail = smtp.messages[0]
    assert "Checkout failing" in mail["Subject"]
    assert "http://warroom.test/ack/" in mail.get_content()
    assert [hook["incident"] for hook in hooks.received] == [f"INC-{number}"]
    assert hooks.received[0]["ack_url"].startswith("http://warroom.test/ack/")
    kinds = timeline(payments, number)
    assert any("paging ana" in text for text in kinds)


def test_it_pages_the_secondary_once_when_the_primary_does_not_acknowledge_in_five_minutes(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    declare_sev1(payments)
    step(payments, transports)
    payments.later(minutes=4, seconds=59)
    step(payments, transports)
    assert recipients(smtp) == ["ana@example.test"]

    payments.later(seconds=1)
    step(payments, transports)
    payments.later(seconds=30)
    step(payments, transports)

    assert recipients(smtp) == ["ana@example.test", "cat@example.test"]


def test_it_stops_paging_and_records_mtta_when_the_link_is_clicked(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    number = payments.act(
        "warroom",
        lambda op: lifecycle.report(op, "Checkout failing", service_name="checkout"),
    ).id
    payments.act("warroom", lambda op: lifecycle.triage(op, number, Severity.SEV1))
    # A triaged SEV1 is paged once declared; the declarer is not the on-call.
    payments.act("oscar", lambda op: declaration.declare(op, number, None))
    step(payments, transports)
    link = _link(smtp.messages[0].get_content())

    payments.later(minutes=2)
    page = payments.act("ana", lambda op: page_stops.acknowledge_with_link(op, link))
    assert page.state is PageState.ACKNOWLEDGED
    payments.later(minutes=10)
    step(payments, transports)

    assert recipients(smtp) == ["ana@example.test"]
    acknowledged = page_of(payments, number)
    assert acknowledged.acknowledged_at == START + timedelta(minutes=2)
    assert any("page acknowledged by ana after 2m" in text for text in timeline(payments, number))


def test_it_refuses_a_forged_or_expired_acknowledgement_link(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    declare_sev1(payments)
    step(payments, transports)
    link = _link(smtp.messages[0].get_content())
    forged = link[:-2] + ("AA" if not link.endswith("AA") else "BB")

    from warroom.domain.errors import NotFound

    with pytest.raises(NotFound, match="not valid"):
        payments.act("ana", lambda op: page_stops.acknowledge_with_link(op, forged))
    payments.later(days=3)
    with pytest.raises(NotFound, match="not valid"):
        payments.act("ana", lambda op: page_stops.acknowledge_with_link(op, link))


def test_it_acknowledges_open_pages_when_the_on_call_acks_the_incident(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    number = declare_sev1(payments)
    step(payments, transports)
    payments.later(minutes=1)
    payments.act("ana", lambda op: lifecycle.acknowledge(op, number))
    payments.later(minutes=20)  # past every tier timeout, short of no-progress
    step(payments, transports)

    assert recipients(smtp) == ["ana@example.test"]
    assert page_of(payments, number).acknowledged_by_id is not None


def test_it_lets_an_acknowledgement_win_over_the_tier_timing_out_at_that_moment(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    """ana acknowledges just as her five minutes run out. Her write holds the incident and is
    about to cancel the tier's timeout when the worker finds it due. The worker leaves it
    (it would wait for the incident while holding the timer ana's write then waits for: a
    deadlock PostgreSQL breaks only after a second, by rolling one of them back). Her
    acknowledgement stops the page, and cat is not paged."""
    if payments.runtime.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; on SQLite the worker and the API take turns")
    number = declare_sev1(payments)
    step(payments, transports)
    payments.later(minutes=5)
    holding, looked = threading.Event(), threading.Event()
    runs: list[str] = []
    fired: list[int] = []
    errors: list[Exception] = []

    def acknowledge(op: Op) -> None:
        runs.append("ana")
        holding.set()
        looked.wait(10)  # the worker finds the tier's timeout due meanwhile
        lifecycle.acknowledge(op, number)

    def ana() -> None:
        try:
            payments.runtime.write(acknowledge, by="ana", at=None, incident=number)
        except Exception as exc:  # noqa: BLE001 - the test reports whatever went wrong
            errors.append(exc)

    def worker() -> None:
        runtime = payments.runtime
        try:
            fired.append(fire_due(runtime.sessions, runtime.policy, now=payments.clock.now))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=ana), threading.Thread(target=worker)]
    threads[0].start()
    assert holding.wait(10)
    threads[1].start()
    threads[1].join(2)
    looked.set()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert runs == ["ana"]  # her write ran once: it was not rolled back
    assert fired == [0]  # the worker left the held incident's timer to its next batch
    payments.later(seconds=30)
    step(payments, transports)
    assert recipients(smtp) == ["ana@example.test"]
    assert page_of(payments, number).state is PageState.ACKNOWLEDGED


def test_it_follows_the_schedule_to_whoever_is_on_call_this_week(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    payments.later(days=7)  # Monday 10:00 of the next week: ben's turn
    declare_sev1(payments)
    step(payments, transports)
    assert recipients(smtp) == ["ben@example.test"]


def test_it_pages_the_override_instead_of_the_rotation(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    payments.act(
        "admin",
        lambda op: oncall.add_override(
            op,
            "payments",
            handle="dan",
            level="primary",
            start=START - timedelta(hours=1),
            end=START + timedelta(hours=8),
        ),
    )
    declare_sev1(payments)
    step(payments, transports)
    assert recipients(smtp) == ["dan@example.test"]


def test_it_pages_all_hands_at_once_and_notifies_the_executives_for_a_sev0(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    payments.runtime.__dict__["policy"] = DEFAULT_POLICY.model_copy(
        update={
            "paging": PagingPolicy.model_validate(
                {"all_hands": ["ana", "team:payments", "cat"], "executives": ["ceo"]}
            )
        }
    )
    payments.act(
        "admin",
        lambda op: directory.add_contact(op, "ceo", ContactKind.EMAIL, "ceo@example.test"),
    )
    number = payments.act(
        "oscar", lambda op: declaration.declare_new(op, Severity.SEV0, "Everything down")
    ).id
    step(payments, transports)

    assert sorted(recipients(smtp)) == ["ana@example.test", "cat@example.test", "ceo@example.test"]
    found = actions(payments, number)
    assert found["page-all-hands"].done_at is not None
    assert found["notify-executives"].done_at is not None


def test_it_skips_a_failing_address_and_pages_the_next_tier_at_once(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    smtp.refuse("ben@example.test", 550)
    payments.later(days=7)  # ben's week; ben is reached by e-mail only
    number = declare_sev1(payments)
    step(payments, transports)  # ben's mail refused: tier 2 at once
    step(payments, transports)

    assert recipients(smtp) == ["dan@example.test"]
    with payments.runtime.reading() as session:
        method = session.scalars(
            select(ContactMethod).where(ContactMethod.address == "ben@example.test")
        ).one()
        assert method.failing_since is not None
        assert "550" in (method.failing_reason or "")
    assert any("could not reach ben by email" in text for text in timeline(payments, number))


def test_it_keeps_the_policy_a_page_started_with(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    payments.act(
        "admin",
        lambda op: directory.save_policy(op, "payments", ["primary@2m", "lead"], 0),
    )
    payments.act("admin", lambda op: directory.save_team(op, "payments", policy="payments"))
    declare_sev1(payments)
    step(payments, transports)
    # Edited while the page is in flight: tier 2 becomes dan, the timeout 10 minutes.
    payments.act(
        "admin",
        lambda op: directory.save_policy(op, "payments", ["primary@10m", "person:dan"], 0),
    )
    payments.later(minutes=2)
    step(payments, transports)

    assert recipients(smtp) == ["ana@example.test", "lee@example.test"]


def test_it_records_an_exhausted_page_when_nobody_acknowledges(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    payments.act("admin", lambda op: directory.save_policy(op, "short", ["primary@1m"], 1))
    payments.act("admin", lambda op: directory.save_team(op, "payments", policy="short"))
    number = declare_sev1(payments)
    for _ in range(4):
        step(payments, transports)
        payments.later(minutes=1)

    assert recipients(smtp) == ["ana@example.test", "ana@example.test"]
    assert page_of(payments, number).state is PageState.EXHAUSTED
    assert any("nobody acknowledged the page" in text for text in timeline(payments, number))


def test_it_pages_the_next_tier_when_there_is_no_progress_for_thirty_minutes(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    number = declare_sev1(payments)
    step(payments, transports)
    payments.later(minutes=1)
    payments.act("ana", lambda op: lifecycle.acknowledge(op, number))
    payments.later(minutes=30)
    step(payments, transports)

    assert recipients(smtp) == ["ana@example.test", "cat@example.test"]


def test_it_pages_the_team_the_escalation_matrix_names(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    payments.runtime.__dict__["policy"] = DEFAULT_POLICY.model_copy(
        update={"escalation_matrix": {"database": "person:dora"}}
    )
    payments.act(
        "admin",
        lambda op: directory.add_contact(op, "dora", ContactKind.EMAIL, "dora@example.test"),
    )
    number = declare_sev1(payments)
    step(payments, transports)
    payments.act("ana", lambda op: escalate(op, number, team="database", reason="replica lag"))
    step(payments, transports)

    assert recipients(smtp) == ["ana@example.test", "dora@example.test"]


def test_it_stops_paging_when_the_incident_resolves(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    number = declare_sev1(payments)
    step(payments, transports)
    with payments.runtime.reading() as session:
        pending = session.scalars(
            select(Timer).where(Timer.kind == TimerKind.PAGE_TIER, Timer.incident_id == number)
        ).all()
        assert [t.state.value for t in pending] == ["pending"]
    payments.act("warroom", lambda op: _resolve(op, number))
    payments.later(minutes=10)
    step(payments, transports)

    assert recipients(smtp) == ["ana@example.test"]
    assert page_of(payments, number).state is not PageState.OPEN


def test_it_delivers_each_message_under_one_idempotency_key(
    payments: World, hooks: Hooks, transports: Transports
) -> None:
    declare_sev1(payments)
    step(payments, transports)
    with payments.runtime.reading() as session:
        ids = [d.delivery_id for d in session.scalars(select(PageDelivery))]
    assert hooks.ids
    assert set(hooks.ids) <= set(ids)


def _resolve(op: Op, number: int) -> None:
    lifecycle.move(op, number, Move.INVESTIGATE)
    lifecycle.mitigate(op, number, MitigationKind.ROLLBACK, permanent=True)  # resolves it


def _link(text: str) -> str:
    for line in text.splitlines():
        if "/ack/" in line:
            return line.rsplit("/ack/", 1)[1].strip()
    raise AssertionError(f"no acknowledgement link in {text!r}")


def test_it_says_why_nobody_was_paged_for_an_incident_without_a_service(world: World) -> None:
    number = world.act(
        "oscar", lambda op: declaration.declare_new(op, Severity.SEV1, "Checkout failing")
    ).id
    [missed] = [line for line in timeline(world, number) if "cannot reach" in line]
    assert missed.endswith(
        f"(INC-{number} names no service, so no team's on-call is known: give "
        "`--service NAME` when reporting or declaring)"
    )


def test_it_makes_the_on_call_primary_the_ic_of_a_declared_sev1(payments: World) -> None:
    number = declare_sev1(payments)
    assert payments.detail(number).facts.ic == "ana"


def test_it_tells_the_sev2_on_call_once_without_paging(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    number = payments.act(
        "oscar",
        lambda op: declaration.declare_new(
            op, Severity.SEV2, "Slow search", service_name="checkout"
        ),
    ).id
    step(payments, transports)
    payments.later(hours=1)
    step(payments, transports)

    assert recipients(smtp) == ["ana@example.test"]
    assert "For your information" in smtp.messages[0]["Subject"]
    assert "/ack/" not in smtp.messages[0].get_content()
    assert page_of(payments, number).state is PageState.ENDED


def test_it_pages_by_slack_direct_message_with_the_acknowledgement_link(
    payments: World, transports: Transports
) -> None:
    with SlackFake() as slack:
        payments.act(
            "admin", lambda op: directory.add_contact(op, "ana", ContactKind.SLACK, "U024BE7LH")
        )
        declare_sev1(payments)
        step(payments, replace(transports, slack_token=slack.token, slack_url=slack.base_url))

        [opened, posted] = slack.calls
    assert (opened.method, posted.method) == ("conversations.open", "chat.postMessage")
    assert posted.params["channel"] == "DU024BE7LH"
    assert "http://warroom.test/ack/" in posted.params["text"]


def test_it_mirrors_trigger_acknowledge_and_resolve_to_pagerduty_under_one_dedup_key(
    payments: World, transports: Transports
) -> None:
    with PagerDutyFake() as pagerduty:
        payments.act(
            "admin",
            lambda op: directory.add_contact(
                op, "ana", ContactKind.PAGERDUTY, PagerDutyFake.ROUTING_KEY
            ),
        )
        sending = replace(transports, pagerduty_url=pagerduty.url)
        number = declare_sev1(payments)
        step(payments, sending)
        payments.later(minutes=1).act("ana", lambda op: lifecycle.acknowledge(op, number))
        step(payments, sending)
        payments.later(minutes=10).act("ana", lambda op: _resolve(op, number))
        step(payments, sending)

        actions = [event["event_action"] for event in pagerduty.events]
        keys = {event["dedup_key"] for event in pagerduty.events}
    assert actions == ["trigger", "acknowledge", "resolve"]
    assert len(keys) == 1


def pagerduty_key(change: Callable[..., object], key: str) -> Callable[[Op], object]:
    """A write adding or removing ana's PagerDuty routing key ``key``."""
    return lambda op: change(op, "ana", ContactKind.PAGERDUTY, key)


def test_it_acknowledges_on_every_pager_after_their_contact_methods_were_removed(
    payments: World, transports: Transports
) -> None:
    second = "R0UT1NGK3Y0000000000000000000002"
    keys = (PagerDutyFake.ROUTING_KEY, second)
    with PagerDutyFake(routing_keys=keys) as pagerduty:
        for key in keys:
            payments.act("admin", pagerduty_key(directory.add_contact, key))
        sending = replace(transports, pagerduty_url=pagerduty.url)
        number = declare_sev1(payments)
        step(payments, sending)
        # ana replaces both keys while the page is open
        for key in keys:
            payments.act("ana", pagerduty_key(directory.remove_contact, key))
        payments.later(minutes=1).act("ana", lambda op: lifecycle.acknowledge(op, number))
        step(payments, sending)
        sent = sorted((e["routing_key"], e["event_action"]) for e in pagerduty.events)
    assert sent == sorted([(key, action) for key in keys for action in ("trigger", "acknowledge")])


def test_it_mirrors_the_page_to_opsgenie_and_closes_it_on_resolution(
    payments: World, transports: Transports
) -> None:
    with OpsgenieFake() as opsgenie:
        payments.act(
            "admin",
            lambda op: directory.add_contact(op, "ana", ContactKind.OPSGENIE, OpsgenieFake.API_KEY),
        )
        sending = replace(transports, opsgenie_url=opsgenie.base_url)
        number = declare_sev1(payments)
        step(payments, sending)
        payments.later(minutes=1).act("ana", lambda op: _resolve(op, number))
        step(payments, sending)

        states = set(opsgenie.alerts.values())
        calls = [call.action for call in opsgenie.calls]
    assert calls == ["create", "acknowledge", "close"]
    assert states == {"closed"}


def test_it_retries_a_temporary_failure_and_escalates_on_time_all_the_same(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    smtp.refuse("ana@example.test", 451)
    payments.act(
        "admin", lambda op: directory.remove_contact(op, "ana", ContactKind.WEBHOOK, _hook_url(op))
    )
    declare_sev1(payments)
    step(payments, transports)
    assert recipients(smtp) == []
    payments.later(minutes=5)
    step(payments, transports)

    assert recipients(smtp) == ["cat@example.test"]
    with payments.runtime.reading() as session:
        ana = session.scalars(
            select(ContactMethod).where(ContactMethod.address == "ana@example.test")
        ).one()
        assert ana.failing_since is None  # a temporary failure blames nobody


def _hook_url(op: Op) -> str:
    return op.session.scalars(
        select(ContactMethod.address).where(ContactMethod.kind == ContactKind.WEBHOOK)
    ).one()


def test_it_stops_paging_when_the_severity_is_lowered_to_one_that_does_not_page(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    number = declare_sev1(payments)
    step(payments, transports)
    payments.later(minutes=1).act(
        "warroom",
        lambda op: declaration.change_severity(op, number, Severity.SEV2, "only search is slow"),
    )
    payments.later(minutes=20)
    step(payments, transports)

    assert recipients(smtp) == ["ana@example.test"]
    assert any("SEV2 does not page" in text for text in timeline(payments, number))


def test_it_carries_out_every_escalation_request(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    number = declare_sev1(payments)
    step(payments, transports)
    payments.later(minutes=1).act("ana", lambda op: lifecycle.acknowledge(op, number))
    for _ in range(2):
        payments.later(minutes=1).act(
            "ana", lambda op: escalate(op, number, team=None, reason=None)
        )
        step(payments, transports)

    assert recipients(smtp) == ["ana@example.test", "cat@example.test", "lee@example.test"]


def test_it_cancels_an_escalation_nobody_can_take_so_the_next_request_is_carried_out(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    number = declare_sev1(payments)
    step(payments, transports)
    for _ in range(2):
        payments.later(minutes=1).act(
            "ana", lambda op: escalate(op, number, team="design", reason=None)
        )
        step(payments, transports)

    with payments.runtime.reading() as session:
        requests = session.scalars(
            select(Action)
            .where(Action.incident_id == number, Action.key.startswith("page-team-design"))
            .order_by(Action.id)
        ).all()
    assert [(a.key, a.cancelled_at is not None, a.note) for a in requests] == [
        ("page-team-design", True, "nobody could be paged"),
        ("page-team-design-2", True, "nobody could be paged"),
    ]
    assert recipients(smtp) == ["ana@example.test"]


def test_it_pages_a_team_whose_name_ends_in_a_number(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    def squad(op: Op) -> None:
        directory.save_team(op, "squad-2")
        oncall.create(op, "squad-2", team="squad-2", zone="UTC")
        oncall.set_layer(
            op,
            "squad-2",
            "primary",
            level="primary",
            participants=["sam"],
            handoff=HANDOFF,
            rotation_days=7,
            window=None,
        )
        directory.add_contact(op, "sam", ContactKind.EMAIL, "sam@example.test")

    payments.act("admin", squad)
    number = declare_sev1(payments)
    payments.act("ana", lambda op: escalate(op, number, team="squad-2", reason="their queue"))
    step(payments, transports)

    assert sorted(recipients(smtp)) == ["ana@example.test", "sam@example.test"]


def test_it_never_triggers_a_pager_to_tell_the_sev2_on_call(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    with PagerDutyFake() as pagerduty:
        payments.act(
            "admin",
            lambda op: directory.add_contact(
                op, "ana", ContactKind.PAGERDUTY, PagerDutyFake.ROUTING_KEY
            ),
        )
        payments.act(
            "oscar",
            lambda op: declaration.declare_new(op, Severity.SEV2, "Slow", service_name="checkout"),
        )
        step(payments, replace(transports, pagerduty_url=pagerduty.url))
        events = pagerduty.events
    assert events == []
    assert recipients(smtp) == ["ana@example.test"]


def test_it_removes_a_contact_method_that_was_paged(
    payments: World, hooks: Hooks, transports: Transports
) -> None:
    declare_sev1(payments)
    step(payments, transports)
    payments.act(
        "admin", lambda op: directory.remove_contact(op, "ana", ContactKind.WEBHOOK, hooks.url)
    )
    with payments.runtime.reading() as session:
        kinds = {m.kind for m in session.scalars(select(ContactMethod))}
        kept = session.scalars(select(PageDelivery.kind)).all()
    assert ContactKind.WEBHOOK not in kinds
    assert ContactKind.WEBHOOK in kept  # what was sent stays on record


def test_it_pages_all_hands_when_a_sev1_is_raised_to_sev0(
    payments: World, smtp: SmtpSink, transports: Transports
) -> None:
    payments.runtime.__dict__["policy"] = DEFAULT_POLICY.model_copy(
        update={"paging": PagingPolicy.model_validate({"all_hands": ["cat", "lee"]})}
    )
    number = declare_sev1(payments)
    step(payments, transports)
    payments.later(minutes=1).act("ana", lambda op: lifecycle.acknowledge(op, number))
    payments.later(minutes=1).act(
        "ana",
        lambda op: declaration.change_severity(op, number, Severity.SEV0, "all regions down"),
    )
    step(payments, transports)

    # All hands are paged at once: their messages go out side by side, in no set order.
    assert recipients(smtp)[0] == "ana@example.test"
    assert sorted(recipients(smtp)[1:]) == ["cat@example.test", "lee@example.test"]
