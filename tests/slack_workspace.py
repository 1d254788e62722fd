"""A Slack workspace on loopback: the Web API methods warroom calls (integrations.md §7e),
with Slack's rules and error codes, plus the ``response_url`` endpoints of slash commands.

Channels, their members, topics, messages and pins are kept so a test can look at the
channel as a person would. ``calls`` records every method call that passed the token check.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.fakes import Answer, HttpCall, SlackCall, _HttpFake, _valid_blocks

NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
READS = frozenset(
    {
        "users.info",
        "users.lookupByEmail",
        "conversations.history",
        "conversations.replies",
        "conversations.list",
    }
)


@dataclass
class Channel:
    id: str
    name: str
    creator: str
    topic: str = ""
    members: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)
    archived: bool = False
    is_im: bool = False

    def message(self, ts: str) -> dict[str, Any] | None:
        found = [m for m in self.messages if m["ts"] == ts]
        for m in self.messages:
            found += [r for r in m.get("replies", []) if r["ts"] == ts]
        return found[0] if found else None


class SlackWorkspace(_HttpFake):
    TOKEN = "xoxb-warroom-test-token"
    BOT = "UWARROOMBOT"
    TEAM = "T0WARROOM"

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, Channel] = {}
        self.views: list[dict[str, Any]] = []
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self._calls: list[SlackCall] = []
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._failures: dict[str, list[str]] = {}
        self._lose_create_answer = False
        self.add_channel("general", "C0GENERAL")

    # -- set-up ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/"

    def response_url(self, key: str) -> str:
        return f"{self.origin}/response/{key}"

    def add_user(self, user_id: str, name: str, email: str | None = None) -> None:
        with self._lock:
            self.users[user_id] = {"id": user_id, "name": name, "profile": {"email": email}}

    def add_channel(self, name: str, channel_id: str) -> Channel:
        channel = Channel(channel_id, name, creator="U0ADMIN")
        channel.members.add(self.BOT)
        with self._lock:
            self.channels[channel_id] = channel
        return channel

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``ok: false`` with ``error``."""
        with self._lock:
            self._failures.setdefault(method, []).extend([error] * times)

    def lose_next_create_answer(self) -> None:
        """The next conversations.create makes the channel, then answers 503 (the answer
        lost on the way, as far as the caller can tell)."""
        with self._lock:
            self._lose_create_answer = True

    def ratelimit(self, n: int = 1, retry_after: int = 1) -> None:
        self.fail_next(429, n, headers={"Retry-After": str(retry_after)})

    # -- looking ----------------------------------------------------------------------------

    @property
    def calls(self) -> list[SlackCall]:
        with self._lock:
            return list(self._calls)

    def named(self, name: str) -> Channel:
        with self._lock:
            return next(c for c in self.channels.values() if c.name == name)

    def called(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    # -- the API ------------------------------------------------------------------------------

    def _error_body(self, status: int) -> Any:
        if status == 429:
            return {"ok": False, "error": "ratelimited"}
        return {"ok": False, "error": f"http_{status}"}

    def _answer(self, call: HttpCall, raw_path: str) -> Answer:
        if call.path.startswith("/response/"):
            return self._respond(call)
        if call.method not in ("GET", "POST") or not call.path.startswith("/api/"):
            return Answer(404, {"ok": False, "error": "unknown_method"})
        method = call.path.removeprefix("/api/")
        authorization = call.headers.get("authorization", "")
        if authorization != f"Bearer {self.token}":
            return Answer(
                200, {"ok": False, "error": "invalid_auth" if authorization else "not_authed"}
            )
        params = _params(call)
        if method in READS:
            # Slack's read methods take a query or a form, and ignore a JSON body.
            params = dict(call.query) | ({} if _is_json(call) else params)
        with self._lock:
            self._calls.append(SlackCall(method, params))
            scripted = self._failures.get(method)
            if scripted:
                return Answer(200, {"ok": False, "error": scripted.pop(0)})
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                return Answer(200, {"ok": False, "error": "unknown_method"})
            answer = handler(params)
            if method == "conversations.create" and self._lose_create_answer:
                self._lose_create_answer = False
                return Answer(503, {"ok": False, "error": "service_unavailable"})
            return Answer(200, answer)

    def _respond(self, call: HttpCall) -> Answer:
        key = call.path.removeprefix("/response/")
        with self._lock:
            self.responses.setdefault(key, []).append(call.json())
        return Answer(200, "ok")

    def _auth_test(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": self.BOT, "bot_id": "B0WARROOM", "team_id": self.TEAM}

    def _channel(self, params: dict[str, Any]) -> Channel | dict[str, Any]:
        channel = self.channels.get(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.archived:
            return {"ok": False, "error": "is_archived"}
        return channel

    def _conversations_create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params.get("name") or "")
        if not name:
            return {"ok": False, "error": "invalid_name_required"}
        if len(name) > 80:
            return {"ok": False, "error": "invalid_name_maxlength"}
        if not NAME.fullmatch(name):
            return {"ok": False, "error": "invalid_name_specials"}
        if any(c.name == name for c in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        channel = Channel(f"C{next(self._ids):08d}", name, creator=self.BOT)
        channel.members.add(self.BOT)
        self.channels[channel.id] = channel
        return {"ok": True, "channel": {"id": channel.id, "name": name}}

    def _conversations_invite(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if isinstance(channel, dict):
            return channel
        if self.BOT not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if not users:
            return {"ok": False, "error": "no_user"}
        for user in users:
            if user == self.BOT:
                return {"ok": False, "error": "cant_invite_self"}
            if user not in self.users:
                return {"ok": False, "error": "user_not_found"}
        if all(u in channel.members for u in users):
            return {"ok": False, "error": "already_in_channel"}
        channel.members.update(users)
        return {"ok": True, "channel": {"id": channel.id}}

    def _conversations_setTopic(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if isinstance(channel, dict):
            return channel
        if self.BOT not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        topic = str(params.get("topic") or "")
        if len(topic) > 250:
            return {"ok": False, "error": "too_long"}
        channel.topic = topic
        return {"ok": True, "topic": topic}

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if isinstance(channel, dict):
            return channel
        channel.members.add(self.BOT)
        return {"ok": True, "channel": {"id": channel.id}}

    def _conversations_archive(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if isinstance(channel, dict):
            return channel
        channel.archived = True
        return {"ok": True}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if any(u not in self.users for u in users):
            return {"ok": False, "error": "user_not_found"}
        channel_id = f"D{users[0]}"
        if channel_id not in self.channels:
            dm = Channel(channel_id, channel_id, creator=self.BOT, is_im=True)
            dm.members.update({self.BOT, users[0]})
            self.channels[channel_id] = dm
        return {"ok": True, "channel": {"id": channel_id}}

    def _conversations_list(self, _params: dict[str, Any]) -> dict[str, Any]:
        found = [
            {"id": c.id, "name": c.name, "creator": c.creator, "is_archived": c.archived}
            for c in self.channels.values()
            if not c.is_im and not c.archived
        ]
        return {"ok": True, "channels": found, "response_metadata": {"next_cursor": ""}}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if isinstance(channel, dict):
            return channel
        ts = str(params.get("ts") or "")
        for message in channel.messages:
            thread = [message, *message.get("replies", [])]
            if any(m["ts"] == ts for m in thread):
                return {"ok": True, "messages": thread}
        return {"ok": False, "error": "thread_not_found"}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if isinstance(channel, dict):
            return channel
        latest = str(params.get("latest") or "")
        found = [m for m in channel.messages if not latest or m["ts"] == latest]
        return {"ok": True, "messages": found[-1:] if latest else found}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if isinstance(channel, dict):
            return channel
        if self.BOT not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not str(params.get("text") or "").strip() and not blocks:
            return {"ok": False, "error": "no_text"}
        if blocks is not None and not _valid_blocks(blocks):
            return {"ok": False, "error": "invalid_blocks"}
        ts = f"1700000000.{next(self._ts):06d}"
        message = {"ts": ts, "user": self.BOT, "text": params.get("text"), "blocks": blocks}
        thread = params.get("thread_ts")
        if thread:
            parent = channel.message(str(thread))
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            parent.setdefault("replies", []).append(message)
        else:
            channel.messages.append(message)
        return {"ok": True, "channel": channel.id, "ts": ts, "message": message}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if isinstance(channel, dict):
            return channel
        return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}

    def _pins_add(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if isinstance(channel, dict):
            return channel
        ts = str(params.get("timestamp") or "")
        if channel.message(ts) is None:
            return {"ok": False, "error": "message_not_found"}
        if ts in channel.pins:
            return {"ok": False, "error": "already_pinned"}
        channel.pins.append(ts)
        return {"ok": True}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        self.views.append(view)
        return {"ok": True, "view": {"id": f"V{next(self._ids):08d}", **view}}

    def _users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "").lower()
        for user in self.users.values():
            if (user["profile"].get("email") or "").lower() == email:
                return {"ok": True, "user": user}
        return {"ok": False, "error": "users_not_found"}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}


def _is_json(call: HttpCall) -> bool:
    return call.headers.get("content-type", "").startswith("application/json")


def _params(call: HttpCall) -> dict[str, Any]:
    from urllib.parse import parse_qsl

    content_type = call.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        parsed = call.json() if call.body else {}
        return dict(parsed) if isinstance(parsed, dict) else {}
    return dict(parse_qsl(call.body.decode(), keep_blank_values=True))
