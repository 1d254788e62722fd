"""Doing the Slack outbox's work through the Web API (``slack_sdk``), in order per incident.

A job is leased (committed) before it calls Slack, and each step of a channel's set-up is
recorded as it succeeds, so a worker that dies half-way resumes where it stopped instead of
creating a second channel. Slack answers most errors with ``ok: false``: the ones that only
a person can fix fail the job for good (recorded on the timeline); a 429 waits its
``Retry-After``; anything else is retried with back-off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from warroom.db.engine import unit_of_work
from warroom.db.models import ContactMethod, DeliveryState, Incident, Person
from warroom.db.slack_models import SlackJob
from warroom.domain.channel import channel_name
from warroom.domain.paging import ContactKind
from warroom.domain.policy import Policy
from warroom.domain.types import EventKind, Role
from warroom.jobs.deliveries import MAX_ATTEMPTS, Writer, backoff, outlasted
from warroom.jobs.deliveries import lease as lease_outbox
from warroom.jobs.slack_api import Failed, Refusal, Retry, call
from warroom.services.incident_rows import current_roles
from warroom.services.records import Op, finish_actions, record
from warroom.services.timers import SYSTEM_ACTOR
from warroom.slack import messages
from warroom.slack.people import linked

log = logging.getLogger("warroom.slack")
MAX_SUFFIX = 50


def lease(session: Session, now: datetime) -> SlackJob | None:
    """The earliest due job whose incident has no earlier job still pending."""
    earlier = SlackJob.__table__.alias("earlier")
    blocked = exists().where(
        and_(
            earlier.c.incident_id == SlackJob.incident_id,
            earlier.c.state == DeliveryState.PENDING.value,
            earlier.c.id < SlackJob.id,
        )
    )
    return lease_outbox(session, SlackJob, now, also=~blocked)


class Superseded(Exception):
    """This attempt outlasted its lease and another attempt took the job over: that one
    records the job's progress and outcome, this one stops (decision 104)."""


@dataclass
class Work:
    """One job being done: its data, and a way to record progress as it goes."""

    sessions: sessionmaker[Session]
    policy: Policy
    writer: Writer
    web: WebClient
    now: datetime
    job_id: int
    incident_id: int | None
    kind: str
    payload: dict[str, Any]
    attempts: int

    def save(self, change: Callable[[Session, SlackJob, Incident | None], None]) -> None:
        with self.writer(), unit_of_work(self.sessions) as session:
            # Locked, as in deliveries: an attempt leasing it now is either seen or waited for.
            job = session.get(SlackJob, self.job_id, with_for_update={"of": SlackJob})
            assert job is not None
            if outlasted(job, self.attempts):
                raise Superseded(f"attempt {self.attempts}; attempt {job.attempts} decides")
            incident = session.get(Incident, self.incident_id) if self.incident_id else None
            change(session, job, incident)
            job.payload = dict(job.payload)
            flag_modified(job, "payload")
            self.payload = dict(job.payload)

    def progress(self, **done: Any) -> None:
        def change(_session: Session, job: SlackJob, _incident: Incident | None) -> None:
            job.payload = {**job.payload, **done}

        self.save(change)

    def read(self, reader: Callable[[Session, Incident | None], Any]) -> Any:
        with unit_of_work(self.sessions) as session:
            incident = session.get(Incident, self.incident_id) if self.incident_id else None
            return reader(session, incident)


def deliver_slack(
    sessions: sessionmaker[Session],
    policy: Policy,
    web: WebClient,
    *,
    now: datetime,
    writer: Writer = nullcontext,
) -> bool:
    """Do the earliest due Slack job. Returns whether there may be more."""
    with writer(), unit_of_work(sessions) as session:
        job = lease(session, now)
        if job is None:
            return False
        work = Work(
            sessions,
            policy,
            writer,
            web,
            now,
            job.id,
            job.incident_id,
            job.kind,
            dict(job.payload),
            job.attempts,
        )
    try:
        _finish(work, _attempt(work))
    except Superseded as exc:
        log.warning("Slack %s job %s outlasted its lease: %s", work.kind, work.job_id, exc)
    return True


