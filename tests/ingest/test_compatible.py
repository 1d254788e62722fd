"""The PagerDuty Events API v2 and Opsgenie Alert API compatible endpoints answer as the
vendors' APIs do."""

from __future__ import annotations

from tests.ingest.conftest import Sender
from warroom.domain.alerts import AlertSource


def test_it_triggers_a_pagerduty_event_and_answers_202_with_the_dedup_key(
    sender: Sender,
) -> None:
    response = sender.pagerduty("trigger.json")
    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "checkout-latency",
    }
    sender.group()
    [alert] = sender.alerts()
    assert alert.labels["p99_ms"] == "2450"
    assert alert.links == {"Dashboard": "https://dash.example.test/d/checkout"}
    assert sender.incidents()[0].severity is not None


def test_it_counts_a_repeated_pagerduty_trigger_on_the_open_alert(sender: Sender) -> None:
    sender.pagerduty("trigger.json")
    response = sender.pagerduty("duplicate.json")
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "checkout-latency"
    [alert] = sender.alerts()
    assert alert.count == 2


def test_it_acknowledges_the_incident_when_pagerduty_acknowledges(sender: Sender) -> None:
    sender.pagerduty("trigger.json")
    sender.group()
    assert sender.pagerduty("acknowledge.json").status_code == 202
    sender.group()
    [incident] = sender.incidents()
    assert incident.acknowledged_at is not None
    assert any("acknowledged in pagerduty" in line for line in sender.timeline(incident.id))


def test_it_resolves_by_dedup_key_and_opens_a_new_alert_on_the_next_trigger(
    sender: Sender,
) -> None:
    sender.pagerduty("trigger.json")
    sender.group()
    sender.pagerduty("resolve.json")
    sender.group()
    assert [a.status.value for a in sender.alerts()] == ["resolved"]
    sender.world.later(minutes=1)
    # The same trigger again, byte for byte (as Alertmanager's notifier sends it when the
    # group fires again): a new alert, since the first one resolved.
    sender.pagerduty("trigger.json")
    assert [a.status.value for a in sender.alerts()] == ["resolved", "firing"]


def test_it_refuses_a_legacy_v1_pagerduty_event_with_400(sender: Sender) -> None:
    response = sender.pagerduty("malformed.json")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert "Events API v1" in body["errors"][0]


def test_it_lists_every_reason_a_pagerduty_event_is_invalid(sender: Sender) -> None:
    response = sender.pagerduty("invalid.json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "'payload.source' is missing or blank.",
        "'payload.severity' must be one of critical, error, warning or info.",
    ]
    unknown = sender.pagerduty("trigger.json", routing_key="f" * 32)
    assert unknown.status_code == 400
    assert unknown.json()["errors"] == ["Invalid routing key"]


def test_it_answers_429_when_an_integrations_rate_limit_is_reached(sender: Sender) -> None:
    sender.key(AlertSource.PAGERDUTY, rate_limit=2)
    statuses = [
        sender.http.post(
            "/v2/enqueue",
            json={
                "routing_key": sender.key(AlertSource.PAGERDUTY),
                "event_action": "trigger",
                "payload": {"summary": f"event {i}", "source": "x", "severity": "info"},
            },
        ).status_code
        for i in range(3)
    ]
    assert statuses == [202, 202, 429]


def test_it_creates_an_opsgenie_alert_and_answers_as_opsgenie(sender: Sender) -> None:
    response = sender.opsgenie("/v2/alerts", "create.json")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["result"] == "Request will be processed"
    assert body["requestId"]
    sender.group()
    [alert] = sender.alerts()
    assert (alert.dedup_key, alert.severity_hint) == ("checkout-latency", "P1")


def test_it_counts_a_repeated_opsgenie_alias_on_the_open_alert(sender: Sender) -> None:
    sender.opsgenie("/v2/alerts", "create.json")
    assert sender.opsgenie("/v2/alerts", "duplicate.json").status_code == 202
    [alert] = sender.alerts()
    assert alert.count == 2  # one open alert per alias, its count bumped


