"""Slack direct messages through the official SDK: open the DM, then post into it.

The SDK's retry handlers are switched off: a retry (and honouring ``Retry-After``) is the
outbox's job, a send never sleeps. The bot token never appears in an error.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from warroom.notify import Message, TransportError

TIMEOUT_SECONDS = 10

# Errors about the recipient (the user, or the DM with them): retrying never helps until
# the contact method itself is changed. Anything else is warroom's side (token, scopes,
# workspace settings) or Slack's, and worth a retry once fixed.
RECIPIENT_ERRORS = frozenset(
    {
        "user_not_found",
        "users_not_found",
        "user_not_visible",
        "user_disabled",
        "channel_not_found",
        "cannot_dm_bot",
        "is_archived",
        "not_in_channel",
    }
)

SECTION_LIMIT = 3000  # characters of a Block Kit section's text
HEADER_LIMIT = 150
URL_LIMIT = 3000


def escape(text: str) -> str:
    """Slack's control characters, so an alert title cannot smuggle in ``<!channel>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _body(message: Message) -> str:
    """Slack refuses an empty text (and the SDK warns about it)."""
    if message.text.strip():
        return message.text
    return message.subject.strip() or message.incident


def blocks(message: Message, *, interactive: bool = False) -> list[dict[str, Any]]:
    """A header, the text, and a button to acknowledge: handled by warroom's Slack app when
    it is set up (``interactive``), else a link to the signed acknowledgement page."""
    header = " ".join(message.subject.split()) or message.incident
    result: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(header, HEADER_LIMIT)}},
        {
            "type": "section",
            "text": {"type": "plain_text", "text": _cut(_body(message), SECTION_LIMIT)},
        },
    ]
    if interactive and message.event == "trigger":
        result.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "warroom_acknowledge",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "style": "primary",
                        "value": message.dedup_key,
                    }
                ],
            }
        )
    elif message.ack_url and len(message.ack_url) <= URL_LIMIT:
        result.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        # A link: the signed page acknowledges, not the Slack app.
                        "action_id": "warroom_acknowledge_link",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "style": "primary",
                        "url": message.ack_url,
                    }
                ],
            }
        )
    return result


def _api_error(step: str, exc: SlackApiError) -> TransportError:
    response = exc.response
    status = getattr(response, "status_code", None)
    try:
        error = str(response.get("error") or "unknown_error")
    except (AttributeError, ValueError):
        error = "unknown_error"
    if status == 429 or error == "ratelimited":
        headers = getattr(response, "headers", None) or {}
        retry_after = headers.get("Retry-After") or headers.get("retry-after")
        hint = f", retry after {retry_after}s" if retry_after else ""
        return TransportError(f"Slack {step}: rate limited{hint}", permanent=False)
    return TransportError(f"Slack {step}: {error}", permanent=error in RECIPIENT_ERRORS)


def _call(step: str, request: Callable[[], SlackResponse]) -> dict[str, Any]:
    try:
        response = request()
    except SlackApiError as exc:
        raise _api_error(step, exc) from None
    except SlackClientError as exc:
        raise TransportError(f"Slack {step}: {type(exc).__name__}", permanent=False) from None
    except (OSError, http.client.HTTPException) as exc:
        # URLError, timeouts, resets: the text of these never holds the request headers.
        raise TransportError(
            f"Slack {step} unreachable: {type(exc).__name__}: {exc}", permanent=False
        ) from None
    data = response.data
    if not isinstance(data, dict):
        raise TransportError(f"Slack {step}: unexpected response", permanent=False)
    return data


def web_client(token: str, base_url: str | None, *, timeout: float = TIMEOUT_SECONDS) -> WebClient:
    """A Web API client with the SDK's retries off: retrying is the outbox's job."""
    return WebClient(
        token=token,
        base_url=base_url or WebClient.BASE_URL,
        timeout=int(timeout) or 1,
        retry_handlers=[],
    )


def send_slack_dm(
    token: str,
    user_id: str,
    message: Message,
    *,
    base_url: str | None = None,
    interactive: bool = False,
) -> None:
    if not user_id.strip():
        raise TransportError("no Slack user id", permanent=True)
    client = web_client(token, base_url)
    user = user_id.strip()
    opened = _call("conversations.open", lambda: client.conversations_open(users=[user]))
    channel = opened.get("channel")
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    if not isinstance(channel_id, str) or not channel_id:
        raise TransportError("Slack conversations.open: no channel in the answer", permanent=False)
    _call(
        "chat.postMessage",
        lambda: client.chat_postMessage(
            channel=channel_id,
            text=escape(_body(message)),
            blocks=blocks(message, interactive=interactive),
            unfurl_links=False,
            unfurl_media=False,
        ),
    )
