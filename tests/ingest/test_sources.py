"""One test per realistic payload per source: firing, resolved, duplicate, an event we ignore,
malformed, and a bad signature where the source signs."""

from __future__ import annotations

import json
import time

from tests.ingest.conftest import GRAFANA_SECRET, Sender, fixture
from warroom.domain.alerts import AlertSource
from warroom.domain.types import Access, Severity, Stage
from warroom.services import integrations, tokens

AM = AlertSource.ALERTMANAGER
GRAFANA = AlertSource.GRAFANA
DATADOG = AlertSource.DATADOG
GENERIC = AlertSource.GENERIC


# --- Prometheus Alertmanager ------------------------------------------------------------------


def test_it_opens_a_detected_incident_from_a_firing_alertmanager_group(sender: Sender) -> None:
    response = sender.post(AM, fixture("alertmanager/firing.json"))
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "alerts": 1, "replay": False}
    [alert] = sender.alerts()
    assert (alert.status.value, alert.dedup_key, alert.count) == ("firing", "5c1e0f2a9b7d3e41", 1)
    assert alert.links["runbook"] == "https://runbooks.example.test/checkout/latency"
    assert alert.labels["severity"] == "critical"
    assert alert.incident_id is None  # grouping runs after the 2xx
    assert sender.group() == 1
    [incident] = sender.incidents()
    assert incident.stage is Stage.DETECTED
    assert incident.severity is Severity.SEV1
    assert not incident.severity_confirmed
    assert incident.title == "checkout p99 latency above 2s"
    assert incident.detected_at.isoformat() == "2026-03-02T09:55:00.123456+00:00"
    assert sender.timeline(incident.id)[0].startswith("detected by alert #1 from alertmanager")


def test_it_counts_a_repeated_alertmanager_alert_once_and_groups_a_new_one(
    sender: Sender,
) -> None:
    sender.post(AM, fixture("alertmanager/firing.json"))
    replay = sender.post(AM, fixture("alertmanager/firing.json"))
    assert replay.json()["replay"] is True
    sender.group()
    response = sender.post(AM, fixture("alertmanager/duplicate.json"))
    assert response.status_code == 202
    sender.group()
    first, second = sender.alerts()
    assert first.count == 2
    assert first.incident_id == second.incident_id
    assert len(sender.incidents()) == 1
    joined = f"alert #{second.id} joined"
    assert any(joined in line for line in sender.timeline(first.incident_id or 0))


def test_it_answers_a_replay_alike_whether_its_bytes_or_only_its_alerts_repeat(
    sender: Sender,
) -> None:
    # Large enough to be looked up by its digest; the reformatted copy is parsed.
    firing = json.loads(fixture("alertmanager/firing.json"))
    alert = firing["alerts"][0]
    firing["alerts"] = [alert | {"fingerprint": f"{n:016x}"} for n in range(20)]
    body = json.dumps(firing).encode()
    assert len(body) > 4096
    first = sender.post(AM, body)
    same_bytes = sender.post(AM, body)
    same_alerts = sender.post(AM, json.dumps(firing, indent=4).encode())
    assert first.json() == {"status": "accepted", "alerts": 20, "replay": False}
    for response in (same_bytes, same_alerts):
        assert response.status_code == 202
        assert response.json() == {"status": "accepted", "alerts": 20, "replay": True}
    assert [alert.count for alert in sender.alerts()] == [1] * 20
    assert len(sender.requests()) == 1


