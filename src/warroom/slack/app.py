"""The Slack app (``slack_bolt``): slash commands, buttons, modals and events.

Bolt verifies every request with the signing secret (v0 HMAC, a five-minute window, a
constant-time comparison) and answers 401 otherwise. Listeners run before the response
(``process_before_response``), inside the request: a command's database write is quick,
modals are opened at once (Slack's trigger id lives three seconds), and everything that
talks to Slack afterwards goes through the outbox. Events are handled once per event id,
so Slack's retries do nothing twice.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from warroom.db.models import Incident, Page
from warroom.db.slack_models import SlackEventSeen
from warroom.domain.classifier import classify
from warroom.domain.errors import BadInput, Unavailable, WarroomError
from warroom.domain.types import MitigationKind, Severity, UpdateStatus
from warroom.domain.updates import UpdateText
from warroom.runtime import Runtime
from warroom.services import coordination, lifecycle, page_stops, slack_sync
from warroom.services.records import Op, insert_ignoring_duplicates
from warroom.slack import messages, people, views
from warroom.slack.commands import Answer, Commands, Invocation, declare, refusal

log = logging.getLogger("warroom.slack")


class SlackApp:
    """warroom's Slack app over one runtime; ``handle`` serves one HTTP request."""

    def __init__(self, runtime: Runtime, web: WebClient | None, signing_secret: str) -> None:
        self.runtime = runtime
        self.web = web
        self.commands = Commands(runtime, web)
        self.verifier = SignatureVerifier(signing_secret)
        self.bolt = App(
            signing_secret=signing_secret,
            client=web or WebClient(token=None),
            token_verification_enabled=False,
            process_before_response=True,
            ssl_check_enabled=True,
            url_verification_enabled=True,
        )
        self._register()
        self.bolt.error(self._failed)

    def _failed(self, error: Exception, body: dict[str, Any]) -> BoltResponse:
        """A listener broke on something Slack sent (a button value from an old message, an
        expired trigger): the person gets a short answer, never a traceback."""
        log.warning("Slack request failed: %s: %s", type(error).__name__, error)
        if isinstance(error, Unavailable):
            return BoltResponse(status=503, body='{"error":"database unreachable"}')
        text = (
            f"warroom could not do that: {error}"
            if isinstance(error, WarroomError | ValueError)
            else "warroom could not do that; try again"
        )
        return BoltResponse(
            status=200,
            body=json.dumps({"response_type": "ephemeral", "text": text}),
            headers={"content-type": "application/json"},
        )

    def handle(self, body: bytes, headers: dict[str, str]) -> BoltResponse:
        # Verified on the raw bytes before anything reads them (Bolt checks again).
        if not self.verifier.is_valid_request(body, headers):
            return BoltResponse(status=401, body='{"error":"invalid request"}')
        try:
            request = BoltRequest(
                body=body.decode("utf-8"), headers={k: [v] for k, v in headers.items()}
            )
        except (UnicodeDecodeError, ValueError, TypeError, AttributeError):
            return BoltResponse(status=400, body='{"error":"malformed request"}')
        try:
            return self.bolt.dispatch(request)
        except Exception:
            log.warning("Slack sent a request warroom could not read", exc_info=True)
            return BoltResponse(status=400, body='{"error":"malformed request"}')

    def _register(self) -> None:
        bolt = self.bolt
        bolt.command(re.compile(r"^/incident-[a-z]+$"))(self._command)
        bolt.action(messages.ACK)(self._ack_button)
        bolt.action(messages.UPDATE)(self._update_button)
        bolt.action(messages.MITIGATE)(self._mitigate_button)
        bolt.action(messages.PAGE_ACK)(self._page_button)
        bolt.view(views.UPDATE)(self._update_submitted)
        bolt.view(views.MITIGATE)(self._mitigate_submitted)
        bolt.view(views.DECLARE)(self._declare_submitted)
        bolt.event("reaction_added")(self._reaction)

    # -- commands ------------------------------------------------------------------------------

    def _command(self, ack: Ack, command: dict[str, Any]) -> None:
        answer = self.commands.run(
            Invocation(
                command=str(command.get("command", "")).lstrip("/"),
                text=str(command.get("text") or "").strip(),
                user_id=str(command.get("user_id") or ""),
                user_name=str(command.get("user_name") or ""),
                channel_id=str(command.get("channel_id") or ""),
                trigger_id=command.get("trigger_id"),
            )
        )
        ack(**_ack_args(answer))

    # -- buttons -------------------------------------------------------------------------------

    def _actor(self, body: dict[str, Any]) -> str:
        user = body.get("user") or {}
        return people.handle_for(
            self.runtime,
            self.web,
            str(user.get("id") or ""),
            str(user.get("username") or user.get("name") or ""),
        )

    def _respond(self, body: dict[str, Any], text: str) -> None:
        """A private answer to whoever clicked, through the outbox (its response URL)."""
        url = body.get("response_url")
        if not url:
            return
        self.runtime.write(
            lambda op: slack_sync.queue(
                op,
                None,
                "respond",
                {
                    "url": url,
                    "body": {"response_type": "ephemeral", "replace_original": False, "text": text},
                },
            ),
            by="warroom",
            at=None,
        )

    def _number(self, body: dict[str, Any]) -> int:
        action = (body.get("actions") or [{}])[0]
        found = re.match(r"^INC-(\d{1,12})$", str(action.get("value") or ""))
        if found is None:
            raise BadInput("this button does not name an incident")
        return int(found.group(1))

    def _ack_button(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        try:
            number = self._number(body)
            handle = self._actor(body)
            _, changed = self.runtime.write(
                lambda op: lifecycle.acknowledge(op, number),
                by=handle,
                at=None,
                incident=number,
                attempted="acknowledge",
            )
            text = (
                f"INC-{number} acknowledged."
                if changed
                else f"INC-{number} was already acknowledged."
            )
        except WarroomError as exc:
            text = refusal(exc)["text"]
        self._respond(body, text)

    def _open(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        if self.web is None:
            return
        self.web.views_open(trigger_id=body["trigger_id"], view=view)

    def _update_button(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        self._open(body, views.update(self._number(body)))

    def _mitigate_button(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        self._open(body, views.mitigate(self._number(body)))

    def _page_button(self, ack: Ack, body: dict[str, Any]) -> None:
        """A page's Acknowledge button in a direct message: the page (and so the incident)
        is acknowledged by whoever was paged and clicked."""
        ack()
        action = (body.get("actions") or [{}])[0]
        key = str(action.get("value") or "").removeprefix("warroom-")
        try:
            handle = self._actor(body)

            def acknowledge(op: Op) -> int:
                page = op.session.scalars(select(Page).where(Page.key == key)).one_or_none()
                if page is None:
                    raise BadInput("this page no longer exists")
                page_stops.acknowledge_by_id(op, page.id)
                return page.incident_id

            number = self.runtime.write(acknowledge, by=handle, at=None)
            text = f"Acknowledged: you are on INC-{number}."
        except WarroomError as exc:
            text = refusal(exc)["text"]
        self._respond(body, text)

    # -- modals --------------------------------------------------------------------------------

    def _update_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        state = (view.get("state") or {}).get("values") or {}
        number = _metadata_number(view)
        status = views.value(state, "status")
        text = UpdateText(
            issue=views.value(state, "issue") or "",
            impact=views.value(state, "impact") or "",
            progress=views.value(state, "progress") or "",
            next_steps=views.value(state, "next") or "",
            eta=views.value(state, "eta") or "Unknown",
        )
        public = "public" in (views.value(state, "public") or [])
        try:
            handle = self._actor(body)
            self.runtime.write(
                lambda op: coordination.post_update(
                    op,
                    number,
                    text,
                    status=UpdateStatus.parse(status) if status else None,
                    public=public,
                ),
                by=handle,
                at=None,
                incident=number,
                attempted="post a status update",
            )
        except BadInput as exc:
            ack(response_action="errors", errors={_block_of(str(exc)): str(exc)})
            return
        except WarroomError as exc:
            ack(response_action="errors", errors={"issue": refusal(exc)["text"][:150]})
            return
        ack()

    def _mitigate_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        state = (view.get("state") or {}).get("values") or {}
        number = _metadata_number(view)
        kind = views.value(state, "kind")
        note = views.value(state, "note")
        try:
            handle = self._actor(body)
            self.runtime.write(
                lambda op: lifecycle.mitigate(op, number, MitigationKind(kind), note=note),
                by=handle,
                at=None,
                incident=number,
                attempted="mitigate",
            )
        except (WarroomError, ValueError) as exc:
            message = refusal(exc)["text"] if isinstance(exc, WarroomError) else str(exc)
            ack(response_action="errors", errors={"kind": message[:150]})
            return
        ack()

    def _declare_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        state = (view.get("state") or {}).get("values") or {}
        title = (views.value(state, "title") or "").strip()
        found, errors = views.answers(state)
        if not title:
            errors["title"] = "say what is happening"
        if errors:
            ack(response_action="errors", errors=errors)
            return
        severity: Severity = classify(found, self.runtime.policy).severity
        try:
            handle = self._actor(body)
            declare(self.runtime, handle, severity, title, str(view.get("private_metadata") or ""))
        except WarroomError as exc:
            ack(response_action="errors", errors={"title": refusal(exc)["text"][:150]})
            return
        ack()

    # -- events --------------------------------------------------------------------------------

    def _reaction(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """A message in an incident channel marked with the chosen reaction joins its
        timeline (fetched and recorded by the worker)."""
        if event.get("reaction") != self.runtime.policy.slack.timeline_emoji:
            return
        item = event.get("item") or {}
        channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
        if item.get("type") != "message" or not channel or not ts:
            return
        event_id = str(body.get("event_id") or f"{channel}:{ts}:{event.get('user')}")

        def capture(op: Op) -> None:
            fresh = op.session.execute(
                insert_ignoring_duplicates(op.session, SlackEventSeen).values(
                    event_id=event_id[:64], received_at=op.now
                )
            )
            if not fresh.rowcount:  # type: ignore[attr-defined]
                return  # a retry of an event already handled
            incident = op.session.scalars(
                select(Incident)
                .where(Incident.slack_channel_id == channel, Incident.slack_thread_ts.is_(None))
                .order_by(Incident.id.desc())
            ).first()
            if incident is None:
                return
            slack_sync.queue(
                op,
                incident,
                "capture",
                {"channel": channel, "ts": ts, "user": str(event.get("user") or "")},
                key=f"capture:{channel}:{ts}",
            )

        # Unreachable database: the error answers 503 and Slack delivers the event again.
        self.runtime.write(capture, by="warroom", at=None)


def _metadata_number(view: dict[str, Any]) -> int:
    text = str(view.get("private_metadata") or "")
    if not text.isdigit() or len(text) > 12:
        raise BadInput("this form does not name an incident")
    return int(text)


def _ack_args(answer: Answer) -> dict[str, Any]:
    if not answer.get("text"):
        return {}
    return {"text": answer["text"], "response_type": answer.get("response_type", "ephemeral")}


def _block_of(message: str) -> str:
    for block in ("issue", "impact", "progress", "next"):
        if f"--{block}" in message or block in message.lower():
            return block
    return "issue"
