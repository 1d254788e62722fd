"""One call of Slack's Web API, its outcome sorted: done, worth a retry (a 429 with its
``Retry-After``), an error a fallback may handle, or one only a person can fix."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

# Errors that pass on their own: retried with back-off. Any other ``ok: false`` is something
# only a person can fix (a scope, an archived channel, a guest account…): the caller may
# fall back (a taken name, a channel to join), else the job fails for good at once, so one
# bad call never holds up the incident's later Slack work.
TRANSIENT = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
# Read methods take their arguments as a query, never a JSON body.
READS = frozenset(
    {
        "users.info",
        "users.lookupByEmail",
        "conversations.history",
        "conversations.replies",
        "conversations.list",
    }
)


class Retry(Exception):
    def __init__(self, message: str, after: timedelta | None = None) -> None:
        super().__init__(message)
        self.after = after


class Failed(Exception):
    pass


class Refusal(Exception):
    """Slack answered ``ok: false``: the caller may have a fallback for this error; if it
    has none, the job fails for good."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.error = error


def call(web: WebClient, method: str, **params: Any) -> dict[str, Any]:
    """One Web API call; ``ok: false`` and transport trouble become Retry or Failed."""
    try:
        if method in READS:
            response = web.api_call(method, http_verb="GET", params=params)
        else:
            response = web.api_call(method, json=params)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "")
        if exc.response.status_code == 429:
            seconds = int(exc.response.headers.get("Retry-After", "30") or 30)
            raise Retry(f"{method}: rate limited", timedelta(seconds=seconds)) from None
        if exc.response.status_code >= 500:
            raise Retry(f"{method}: Slack answered {exc.response.status_code}") from None
        if error in TRANSIENT:
            raise Retry(f"{method}: {error}") from None
        raise Refusal(method, error) from None
    except SlackClientError as exc:
        raise Retry(f"{method}: {type(exc).__name__}") from None
    except OSError as exc:
        raise Retry(f"{method}: Slack unreachable ({exc})") from None
    return dict(response.data) if isinstance(response.data, dict) else {}
