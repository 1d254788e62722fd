"""The paging transports against local fakes of their services: what arrives, and which
failures are permanent (the contact method is failing) or worth a retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from tests.fakes import (
    OpsgenieFake,
    PagerDutyFake,
    SlackFake,
    SmtpSink,
    blackhole,
    unused_port,
)
from warroom.notify import Message, TransportError
from warroom.notify.email import SmtpSettings, message_id, send_email
from warroom.notify.opsgenie import send_opsgenie
from warroom.notify.pagerduty import send_pagerduty
from warroom.notify.slack import send_slack_dm

ACK_URL = "https://warroom.example/ack/tok_123?x=1&y=2"
INCIDENT_URL = "https://warroom.example/incidents/INC-42"

PAGE = Message(
    idempotency_key="delivery-7f3a/attempt-set 1",
    dedup_key="page-INC-42-1",
    event="trigger",
    incident="INC-42",
    title="Checkout error rate above 5%",
    severity="SEV1",
    subject="[SEV1] INC-42: Checkout error rate above 5%",
    text=f"INC-42 is paging you: Checkout error rate above 5%.\nAcknowledge: {ACK_URL}\n",
    ack_url=ACK_URL,
    incident_url=INCIDENT_URL,
    details={"service": "checkout", "region": "eu-west-1"},
)


def page(**changes: Any) -> Message:
    return replace(PAGE, **changes)


def failure(call: Any, *args: Any, **kwargs: Any) -> TransportError:
    with pytest.raises(TransportError) as caught:
        call(*args, **kwargs)
    return caught.value


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with SlackFake() as fake:
        yield fake


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyFake]:
    with PagerDutyFake() as fake:
        yield fake


@pytest.fixture
def opsgenie() -> Iterator[OpsgenieFake]:
    with OpsgenieFake() as fake:
        yield fake


# --------------------------------------------------------------------------------------
# E-mail


def test_it_mails_the_page_with_a_stable_message_id(smtp: SmtpSink) -> None:
    settings = smtp.settings(sender="pager@warroom.example")
    send_email(settings, "oncall@example.com", PAGE)
    send_email(settings, "oncall@example.com", PAGE)  # a retry of the same delivery

    first, second = smtp.wait_for(2)
    assert first.rcpt_tos == ("oncall@example.com",)
    assert first.mail_from == "pager@warroom.example"
    mail = first.message
    assert mail["Message-ID"] == "<delivery-7f3a/attempt-set%201@warroom>"
    assert second.message["Message-ID"] == mail["Message-ID"]
    assert mail["Subject"] == PAGE.subject
    assert mail["From"] == "pager@warroom.example"
    assert mail["To"] == "oncall@example.com"
    assert mail["X-Warroom-Incident"] == "INC-42"
    assert mail["Date"]
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    assert mail.get_content() == PAGE.text
    assert first.login is None


def test_it_keeps_non_ascii_subjects_and_bodies_intact(smtp: SmtpSink) -> None:
    message = page(subject="[SEV2] INC-7: Zahlungsdienst gestört ⚠", text="Dépôt lent — 🔥\n")
    send_email(smtp.settings(), "oncall@example.com", message)
    (mail,) = smtp.wait_for(1)
    assert mail.message["Subject"] == message.subject
    assert mail.message.get_content() == message.text


def test_it_makes_any_idempotency_key_a_valid_distinct_message_id() -> None:
    assert message_id("abc.def") == "<abc.def@warroom>"
    assert message_id("a@b<c>") == "<a%40b%3Cc%3E@warroom>"
    assert message_id(".lead..dots.") == "<%2Elead%2E%2Edots%2E@warroom>"
    assert message_id("a b") != message_id("a_b")
    assert message_id("") == "<%@warroom>"


def test_it_flattens_a_subject_with_line_breaks(smtp: SmtpSink) -> None:
    send_email(smtp.settings(), "oncall@example.com", page(subject="one\r\nBcc: evil@x"))
    (mail,) = smtp.wait_for(1)
    assert mail.message["Subject"] == "one Bcc: evil@x"
    assert mail.message["Bcc"] is None


def test_it_logs_in_when_the_relay_needs_credentials() -> None:
    with SmtpSink(credentials=("warroom", "s3cret")) as sink:
        send_email(sink.settings(username="warroom", password="s3cret"), "a@example.com", PAGE)
        (mail,) = sink.wait_for(1)
    assert mail.login == "warroom"


def test_it_blames_warroom_not_the_recipient_for_rejected_credentials() -> None:
    with SmtpSink(credentials=("warroom", "s3cret")) as sink:
        settings = sink.settings(username="warroom", password="wrong")
        error = failure(send_email, settings, "oncall@example.com", PAGE)
        assert sink.received == []
    assert not error.permanent
    assert "credentials" in str(error)
    assert "configuration" in str(error)
    assert "wrong" not in str(error)


def test_it_treats_a_recipient_refused_with_5xx_as_permanent(smtp: SmtpSink) -> None:
    smtp.refuse("gone@example.com", 550)
    error = failure(send_email, smtp.settings(), "gone@example.com", PAGE)
    assert error.permanent
    assert "550" in str(error)
    assert "gone@example.com" in str(error)
    assert smtp.received == []


def test_it_retries_a_recipient_deferred_with_4xx(smtp: SmtpSink) -> None:
    smtp.refuse("busy@example.com", 451)
    error = failure(send_email, smtp.settings(), "busy@example.com", PAGE)
    assert not error.permanent
    assert "451" in str(error)


def test_it_retries_when_the_relay_is_down() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=unused_port(), timeout=1.0)
    error = failure(send_email, settings, "oncall@example.com", PAGE)
    assert not error.permanent
    assert "unreachable" in str(error)


def test_it_retries_when_the_relay_never_answers() -> None:
    with blackhole() as port:
        started = time.monotonic()
        settings = SmtpSettings(host="127.0.0.1", port=port, timeout=0.3)
        error = failure(send_email, settings, "oncall@example.com", PAGE)
    assert not error.permanent
    assert time.monotonic() - started < 5


def test_it_retries_when_starttls_is_configured_but_not_offered(smtp: SmtpSink) -> None:
    error = failure(send_email, smtp.settings(security="starttls"), "a@example.com", PAGE)
    assert not error.permanent
    assert "configuration" in str(error)
    assert smtp.received == []


@pytest.mark.parametrize(
    "address", ["", "oncall", "@example.com", "oncall@", "a@b@example.com", "a b@example.com"]
)
def test_it_refuses_what_is_not_an_address_permanently(smtp: SmtpSink, address: str) -> None:
    error = failure(send_email, smtp.settings(), address, PAGE)
    assert error.permanent
    assert smtp.received == []


# --------------------------------------------------------------------------------------
# Slack


def test_it_opens_a_dm_then_posts_the_page_into_it(slack: SlackFake) -> None:
    send_slack_dm(slack.token, "U123", PAGE, base_url=slack.base_url)

    opened, posted = slack.calls
    assert opened.method == "conversations.open"
    assert opened.params["users"] == "U123"
    assert posted.method == "chat.postMessage"
    params = posted.params
    assert params["channel"] == "DU123"
    assert params["text"] == PAGE.text.replace("&", "&amp;")
    assert params["unfurl_links"] is False
    assert params["unfurl_media"] is False
    header, section, actions = params["blocks"]
    assert header["text"]["text"] == PAGE.subject
    assert section["text"] == {"type": "plain_text", "text": PAGE.text}
    (button,) = actions["elements"]
    assert button["type"] == "button"
    assert button["url"] == ACK_URL
    assert slack.posted == [params]


def test_it_posts_no_button_without_an_acknowledge_link(slack: SlackFake) -> None:
    send_slack_dm(slack.token, "U123", page(ack_url=None), base_url=slack.base_url)
    (posted,) = slack.posted
    assert [block["type"] for block in posted["blocks"]] == ["header", "section"]


def test_it_escapes_slack_control_sequences_in_the_text(slack: SlackFake) -> None:
    message = page(text="Disk <!channel> full & <https://evil|click>", ack_url=None)
    send_slack_dm(slack.token, "U123", message, base_url=slack.base_url)
    (posted,) = slack.posted
    assert posted["text"] == "Disk &lt;!channel&gt; full &amp; &lt;https://evil|click&gt;"


def test_it_truncates_long_texts_to_what_blocks_accept(slack: SlackFake) -> None:
    message = page(subject="S" * 400, text="x" * 5000)
    send_slack_dm(slack.token, "U123", message, base_url=slack.base_url)
    (posted,) = slack.posted
    header, section, _ = posted["blocks"]
    assert len(header["text"]["text"]) == 150
    assert len(section["text"]["text"]) == 3000
    assert section["text"]["text"].endswith("…")
    assert posted["text"] == "x" * 5000  # the fallback keeps everything


@pytest.mark.parametrize("error", ["user_not_found", "user_disabled", "cannot_dm_bot"])
def test_it_treats_an_unknown_or_unreachable_user_as_permanent(
    slack: SlackFake, error: str
) -> None:
    slack.fail("U404", error)
    failed = failure(send_slack_dm, slack.token, "U404", PAGE, base_url=slack.base_url)
    assert failed.permanent
    assert error in str(failed)
    assert slack.posted == []


def test_it_treats_an_archived_dm_as_permanent(slack: SlackFake) -> None:
    slack.fail("U123", "is_archived", method="chat.postMessage")
    failed = failure(send_slack_dm, slack.token, "U123", PAGE, base_url=slack.base_url)
    assert failed.permanent
    assert "chat.postMessage" in str(failed)


def test_it_retries_when_rate_limited_without_sleeping(slack: SlackFake) -> None:
    slack.ratelimit(1, retry_after=30)
    started = time.monotonic()
    failed = failure(send_slack_dm, slack.token, "U123", PAGE, base_url=slack.base_url)
    assert time.monotonic() - started < 5
    assert not failed.permanent
    assert "rate limited" in str(failed)
    assert "30" in str(failed)
    assert len(slack.requests) == 1  # the SDK did not retry on its own
    send_slack_dm(slack.token, "U123", PAGE, base_url=slack.base_url)
    assert len(slack.posted) == 1


def test_it_retries_a_bad_token_and_never_reveals_it(slack: SlackFake) -> None:
    token = "xoxb-wrong-0123456789"
    failed = failure(send_slack_dm, token, "U123", PAGE, base_url=slack.base_url)
    assert not failed.permanent
    assert "invalid_auth" in str(failed)
    assert token not in str(failed)
    assert token not in repr(failed.args)


def test_it_retries_a_server_error(slack: SlackFake) -> None:
    slack.fail_next(503)
    failed = failure(send_slack_dm, slack.token, "U123", PAGE, base_url=slack.base_url)
    assert not failed.permanent


def test_it_retries_when_slack_is_down_without_a_hidden_retry() -> None:
    base_url = f"http://127.0.0.1:{unused_port()}/api/"
    started = time.monotonic()
    failed = failure(send_slack_dm, SlackFake.TOKEN, "U123", PAGE, base_url=base_url)
    assert time.monotonic() - started < 2
    assert not failed.permanent
    assert "unreachable" in str(failed)
    assert SlackFake.TOKEN not in str(failed)


def test_it_refuses_an_empty_user_id_permanently(slack: SlackFake) -> None:
    failed = failure(send_slack_dm, slack.token, " ", PAGE, base_url=slack.base_url)
    assert failed.permanent
    assert slack.requests == []


# --------------------------------------------------------------------------------------
# PagerDuty


def test_it_triggers_a_pagerduty_alert_with_the_documented_shape(
    pagerduty: PagerDutyFake,
) -> None:
    send_pagerduty(PagerDutyFake.ROUTING_KEY, PAGE, url=pagerduty.url)

    (event,) = pagerduty.events
    assert event == {
        "routing_key": PagerDutyFake.ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "page-INC-42-1",
        "payload": {
            "summary": PAGE.subject,
            "source": "warroom",
            "severity": "critical",
            "custom_details": {
                "incident": "INC-42",
                "title": PAGE.title,
                "severity": "SEV1",
                "service": "checkout",
                "region": "eu-west-1",
            },
        },
        "client": "warroom",
        "client_url": INCIDENT_URL,
        "links": [{"href": ACK_URL, "text": "Acknowledge in warroom"}],
    }
    (request,) = pagerduty.requests
    assert request.headers["content-type"] == "application/json"
    assert pagerduty.alerts == {"page-INC-42-1": "triggered"}


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("SEV0", "critical"),
        ("SEV1", "critical"),
        ("SEV2", "error"),
        ("SEV3", "warning"),
        (None, "error"),
    ],
)
def test_it_maps_severities_to_pagerduty_severities(
    pagerduty: PagerDutyFake, severity: str | None, expected: str
) -> None:
    send_pagerduty(PagerDutyFake.ROUTING_KEY, page(severity=severity), url=pagerduty.url)
    (event,) = pagerduty.events
    assert event["payload"]["severity"] == expected


def test_it_leaves_out_links_pagerduty_has_no_use_for(pagerduty: PagerDutyFake) -> None:
    message = page(ack_url=None, incident_url=None, details={})
    send_pagerduty(PagerDutyFake.ROUTING_KEY, message, url=pagerduty.url)
    (event,) = pagerduty.events
    assert "links" not in event
    assert "client_url" not in event


def test_it_acknowledges_and_resolves_the_same_pagerduty_alert(pagerduty: PagerDutyFake) -> None:
    key = PagerDutyFake.ROUTING_KEY
    send_pagerduty(key, PAGE, url=pagerduty.url)
    send_pagerduty(key, page(event="acknowledge"), url=pagerduty.url)
    assert pagerduty.alerts == {"page-INC-42-1": "acknowledged"}
    send_pagerduty(key, page(event="resolve"), url=pagerduty.url)

    _, acknowledge, resolve = pagerduty.events
    assert acknowledge == {
        "routing_key": key,
        "event_action": "acknowledge",
        "dedup_key": "page-INC-42-1",
    }
    assert resolve == {"routing_key": key, "event_action": "resolve", "dedup_key": "page-INC-42-1"}
    assert pagerduty.alerts == {"page-INC-42-1": "resolved"}


def test_it_truncates_the_pagerduty_summary_and_keeps_long_dedup_keys_stable(
    pagerduty: PagerDutyFake,
) -> None:
    long_key = "k" * 300
    message = page(subject="s" * 2000, dedup_key=long_key)
    send_pagerduty(PagerDutyFake.ROUTING_KEY, message, url=pagerduty.url)
    send_pagerduty(
        PagerDutyFake.ROUTING_KEY, page(event="resolve", dedup_key=long_key), url=pagerduty.url
    )

    trigger, resolve = pagerduty.events
    assert len(trigger["payload"]["summary"]) == 1024
    assert trigger["payload"]["summary"].endswith("…")
    assert len(trigger["dedup_key"]) <= 255
    assert resolve["dedup_key"] == trigger["dedup_key"]
    assert set(pagerduty.alerts.values()) == {"resolved"}


def test_it_treats_an_unknown_routing_key_as_permanent(pagerduty: PagerDutyFake) -> None:
    error = failure(send_pagerduty, "not-a-routing-key", PAGE, url=pagerduty.url)
    assert error.permanent
    assert "PagerDuty" in str(error)
    assert "400" in str(error)
    assert pagerduty.events == []


def test_it_retries_when_pagerduty_throttles(pagerduty: PagerDutyFake) -> None:
    pagerduty.throttle(1)
    error = failure(send_pagerduty, PagerDutyFake.ROUTING_KEY, PAGE, url=pagerduty.url)
    assert not error.permanent
    assert "PagerDuty" in str(error)
    assert "429" in str(error)
    send_pagerduty(PagerDutyFake.ROUTING_KEY, PAGE, url=pagerduty.url)
    assert len(pagerduty.events) == 1


def test_it_retries_a_pagerduty_server_error(pagerduty: PagerDutyFake) -> None:
    pagerduty.fail_next(502)
    error = failure(send_pagerduty, PagerDutyFake.ROUTING_KEY, PAGE, url=pagerduty.url)
    assert not error.permanent


def test_it_retries_when_pagerduty_is_down() -> None:
    url = f"http://127.0.0.1:{unused_port()}/v2/enqueue"
    error = failure(send_pagerduty, PagerDutyFake.ROUTING_KEY, PAGE, url=url)
    assert not error.permanent
    assert "PagerDuty" in str(error)


def test_it_does_not_take_another_success_status_for_pagerduty_acceptance(
    pagerduty: PagerDutyFake,
) -> None:
    pagerduty.fail_next(200)
    error = failure(send_pagerduty, PagerDutyFake.ROUTING_KEY, PAGE, url=pagerduty.url)
    assert not error.permanent
    assert "expected 202" in str(error)


# --------------------------------------------------------------------------------------
# Opsgenie


def test_it_creates_an_opsgenie_alert_aliased_by_the_page(opsgenie: OpsgenieFake) -> None:
    send_opsgenie(OpsgenieFake.API_KEY, PAGE, base_url=opsgenie.base_url)

    (call,) = opsgenie.calls
    assert call.action == "create"
    assert call.body == {
        "message": PAGE.subject,
        "alias": "page-INC-42-1",
        "description": PAGE.text,
        "priority": "P2",
        "source": "warroom",
        "details": {
            "incident": "INC-42",
            "title": PAGE.title,
            "severity": "SEV1",
            "ack_url": ACK_URL,
            "incident_url": INCIDENT_URL,
            "service": "checkout",
            "region": "eu-west-1",
        },
        "tags": ["warroom", "SEV1"],
    }
    (request,) = opsgenie.requests
    assert request.path == "/v2/alerts"
    assert request.headers["authorization"] == f"GenieKey {OpsgenieFake.API_KEY}"
    assert opsgenie.alerts == {"page-INC-42-1": "open"}


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("SEV0", "P1"), ("SEV1", "P2"), ("SEV2", "P3"), ("SEV3", "P4"), (None, "P3")],
)
def test_it_maps_severities_to_opsgenie_priorities(
    opsgenie: OpsgenieFake, severity: str | None, expected: str
) -> None:
    send_opsgenie(OpsgenieFake.API_KEY, page(severity=severity), base_url=opsgenie.base_url)
    (call,) = opsgenie.calls
    assert call.body["priority"] == expected
    assert call.body["tags"] == ["warroom", *([severity] if severity else [])]


def test_it_acknowledges_and_closes_the_opsgenie_alert_by_alias(opsgenie: OpsgenieFake) -> None:
    dedup_key = "page/INC 42?#1"  # needs quoting in the path
    send_opsgenie(OpsgenieFake.API_KEY, page(dedup_key=dedup_key), base_url=opsgenie.base_url)
    send_opsgenie(
        OpsgenieFake.API_KEY,
        page(dedup_key=dedup_key, event="acknowledge"),
        base_url=opsgenie.base_url,
    )
    assert opsgenie.alerts == {dedup_key: "acknowledged"}
    send_opsgenie(
        OpsgenieFake.API_KEY, page(dedup_key=dedup_key, event="resolve"), base_url=opsgenie.base_url
    )

    _, acknowledge, close = opsgenie.calls
    assert (acknowledge.action, acknowledge.identifier, acknowledge.identifier_type) == (
        "acknowledge",
        dedup_key,
        "alias",
    )
    assert acknowledge.body["source"] == "warroom"
    assert "INC-42" in acknowledge.body["note"]
    assert (close.action, close.identifier, close.identifier_type) == ("close", dedup_key, "alias")
    assert set(close.body) == {"source", "note"}
    assert opsgenie.alerts == {dedup_key: "closed"}


def test_it_truncates_opsgenie_fields_to_their_limits(opsgenie: OpsgenieFake) -> None:
    message = page(subject="m" * 500, text="d" * 20000, dedup_key="a" * 600)
    send_opsgenie(OpsgenieFake.API_KEY, message, base_url=opsgenie.base_url)
    send_opsgenie(
        OpsgenieFake.API_KEY, replace(message, event="resolve"), base_url=opsgenie.base_url
    )

    create, close = opsgenie.calls
    assert len(create.body["message"]) == 130
    assert create.body["message"].endswith("…")
    assert len(create.body["description"]) == 15000
    assert len(create.body["alias"]) <= 512
    assert close.identifier == create.body["alias"]
    assert set(opsgenie.alerts.values()) == {"closed"}


@pytest.mark.parametrize("status", [401, 403, 422])
def test_it_treats_opsgenie_refusals_as_permanent(opsgenie: OpsgenieFake, status: int) -> None:
    opsgenie.fail_next(status)
    error = failure(send_opsgenie, OpsgenieFake.API_KEY, PAGE, base_url=opsgenie.base_url)
    assert error.permanent
    assert "Opsgenie" in str(error)
    assert str(status) in str(error)


def test_it_treats_a_wrong_genie_key_as_permanent_and_never_reveals_it(
    opsgenie: OpsgenieFake,
) -> None:
    key = "11111111-2222-4333-8444-555555555555"
    error = failure(send_opsgenie, key, PAGE, base_url=opsgenie.base_url)
    assert error.permanent
    assert "401" in str(error)
    assert key not in str(error)
    assert opsgenie.calls == []


@pytest.mark.parametrize("status", [429, 500, 503])
def test_it_retries_opsgenie_throttling_and_server_errors(
    opsgenie: OpsgenieFake, status: int
) -> None:
    opsgenie.fail_next(status)
    error = failure(send_opsgenie, OpsgenieFake.API_KEY, PAGE, base_url=opsgenie.base_url)
    assert not error.permanent
    assert "Opsgenie" in str(error)


def test_it_retries_after_opsgenie_throttles(opsgenie: OpsgenieFake) -> None:
    opsgenie.throttle(1)
    failure(send_opsgenie, OpsgenieFake.API_KEY, PAGE, base_url=opsgenie.base_url)
    send_opsgenie(OpsgenieFake.API_KEY, PAGE, base_url=opsgenie.base_url)
    assert opsgenie.alerts == {"page-INC-42-1": "open"}


def test_it_retries_when_opsgenie_is_down() -> None:
    base_url = f"http://127.0.0.1:{unused_port()}"
    error = failure(send_opsgenie, OpsgenieFake.API_KEY, PAGE, base_url=base_url)
    assert not error.permanent
    assert "Opsgenie" in str(error)


# --------------------------------------------------------------------------------------
# Webhooks


def test_it_keeps_a_webhook_path_out_of_its_failure() -> None:
    """A failure is stored where viewers read it (a contact's reason, the timeline, a page's
    deliveries): a chat tool's incoming webhook keeps its secret in the path."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from warroom.notify import http

    class Gone(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gone)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        error = failure(http.post, f"{origin}/services/T0/B0/s3cr3t", content=b"{}", headers={})
    finally:
        server.shutdown()
        server.server_close()
    assert str(error) == f"HTTP 404 from {origin}/…"
    assert error.permanent
