"""Keeping each incident's Slack home in step with its record, through the Slack outbox.

At the end of every write (with Slack connected) the timeline entries it recorded become
Slack work: a declared SEV0/SEV1 gets its channel (named at declaration, topic, invitations,
the pinned initial status); stage changes, status updates, roles, escalations and the timer
worker's reminders are posted there; the topic follows severity, IC and stage; closing
thanks the responders; a completed post-mortem archives the channel. The work itself is done
by the worker (``jobs/slack.py``), in order per incident, at least once.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from warroom.db.alert_models import Alert
from warroom.db.models import Action, DeliveryState, Incident, TimelineEvent
from warroom.db.slack_models import SlackJob
from warroom.domain.types import EventKind, Role, Severity, Stage
from warroom.services.incident_rows import current_roles
from warroom.services.records import Op

# Timeline entries people in the channel follow.
POSTED = frozenset(
    {
        EventKind.STAGE,
        EventKind.UPDATE,
        EventKind.SEVERITY,
        EventKind.ROLE,
        EventKind.ESCALATED,
        EventKind.REMINDER,
        EventKind.MISSED,
        EventKind.ACKNOWLEDGED,
        EventKind.NOTE,
        EventKind.VISIBILITY,
        EventKind.PUBLISHED,
    }
)
# Moves after which the message carries the incident's buttons.
WITH_BUTTONS = frozenset({Stage.DECLARED, Stage.INVESTIGATING})


def queue(
    op: Op, incident: Incident | None, kind: str, payload: dict[str, Any], *, key: str | None = None
) -> None:
    op.session.add(
        SlackJob(
            key=key or f"{kind}:{uuid.uuid4()}",
            incident_id=incident.id if incident is not None else None,
            kind=kind,
            payload=payload,
            state=DeliveryState.PENDING,
            attempts=0,
            next_attempt_at=op.now,
            created_at=op.now,
        )
    )


def has_home(op: Op, incident: Incident) -> bool:
    """It has (or is getting) a channel or a thread in Slack. An incident declared before
    Slack was connected has neither: nothing is posted for it."""
    if incident.slack_channel_id is not None:
        return True
    found = op.session.scalar(
        select(SlackJob.id)
        .where(
            SlackJob.incident_id == incident.id,
            SlackJob.kind.in_(("channel", "thread")),
            SlackJob.state != DeliveryState.FAILED,
        )
        .limit(1)
    )
    return found is not None


def settle(op: Op) -> None:
    if not op.slack or not op.events:
        return
    # An incident declared by this write gets its channel first; the pinned initial status
    # tells what the write's other entries (detected, triaged, paged…) would.
    opened = set()
    for event in op.events:
        if event.kind is EventKind.DECLARED:
            incident = _incident(op, event.incident_id)
            if incident is not None and incident.channel_name and _wants_channel(op, incident):
                _queue_channel(op, incident)
                opened.add(incident.id)
    topics: set[int] = set()
    homes: dict[int, bool] = {}
    for event in op.events:
        incident = _incident(op, event.incident_id)
        if incident is None or incident.id in opened or event.kind not in POSTED:
            continue
        if event.data.get("origin") == "slack-reaction" or not homes.setdefault(
            incident.id, has_home(op, incident)
        ):
            continue  # nowhere to post, or it came from the channel: no echo
        _queue_post(op, incident, event)
        if event.kind in (EventKind.STAGE, EventKind.SEVERITY) or (
            event.kind is EventKind.ROLE and event.data.get("role") == Role.IC.value
        ):
            topics.add(incident.id)
        if (
            event.kind is EventKind.STAGE
            and event.data.get("to") == Stage.POSTMORTEM_COMPLETE.value
            and op.policy.slack.archive_after_postmortem
            and incident.channel_name is not None
        ):
            queue(op, incident, "archive", {})
    for incident_id in topics:
        incident = _incident(op, incident_id)
        if incident is not None and incident.channel_name is not None:
            queue(op, incident, "topic", {})


def _incident(op: Op, number: int) -> Incident | None:
    return op.touched.get(number) or op.session.get(Incident, number)


def _wants_channel(op: Op, incident: Incident) -> bool:
    """A major incident gets its own channel once (a SEV2 raised to SEV1 from its thread
    moves to one)."""
    if incident.severity is None or not incident.severity.is_major:
        return False
    if not op.policy.level(incident.severity).incident_channel:
        return False
    existing = op.session.scalar(
        select(SlackJob.id)
        .where(SlackJob.incident_id == incident.id, SlackJob.kind == "channel")
        .limit(1)
    )
    return existing is None


def _queue_channel(op: Op, incident: Incident) -> None:
    op.session.flush()
    roles = current_roles(op.session, incident.id)
    invite = sorted(
        {h for role in (Role.IC, Role.COMMS, Role.RESPONDER, Role.SME) for h in roles.get(role, ())}
    )
    initial = next(
        (
            a.note
            for a in op.session.scalars(
                select(Action).where(
                    Action.incident_id == incident.id, Action.key == "initial-status"
                )
            )
        ),
        None,
    )
    runbooks = _runbooks(op, incident)
    if op.policy.slack.runbook_url:
        runbooks.insert(0, op.policy.slack.runbook_url)
    war_room = op.policy.slack.war_room_url if incident.severity is Severity.SEV0 else None
    queue(
        op,
        incident,
        "channel",
        {
            "name": incident.channel_name,
            "invite": invite,
            "status": initial or f"{incident.severity} declared: {incident.title}",
            "runbooks": runbooks,
            "war_room": war_room,
        },
        key=f"channel:{incident.id}",
    )


def _runbooks(op: Op, incident: Incident) -> list[str]:
    found: list[str] = []
    for links in op.session.scalars(select(Alert.links).where(Alert.incident_id == incident.id)):
        for name, url in (links or {}).items():
            if "runbook" in str(name).lower() and isinstance(url, str) and url not in found:
                found.append(url)
    return found


def _queue_post(op: Op, incident: Incident, event: TimelineEvent) -> None:
    text = _text(event)
    mention = event.data.get("owner") if event.kind is EventKind.REMINDER else None
    with_buttons = event.kind is EventKind.STAGE and event.data.get("to") in {
        s.value for s in WITH_BUTTONS
    }
    closing = event.kind is EventKind.STAGE and event.data.get("to") == Stage.CLOSED.value
    queue(
        op,
        incident,
        "post",
        {
            "text": text,
            "mention": mention,
            "buttons": with_buttons,
            # The closing post is the "Incident resolved at …; thanks to …" announcement.
            "action": "announce-resolution" if closing else None,
        },
    )


def _text(event: TimelineEvent) -> str:
    if event.kind is EventKind.UPDATE and event.data.get("rendered"):
        return str(event.data["rendered"])
    actor = event.actor.handle if event.actor is not None else None
    who = (
        f" (by {actor})"
        if actor and actor != "warroom" and event.kind is not EventKind.REMINDER
        else ""
    )
    return f"{event.summary}{who}"