def _attempt(work: Work) -> Exception | None:
    """Do the job once: ``None`` when it is done, or why not."""
    if work.attempts > MAX_ATTEMPTS:
        return Failed(f"no outcome after {MAX_ATTEMPTS} attempts")
    try:
        HANDLERS[work.kind](work)
    except Refusal as exc:  # no fallback for it: only a person can fix it
        return Failed(str(exc))
    except (Retry, Failed) as exc:
        return exc
    return None


def _finish(work: Work, outcome: Exception | None) -> None:
    def change(session: Session, job: SlackJob, incident: Incident | None) -> None:
        if outcome is None:
            job.state, job.delivered_at, job.last_error = DeliveryState.DELIVERED, work.now, None
            return
        job.last_error = str(outcome)[:1000]
        if isinstance(outcome, Failed):
            job.state = DeliveryState.FAILED
            log.warning("Slack %s job %s failed for good: %s", job.kind, job.key, outcome)
            if incident is not None:
                op = Op(session, work.policy, SYSTEM_ACTOR, work.now, work.now)
                record(
                    op,
                    incident,
                    EventKind.ACTION,
                    f"Slack: {job.kind} failed ({outcome})",
                    slack=job.kind,
                )
            return
        asked = outcome.after if isinstance(outcome, Retry) else None
        after = asked or backoff(work.attempts)
        job.next_attempt_at = work.now + after

    work.save(change)


# -- the jobs ---------------------------------------------------------------------------------


def _slack_user(work: Work, handle: str) -> str | None:
    """A person's Slack user id: their Slack contact method, else looked up by e-mail (and
    remembered as their Slack contact, unless that Slack user is already someone else)."""

    def known(session: Session, _incident: Incident | None) -> tuple[str | None, str | None]:
        person = session.scalars(select(Person).where(Person.handle == handle)).one_or_none()
        if person is None:
            return None, None
        address = session.scalars(
            select(ContactMethod.address).where(
                ContactMethod.person_id == person.id, ContactMethod.kind == ContactKind.SLACK
            )
        ).first()
        return address, person.email

    address, email = work.read(known)
    if address or not email:
        return str(address) if address else None
    try:
        found = call(work.web, "users.lookupByEmail", email=email)
    except (Failed, Refusal, Retry):
        return None
    user_id = str((found.get("user") or {}).get("id") or "") or None
    if user_id is None:
        return None

    def remember(session: Session, _job: SlackJob, _incident: Incident | None) -> None:
        person = session.scalars(select(Person).where(Person.handle == handle)).one_or_none()
        if person is None or linked(session, user_id) is not None:
            return
        session.add(
            ContactMethod(
                person_id=person.id,
                kind=ContactKind.SLACK,
                address=user_id,
                position=99,
                created_at=work.now,
            )
        )

    work.save(remember)
    return user_id


def _own_channel(work: Work, name: str) -> str | None:
    """The channel called ``name`` if warroom's bot made it (an earlier attempt whose answer
    was lost), so it is adopted instead of a second one being made."""
    bot = str(call(work.web, "auth.test").get("user_id") or "")
    cursor = ""
    for _ in range(20):  # 20 pages of 200 channels
        page = call(
            work.web,
            "conversations.list",
            types="public_channel",
            exclude_archived=True,
            limit=200,
            cursor=cursor,
        )
        for channel in page.get("channels") or []:
            if channel.get("name") == name and channel.get("creator") == bot:
                return str(channel["id"])
        cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            return None
    return None


def _title_and_declaration(_session: Session, incident: Incident | None) -> tuple[str, datetime]:
    assert incident is not None
    assert incident.declared_at is not None
    return incident.title, incident.declared_at


