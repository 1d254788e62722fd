"""The Slack app end to end: requests signed exactly as Slack signs them reach a real
server; warroom's Slack work goes to a local Slack workspace speaking the Web API (with its
naming rules, error codes and rate limits) through the worker's outbox. The clock is the
test's; signatures use the real time, as Slack's do."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from tests.conftest import Clock, World
from tests.slack_workspace import SlackWorkspace
from tests.web.conftest import serving
from warroom.config import Settings
from warroom.db.models import Incident, TimelineEvent
from warroom.db.slack_models import SlackJob
from warroom.domain.policy import DEFAULT_POLICY
from warroom.domain.types import EventKind
from warroom.jobs.slack import deliver_slack
from warroom.jobs.worker import fire_due
from warroom.runtime import Runtime
from warroom.web.app import create_app

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NAME = "incident-2026-03-02-api-experiencing-elevated-error-rates"


@dataclass
class Slack:
    """Slack's side of the app: signs and sends what a workspace sends warroom."""

    http: httpx.Client
    workspace: SlackWorkspace
    secret: str = SECRET
    requests: int = 0

    def send(
        self,
        path: str,
        body: str,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        signed = SignatureVerifier(self.secret).generate_signature(timestamp=stamp, body=body) or ""
        return self.http.post(
            path,
            content=body.encode(),
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature or signed,
                **(headers or {}),
            },
        )

    def command(
        self, user: str, command: str, text: str = "", channel: str = "C0GENERAL"
    ) -> httpx.Response:
        self.requests += 1
        form = {
            "team_id": SlackWorkspace.TEAM,
            "channel_id": channel,
            "user_id": user,
            "user_name": self.workspace.users[user]["name"],
            "command": command,
            "text": text,
            "response_url": self.workspace.response_url(f"cmd{self.requests}"),
            "trigger_id": f"13.45.{self.requests}",
            "api_app_id": "A0WARROOM",
        }
        return self.send("/slack/commands", urlencode(form))

    def interact(self, payload: dict[str, Any]) -> httpx.Response:
        self.requests += 1
        payload = {"team": {"id": SlackWorkspace.TEAM}, "api_app_id": "A0WARROOM", **payload}
        return self.send("/slack/interactions", urlencode({"payload": json.dumps(payload)}))

    def click(self, user: str, action_id: str, value: str, channel: str) -> httpx.Response:
        return self.interact(
            {
                "type": "block_actions",
                "user": {"id": user, "username": self.workspace.users[user]["name"]},
                "trigger_id": f"13.46.{self.requests}",
                "response_url": self.workspace.response_url(f"click{self.requests}"),
                "channel": {"id": channel},
                "container": {"type": "message", "channel_id": channel},
                "actions": [{"action_id": action_id, "value": value, "type": "button"}],
            }
        )

    def submit(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> httpx.Response:
        state = {"values": {block: {"value": element} for block, element in values.items()}}
        return self.interact(
            {
                "type": "view_submission",
                "user": {"id": user, "username": self.workspace.users[user]["name"]},
                "view": {**view, "state": state},
            }
        )

    def event(self, event: dict[str, Any], event_id: str, **headers: str) -> httpx.Response:
        body = {
            "type": "event_callback",
            "team_id": SlackWorkspace.TEAM,
            "event_id": event_id,
            "event": event,
        }
        return self.send(
            "/slack/events", json.dumps(body), content_type="application/json", headers=headers
        )


def text(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def chosen(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value}}


@pytest.fixture
def workspace() -> Iterator[SlackWorkspace]:
    with SlackWorkspace() as found:
        found.add_user("U0ANA", "ana", "ana@example.test")
        found.add_user("U0BOB", "bob", "bob@example.test")
        found.add_user("U0CAT", "cat", "cat@example.test")
        yield found


@pytest.fixture
def slack_world(database_url: str, clock: Clock, workspace: SlackWorkspace) -> Iterator[World]:
    settings = Settings(
        database_url=database_url,
        user="tester",
        slack_bot_token=SlackWorkspace.TOKEN,
        slack_api_url=workspace.base_url,
        slack_signing_secret=SECRET,
    )
    runtime = Runtime(settings=settings, clock=clock)
    runtime.__dict__["policy"] = DEFAULT_POLICY
    yield World(runtime, clock)
    runtime.engine.dispose()


@pytest.fixture
def slack(slack_world: World, workspace: SlackWorkspace) -> Iterator[Slack]:
    with serving(create_app(slack_world.runtime)) as http:
        yield Slack(http, workspace)


def drain(world: World, limit: int = 100) -> int:
    """Run the worker's Slack step until the outbox is empty (bounded)."""
    web = world.runtime.transports.slack_client()
    done = 0
    while done < limit and deliver_slack(
        world.runtime.sessions, world.runtime.policy, web, now=world.clock.now
    ):
        done += 1
    return done


def jobs(world: World) -> list[SlackJob]:
    with world.runtime.reading() as session:
        return list(session.scalars(select(SlackJob)))


def said(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    return str(answer.json().get("text", "")) if answer.content else ""


def texts(workspace: SlackWorkspace, name: str) -> list[str]:
    channel = workspace.named(name)
    return [str(m.get("text") or "") for m in channel.messages]


def test_it_runs_a_whole_sev1_through_slack_alone(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    world = slack_world
    answer = slack.command(
        "U0ANA", "/incident-declare", "SEV1 API experiencing elevated error rates"
    )
    assert answer.json().get("response_type") == "in_channel", answer.text
    assert f"Join #{NAME}" in said(answer)
    drain(world)
    channel = workspace.named(NAME)
    room = channel.id
    assert {"U0ANA"} <= channel.members  # the IC, invited
    assert channel.topic == "SEV1 · IC ana · declared"
    [status_ts] = channel.pins
    pinned = channel.message(status_ts)
    assert pinned is not None
    assert "SEV1 declared: API experiencing elevated error rates. IC: ana" in pinned["text"]
    assert "Status update template" in json.dumps(pinned["blocks"])

    world.later(minutes=1)
    assert "bob is now comms" in said(
        slack.command("U0ANA", "/incident-role", "comms <@U0BOB|bob>", room)
    )
    assert said(slack.command("U0ANA", "/incident-update", "", room)) == ""
    [form] = workspace.views
    assert form["callback_id"] == "incident_update"
    world.later(minutes=2)
    submitted = slack.submit(
        "U0BOB",
        form,
        {
            "issue": text("Elevated 5xx on the public API"),
            "impact": text("About 10% of API calls fail"),
            "progress": text("Investigating the last deploy"),
            "next": text("Roll back if confirmed"),
            "eta": text("Unknown"),
        },
    )
    assert submitted.status_code == 200
    assert not submitted.content.strip(b"{}")
    world.later(minutes=1)
    assert "investigating" in said(slack.command("U0ANA", "/incident-investigate", "", room))
    world.later(minutes=5)
    assert "mitigated (rollback)" in said(
        slack.command("U0ANA", "/incident-mitigate", "rollback the 14:02 deploy", room)
    )
    world.later(minutes=5)
    said(slack.command("U0ANA", "/incident-resolve", "", room))
    said(slack.command("U0ANA", "/incident-monitor", "", room))
    world.later(minutes=10)
    early = said(slack.command("U0ANA", "/incident-close", "", room))
    assert early.startswith(":no_entry: Refused by rule")
    assert "30" in early  # says what is missing: the rest of the monitoring window
    world.later(minutes=21)
    fire_due(world.runtime.sessions, world.runtime.policy, now=world.clock.now, slack=True)
    assert "is closed" in said(slack.command("U0ANA", "/incident-close", "", room))
    drain(world)

    posted = texts(workspace, NAME)
    joined = "\n".join(posted)
    assert "Update #1 - Investigating" in joined
    assert "bob is Communications Lead" in joined
    assert any("mitigation deployed: rollback" in t for t in posted)
    assert any("ready to close" in t.lower() for t in posted)  # the worker's reminder
    closing = next(t for t in posted if t.startswith("Incident resolved at 2026-03-02 10:45 UTC"))
    assert "Thanks to ana, bob" in closing
    assert not any("no Slack channel" in (job.last_error or "") for job in jobs(world))
    assert channel.topic == "SEV1 · IC ana · closed"
    with world.runtime.reading() as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        assert incident.stage.value == "closed"
        assert incident.slack_channel_id == room


def test_it_refuses_requests_not_signed_by_slack(slack: Slack) -> None:
    body = urlencode({"command": "/incident-status", "text": "INC-1", "user_id": "U0ANA"})
    assert slack.send("/slack/commands", body, signature="v0=" + "0" * 64).status_code == 401
    old = int(time.time()) - 301
    assert slack.send("/slack/commands", body, timestamp=old).status_code == 401
    stamp = str(int(time.time()))
    good = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body) or ""
    tampered = slack.http.post(
        "/slack/commands",
        content=(body + "x").encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": good,
        },
    )
    assert tampered.status_code == 401
    unsigned = slack.http.post("/slack/events", content=b'{"type":"url_verification"}')
    assert unsigned.status_code == 401
    wrong_secret = Slack(slack.http, slack.workspace, secret="not-the-secret")
    assert wrong_secret.command("U0ANA", "/incident-status", "INC-1").status_code == 401


def test_it_answers_slacks_url_verification(slack: Slack) -> None:
    answer = slack.send(
        "/slack/events",
        json.dumps(
            {
                "type": "url_verification",
                "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            }
        ),
        content_type="application/json",
    )
    assert answer.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in answer.text


def test_it_adds_a_marked_message_to_the_timeline_once(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    said(slack.command("U0ANA", "/incident-declare", "SEV1 API experiencing elevated error rates"))
    drain(slack_world)
    channel = workspace.named(NAME)
    channel.messages.append(
        {"ts": "1700000999.000001", "user": "U0BOB", "text": "db-7 is at 100% CPU"}
    )
    reaction = {
        "type": "reaction_added",
        "user": "U0ANA",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel.id, "ts": "1700000999.000001"},
    }
    assert slack.event(reaction, "Ev01").status_code == 200
    # Slack retries the same event: nothing is done twice.
    assert (
        slack.event(
            reaction, "Ev01", **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        ).status_code
        == 200
    )
    assert slack.event({**reaction, "reaction": "eyes"}, "Ev02").status_code == 200
    drain(slack_world)
    with slack_world.runtime.reading() as session:
        notes = session.scalars(
            select(TimelineEvent.summary).where(TimelineEvent.kind == EventKind.NOTE)
        ).all()
    assert notes == ["from Slack, bob: db-7 is at 100% CPU"]


def test_it_answers_sev2_in_a_thread_and_sev3_privately(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    answer = said(slack.command("U0CAT", "/incident-declare", "SEV2 Search is slow"))
    assert "INC-1 SEV2 declared" in answer
    drain(slack_world)
    general = workspace.channels["C0GENERAL"]
    [thread] = [m for m in general.messages if "SEV2 declared" in str(m["text"])]
    said(slack.command("U0CAT", "/incident-investigate", "INC-1"))
    drain(slack_world)
    assert any("investigating" in str(r["text"]) for r in thread.get("replies", []))
    assert not any(c.name.startswith("incident-") for c in workspace.channels.values())
    ticket = said(slack.command("U0CAT", "/incident-declare", "SEV3 Typo on the pricing page"))
    assert "SEV3 backlog ticket" in ticket
    with slack_world.runtime.reading() as session:
        assert session.get(Incident, 2).stage.value == "backlog"  # type: ignore[union-attr]


def test_it_takes_a_taken_channel_name_with_a_suffix_and_waits_out_rate_limits(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    workspace.add_channel(NAME, "C0TAKEN")
    said(slack.command("U0ANA", "/incident-declare", "SEV1 API experiencing elevated error rates"))
    workspace.ratelimit(1, retry_after=30)
    assert drain(slack_world, limit=1) == 1  # rate limited: waits, nothing lost
    with slack_world.runtime.reading() as session:
        job = session.scalars(select(SlackJob)).first()
        assert job is not None
        assert job.state.value == "pending"
        assert "rate limited" in (job.last_error or "")
    slack_world.later(seconds=31)
    drain(slack_world)
    channel = workspace.named(f"{NAME}-2")
    assert channel.pins
    with slack_world.runtime.reading() as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        assert incident.channel_name == f"{NAME}-2"


def test_it_records_nothing_from_an_attempt_that_outlasted_its_lease(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    """An attempt slower than its lease is taken over by the next; whatever the slow one
    still tries to record (progress, a note, its outcome) is dropped, not recorded twice."""
    from contextlib import nullcontext

    from warroom.jobs.deliveries import LEASE
    from warroom.jobs.slack import Superseded, Work, lease

    said(slack.command("U0ANA", "/incident-declare", "SEV1 API experiencing elevated error rates"))
    with slack_world.runtime.reading() as session:
        slow = lease(session, slack_world.clock.now)
        assert slow is not None
        session.commit()
        stale = Work(
            slack_world.runtime.sessions,
            slack_world.runtime.policy,
            nullcontext,
            slack_world.runtime.transports.slack_client(),
            slack_world.clock.now,
            slow.id,
            slow.incident_id,
            slow.kind,
            dict(slow.payload),
            slow.attempts,
        )
    slack_world.later(seconds=LEASE.total_seconds() + 1)
    drain(slack_world)  # the next attempt does the job
    with pytest.raises(Superseded):
        stale.progress(channel="C0LATE")
    with slack_world.runtime.reading() as session:
        job = session.get(SlackJob, stale.job_id)
        assert job is not None
        assert job.state.value == "delivered"
        assert job.payload.get("channel") != "C0LATE"


def test_it_acts_from_the_buttons_on_incident_messages(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    said(slack.command("U0ANA", "/incident-declare", "SEV1 API experiencing elevated error rates"))
    said(slack.command("U0CAT", "/incident-declare", "SEV2 Search is slow"))
    drain(slack_world)
    room = workspace.named(NAME).id
    pinned = workspace.named(NAME).message(workspace.named(NAME).pins[0])
    assert pinned is not None
    actions = next(b for b in pinned["blocks"] if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == [
        "incident_ack",
        "incident_update",
        "incident_mitigate",
    ]
    assert slack.click("U0BOB", "incident_ack", "INC-2", "C0GENERAL").status_code == 200
    drain(slack_world)
    [answer] = [r for key, rs in workspace.responses.items() if key.startswith("click") for r in rs]
    assert answer["text"] == "INC-2 was already acknowledged."  # declaring acknowledged it
    assert answer["response_type"] == "ephemeral"

    assert slack.click("U0BOB", "incident_mitigate", "INC-1", room).status_code == 200
    form = workspace.views[-1]
    assert form["callback_id"] == "incident_mitigate"
    refused = slack.submit("U0BOB", form, {"kind": chosen("rollback")})
    assert refused.json()["response_action"] == "errors"  # declared: investigate first
    assert "illegal-move" in refused.json()["errors"]["kind"]
    slack_world.later(minutes=3)
    said(slack.command("U0ANA", "/incident-investigate", "", room))
    slack_world.later(minutes=3)
    done = slack.submit("U0BOB", form, {"kind": chosen("feature-flag"), "note": text("flag off")})
    assert done.status_code == 200
    with slack_world.runtime.reading() as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        assert incident.stage.value == "mitigated"

    assert slack.click("U0BOB", "incident_update", "INC-1", room).status_code == 200
    assert workspace.views[-1]["callback_id"] == "incident_update"
    missing = slack.submit(
        "U0BOB",
        workspace.views[-1],
        {"issue": text("x"), "impact": text(" "), "progress": text("p"), "next": text("n")},
    )
    assert missing.json()["response_action"] == "errors"


def test_it_acknowledges_a_page_from_the_button_in_its_direct_message(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    from warroom.domain.paging import ContactKind
    from warroom.domain.policy import PagingPolicy
    from warroom.jobs.pages import deliver_pages
    from warroom.services import directory

    world = slack_world
    world.runtime.__dict__["policy"] = DEFAULT_POLICY.model_copy(
        update={"paging": PagingPolicy(all_hands=("person:ana",))}
    )
    world.act("admin", lambda op: directory.add_contact(op, "ana", ContactKind.SLACK, "U0ANA"))
    said(slack.command("U0BOB", "/incident-declare", "SEV0 Everything is down"))
    transports = world.runtime.transports
    for _ in range(5):
        if not deliver_pages(
            world.runtime.sessions, world.runtime.policy, transports, now=world.clock.now
        ):
            break
    dm = workspace.channels["DU0ANA"]
    [page] = dm.messages
    button = next(b for b in page["blocks"] if b["type"] == "actions")["elements"][0]
    assert button["action_id"] == "warroom_acknowledge"
    assert "url" not in button
    assert slack.click("U0ANA", "warroom_acknowledge", button["value"], "DU0ANA").status_code == 200
    drain(world)
    [answer] = [r for key, rs in workspace.responses.items() if key.startswith("click") for r in rs]
    assert answer["text"] == "Acknowledged: you are on INC-1."
    from warroom.db.models import Page

    with world.runtime.reading() as session:
        stored = session.scalars(select(Page)).one()
        assert stored.acknowledged_at is not None
        assert stored.acknowledged_by is not None
        assert stored.acknowledged_by.handle == "ana"


def test_it_declares_from_the_classifiers_questions_when_no_level_is_given(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    assert said(slack.command("U0ANA", "/incident-declare", "Checkout fails for everyone")) == ""
    [form] = workspace.views
    assert form["callback_id"] == "incident_declare"
    bad = slack.submit(
        "U0ANA",
        form,
        {"title": text("Checkout fails for everyone"), "customers_affected_pct": text("lots")},
    )
    assert bad.json() == {
        "response_action": "errors",
        "errors": {"customers_affected_pct": "a percentage, like 12.5"},
    }
    answers = {
        "type": "checkboxes",
        "selected_options": [{"value": "production_down"}, {"value": "customer_facing"}],
    }
    done = slack.submit(
        "U0ANA",
        form,
        {
            "title": text("Checkout fails for everyone"),
            "facts": answers,
            "customers_affected_pct": text("100"),
        },
    )
    assert done.status_code == 200
    with slack_world.runtime.reading() as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        assert incident.severity is not None
        assert incident.severity.value == "SEV0"  # production down for every customer
        assert incident.declared_at is not None


def test_it_posts_the_war_room_and_archives_the_channel_after_the_postmortem(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    from warroom.domain.policy import SlackPolicy
    from warroom.services import lifecycle

    world = slack_world
    world.runtime.__dict__["policy"] = DEFAULT_POLICY.model_copy(
        update={"slack": SlackPolicy(war_room_url="https://meet.example.test/warroom")}
    )
    said(slack.command("U0ANA", "/incident-declare", "SEV0 Everything is down"))
    drain(world)
    channel = workspace.named("incident-2026-03-02-everything-is-down")
    pinned = channel.message(channel.pins[0])
    assert pinned is not None
    assert "https://meet.example.test/warroom" in json.dumps(pinned["blocks"])
    room = channel.id
    for command, minutes in (
        ("/incident-investigate", 1),
        ("/incident-mitigate", 5),
        ("/incident-resolve", 5),
        ("/incident-monitor", 1),
        ("/incident-close", 31),
    ):
        world.later(minutes=minutes)
        answer = said(
            slack.command("U0ANA", command, "failover-db" if "mitigate" in command else "", room)
        )
        assert not answer.startswith(":"), answer
    world.later(hours=20).act("ana", lambda op: lifecycle.postmortem(op, 1, "https://wiki/pm/1"))
    drain(world)
    assert channel.archived


def test_it_maps_a_slack_user_to_the_person_with_their_email(
    slack: Slack, slack_world: World
) -> None:
    from warroom.domain.paging import ContactKind
    from warroom.services import directory

    slack_world.act(
        "admin",
        lambda op: directory.add_contact(op, "ana.smith", ContactKind.EMAIL, "ana@example.test"),
    )
    said(slack.command("U0ANA", "/incident-declare", "SEV2 Search is slow"))
    said(slack.command("U0CAT", "/incident-note", "INC-1 hypothesis: the new index"))
    with slack_world.runtime.reading() as session:
        events = session.scalars(
            select(TimelineEvent).where(TimelineEvent.kind == EventKind.NOTE)
        ).all()
        declared = session.scalars(
            select(TimelineEvent).where(TimelineEvent.kind == EventKind.DECLARED)
        ).one()
        assert declared.actor is not None
        assert declared.actor.handle == "ana.smith"  # linked by e-mail
        [note] = events
        assert note.actor is not None
        assert note.actor.handle == "cat"  # unknown by e-mail: a new person, linked once
        assert note.data["note_kind"] == "hypothesis"


def test_it_joins_a_public_channel_it_is_not_in_to_answer_in_a_thread(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    workspace.add_channel("search", "C0SEARCH").members.discard(SlackWorkspace.BOT)
    said(slack.command("U0CAT", "/incident-declare", "SEV2 Search is slow", channel="C0SEARCH"))
    drain(slack_world)
    assert SlackWorkspace.BOT in workspace.channels["C0SEARCH"].members
    assert any("SEV2 declared" in str(m["text"]) for m in workspace.channels["C0SEARCH"].messages)


def test_it_answers_404_when_slack_is_not_set_up(world: World) -> None:
    with serving(create_app(world.runtime)) as http:
        answer = http.post("/slack/commands", content=b"command=%2Fincident-status")
    assert answer.status_code == 404
    assert "WARROOM_SLACK_SIGNING_SECRET" in answer.text


def test_it_names_the_incident_first_outside_its_channel(slack: Slack, slack_world: World) -> None:
    said(slack.command("U0ANA", "/incident-declare", "SEV2 Search is slow"))
    lost = said(slack.command("U0BOB", "/incident-status", "", channel="C0OTHER"))
    assert "not an incident channel" in lost
    status = said(slack.command("U0BOB", "/incident-status", "INC-1", channel="C0OTHER"))
    assert "*INC-1* SEV2 · declared — Search is slow" in status
    raised = said(
        slack.command(
            "U0BOB", "/incident-severity", "INC-1 SEV1 checkout affected too", channel="C0OTHER"
        )
    )
    assert raised == "INC-1 is now SEV1."
    drain(slack_world)  # a SEV1 now: it moves from its thread to a channel of its own
    with slack_world.runtime.reading() as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        assert incident.slack_thread_ts is None
        assert incident.slack_channel_id != "C0GENERAL"
        assert incident.channel_name == "incident-2026-03-02-search-is-slow"
    unknown = said(slack.command("U0BOB", "/incident-ack", "INC-99", channel="C0OTHER"))
    assert unknown.startswith(":warning:")
    assert "INC-99" in unknown
    usage = said(slack.command("U0BOB", "/incident-mitigate", "INC-1 magic", channel="C0OTHER"))
    assert "'magic' is not a mitigation" in usage


def test_it_gives_an_incident_declared_elsewhere_its_channel_from_the_worker_loop(
    slack_world: World, workspace: SlackWorkspace
) -> None:
    import threading
    from datetime import timedelta

    from warroom.domain.types import Severity
    from warroom.jobs.worker import run as run_worker
    from warroom.services import declaration

    runtime = slack_world.runtime
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(runtime.sessions, runtime.policy, runtime.clock),
        kwargs={"stop": stop, "idle": timedelta(seconds=0.05), "transports": runtime.transports},
        daemon=True,
    )
    worker.start()
    try:
        slack_world.act(
            "ana",
            lambda op: declaration.declare_new(
                op, Severity.SEV1, "API experiencing elevated error rates"
            ),
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(c.pins for c in workspace.channels.values()):
            time.sleep(0.05)
        channel = workspace.named(NAME)
        assert channel.pins
        assert channel.topic == "SEV1 · IC ana · declared"
    finally:
        stop.set()
        worker.join(timeout=10)


def test_it_never_answers_a_malformed_or_stale_slack_request_with_a_500(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    unsigned = slack.http.post(
        "/slack/interactions",
        content=b"payload={bad",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 401
    assert slack.send("/slack/interactions", "payload={bad").status_code == 400
    assert (
        slack.send("/slack/events", "{not json", content_type="application/json").status_code == 400
    )
    old_button = slack.click("U0BOB", "incident_update", "INC-nonsense", "C0GENERAL")
    assert old_button.status_code == 200
    said(slack.command("U0ANA", "/incident-declare", "SEV1 API experiencing elevated error rates"))
    drain(slack_world)
    workspace.fail("views.open", "expired_trigger_id")
    late = said(slack.command("U0ANA", "/incident-update", "", workspace.named(NAME).id))
    assert late.startswith(":warning: Slack did not open the form")
    odd_form = slack.submit(
        "U0ANA", {"type": "modal", "callback_id": "incident_update", "private_metadata": "x1"}, {}
    )
    assert odd_form.status_code == 200
    assert "does not name an incident" in odd_form.text
    no_type = slack.submit("U0ANA", {"callback_id": "incident_update"}, {})
    assert no_type.status_code == 400


def test_it_keeps_a_sev2_declared_in_an_incident_channel_out_of_that_channel(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    said(slack.command("U0ANA", "/incident-declare", "SEV1 API experiencing elevated error rates"))
    drain(slack_world)
    room = workspace.named(NAME).id
    said(slack.command("U0CAT", "/incident-declare", "SEV2 Search is slow", channel=room))
    drain(slack_world)
    status = said(slack.command("U0ANA", "/incident-status", "", room))
    assert status.startswith("*INC-1*")  # still the channel's own incident
    with slack_world.runtime.reading() as session:
        sev2 = session.get(Incident, 2)
        assert sev2 is not None
        assert sev2.slack_thread_ts is not None  # it lives in a thread there


def test_it_escapes_what_it_posts_so_a_title_cannot_ping_everyone(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    said(
        slack.command(
            "U0ANA", "/incident-declare", "SEV1 <!channel> pay <https://evil.example|here>"
        )
    )
    drain(slack_world)
    [channel] = [c for c in workspace.channels.values() if c.name.startswith("incident-")]
    pinned = channel.message(channel.pins[0])
    assert pinned is not None
    assert "<!channel>" not in pinned["text"]
    assert "&lt;!channel&gt;" in pinned["text"]
    assert "<!channel>" not in json.dumps(pinned["blocks"])


def test_it_adopts_the_channel_slack_made_when_the_answer_was_lost(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    workspace.lose_next_create_answer()
    said(slack.command("U0ANA", "/incident-declare", "SEV1 API experiencing elevated error rates"))
    drain(slack_world, limit=1)  # Slack made the channel, warroom never heard: a retry
    slack_world.later(minutes=2)
    drain(slack_world)
    made = [c for c in workspace.channels.values() if c.name.startswith("incident-")]
    assert [c.name for c in made] == [NAME]  # adopted, not a second one
    assert made[0].pins


def test_it_adds_a_marked_thread_reply_to_the_timeline(
    slack: Slack, slack_world: World, workspace: SlackWorkspace
) -> None:
    said(slack.command("U0ANA", "/incident-declare", "SEV1 API experiencing elevated error rates"))
    drain(slack_world)
    channel = workspace.named(NAME)
    parent = channel.message(channel.pins[0])
    assert parent is not None
    parent.setdefault("replies", []).append(
        {"ts": "1700000999.000002", "user": "U0CAT", "text": "rolling back now"}
    )
    reaction = {
        "type": "reaction_added",
        "user": "U0ANA",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel.id, "ts": "1700000999.000002"},
    }
    assert slack.event(reaction, "Ev10").status_code == 200
    drain(slack_world)
    with slack_world.runtime.reading() as session:
        notes = session.scalars(
            select(TimelineEvent.summary).where(TimelineEvent.kind == EventKind.NOTE)
        ).all()
    assert notes == ["from Slack, cat: rolling back now"]
