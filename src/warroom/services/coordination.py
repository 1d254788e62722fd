"""Everything around the stage moves: roles, notes, status updates, escalation, the
checklist's manual actions and customer visibility (product.md §3, §4)."""

from __future__ import annotations

from sqlalchemy import select

from warroom.db.appends import append
from warroom.db.models import Action, Incident, StatusUpdate
from warroom.domain.actions import ActionSpec, declaration_actions
from warroom.domain.errors import BadInput, Refused
from warroom.domain.timefmt import as_utc, utc_text
from warroom.domain.types import (
    EventKind,
    NoteKind,
    Role,
    Severity,
    UpdateStatus,
    Visibility,
    normalise_handle,
)
from warroom.domain.updates import (
    UpdateText,
    check_update_allowed,
    default_status,
    next_update_after,
    render,
)
from warroom.services import statuspage
from warroom.services.incident_rows import posted, update_times
from warroom.services.records import (
    Op,
    acknowledge_implied,
    add_actions,
    assign,
    facts,
    load,
    person,
    record,
    touch,
)

TEXT_MAX = 4000


def _text(name: str, value: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise BadInput(f"{name} is empty")
    if len(cleaned) > TEXT_MAX:
        raise BadInput(f"{name} is {len(cleaned)} characters long; keep it under {TEXT_MAX}")
    return cleaned


def assign_role(op: Op, number: int, role: Role, handle: str) -> tuple[Incident, bool]:
    incident = load(op, number)
    changed = assign(op, incident, role, handle)
    if role is Role.IC:
        acknowledge_implied(op, incident, "IC assigned")
    return incident, changed


def note(
    op: Op, number: int, kind: NoteKind, text: str, *, performed_by: str | None = None
) -> Incident:
    incident = load(op, number)
    text = _text("the note", text)
    performer = person(op, performed_by).handle if performed_by else op.actor
    record(
        op,
        incident,
        EventKind.NOTE,
        f"{kind.value}: {text}",
        note_kind=kind.value,
        text=text,
        performed_by=performer,
        ic=facts(op.session, incident).ic,
    )
    return incident


def post_update(
    op: Op,
    number: int,
    text: UpdateText,
    *,
    status: UpdateStatus | None = None,
    public: bool = False,
    public_text: str | None = None,
    public_title: str | None = None,
) -> StatusUpdate:
    incident = load(op, number)
    current = facts(op.session, incident)
    check_update_allowed(current)
    if public_text is not None and not public:
        raise BadInput("--public-text goes with --public")
    if public_title is not None and not public:
        raise BadInput("--public-title goes with --public")
    text = UpdateText(
        issue=_text("--issue", text.issue),
        impact=_text("--impact", text.impact),
        progress=_text("--progress", text.progress),
        next_steps=_text("--next", text.next_steps),
        eta=text.eta.strip() or "Unknown",
    )
    earlier = update_times(op.session, incident.id)
    count = len(earlier)
    last_at = earlier[-1] if earlier else None
    if last_at is not None and op.at < as_utc(last_at):
        raise BadInput(
            f"{utc_text(op.at)} is before update #{count} ({utc_text(last_at)}): "
            "updates are numbered in time order"
        )
    number_ = (count or 0) + 1
    chosen = status or default_status(incident.stage)
    next_at = next_update_after(current, op.policy, op.at)
    rendered = render(number=number_, at=op.at, status=chosen, text=text, next_update=next_at)
    # Written with the write's timeline entries (db/appends), not through the unit of
    # work: an update is only ever inserted, and nothing reads its id. The object returned
    # (and kept in the transaction's list of updates) is not in the session.
    row = {
        "incident_id": incident.id,
        "number": number_,
        "at": op.at,
        "status": chosen,
        "issue": text.issue,
        "impact": text.impact,
        "progress": text.progress,
        "next_steps": text.next_steps,
        "eta": text.eta,
        "next_update_at": next_at,
        "rendered": rendered,
        "public": public,
        "public_text": public_text.strip() if public_text else None,
        "author_id": person(op, op.actor).id,
    }
    append(op.session, StatusUpdate.__table__, row)
    update = StatusUpdate(**row)
    posted(op.session, update)
    record(
        op,
        incident,
        EventKind.UPDATE,
        f"status update #{number_} - {chosen.value}" + (" (public)" if public else ""),
        number=number_,
        status=chosen.value,
        rendered=rendered,
        public=public or None,
    )
    touch(op, incident)
    if public:
        if public_title is not None:
            statuspage.set_public_title(op, incident, public_title)
        statuspage.publish_update(op, incident, update)
    return update


def escalate(op: Op, number: int, *, team: str | None, reason: str | None) -> Incident:
    incident = load(op, number)
    if not incident.stage.is_active:
        raise Refused(
            "illegal-move",
            f"INC-{number} is {incident.stage.value}: only an active incident is escalated",
            hint=f"Reopen it first: `warroom reopen INC-{number} --reason TEXT`.",
        )
    team_name = _team(team) if team else None
    if team_name:
        spec = ActionSpec(f"page-team-{team_name}", f"Page the {team_name} team's on-call")
    else:
        spec = ActionSpec("escalate", "Page the next escalation tier")
    add_actions(op, incident, [spec], again=True)  # each request pages anew
    what = f"escalated to the {team_name} team" if team_name else "escalated"
    record(
        op,
        incident,
        EventKind.ESCALATED,
        what + (f": {reason}" if reason else ""),
        team=team_name,
        reason=reason,
        trigger="request",
    )
    return incident


def _team(name: str) -> str:
    try:
        return normalise_handle(name)
    except ValueError:
        raise BadInput(f"{name!r} is not a team name: use lowercase letters, digits, '-'") from None


def complete_action(op: Op, number: int, key: str, *, note: str | None = None) -> Action:
    incident = load(op, number)
    actions = {
        a.key: a
        for a in op.session.scalars(select(Action).where(Action.incident_id == incident.id))
    }
    action = actions.get(key.strip().lower())
    if action is None:
        pending = sorted(
            k for k, a in actions.items() if a.done_at is None and a.cancelled_at is None
        )
        listed = ", ".join(pending) if pending else "none"
        raise BadInput(f"INC-{number} has no checklist action {key!r}; pending: {listed}")
    if action.done_at is not None:
        raise BadInput(f"{action.key} was already done at {utc_text(action.done_at)}")
    if action.cancelled_at is not None:
        raise BadInput(f"{action.key} was cancelled at {utc_text(action.cancelled_at)}")
    if op.at < action.created_at:
        raise BadInput(
            f"{utc_text(op.at)} is before {action.key} was asked for "
            f"({utc_text(action.created_at)})"
        )
    action.done_at = op.at
    action.done_by_id = person(op, op.actor).id
    action.note = note.strip() if note else action.note
    record(
        op,
        incident,
        EventKind.ACTION,
        f"done: {action.title}" + (f" ({note})" if note else ""),
        action=action.key,
        note=note,
    )
    touch(op, incident)
    return action


def set_visibility(op: Op, number: int, visibility: Visibility) -> Incident:
    incident = load(op, number)
    if incident.severity is not Severity.SEV2:
        level = incident.severity.value if incident.severity else "unclassified"
        fixed = "always" if incident.severity and incident.severity.is_major else "never"
        raise Refused(
            "visibility-fixed-by-severity",
            f"INC-{number} is {level}: it is {fixed} on the status page",
            hint="Only a SEV2's customer visibility is chosen by hand.",
        )
    wanted = visibility is Visibility.PUBLIC
    if incident.customer_visible == wanted:
        raise BadInput(f"INC-{number} is already {visibility.value}")
    incident.customer_visible = wanted
    record(
        op,
        incident,
        EventKind.VISIBILITY,
        f"marked {visibility.value}",
        visibility=visibility.value,
    )
    touch(op, incident)
    if wanted and incident.stage.is_active:
        specs = declaration_actions(
            facts(op.session, incident), Severity.SEV2, op.policy, op.at, None
        )
        add_actions(op, incident, [s for s in specs if s.key == "status-page"])
    return incident
