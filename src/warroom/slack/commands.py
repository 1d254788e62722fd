"""The slash commands of product.md §7, run as the Slack user who typed them.

Inside an incident channel (or an incident's thread channel) a command acts on that
incident; elsewhere the incident id comes first (``/incident-ack INC-42``). Every answer is
private to the invoker (stage changes and updates reach the channel through the outbox),
and a refusal says the rule and what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from sqlalchemy import select

from warroom.db.models import Incident
from warroom.domain.errors import BadInput, Conflict, Refused, Unavailable, WarroomError
from warroom.domain.types import MitigationKind, Move, NoteKind, Role, Severity
from warroom.runtime import Runtime
from warroom.services import coordination, declaration, lifecycle, slack_sync
from warroom.services.reading import summary
from warroom.services.records import Op, load
from warroom.slack import people, views

SEVERITY = re.compile(r"^SEV[0-3]$", re.IGNORECASE)
INCIDENT = re.compile(r"^(?:INC-)?(\d{1,12})$", re.IGNORECASE)
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$")


@dataclass(frozen=True)
class Invocation:
    command: str  # without the slash: "incident-ack"
    text: str
    user_id: str
    user_name: str
    channel_id: str
    trigger_id: str | None


class Answer(dict[str, Any]):
    """The body Slack shows the invoker (ephemeral unless said otherwise)."""

    @classmethod
    def private(cls, text: str) -> Answer:
        return cls(response_type="ephemeral", text=text)

    @classmethod
    def public(cls, text: str) -> Answer:
        return cls(response_type="in_channel", text=text)


def refusal(exc: WarroomError) -> Answer:
    if isinstance(exc, Refused):
        return Answer.private(f":no_entry: Refused by rule `{exc.rule}`: {exc}\n{exc.hint}")
    if isinstance(exc, Conflict):
        return Answer.private(f":warning: {exc} Try again.")
    if isinstance(exc, Unavailable):
        return Answer.private(f":warning: warroom cannot reach its database right now: {exc}")
    return Answer.private(f":warning: {exc}")


class Commands:
    def __init__(self, runtime: Runtime, web: WebClient | None) -> None:
        self.runtime = runtime
        self.web = web
        self.handlers: dict[str, Callable[[Invocation, str, list[str]], Answer]] = {
            "incident-ack": self._ack,
            "incident-status": self._status,
            "incident-role": self._role,
            "incident-severity": self._severity,
            "incident-investigate": self._move(Move.INVESTIGATE, "investigating"),
            "incident-mitigate": self._mitigate,
            "incident-resolve": self._move(Move.RESOLVE, "resolved"),
            "incident-monitor": self._move(Move.MONITOR, "monitoring"),
            "incident-close": self._close,
            "incident-note": self._note,
        }

    def run(self, invocation: Invocation) -> Answer:
        try:
            # Forms first: Slack's trigger id lives three seconds, linking a new user may
            # take a lookup.
            words = invocation.text.split()
            if invocation.command == "incident-declare" and not (
                words and SEVERITY.match(words[0])
            ):
                return self._open_form(
                    invocation, views.declare(" ".join(words), invocation.channel_id)
                )
            if invocation.command == "incident-update":
                number, _ = self._incident(invocation, words)
                return self._open_form(invocation, views.update(number))
            handle = people.handle_for(
                self.runtime, self.web, invocation.user_id, invocation.user_name
            )
            if invocation.command == "incident-declare":
                return self._declare(invocation, handle)
            handler = self.handlers.get(invocation.command)
            if handler is None:
                return Answer.private(f"warroom does not know /{invocation.command}")
            return handler(invocation, handle, invocation.text.split())
        except WarroomError as exc:
            return refusal(exc)
        except ValueError as exc:
            return Answer.private(f":warning: {exc}")
        except SlackClientError as exc:
            return Answer.private(f":warning: Slack did not open the form ({exc}); try again")

    def _open_form(self, invocation: Invocation, view: dict[str, Any]) -> Answer:
        if invocation.trigger_id is None or self.web is None:
            raise BadInput("forms need the Slack app's bot token (WARROOM_SLACK_BOT_TOKEN)")
        self.web.views_open(trigger_id=invocation.trigger_id, view=view)
        return Answer.private("")

    # -- which incident ------------------------------------------------------------------------

    def _incident(self, invocation: Invocation, words: list[str]) -> tuple[int, list[str]]:
        """The channel's incident, else the id the text starts with."""
        if words and (found := INCIDENT.match(words[0])) and words[0].upper().startswith("INC-"):
            return int(found.group(1)), words[1:]
        with self.runtime.reading() as session:
            number = session.scalars(
                select(Incident.id)
                .where(
                    Incident.slack_channel_id == invocation.channel_id,
                    Incident.slack_thread_ts.is_(None),  # its own channel, not a thread's
                )
                .order_by(Incident.id.desc())
            ).first()
        if number is not None:
            return number, words
        if words and (found := INCIDENT.match(words[0])):
            return int(found.group(1)), words[1:]
        raise BadInput(
            f"this is not an incident channel: put the incident first "
            f"(/{invocation.command} INC-42 …)"
        )

    def _write(self, handle: str, number: int, action: Callable[[Op], Any], what: str) -> Any:
        return self.runtime.write(action, by=handle, at=None, incident=number, attempted=what)

    # -- the commands ----------------------------------------------------------------------------

    def _declare(self, invocation: Invocation, handle: str) -> Answer:
        words = invocation.text.split()
        severity = Severity(words[0].upper())
        title = " ".join(words[1:])
        if not title:
            raise BadInput("say what is happening: /incident-declare SEV1 API errors")
        return declare(self.runtime, handle, severity, title, invocation.channel_id)

    def _ack(self, invocation: Invocation, handle: str, words: list[str]) -> Answer:
        number, _ = self._incident(invocation, words)
        _, changed = self._write(
            handle, number, lambda op: lifecycle.acknowledge(op, number), "acknowledge"
        )
        return Answer.private(
            f"INC-{number} acknowledged by {handle}."
            if changed
            else f"INC-{number} was already acknowledged."
        )

    def _status(self, invocation: Invocation, _handle: str, words: list[str]) -> Answer:
        number, _ = self._incident(invocation, words)
        with self.runtime.reading() as session:
            op = self.runtime.op(session, by=None, at=None)
            data = summary(session, load(op, number, for_write=False), self.runtime.policy)
        lines = [
            f"*INC-{number}* {data['severity'] or 'untriaged'} · {data['stage']} — {data['title']}",
            f"IC: {data['ic'] or 'none'} · acknowledged: {data['acknowledged_at'] or 'no'}",
        ]
        if data.get("public_status"):
            lines.append(f"Status page: {data['public_status']}")
        return Answer.private("\n".join(lines))

    def _role(self, invocation: Invocation, handle: str, words: list[str]) -> Answer:
        number, rest = self._incident(invocation, words)
        if len(rest) != 2:
            raise BadInput("usage: /incident-role ic|comms|scribe|sme|responder @someone")
        try:
            role = Role(rest[0].lower())
        except ValueError:
            raise BadInput(
                f"{rest[0]!r} is not a role: ic, comms, scribe, sme or responder"
            ) from None
        who = self._person(rest[1])
        self._write(
            handle,
            number,
            lambda op: coordination.assign_role(op, number, role, who),
            f"assign {role.value}",
        )
        return Answer.private(f"{who} is now {role.value} of INC-{number}.")

    def _person(self, word: str) -> str:
        mention = MENTION.match(word)
        if mention is None:
            return word.lstrip("@")
        return people.handle_for(self.runtime, self.web, mention.group(1), mention.group(2) or "")

    def _severity(self, invocation: Invocation, handle: str, words: list[str]) -> Answer:
        number, rest = self._incident(invocation, words)
        if not rest or not SEVERITY.match(rest[0]) or len(rest) < 2:
            raise BadInput("usage: /incident-severity SEVn why")
        new, reason = Severity(rest[0].upper()), " ".join(rest[1:])
        self._write(
            handle,
            number,
            lambda op: declaration.change_severity(op, number, new, reason),
            f"change severity to {new.value}",
        )
        return Answer.private(f"INC-{number} is now {new.value}.")

    def _move(self, move: Move, done: str) -> Callable[[Invocation, str, list[str]], Answer]:
        def handler(invocation: Invocation, handle: str, words: list[str]) -> Answer:
            number, _ = self._incident(invocation, words)
            self._write(handle, number, lambda op: lifecycle.move(op, number, move), move.value)
            return Answer.private(f"INC-{number} is {done}.")

        return handler

    def _mitigate(self, invocation: Invocation, handle: str, words: list[str]) -> Answer:
        number, rest = self._incident(invocation, words)
        kinds = ", ".join(k.value for k in MitigationKind)
        if not rest:
            raise BadInput(f"usage: /incident-mitigate KIND [note], KIND one of {kinds}")
        try:
            kind = MitigationKind(rest[0].lower())
        except ValueError:
            raise BadInput(f"{rest[0]!r} is not a mitigation: use {kinds}") from None
        note = " ".join(rest[1:]) or None
        self._write(
            handle,
            number,
            lambda op: lifecycle.mitigate(op, number, kind, note=note),
            "mitigate",
        )
        return Answer.private(f"INC-{number} is mitigated ({kind.value}).")

    def _close(self, invocation: Invocation, handle: str, words: list[str]) -> Answer:
        number, _ = self._incident(invocation, words)
        self._write(handle, number, lambda op: lifecycle.close(op, number), "close")
        return Answer.private(f"INC-{number} is closed.")

    def _note(self, invocation: Invocation, handle: str, words: list[str]) -> Answer:
        number, rest = self._incident(invocation, words)
        kind = NoteKind.OTHER
        if rest and rest[0].rstrip(":").lower() in {k.value for k in NoteKind}:
            kind, rest = NoteKind(rest[0].rstrip(":").lower()), rest[1:]
        text = " ".join(rest)
        if not text:
            raise BadInput("usage: /incident-note [hypothesis|change|system|runbook] text")
        self._write(
            handle, number, lambda op: coordination.note(op, number, kind, text), "add a note"
        )
        return Answer.private(f"Noted on INC-{number}'s timeline ({kind.value}).")