def _channel(work: Work) -> None:
    """Create the channel (a taken name gets the next free suffix within 80 characters),
    set its topic, invite the people, post the initial status and pin it."""
    payload = work.payload
    channel_id = payload.get("channel_id")
    if channel_id is None:
        title, declared = work.read(_title_and_declaration)
        name = str(payload["name"])
        # Names an earlier attempt asked for: if its answer was lost, Slack may have made
        # the channel anyway, and a taken name may be our own.
        tried = set(payload.get("tried") or [])
        recorded = set(tried)
        for suffix in range(1, MAX_SUFFIX + 1):
            name = (
                channel_name(title, declared, suffix=suffix) if suffix > 1 else str(payload["name"])
            )
            if name not in recorded:
                recorded.add(name)
                work.progress(tried=sorted(recorded))
            try:
                created = call(work.web, "conversations.create", name=name)
            except Refusal as exc:
                if exc.error != "name_taken":
                    raise
                own = _own_channel(work, name) if name in tried else None
                if own is None:
                    continue
                channel_id = own
                break
            channel_id = str(created["channel"]["id"])
            break
        else:
            raise Failed(f"conversations.create: no free name after {MAX_SUFFIX} tries")

        def created_channel(_s: Session, job: SlackJob, incident: Incident | None) -> None:
            job.payload = {**job.payload, "channel_id": channel_id, "name": name}
            if incident is not None:
                # Its home from now on (a SEV2 raised from its thread leaves the thread).
                incident.slack_channel_id, incident.slack_thread_ts = channel_id, None
                incident.channel_name = name

        work.save(created_channel)
    if not payload.get("topic_set"):
        _set_topic(work, str(channel_id))
        work.progress(topic_set=True)
    if not payload.get("status_ts"):
        number = work.incident_id
        text, blocks = messages.initial_status(
            incident=f"INC-{number}",
            text=str(payload["status"]),
            runbooks=list(payload.get("runbooks") or []),
            war_room=payload.get("war_room"),
        )
        posted = call(work.web, "chat.postMessage", channel=channel_id, text=text, blocks=blocks)
        ts = str(posted["ts"])

        def status_posted(_s: Session, job: SlackJob, incident: Incident | None) -> None:
            job.payload = {**job.payload, "status_ts": ts}
            if incident is not None:
                incident.slack_status_ts = ts

        work.save(status_posted)
    if not work.payload.get("pinned"):
        try:
            call(work.web, "pins.add", channel=channel_id, timestamp=work.payload["status_ts"])
        except Refusal as exc:
            if exc.error != "already_pinned":
                raise
        work.progress(pinned=True)
    if not work.payload.get("invited"):
        # Last, and never fatal: a guest or deactivated account must not hold up the rest.
        users = [u for h in payload.get("invite", []) if (u := _slack_user(work, str(h)))]
        if users:
            try:
                call(
                    work.web,
                    "conversations.invite",
                    channel=channel_id,
                    users=",".join(users),
                    force=True,
                )
            except (Refusal, Failed) as exc:
                log.warning("Slack: inviting %s to %s: %s", users, channel_id, exc)
        work.progress(invited=True)
    keys = ["incident-channel", "initial-status"] + (
        ["war-room"] if payload.get("war_room") else []
    )
    work.save(lambda s, _j, i: _done(s, work, i, keys, f"in Slack #{work.payload['name']}"))


def _done(
    session: Session, work: Work, incident: Incident | None, keys: list[str], note: str
) -> None:
    if incident is not None:
        finish_actions(session, incident.id, keys, at=work.now, note=note)


def _home(work: Work) -> tuple[str, str | None]:
    channel, thread = work.read(
        lambda _s, i: (i.slack_channel_id, i.slack_thread_ts) if i else (None, None)
    )
    if not channel:
        raise Failed("the incident has no Slack channel")
    return str(channel), thread


def _post(work: Work) -> None:
    channel, thread = _home(work)
    text = str(work.payload["text"])
    mention = work.payload.get("mention")
    user = _slack_user(work, str(mention)) if mention else None
    body, blocks = messages.post(
        text,
        incident=f"INC-{work.incident_id}",
        with_buttons=bool(work.payload.get("buttons")),
        mention=user,
    )
    params: dict[str, Any] = {"channel": channel, "text": body, "blocks": blocks}
    if thread:
        params["thread_ts"] = thread
    try:
        call(work.web, "chat.postMessage", **params)
    except Refusal as exc:
        if exc.error != "not_in_channel":
            raise
        call(work.web, "conversations.join", channel=channel)  # a public channel: join, then post
        call(work.web, "chat.postMessage", **params)
    if work.payload.get("action"):
        work.save(
            lambda s, _j, i: _done(s, work, i, [str(work.payload["action"])], "posted in Slack")
        )


