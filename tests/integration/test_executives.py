"""The SEV0 executive notification: queued at declaration in the outbox, sent to the executive
list's webhook, and checked by its 15-minute deadline."""

from __future__ import annotations

import json
from datetime import datetime

from tests.conftest import World
from tests.integration.test_timers import events, fire_all, pending
from tests.integration.test_webhooks import Receiver, drain, receiver  # noqa: F401 - a fixture
from warroom.domain.types import Severity, WebhookAudience
from warroom.services import declaration, webhooks


def executive_payloads(receiver: Receiver) -> list[dict[str, object]]:  # noqa: F811
    bodies = [json.loads(r["body"]) for r in receiver.received]
    return [b for b in bodies if b.get("type") == "executive-notification"]


def add_list_webhook(world: World, url: str) -> None:
    world.act("admin", lambda op: webhooks.add(op, url, audience=WebhookAudience.EXECUTIVES))


def checklist_item(world: World, number: int, key: str) -> dict[str, object]:
    items = world.detail(number).to_json()["checklist"]
    found: dict[str, object] = next(i for i in items if i["key"] == key)
    return found


def test_it_notifies_the_executive_list_at_sev0_declaration_and_marks_it_done(
    world: World,
    receiver: Receiver,  # noqa: F811
) -> None:
    world.act(
        "admin", lambda op: webhooks.add(op, receiver.url, audience=WebhookAudience.EXECUTIVES)
    )
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV0, "Payments down"))
    assert checklist_item(world, 1, "notify-executives")["state"] == "due"

    world.later(seconds=3)
    drain(world)
    sent = executive_payloads(receiver)
    assert len(receiver.received) == len(sent) == 1  # the list gets no timeline chatter
    assert sent[0]["incident"] == "INC-1"
    assert sent[0]["severity"] == "SEV0"
    assert sent[0]["ic"] == "alice"
    assert "SEV0 declared: Payments down (INC-1). Incident Commander: alice" in str(sent[0]["text"])
    assert receiver.received[0]["headers"]["Warroom-Delivery-Id"]
    assert receiver.received[0]["headers"]["Warroom-Signature"].startswith("t=")

    item = checklist_item(world, 1, "notify-executives")
    assert item["state"] == "done"
    assert datetime.fromisoformat(str(item["done_at"])) == world.clock.now
    assert "action-due:notify-executives" not in pending(world, 1)
    [done] = [e for e in events(world, 1, "action") if e["data"]["action"] == "notify-executives"]
    assert done["actor"] == "warroom"
    origin = receiver.url.removesuffix("/hook")
    assert done["summary"].endswith(f"(sent to webhook 1 ({origin}/…))")
    assert "/hook" not in done["summary"]  # a chat tool's webhook path is its secret

    world.later(minutes=16)
    fire_all(world)
    assert not [e for e in events(world, 1, "missed") if "executives" in e["summary"]]


def test_it_notifies_every_webhook_of_the_executive_list(
    world: World,
    receiver: Receiver,  # noqa: F811
) -> None:
    add_list_webhook(world, receiver.url)
    add_list_webhook(world, receiver.url + "-cto")
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV0, "Payments down"))
    drain(world)
    assert [p["incident"] for p in executive_payloads(receiver)] == ["INC-1", "INC-1"]
    assert checklist_item(world, 1, "notify-executives")["state"] == "done"
    summaries = [
        e["summary"] for e in events(world, 1, "action") if "Notify the executives" in e["summary"]
    ]
    assert [s.split(" (sent to")[0].split(": also")[0] for s in summaries] == [
        "done: Notify the executives",
        "Notify the executives",
    ]
    assert {s.rsplit("webhook ", 1)[1][0] for s in summaries} == {"1", "2"}
    assert not [e for e in events(world, 1, "missed") if "webhook" in e["summary"]]


def test_it_records_the_missed_deadline_when_no_notification_went_out(
    world: World,
    receiver: Receiver,  # noqa: F811
) -> None:
    receiver.statuses = [410]  # the list's endpoint is gone for good
    world.act(
        "admin", lambda op: webhooks.add(op, receiver.url, audience=WebhookAudience.EXECUTIVES)
    )
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV0, "Payments down"))
    drain(world)
    [failed] = [e for e in events(world, 1, "missed") if "webhook" in e["summary"]]
    assert "HTTP 410" in failed["summary"]
    assert "checklist INC-1 done notify-executives" in failed["summary"]
    assert checklist_item(world, 1, "notify-executives")["state"] == "due"

    world.later(minutes=15, seconds=1)
    fire_all(world)
    overdue = [e for e in events(world, 1, "missed") if e["summary"].startswith("overdue")]
    assert "notify-executives" in [e["data"]["action"] for e in overdue]


def test_it_notifies_the_executives_when_a_sev1_is_raised_to_sev0(
    world: World,
    receiver: Receiver,  # noqa: F811
) -> None:
    world.act(
        "admin", lambda op: webhooks.add(op, receiver.url, audience=WebhookAudience.EXECUTIVES)
    )
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV1, "Checkout slow"))
    drain(world)
    assert executive_payloads(receiver) == []  # SEV1 informs no executives
    world.later(minutes=20)
    world.act(
        "alice",
        lambda op: declaration.change_severity(op, 1, Severity.SEV0, "all regions down"),
    )
    drain(world)
    [sent] = executive_payloads(receiver)
    assert sent["severity"] == "SEV0"
    assert checklist_item(world, 1, "notify-executives")["state"] == "done"


def test_it_leaves_the_notification_to_a_person_when_no_list_webhook_exists(
    world: World,
    receiver: Receiver,  # noqa: F811
) -> None:
    world.act("admin", lambda op: webhooks.add(op, receiver.url))  # every event, not the list
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV0, "Payments down"))
    drain(world)
    assert executive_payloads(receiver) == []
    assert checklist_item(world, 1, "notify-executives")["state"] == "due"


def test_it_drops_a_notification_no_longer_wanted_before_it_went_out(
    world: World,
    receiver: Receiver,  # noqa: F811
) -> None:
    add_list_webhook(world, receiver.url)
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV0, "Payments down"))
    world.act(  # lowered before the worker got to the queued notification
        "alice", lambda op: declaration.change_severity(op, 1, Severity.SEV1, "one region only")
    )
    drain(world)
    assert executive_payloads(receiver) == []
    assert checklist_item(world, 1, "notify-executives")["state"] == "cancelled"