def declare(
    runtime: Runtime, handle: str, severity: Severity, title: str, channel_id: str
) -> Answer:
    """Declare from Slack. SEV0/SEV1 get their channel; a SEV2 gets a thread where it was
    declared; a SEV3 is a backlog ticket, answered privately."""
    if severity is Severity.SEV3:

        def ticket(op: Op) -> Incident:
            incident = lifecycle.report(op, title, severity=Severity.SEV3)
            return lifecycle.triage(op, incident.id, Severity.SEV3)

        incident = runtime.write(ticket, by=handle, at=None)
        return Answer.private(f"INC-{incident.id} recorded as a SEV3 backlog ticket: {title}")

    def act(op: Op) -> tuple[int, str | None]:
        incident = declaration.declare_new(op, severity, title)
        if severity is Severity.SEV2 and op.slack:
            # Its home is set once the declaration is posted there: a thread, never the
            # channel itself (which belongs to whoever typed in it).
            slack_sync.queue(
                op,
                incident,
                "thread",
                {
                    "channel": channel_id,
                    "text": f"INC-{incident.id} SEV2 declared by {op.actor}: {title}. "
                    "Updates follow in this thread.",
                },
            )
        return incident.id, incident.channel_name

    number, channel = runtime.write(act, by=handle, at=None)
    if channel and severity.is_major:
        return Answer.public(
            f"INC-{number} {severity.value} declared by {handle}: {title}. "
            f"Join #{channel} (being created now)."
        )
    return Answer.private(f"INC-{number} {severity.value} declared: {title}.")