def _thread(work: Work) -> None:
    """A SEV2 declared from Slack: its declaration, posted where it was declared, becomes the
    thread its updates go to."""
    channel = str(work.payload["channel"])
    text = str(work.payload["text"])
    body, blocks = messages.post(text, incident=f"INC-{work.incident_id}", with_buttons=True)
    try:
        posted = call(work.web, "chat.postMessage", channel=channel, text=body, blocks=blocks)
    except Refusal as exc:
        if exc.error != "not_in_channel":
            raise
        call(work.web, "conversations.join", channel=channel)
        posted = call(work.web, "chat.postMessage", channel=channel, text=body, blocks=blocks)
    ts = str(posted["ts"])

    def threaded(_s: Session, _job: SlackJob, incident: Incident | None) -> None:
        if incident is not None:
            incident.slack_channel_id, incident.slack_thread_ts = channel, ts

    work.save(threaded)


def _set_topic(work: Work, channel: str) -> None:
    def read(session: Session, incident: Incident | None) -> str:
        assert incident is not None
        roles = current_roles(session, incident.id)
        ic = next(iter(roles.get(Role.IC, ())), None)
        severity = incident.severity.value if incident.severity else None
        return messages.topic(severity=severity, ic=ic, stage=incident.stage.value)

    call(work.web, "conversations.setTopic", channel=channel, topic=work.read(read))


def _topic(work: Work) -> None:
    channel, _ = _home(work)
    _set_topic(work, channel)


def _archive(work: Work) -> None:
    channel, thread = _home(work)
    if thread:
        return  # a thread in someone else's channel: nothing to archive
    try:
        call(work.web, "conversations.archive", channel=channel)
    except Failed as exc:
        if "is_archived" not in str(exc):
            raise


def _respond(work: Work) -> None:
    """A private answer to a click, posted to the interaction's response URL."""
    url = str(work.payload["url"])
    try:
        answer = WebhookClient(url, timeout=10).send_dict(dict(work.payload["body"]))
    except (SlackClientError, OSError) as exc:
        raise Retry(f"response URL: {exc}") from None
    if answer.status_code == 429:
        raise Retry("response URL: rate limited", timedelta(seconds=30))
    if answer.status_code >= 400:
        # Response URLs expire after 30 minutes and five uses: nothing to retry.
        raise Failed(f"response URL answered {answer.status_code}")


def _capture(work: Work) -> None:
    """A message marked with the timeline reaction: its text joins the timeline as a note."""
    channel, ts, user = (str(work.payload[k]) for k in ("channel", "ts", "user"))
    found = call(
        work.web, "conversations.history", channel=channel, latest=ts, inclusive=True, limit=1
    )
    message = next((m for m in found.get("messages") or [] if m.get("ts") == ts), None)
    if message is None:  # a reply in a thread: history holds only the top of each thread
        thread = call(work.web, "conversations.replies", channel=channel, ts=ts, limit=200)
        message = next((m for m in thread.get("messages") or [] if m.get("ts") == ts), None)
    if message is None:
        raise Failed("the marked message is gone")
    text = str(message.get("text") or "").strip()
    author = str(message.get("user") or "")
    author_name = work.read(lambda s, _i: linked(s, author)) if author else None
    if author and author_name is None:
        try:
            author_name = (
                str((call(work.web, "users.info", user=author).get("user") or {}).get("name") or "")
                or None
            )
        except (Failed, Refusal, Retry):
            author_name = None

    def record_note(session: Session, _job: SlackJob, incident: Incident | None) -> None:
        if incident is None or not text:
            return
        marker = linked(session, user) or SYSTEM_ACTOR
        said = author_name or (f"<@{author}>" if author else "someone")
        op = Op(session, work.policy, marker, work.now, work.now)
        record(
            op,
            incident,
            EventKind.NOTE,
            f"from Slack, {said}: {messages.cut(text, 1000)}",
            note_kind="other",
            origin="slack-reaction",
            slack_ts=ts,
        )

    work.save(record_note)


HANDLERS: dict[str, Callable[[Work], None]] = {
    "respond": _respond,
    "capture": _capture,
    "channel": _channel,
    "post": _post,
    "thread": _thread,
    "topic": _topic,
    "archive": _archive,
}
