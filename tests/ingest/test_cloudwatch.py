"""CloudWatch alarms through SNS: messages the test signs with its own key and certificate,
verified as SNS messages are (SignatureVersion 1 and 2, certificate host, topic allowlist)."""

from __future__ import annotations

import json

from tests.ingest.conftest import Sender, fixture
from warroom.domain.alerts import AlertSource

CLOUDWATCH = AlertSource.CLOUDWATCH


def test_it_confirms_an_sns_subscription_after_checking_its_signature(sender: Sender) -> None:
    response = sender.sns("subscription-confirmation.json")
    assert response.status_code == 202, response.text
    assert "confirmed" in response.json()["detail"]
    subscribe = json.loads(fixture("cloudwatch/subscription-confirmation.json"))["SubscribeURL"]
    assert subscribe in sender.signer.fetched


def test_it_opens_an_incident_from_a_cloudwatch_alarm_signed_with_either_version(
    sender: Sender,
) -> None:
    assert sender.sns("alarm.json", version="2").status_code == 202
    assert sender.sns("alarm.json", version="1").json()["replay"] is True  # same MessageId
    sender.group()
    [alert] = sender.alerts()
    assert alert.dedup_key == "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:api-5xx"
    assert alert.labels["region"] == "eu-west-1"
    assert alert.labels["LoadBalancer"] == "app/checkout/50dc6c495c0c9188"
    assert alert.starts_at.isoformat() == "2026-03-02T09:56:00.512000+00:00"
    [incident] = sender.incidents()
    assert incident.title.startswith("Checkout API 5xx above 50 per minute: Threshold Crossed")


def test_it_resolves_a_cloudwatch_alarm_on_ok(sender: Sender) -> None:
    sender.sns("alarm.json")
    sender.group()
    assert sender.sns("ok.json").status_code == 202
    sender.group()
    [alert] = sender.alerts()
    assert alert.status.value == "resolved"


def test_it_drops_an_alarm_that_arrives_after_its_own_recovery(sender: Sender) -> None:
    """SNS retries can reorder: the OK is newer than the ALARM, so the late ALARM opens
    nothing."""
    sender.sns("ok.json")
    sender.sns("alarm.json")
    sender.group()
    assert [a.status.value for a in sender.alerts()] == ["resolved"]
    assert sender.incidents() == []


def test_it_records_insufficient_data_without_paging(sender: Sender) -> None:
    response = sender.sns("insufficient-data.json")
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert sender.alerts() == []


def test_it_refuses_a_malformed_cloudwatch_alarm(sender: Sender) -> None:
    response = sender.sns("malformed.json")
    assert response.status_code == 400
    assert "NewStateValue 'BROKEN'" in response.json()["detail"]


def test_it_refuses_an_sns_message_with_a_bad_signature(sender: Sender) -> None:
    body = json.loads(sender.signer.sign(json.loads(fixture("cloudwatch/alarm.json"))))
    body["Message"] = body["Message"].replace("api-5xx", "api-6xx")  # tampered after signing
    response = sender.post(CLOUDWATCH, json.dumps(body).encode())
    assert response.status_code == 401
    assert response.json()["detail"] == "the SNS signature does not match the message"
    assert sender.alerts() == []


def test_it_refuses_a_certificate_url_off_snss_hosts(sender: Sender) -> None:
    for url in (
        "https://s3.amazonaws.com/bucket/SimpleNotificationService-x.pem",
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.test/SimpleNotificationService-x.pem",
        "https://user@sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
    ):
        response = sender.sns("alarm.json", SigningCertURL=url)
        assert response.status_code == 401, url
        assert "not an https URL on an SNS host" in response.json()["detail"]
    assert sender.signer.fetched == []


def test_it_refuses_a_topic_outside_the_allowlist_and_stale_or_raw_messages(
    sender: Sender,
) -> None:
    other = sender.sns("alarm.json", TopicArn="arn:aws:sns:eu-west-1:444455556666:other")
    assert other.status_code == 401
    assert "is not allowed for this integration" in other.json()["detail"]
    stale = sender.sns("alarm.json", Timestamp="2026-03-02T08:30:00.000Z")
    assert stale.status_code == 401
    assert "older than SNS's one-hour retry window" in stale.json()["detail"]
    raw = sender.post(
        CLOUDWATCH, fixture("cloudwatch/alarm.json"), {"x-amz-sns-rawdelivery": "true"}
    )
    assert raw.status_code == 400
    assert "disable raw delivery" in raw.json()["detail"]
    assert sender.alerts() == []
