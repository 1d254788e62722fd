"""CloudWatch alarms through an SNS HTTPS subscription (integrations.md §4). The alarm is a JSON
string inside the SNS ``Message``; its ARN is the dedup key."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from warroom.domain.alerts import (
    SUMMARY_MAX,
    Malformed,
    Notification,
    Observation,
    Signal,
    Unsigned,
    clip,
)
from warroom.domain.errors import Unavailable
from warroom.ingest.common import bounded_key, instant, load_json
from warroom.ingest.sns import SnsVerifier


def parse_sns(
    sns: SnsVerifier, topics: list[str], body: bytes, headers: Mapping[str, str], now: datetime
) -> Notification:
    """An SNS message, verified; a subscription confirmed; an alarm parsed. ``headers`` have
    lower-case names."""
    if headers.get("x-amz-sns-rawdelivery", "").lower() == "true":
        raise Malformed(
            "SNS raw message delivery carries no signature: disable raw delivery on the "
            "subscription"
        )
    message = load_json(body)
    if not isinstance(message, dict):
        raise Malformed("the body must be an SNS message (a JSON object)")
    sns.verify(message, topics, now)
    kind = message["Type"]
    message_id = str(message.get("MessageId", ""))
    if kind == "SubscriptionConfirmation":
        try:
            sns.confirm(message)
        except Unsigned:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to reach SNS: let it retry
            raise Unavailable(f"confirming the subscription failed: {exc}") from None
        note = f"subscription to {message.get('TopicArn')} confirmed"
        return Notification(message_id, [], ignored=note)
    if kind == "UnsubscribeConfirmation":
        note = f"unsubscribed from {message.get('TopicArn')}; re-subscribe in AWS"
        return Notification(message_id, [], ignored=note)
    return parse_notification(message)


def parse_notification(message: dict[str, Any]) -> Notification:
    message_id = str(message.get("MessageId") or "")
    if not message_id:
        raise Malformed("MessageId is missing from the SNS message")
    try:
        alarm = orjson.loads(str(message.get("Message", "")))
    except orjson.JSONDecodeError:
        alarm = None
    if not isinstance(alarm, dict) or "AlarmArn" not in alarm:
        return Notification(message_id, [], ignored="the SNS message is not a CloudWatch alarm")
    state = alarm.get("NewStateValue")
    arn = alarm.get("AlarmArn")
    name = alarm.get("AlarmName")
    if not isinstance(arn, str) or not isinstance(name, str):
        raise Malformed("the alarm needs AlarmArn and AlarmName")
    if state == "ALARM":
        signal = Signal.FIRE
    elif state == "OK":
        signal = Signal.RESOLVE
    elif state == "INSUFFICIENT_DATA":
        return Notification(message_id, [], ignored="INSUFFICIENT_DATA is recorded, not paged")
    else:
        raise Malformed(f"NewStateValue {state!r} is not ALARM, OK or INSUFFICIENT_DATA")
    changed = instant(alarm.get("StateChangeTime"), "StateChangeTime")
    labels = {"alarm_name": name}
    arn_parts = arn.split(":")
    if len(arn_parts) > 4:
        labels["region"] = arn_parts[3]
        labels["account"] = arn_parts[4]
    trigger = alarm.get("Trigger")
    if isinstance(trigger, dict):
        for field, label in (("Namespace", "namespace"), ("MetricName", "metric")):
            if isinstance(trigger.get(field), str):
                labels[label] = trigger[field]
        for dimension in trigger.get("Dimensions") or []:
            if isinstance(dimension, dict) and isinstance(dimension.get("name"), str):
                labels[dimension["name"]] = str(dimension.get("value", ""))
    description = alarm.get("AlarmDescription")
    reason = alarm.get("NewStateReason")
    summary = description if isinstance(description, str) and description else name
    if isinstance(reason, str) and reason and signal is Signal.FIRE:
        summary = f"{summary}: {reason}"
    region = labels.get("region", "")
    console = (
        f"https://console.aws.amazon.com/cloudwatch/home?region={quote(region)}"
        f"#alarmsV2:alarm/{quote(name, safe='')}"
    )
    return Notification(
        message_id,
        [
            Observation(
                signal=signal,
                key=bounded_key(arn),
                summary=clip(summary, SUMMARY_MAX),
                service=labels.get("service"),
                labels=labels,
                links={"alarm": console},
                starts_at=changed,
                ends_at=changed if signal is Signal.RESOLVE else None,
            )
        ],
    )