def test_it_closes_and_acknowledges_an_opsgenie_alert_by_alias(sender: Sender) -> None:
    sender.opsgenie("/v2/alerts", "create.json")
    sender.group()
    path = "/v2/alerts/checkout-latency/{}?identifierType=alias"
    assert sender.opsgenie(path.format("acknowledge"), "acknowledge.json").status_code == 202
    assert sender.opsgenie(path.format("close"), "close.json").status_code == 202
    sender.group()
    [alert] = sender.alerts()
    assert alert.status.value == "resolved"
    assert alert.acknowledged_at is not None


def test_it_refuses_an_invalid_opsgenie_request_with_422_or_401(sender: Sender) -> None:
    invalid = sender.opsgenie("/v2/alerts", "malformed.json")
    assert invalid.status_code == 422
    assert invalid.json()["message"] == "Message can not be longer than 130 characters."
    bad_type = sender.opsgenie("/v2/alerts/x/close?identifierType=name", "close.json")
    assert bad_type.status_code == 422
    unknown = sender.opsgenie("/v2/alerts", "create.json", key="f" * 32)
    assert unknown.status_code == 401
    assert sender.alerts() == []


def test_it_keeps_one_alert_when_a_dated_resolve_is_sent_again(sender: Sender) -> None:
    sender.pagerduty("trigger.json")
    resolve = {
        "routing_key": sender.key(AlertSource.PAGERDUTY),
        "event_action": "resolve",
        "dedup_key": "checkout-latency",
        "payload": {
            "summary": "ok",
            "source": "checkout",
            "severity": "info",
            "timestamp": "2026-03-02T09:59:00.000+0000",
        },
    }
    for _ in range(3):  # a sender retrying
        assert sender.http.post("/v2/enqueue", json=resolve).status_code == 202
    [alert] = sender.alerts()
    assert alert.status.value == "resolved"
    assert alert.ends_at is not None
    assert alert.ends_at.isoformat() == "2026-03-02T09:59:00+00:00"


def test_it_closes_an_alert_whatever_time_a_pagerduty_resolve_claims(sender: Sender) -> None:
    key = sender.key(AlertSource.PAGERDUTY)
    trigger = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "k",
        "payload": {"summary": "s", "source": "x", "severity": "error"},
    }
    assert sender.http.post("/v2/enqueue", json=trigger).status_code == 202
    resolve = {
        "routing_key": key,
        "event_action": "resolve",
        "dedup_key": "k",
        "payload": {
            "summary": "s",
            "source": "x",
            "severity": "info",
            "timestamp": "2026-03-02T09:00:00Z",
        },  # before the trigger was received
    }
    assert sender.http.post("/v2/enqueue", json=resolve).status_code == 202
    assert [a.status.value for a in sender.alerts()] == ["resolved"]
    unknown = resolve | {"dedup_key": "never-triggered"}
    assert sender.http.post("/v2/enqueue", json=unknown).status_code == 202
    assert len(sender.alerts()) == 1  # dropped, as PagerDuty drops it


def test_it_refuses_pagerduty_links_that_are_not_a_list(sender: Sender) -> None:
    body = {
        "routing_key": sender.key(AlertSource.PAGERDUTY),
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "error"},
        "links": 5,
    }
    response = sender.http.post("/v2/enqueue", json=body)
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"


def test_it_reads_opsgenie_ids_as_alert_numbers_and_aliases_as_keys(sender: Sender) -> None:
    create = {"message": "hash alias", "alias": "#1"}
    key = sender.key(AlertSource.OPSGENIE)
    auth = {"Authorization": f"GenieKey {key}"}
    assert sender.http.post("/v2/alerts", json=create, headers=auth).status_code == 202
    [alert] = sender.alerts()
    assert alert.dedup_key == "#1"  # an alias, kept as it is
    closed = sender.http.post(
        f"/v2/alerts/{alert.id}/close?identifierType=id", json={}, headers=auth
    )
    assert closed.status_code == 202
    assert sender.alerts()[0].status.value == "resolved"
    odd = sender.http.post("/v2/alerts/%C2%B2/close?identifierType=id", json={}, headers=auth)
    assert odd.status_code == 422