def test_it_refuses_a_malformed_body_again_rather_than_calling_it_a_replay(
    sender: Sender,
) -> None:
    for _ in range(2):
        response = sender.post(AM, fixture("alertmanager/malformed.json"))
        assert response.status_code == 400
    # A refusal is answered before its record is written: wait for it, boundedly.
    deadline = time.monotonic() + 10
    while len(sender.requests()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [kept.outcome for kept in sender.requests()] == ["refused", "refused"]


def test_it_resolves_the_alert_an_alertmanager_resolved_notification_names(
    sender: Sender,
) -> None:
    sender.post(AM, fixture("alertmanager/firing.json"))
    sender.group()
    response = sender.post(AM, fixture("alertmanager/resolved.json"))
    assert response.status_code == 202
    sender.group()
    [alert] = sender.alerts()
    assert alert.status.value == "resolved"
    assert alert.ends_at is not None
    assert alert.ends_at.isoformat().startswith("2026-03-02T09:59:30.5")
    assert "all linked alerts are resolved" in sender.timeline(alert.incident_id or 0)[-1]


def test_it_accepts_an_empty_alertmanager_group_and_opens_nothing(sender: Sender) -> None:
    response = sender.post(AM, fixture("alertmanager/ignored.json"))
    assert response.status_code == 202
    assert response.json()["alerts"] == 0
    sender.group()
    assert sender.alerts() == []
    assert sender.incidents() == []


def test_it_refuses_a_malformed_alertmanager_body_and_keeps_it(sender: Sender) -> None:
    response = sender.post(AM, fixture("alertmanager/malformed.json"))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "alerts must be a list"
    assert sender.alerts() == []
    [kept] = sender.requests()
    assert (kept.outcome, kept.detail) == ("refused", "alerts must be a list")
    assert kept.raw == fixture("alertmanager/malformed.json")


def test_it_keeps_a_large_body_compressed_and_gives_it_back_byte_for_byte(
    sender: Sender,
) -> None:
    firing = json.loads(fixture("alertmanager/firing.json"))
    alert = firing["alerts"][0]
    firing["alerts"] = [
        alert | {"fingerprint": f"{n:016x}", "labels": alert["labels"] | {"n": str(n)}}
        for n in range(40)
    ]
    body = json.dumps(firing, indent=1).encode()
    response = sender.post(AM, body)
    assert response.status_code == 202, response.text
    [kept] = sender.requests()
    assert kept.body_encoding == "deflate"
    assert len(kept.body) < len(body) / 4
    assert kept.raw == body
    assert len(sender.alerts()) == 40


def test_it_answers_404_to_an_unknown_or_revoked_key(sender: Sender) -> None:
    sender.key(AM)
    response = sender.http.post(
        "/api/v1/ingest/alertmanager/0123456789abcdef0123456789abcdef",
        content=fixture("alertmanager/firing.json"),
    )
    assert response.status_code == 404
    assert sender.alerts() == []


# --- Grafana ------------------------------------------------------------------------------


def test_it_opens_an_incident_from_a_signed_grafana_alert(sender: Sender) -> None:
    response = sender.grafana("firing.json")
    assert response.status_code == 202, response.text
    sender.group()
    [alert] = sender.alerts()
    assert alert.source is GRAFANA
    assert alert.starts_at.isoformat() == "2026-03-02T08:58:00+00:00"  # +01:00 read as such
    assert alert.links["dashboard"] == "https://grafana.example.test/d/checkout"
    assert sender.incidents()[0].stage is Stage.DETECTED


def test_it_treats_a_repeated_grafana_notification_as_a_replay(sender: Sender) -> None:
    sender.grafana("firing.json")
    response = sender.grafana("duplicate.json")
    assert response.json()["replay"] is True
    [alert] = sender.alerts()
    assert alert.count == 1


def test_it_resolves_a_grafana_alert(sender: Sender) -> None:
    sender.grafana("firing.json")
    sender.group()
    assert sender.grafana("resolved.json").status_code == 202
    sender.group()
    [alert] = sender.alerts()
    assert alert.status.value == "resolved"


def test_it_answers_grafanas_contact_point_test_without_paging(sender: Sender) -> None:
    response = sender.grafana("test-alert.json")
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    sender.group()
    assert sender.alerts() == []
    assert sender.incidents() == []


def test_it_refuses_a_malformed_grafana_body(sender: Sender) -> None:
    response = sender.grafana("malformed.json")
    assert response.status_code == 400
    assert "alerts[0].status must be firing or resolved" in response.json()["detail"]


def test_it_refuses_a_grafana_body_with_a_bad_signature(sender: Sender) -> None:
    response = sender.grafana("firing.json", secret="not-the-shared-secret-at-all")
    assert response.status_code == 401
    assert "signature does not match" in response.json()["detail"]
    unsigned = sender.post(GRAFANA, fixture("grafana/firing.json"))
    assert unsigned.status_code == 401
    assert "X-Grafana-Alerting-Signature header is missing" in unsigned.json()["detail"]
    assert sender.alerts() == []


# --- Datadog ------------------------------------------------------------------------------


def test_it_opens_an_incident_from_a_triggered_datadog_monitor(sender: Sender) -> None:
    response = sender.post(DATADOG, fixture("datadog/triggered.json"))
    assert response.status_code == 202, response.text
    sender.group()
    [alert] = sender.alerts()
    assert alert.dedup_key == "148275309|env:prod,service:checkout"
    assert alert.labels["team"] == "payments"
    assert "host" not in alert.labels
    assert alert.severity_hint == "P1"
    [incident] = sender.incidents()
    assert incident.severity is Severity.SEV1


def test_it_ignores_a_datadog_retry_of_the_same_event(sender: Sender) -> None:
    sender.post(DATADOG, fixture("datadog/triggered.json"))
    response = sender.post(DATADOG, fixture("datadog/retried.json"))
    assert response.json()["replay"] is True
    [alert] = sender.alerts()
    assert alert.count == 1


def test_it_resolves_a_recovered_datadog_monitor(sender: Sender) -> None:
    sender.post(DATADOG, fixture("datadog/triggered.json"))
    sender.group()
    assert sender.post(DATADOG, fixture("datadog/recovered.json")).status_code == 202
    sender.group()
    [alert] = sender.alerts()
    assert alert.status.value == "resolved"


def test_it_accepts_and_ignores_a_datadog_transition_that_pages_no_one(sender: Sender) -> None:
    response = sender.post(DATADOG, fixture("datadog/ignored.json"))
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert sender.alerts() == []


def test_it_refuses_a_datadog_body_without_warrooms_template(sender: Sender) -> None:
    response = sender.post(DATADOG, fixture("datadog/malformed.json"))
    assert response.status_code == 400
    assert "use warroom's Datadog template" in response.json()["detail"]


# --- generic ------------------------------------------------------------------------------


def test_it_opens_an_incident_from_a_generic_synthetic_check(sender: Sender) -> None:
    response = sender.post(GENERIC, fixture("generic/firing.json"))
    assert response.status_code == 202, response.text
    sender.group()
    [alert] = sender.alerts()
    assert alert.links == {
        "check": "https://synthetics.example.test/checks/42",
        "runbook": "https://runbooks.example.test/checkout/journey",
    }
    assert sender.incidents()[0].severity is Severity.SEV1


def test_it_counts_a_generic_duplicate_on_the_open_alert(sender: Sender) -> None:
    sender.post(GENERIC, fixture("generic/firing.json"))
    sender.group()
    assert sender.post(GENERIC, fixture("generic/duplicate.json")).json()["replay"] is False
    sender.group()
    [alert] = sender.alerts()
    assert alert.count == 2
    assert len(sender.incidents()) == 1


def test_it_resolves_a_generic_alert_by_its_dedup_key(sender: Sender) -> None:
    sender.post(GENERIC, fixture("generic/firing.json"))
    sender.group()
    sender.post(GENERIC, fixture("generic/resolved.json"))
    sender.group()
    [alert] = sender.alerts()
    assert alert.status.value == "resolved"


def test_it_refuses_a_malformed_generic_body_naming_the_field(sender: Sender) -> None:
    response = sender.post(GENERIC, fixture("generic/malformed.json"))
    assert response.status_code == 400
    assert response.json()["detail"] == "the body.labels.nested must be a string"


def test_it_refuses_a_body_over_512_kb_with_413(sender: Sender) -> None:
    big = json.dumps({"summary": "x" * (512 * 1024)}).encode()
    response = sender.post(GENERIC, big)
    assert response.status_code == 413
    assert sender.alerts() == []


def test_it_answers_404_to_a_path_below_an_ingestion_key(sender: Sender) -> None:
    key = sender.key(AM)
    path = f"/api/v1/ingest/alertmanager/{key}/extra"
    response = sender.http.post(path, content=fixture("alertmanager/firing.json"))
    assert response.status_code == 404
    assert sender.alerts() == []


def test_it_counts_ingestion_requests_by_route_template_for_prometheus(sender: Sender) -> None:
    sample = (
        'warroom_http_requests_total{method="POST",'
        'route="/api/v1/ingest/{source}/{key}",status="202"}'
    )

    def count() -> float:
        for line in sender.http.get("/metrics").text.splitlines():
            if line.startswith(sample):
                return float(line.split()[-1])
        return 0.0

    before = count()  # counters are per process: other tests count too
    sender.post(AM, fixture("alertmanager/firing.json"))
    sender.post(AM, fixture("alertmanager/firing.json"))
    assert count() == before + 2
    assert 'warroom_ingest_replays_total{source="alertmanager"}' in sender.http.get("/metrics").text


def test_it_refuses_a_revoked_key_at_once_through_the_api(sender: Sender) -> None:
    _, secret = sender.world.act(
        "admin", lambda op: tokens.create(op, holder="admin", access=Access.ADMIN, name="t")
    )
    auth = {"Authorization": f"Bearer {secret}"}
    created = sender.http.post(
        "/api/v1/integrations", json={"source": "generic", "service": "checkout"}, headers=auth
    ).json()
    body = fixture("generic/firing.json")
    assert sender.http.post(created["path"], content=body).status_code == 202
    revoked = sender.http.delete(f"/api/v1/integrations/{created['id']}", headers=auth)
    assert revoked.json()["revoked"] is True
    assert sender.http.post(created["path"], content=body).status_code == 404


def test_it_names_an_integration_for_a_long_service_name_within_the_name_s_length(
    sender: Sender,
) -> None:
    _, secret = sender.world.act(
        "admin", lambda op: tokens.create(op, holder="admin", access=Access.ADMIN, name="t")
    )
    auth = {"Authorization": f"Bearer {secret}"}
    service = "s" * 95  # a valid service name; "generic-" and it is longer than a name
    created = sender.http.post(
        "/api/v1/integrations", json={"source": "generic", "service": service}, headers=auth
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == f"generic-{service}"[:100]
    named = sender.http.post(
        "/api/v1/integrations",
        json={"source": "generic", "service": "checkout", "name": "n" * 101},
        headers=auth,
    )
    assert named.status_code == 422
    assert "name is 1-100 characters" in named.text


def test_it_answers_400_never_500_to_values_a_sender_gets_wrong(sender: Sender) -> None:
    cases = [
        {"summary": "far future", "starts_at": "9999-12-31T23:00:00-05:00"},
        {"summary": "nul \u0000 inside"},
        {"summary": "x", "labels": {"service": ["a", "list"]}},
        [],
        "just a string",
    ]
    for body in cases:
        response = sender.post(GENERIC, json.dumps(body).encode())
        assert response.status_code == 400, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert sender.alerts() == []


def test_it_takes_an_alert_whose_text_spells_a_nul_escape(sender: Sender) -> None:
    # A backslash followed by "u0000" is text, not a NUL: the alert is stored as sent.
    body = json.dumps({"summary": "regex \\u0000 in the log line"}).encode()
    assert b"\\\\u0000" in body
    response = sender.post(GENERIC, body)
    assert response.status_code == 202, response.text
    [alert] = sender.alerts()
    assert alert.summary == "regex \\u0000 in the log line"


def test_it_refuses_a_grafana_timestamp_that_is_no_time(sender: Sender) -> None:
    _, key = sender.world.act(
        "admin",
        lambda op: integrations.create(
            op,
            GRAFANA,
            "checkout",
            "stamped",
            integrations.Options(secret=GRAFANA_SECRET, timestamp_header="X-Stamp"),
        ),
    )
    response = sender.http.post(
        f"/api/v1/ingest/grafana/{key}",
        content=fixture("grafana/firing.json"),
        headers={"X-Grafana-Alerting-Signature": "00", "X-Stamp": "9" * 17},
    )
    assert response.status_code == 401
    assert "not Unix seconds" in response.json()["detail"]
