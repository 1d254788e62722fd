"""Alerts page: a critical alert that opens an incident pages the service's on-call on its
proposed severity, repeats of the alert page nobody again, and acknowledging the page is the
incident's acknowledgement (MTTA counted from the alert's start)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import START
from tests.fakes import SmtpSink
from tests.ingest.conftest import Sender, fixture
from warroom.db.models import Action, Incident, Page
from warroom.domain.alerts import AlertSource
from warroom.domain.paging import ContactKind, PageState
from warroom.jobs.pages import deliver_page_one
from warroom.notify.dispatch import Transports
from warroom.services import directory, oncall, page_stops
from warroom.services.records import Op

HANDOFF = datetime.fromisoformat("2026-03-02T09:00:00+01:00")


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def on_call(sender: Sender, smtp: SmtpSink) -> Transports:
    def setup(op: Op) -> None:
        directory.save_team(op, "payments")
        directory.save_service(op, "checkout", team="payments")
        oncall.create(op, "payments", team="payments", zone="Europe/Berlin")
        oncall.set_layer(
            op,
            "payments",
            "primary",
            level="primary",
            participants=["ana"],
            handoff=HANDOFF,
            rotation_days=7,
            window=None,
        )
        directory.add_contact(op, "ana", ContactKind.EMAIL, "ana@example.test")

    sender.world.act("admin", setup)
    return Transports(public_url="http://warroom.test", smtp=smtp.settings())


def deliver(sender: Sender, transports: Transports) -> None:
    runtime = sender.world.runtime
    while deliver_page_one(runtime.sessions, runtime.policy, transports, now=runtime.clock()):
        pass


def test_it_pages_the_on_call_when_a_critical_alert_opens_an_incident(
    sender: Sender, on_call: Transports, smtp: SmtpSink
) -> None:
    assert sender.post(AlertSource.GENERIC, fixture("generic/firing.json")).status_code == 202
    sender.group()
    deliver(sender, on_call)

    assert [mail.message["To"] for mail in smtp.received] == ["ana@example.test"]
    assert "[SEV1]" in smtp.messages[0]["Subject"]
    assert "Severity: SEV1 (proposed)" in smtp.messages[0].get_content()
    [incident] = sender.incidents()
    with sender.world.runtime.reading() as session:
        action = session.scalars(
            select(Action).where(Action.incident_id == incident.id, Action.key == "page-oncall")
        ).one()
    assert action.done_at is not None
    assert any(line.startswith("paging ana") for line in sender.timeline(incident.id))


def test_it_pages_nobody_again_for_repeats_of_the_alert(
    sender: Sender, on_call: Transports, smtp: SmtpSink
) -> None:
    sender.post(AlertSource.GENERIC, fixture("generic/firing.json"))
    sender.group()
    for _ in range(3):
        sender.world.later(minutes=1)
        sender.post(AlertSource.GENERIC, fixture("generic/duplicate.json"))
        sender.group()
    deliver(sender, on_call)

    assert len(smtp.received) == 1
    with sender.world.runtime.reading() as session:
        assert len(session.scalars(select(Page)).all()) == 1


def test_it_counts_mtta_from_the_alert_to_the_page_acknowledgement(
    sender: Sender, on_call: Transports, smtp: SmtpSink
) -> None:
    sender.post(AlertSource.GENERIC, fixture("generic/firing.json"))
    sender.group()
    deliver(sender, on_call)
    link = smtp.messages[0].get_content().split("/ack/", 1)[1].split()[0]

    sender.world.later(minutes=2)
    page = sender.world.act("ana", lambda op: page_stops.acknowledge_with_link(op, link))

    assert page.state is PageState.ACKNOWLEDGED
    with sender.world.runtime.reading() as session:
        incident = session.scalars(select(Incident)).one()
        assert incident.acknowledged_by is not None
        assert incident.acknowledged_by.handle == "ana"
        # The alert started at 09:56; the page was acknowledged at 10:02.
        assert incident.acknowledged_at == START + timedelta(minutes=2)
        assert incident.acknowledged_at - incident.detected_at == timedelta(minutes=6)


def test_it_pages_the_service_owner_when_the_routed_team_has_no_schedule(
    sender: Sender, on_call: Transports, smtp: SmtpSink
) -> None:
    rule = {"match": {"check": "checkout-journey"}, "team": "dba"}
    runtime = sender.world.runtime
    runtime.__dict__["policy"] = runtime.policy.model_validate(
        runtime.policy.model_dump() | {"routing": [rule]}
    )
    sender.post(AlertSource.GENERIC, fixture("generic/firing.json"))
    sender.group()
    deliver(sender, on_call)

    assert [mail.message["To"] for mail in smtp.received] == ["ana@example.test"]
