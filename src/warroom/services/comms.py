"""The e-mail customers get after a SEV0/SEV1 (product.md §1, §4): drafted from the record,
edited by a person, sent once to the confirmed subscribers and the configured customers.

The draft is built only from what is already public (the published updates, the affected
components, the impact window) and from the kind of mitigation, in customer words: never
from notes, people or alerts. Sending finishes the checklist's ``customer-email`` action,
whose deadline timer records a miss and reminds the communications owner.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.models import Incident, TimelineEvent
from warroom.db.status_models import CustomerEmail, EmailKind, PublicUpdate
from warroom.domain.durations import humanize
from warroom.domain.errors import BadInput, Refused
from warroom.domain.statuspage import COMPONENT_STATUS, STATUS_TEXT
from warroom.domain.timefmt import utc_text
from warroom.domain.types import EventKind, MitigationKind, Stage
from warroom.services import subscribers
from warroom.services.reading import public_status
from warroom.services.records import Op, finish_actions, load, person, record, touch
from warroom.services.status_views import default_title
from warroom.services.statuspage import components_of_services

AFTER_RESOLUTION = frozenset(
    {Stage.RESOLVED, Stage.MONITORING, Stage.CLOSED, Stage.POSTMORTEM_COMPLETE}
)
WHAT_WE_DID = {
    MitigationKind.ROLLBACK: "We rolled back the change that caused the problem.",
    MitigationKind.FEATURE_FLAG: "We turned off the feature involved.",
    MitigationKind.FAILOVER_DB: "We failed over to a standby database.",
    MitigationKind.SCALE_UP: "We added capacity.",
    MitigationKind.RATE_LIMIT: "We limited traffic to protect the service.",
    MitigationKind.MAINTENANCE: "We carried out emergency maintenance.",
    MitigationKind.OTHER: "We applied a fix.",
}


@dataclass(frozen=True)
class Draft:
    incident: int
    subject: str
    body: str
    edited: bool
    sent_at: datetime | None
    recipients: int

    @property
    def etag(self) -> str:
        """A strong entity tag of all the API shows of it (the words, whether they were edited
        and went out): a send or an edit with ``If-Match`` acts only on what its sender read."""
        shown = json.dumps(self.as_dict(), sort_keys=True)
        return f'"c{hashlib.sha256(shown.encode()).hexdigest()[:20]}"'

    def as_dict(self) -> dict[str, object]:
        return {
            "id": f"INC-{self.incident}",
            "subject": self.subject,
            "body": self.body,
            "edited": self.edited,
            "sent_at": self.sent_at.isoformat().replace("+00:00", "Z") if self.sent_at else None,
            "recipients": self.recipients,
        }


def _check(op: Op, incident: Incident) -> None:
    if (
        incident.severity is None
        or op.policy.level(incident.severity).customer_email_within is None
    ):
        raise Refused(
            "no-customer-email",
            f"INC-{incident.id} is {incident.severity or 'untriaged'}: only the levels with a "
            "customer e-mail (SEV0 and SEV1 by default) send one",
            hint="Publish what customers need to know with `warroom update ID --public`.",
        )
    if incident.resolved_at is None or incident.stage not in AFTER_RESOLUTION:
        raise Refused(
            "not-resolved",
            f"INC-{incident.id} is not resolved yet: customers are told what happened once it is",
            hint="Keep them informed meanwhile with `warroom update ID --public`.",
        )


def generate(op: Op, incident: Incident) -> tuple[str, str]:
    page = op.policy.status_page.name
    names = (
        [c.name for c in components_of_services(op.session, [incident.service_id])]
        if incident.service_id is not None
        else []
    )
    title = incident.public_title or default_title(incident, names)
    start = incident.declared_at or incident.detected_at
    end = incident.resolved_at
    assert end is not None
    assert incident.severity is not None
    affected = ", ".join(names) if names else page
    effect = COMPONENT_STATUS[incident.severity].label.lower()
    published = (
        list(
            op.session.scalars(
                select(PublicUpdate)
                .where(PublicUpdate.incident_id == incident.id)
                .order_by(PublicUpdate.at, PublicUpdate.id)
            )
        )
        if public_status(incident, op.policy) is not None
        else []
    )
    standard = set(STATUS_TEXT.values())
    told = [u.body for u in published if u.body not in standard]
    mitigations = [
        WHAT_WE_DID[MitigationKind(event.data["action"])]
        for event in op.session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident.id, TimelineEvent.kind == EventKind.STAGE)
            .order_by(TimelineEvent.at)
        )
        if event.data.get("action") in MitigationKind.__members__.values()
    ]
    lines = [
        "Hello,",
        "",
        f"On {start:%B %d, %Y}, {page} had an incident: {title}.",
        "",
        "What happened",
        *(told or [f"{affected} had a {effect}."]),
        "",
        "Impact",
        f"From {utc_text(start)} to {utc_text(end)} ({humanize(end - start)}), "
        f"{affected} had a {effect}.",
        "",
        "What we did",
        *(dict.fromkeys(mitigations) or ["We found the cause and fixed it."]),
        "",
        "What happens next",
        "We are reviewing this incident to understand why it happened and what we will change "
        "so that it does not happen again.",
        "",
        "We are sorry for the trouble this caused.",
        f"The {page} team",
    ]
    return f"[{page}] Incident report: {title}", "\n".join(lines) + "\n"


def draft(op: Op, number: int) -> Draft:
    incident = load(op, number, for_write=False)
    _check(op, incident)
    stored = _stored(op.session, incident.id)
    if stored is not None:
        return Draft(
            incident.id,
            stored.subject,
            stored.body,
            True,
            stored.sent_at,
            stored.recipients,
        )
    subject, body = generate(op, incident)
    return Draft(incident.id, subject, body, False, None, 0)


def _stored(session: Session, incident_id: int) -> CustomerEmail | None:
    return session.scalars(
        select(CustomerEmail).where(CustomerEmail.incident_id == incident_id)
    ).one_or_none()


def edit(op: Op, number: int, *, subject: str | None, body: str | None) -> Draft:
    incident = load(op, number)
    _check(op, incident)
    stored = _stored(op.session, incident.id)
    if stored is not None and stored.sent_at is not None:
        raise _already_sent(incident, stored)
    current = draft(op, number)
    new_subject = " ".join((subject if subject is not None else current.subject).split())
    new_body = body if body is not None else current.body
    if not new_subject or len(new_subject) > 300:
        raise BadInput("the subject is 1 to 300 characters on one line")
    if not new_body.strip():
        raise BadInput("the body is empty")
    if stored is None:
        stored = CustomerEmail(
            incident_id=incident.id,
            subject=new_subject,
            body=new_body,
            edited_at=op.at,
            edited_by_id=person(op, op.actor).id,
        )
        op.session.add(stored)
    else:
        stored.subject, stored.body = new_subject, new_body
        stored.edited_at, stored.edited_by_id = op.at, person(op, op.actor).id
    op.session.flush()
    return Draft(incident.id, stored.subject, stored.body, True, None, 0)


def _already_sent(incident: Incident, stored: CustomerEmail) -> Refused:
    assert stored.sent_at is not None
    return Refused(
        "customer-email-sent",
        f"INC-{incident.id}'s customer e-mail was sent at {utc_text(stored.sent_at)} "
        f"to {stored.recipients} recipient(s)",
        hint="It goes out once; publish anything new with `warroom update ID --public`.",
    )


def send(op: Op, number: int, *, base_url: str) -> Draft:
    incident = load(op, number)
    _check(op, incident)
    stored = _stored(op.session, incident.id)
    if stored is not None and stored.sent_at is not None:
        raise _already_sent(incident, stored)
    if stored is None:
        edit(op, number, subject=None, body=None)
        stored = _stored(op.session, incident.id)
        assert stored is not None
    audience: dict[str, str | None] = {address: None for address in op.policy.status_page.customers}
    for subscriber in subscribers.confirmed(op.session):
        audience[subscriber.email] = subscribers.unsubscribe_url(
            op.session, base_url, subscriber, op.now
        )
    if not audience:
        raise BadInput(
            "nobody to send it to: there are no confirmed subscribers and no "
            "[status_page] customers in warroom.toml"
        )
    for address, stop in audience.items():
        footer = f"\n--\nUnsubscribe: {stop}\n" if stop else ""
        subscribers.queue(
            op.session,
            EmailKind.CUSTOMER,
            address,
            subject=stored.subject,
            body=stored.body + footer,
            key=f"customer-email-{incident.id}",
            now=op.now,
            unsubscribe=stop,
            incident_id=incident.id,
        )
    stored.sent_at = op.at
    stored.sent_by_id = person(op, op.actor).id
    stored.recipients = len(audience)
    finish_actions(
        op.session,
        incident.id,
        ["customer-email"],
        at=op.at,
        note=f"sent to {len(audience)} recipient(s)",
        by_id=person(op, op.actor).id,
    )
    record(
        op,
        incident,
        EventKind.CUSTOMER_EMAIL,
        f"customer e-mail sent to {len(audience)} recipient(s): {stored.subject}",
        recipients=len(audience),
    )
    touch(op, incident)
    return Draft(incident.id, stored.subject, stored.body, True, stored.sent_at, len(audience))
