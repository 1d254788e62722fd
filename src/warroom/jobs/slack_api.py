"""One call of Slack's Web API, its outcome sorted: done, worth a retry (a 429 with its
``Retry-After``), an error a fallback may handle, or one only a person can fix."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

# Errors only a person can fix (a scope, an archived channel, a deleted user): not retried.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "restricted_action",
        "invalid_name_specials",
        "invalid_name_punctuation",
        "invalid_name_maxlength",
        "invalid_name_required",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
    }
)


class Retry(Exception):
    def __init__(self, message: str, after: timedelta | None = None) -> None:
        super().__init__(message)
        self.after = after


class Failed(Exception):
    pass


class Refusal(Exception):
    """Slack answered ``ok: false`` with an error worth a retry (or a fallback)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.error = error


def call(web: WebClient, method: str, **params: Any) -> dict[str, Any]:
    """One Web API call; ``ok: false`` and transport trouble become Retry or Failed."""
    try:
        response = web.api_call(method, json=params)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "")
        if exc.response.status_code == 429:
            seconds = int(exc.response.headers.get("Retry-After", "30") or 30)
            raise Retry(f"{method}: rate limited", timedelta(seconds=seconds)) from None
        if error in PERMANENT:
            raise Failed(f"{method}: {error}") from None
        raise Refusal(method, error) from None
    except SlackClientError as exc:
        raise Retry(f"{method}: {type(exc).__name__}") from None
    except OSError as exc:
        raise Retry(f"{method}: Slack unreachable ({exc})") from None
    return dict(response.data) if isinstance(response.data, dict) else {}
