"""Paging: the transport for the checklist actions that page or notify people.

When a write adds ``page-oncall``, ``page-all-hands``, ``notify-oncall``, ``notify-executives``,
``escalate`` or ``page-team-<T>``, :func:`settle` (run at the end of every write, in its
transaction) starts a :class:`~warroom.db.models.Page` for it. A page follows a copy of its
escalation policy: each tier's targets are resolved to people when that tier is paged, a
delivery is queued for each of their working contact methods (the outbox), and a
``page-tier`` timer is armed for the tier's timeout. When the timer fires unacknowledged, the
next tier is paged; after the last tier the policy's repeats run, then the page is exhausted
and the timeline says so. An acknowledgement stops it; so does the incident resolving.

Everything here happens inside a write, so a page moves on exactly once per timeout, and a
worker killed between tiers leaves the timer pending for the next one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.db.models import (
    Action,
    ContactMethod,
    DeliveryState,
    EscalationPolicy,
    Incident,
    Page,
    PageDelivery,
    Person,
    Schedule,
    Team,
    Timer,
    TimerState,
)
from warroom.domain.durations import humanize
from warroom.domain.errors import NotFound
from warroom.domain.paging import (
    DEFAULT_TIERS,
    ContactKind,
    DeliveryEvent,
    PageKind,
    PageState,
    Snapshot,
    Tier,
    next_step,
    snapshot,
    tiers_from_json,
)
from warroom.domain.policy import Notify
from warroom.domain.timers import TimerKind
from warroom.domain.types import EventKind, Severity, Stage
from warroom.notify import TransportError
from warroom.notify.dispatch import NotConfigured
from warroom.services import acklinks, directory, oncall
from warroom.services.executives import base_key
from warroom.services.records import Op, person, record, touch

# Stages in which nobody needs paging any more: the incident is over or being watched.
QUIET_STAGES = frozenset(
    {Stage.RESOLVED, Stage.MONITORING, Stage.CLOSED, Stage.POSTMORTEM_COMPLETE, Stage.BACKLOG}
)
# Transports that mirror a page's acknowledgement and resolution: they are pagers themselves.
MIRRORED = frozenset({ContactKind.PAGERDUTY, ContactKind.OPSGENIE})
# Without a severity (nothing proposed yet) a page still needs a timeout.
FALLBACK_TIMEOUT = timedelta(minutes=5)


def settle(op: Op) -> None:
    """Run at the end of every write: stop the pages a person acknowledged, start the pages
    this write's new actions ask for, and end the pages of incidents that no longer need any."""
    acknowledging, op.acknowledging = op.acknowledging, {}
    for incident in acknowledging.values():
        acknowledge_incident_pages(op, incident)
    added, op.added_actions = op.added_actions, []
    for action in added:
        target = op.session.get(Incident, action.incident_id)
        assert target is not None
        _carry_out(op, target, action)
    for touched in list(op.touched.values()):
        if not needs_paging(touched):
            end_pages(op, touched)
        else:
            end_unwanted(op, touched)


def needs_paging(incident: Incident) -> bool:
    return (
        incident.stage not in QUIET_STAGES
        and incident.dismissed_reason is None
        and incident.merged_into_id is None
    )


# What each level's notification policy pages for: a page started for one of these stops when
# the incident is lowered to a level that no longer asks for it.
PAGED_BY = {
    "page-oncall": frozenset({Notify.PAGE_ONCALL, Notify.PAGE_ALL_HANDS}),
    "page-all-hands": frozenset({Notify.PAGE_ALL_HANDS}),
}
# Pages an escalation moves on: the incident's own on-call paging, not an expertise request.
ESCALATING = frozenset({"page-oncall", "page-all-hands", "escalate"})
# Transports a notification (nothing to acknowledge) may use: a pager would page.
TELLING = frozenset({ContactKind.EMAIL, ContactKind.SLACK, ContactKind.WEBHOOK})


def end_unwanted(op: Op, incident: Incident) -> None:
    """Lowered (SEV1 → SEV2, SEV0 → SEV1): stop the pages the new level does not ask for."""
    if incident.severity is None:
        return
    notify = op.policy.level(incident.severity).notify
    for page in open_pages(op.session, incident.id):
        base = _base(op.session, page)
        wanted = PAGED_BY.get(base) if base is not None else None
        if wanted is not None and notify not in wanted:
            page.state, page.ended_at = PageState.ENDED, op.now
            _cancel_timers(op, page)
            _mirror(op, page, DeliveryEvent.RESOLVE)
            record(
                op,
                incident,
                EventKind.PAGE,
                f"paging stopped ({page.reason}): {incident.severity.value} does not page",
                page=page.id,
            )


def _base(session: Session, page: Page) -> str | None:
    action = session.get(Action, page.action_id) if page.action_id else None
    return base_key(action.key) if action is not None else None


def _carry_out(op: Op, incident: Incident, action: Action) -> None:
    base = base_key(action.key)
    if base == "page-oncall":
        team = team_of(op.session, incident)
        start(op, incident, action, policy_for(op, incident, team), reason="page the on-call")
    elif base == "page-all-hands":
        tiers = (Tier(op.policy.paging.all_hands),) if op.policy.paging.all_hands else ()
        snap = _snapshot(op, incident, "all-hands", None, tiers, op.policy.paging.repeat)
        start(op, incident, action, snap, reason="page all hands")
    elif base == "notify-oncall":
        team = team_of(op.session, incident)
        snap = _snapshot(op, incident, "on-call", _name(team), (Tier(("primary",)),), 0)
        start(op, incident, action, snap, reason="tell the on-call", kind=PageKind.NOTIFY)
    elif base == "notify-executives":
        if op.policy.paging.executives:
            tiers = (Tier(op.policy.paging.executives),)
            snap = _snapshot(op, incident, "executives", None, tiers, 0)
            start(op, incident, action, snap, reason="notify the executives", kind=PageKind.NOTIFY)
    elif base == "escalate":
        escalate(op, incident, action)
        _settle_request(op, action)
    elif base.startswith("page-team-"):
        need = _need(op, action.key, base)
        start(op, incident, action, _expertise(op, incident, need), reason=f"page {need}")
        _settle_request(op, action)


def _need(op: Op, key: str, base: str) -> str:
    """``page-team-squad-2`` is team squad-2 if there is one (or the matrix names it), else
    the second request for team squad."""
    whole = key.removeprefix("page-team-")
    if whole == base.removeprefix("page-team-"):
        return whole
    known = (
        whole in op.policy.escalation_matrix
        or op.session.scalars(select(Team.id).where(Team.name == whole)).first()
    )
    return whole if known else base.removeprefix("page-team-")


def _settle_request(op: Op, action: Action) -> None:
    """An escalation is never left pending: it paged someone (done) or could not (cancelled,
    with the timeline saying why), so the next escalation is carried out too."""
    if action.done_at is not None or action.cancelled_at is not None:
        return
    paged = op.session.scalars(
        select(PageDelivery.id)
        .join(Page, Page.id == PageDelivery.page_id)
        .where(Page.action_id == action.id)
        .limit(1)
    ).first()
    if paged is not None:
        _done(op, action, "paged")
    else:
        action.cancelled_at, action.note = op.now, "nobody could be paged"


def team_of(session: Session, incident: Incident) -> Team | None:
    """The team a routing rule chose, if it has a schedule; else the owner of the incident's
    service (a rule naming a team nobody set up must not page nobody)."""
    owner = (
        _team(session, incident.service.team_id)
        if incident.service is not None and incident.service.team_id is not None
        else None
    )
    routed = _team(session, incident.team_id) if incident.team_id is not None else None
    if routed is not None and (owner is None or oncall.team_schedules(session, routed)):
        return routed
    return owner


def _team(session: Session, team_id: int) -> Team | None:
    """A team, held for the transaction: the session's identity map keeps objects only while
    something refers to them, and reloading one flushes everything pending first."""
    held: dict[int, Team | None] = session.info.setdefault(TEAMS, {})
    if team_id not in held:
        held[team_id] = session.get(Team, team_id)
    return held[team_id]


TEAMS = "warroom.teams"


def _name(team: Team | None) -> str | None:
    return team.name if team is not None else None


def policy_for(op: Op, incident: Incident, team: Team | None) -> Snapshot:
    """The service's own policy, else its team's, else primary → secondary → lead."""
    chosen: EscalationPolicy | None = None
    if incident.service is not None and incident.service.policy_id is not None:
        chosen = op.session.get(EscalationPolicy, incident.service.policy_id)
    if chosen is None and team is not None:
        chosen = team.policy
    if chosen is None:
        tiers = tuple(Tier((target,)) for target in DEFAULT_TIERS)
        return _snapshot(op, incident, "default", _name(team), tiers, op.policy.paging.repeat)
    return _snapshot(
        op, incident, chosen.name, _name(team), tiers_from_json(chosen.tiers), chosen.repeat
    )


def _expertise(op: Op, incident: Incident, need: str) -> Snapshot:
    """`escalate --team NEED`: the escalation matrix's target for it, else the team NEED
    through its own policy."""
    target = op.policy.escalation_matrix.get(need)
    if target is not None:
        return _snapshot(op, incident, f"matrix:{need}", None, (Tier((target,)),), 0)
    team = op.session.scalars(select(Team).where(Team.name == need)).one_or_none()
    if team is None:
        return _snapshot(op, incident, f"team:{need}", need, (Tier((f"team:{need}",)),), 0)
    if team.policy is not None:
        policy = team.policy
        return _snapshot(
            op, incident, policy.name, team.name, tiers_from_json(policy.tiers), policy.repeat
        )
    tiers = tuple(Tier((target,)) for target in DEFAULT_TIERS)
    return _snapshot(op, incident, "default", team.name, tiers, op.policy.paging.repeat)


def _snapshot(
    op: Op,
    incident: Incident,
    name: str,
    team: str | None,
    tiers: tuple[Tier, ...],
    repeat: int,
) -> Snapshot:
    return snapshot(name, team, tiers, repeat, ack_timeout(op, incident.severity))


def ack_timeout(op: Op, severity: Severity | None) -> timedelta:
    """A tier's default timeout: the severity's acknowledge target (SEV1: the workflow's five
    minutes)."""
    if severity is None:
        return FALLBACK_TIMEOUT
    return op.policy.level(severity).acknowledge_within or FALLBACK_TIMEOUT


def start(
    op: Op,
    incident: Incident,
    action: Action | None,
    snap: Snapshot,
    *,
    reason: str,
    kind: PageKind = PageKind.PAGE,
    first_tier: int = 0,
) -> Page | None:
    """Start paging: copy the policy onto a new page and page its first tier now."""
    if not snap.tiers:
        record(
            op,
            incident,
            EventKind.MISSED,
            f"cannot {reason}: nobody is configured for it (see `warroom.toml` [paging])",
            action=action.key if action else None,
        )
        return None
    page = Page(
        key=str(uuid.uuid4()),
        incident_id=incident.id,
        action_id=action.id if action else None,
        kind=kind,
        reason=reason,
        snapshot=snap.as_json(),
        tier=min(first_tier, len(snap.tiers) - 1),
        round=0,
        tier_paged_at=op.now,
        state=PageState.OPEN,
        created_at=op.now,
    )
    op.session.add(page)
    op.session.flush()
    _page_tier(op, incident, page, snap)
    return page


@dataclass(frozen=True)
class Reached:
    person: Person
    why: str  # "primary on-call of payments", "lead of payments", "named in the tier"


def _page_tier(op: Op, incident: Incident, page: Page, snap: Snapshot) -> None:
    """Queue the deliveries of the page's current tier and arm its timeout. A tier with nobody
    reachable is skipped at once, and said on the timeline (one entry for all the tiers
    skipped together): a page is never dropped silently. When no tier reaches anyone, the
    page ends there: repeating cannot reach people who cannot be reached."""
    verb = "paging" if page.kind is PageKind.PAGE else "notifying"
    problems: list[str] = []
    for _ in range(len(snap.tiers)):
        reached = resolve(op, snap.tiers[page.tier].targets, snap.team, op.now)
        queued, unreachable = _queue(op, page, reached, DeliveryEvent.TRIGGER)
        tier = f"tier {page.tier + 1}" + (f", repeat {page.round}" if page.round else "")
        if unreachable:
            problems.append(f"{tier}: {', '.join(unreachable)} (no working contact method)")
        elif not reached:
            targets = ", ".join(snap.tiers[page.tier].targets)
            who = f"{targets} of {snap.team}" if snap.team else targets
            problems.append(f"{tier}: nobody is on call as {who}")
        if queued:
            names = ", ".join(sorted(p.handle for p in queued))
            record(
                op,
                incident,
                EventKind.PAGE,
                f"{verb} {names} ({page.reason}, {tier} of policy {snap.policy})",
                page=page.id,
                tier=page.tier + 1,
                round=page.round,
                people=sorted(p.handle for p in queued),
            )
            break
        if page.kind is PageKind.NOTIFY or next_step(snap, page.tier, page.round) is None:
            break
        _advance(op, incident, page, snap, "nobody reachable")
    else:
        queued = []
    if problems:
        record(
            op,
            incident,
            EventKind.MISSED,
            f"{page.reason}: cannot reach {'; '.join(problems)}"
            + ("" if snap.team or snap.policy != "default" else _HINT),
            page=page.id,
        )
    if page.kind is PageKind.NOTIFY:
        page.state, page.ended_at = PageState.ENDED, op.now
    elif queued:
        _arm(op, page, snap)
    else:
        _exhaust(op, incident, page, snap, reached_nobody=True)


_HINT = " (its service has no owning team: `warroom service create NAME --team TEAM`)"


def _arm(op: Op, page: Page, snap: Snapshot) -> None:
    op.session.add(
        Timer(
            incident_id=page.incident_id,
            kind=TimerKind.PAGE_TIER,
            key=f"{page.id}:{page.round}:{page.tier}",
            due_at=page.tier_paged_at + snap.timeout(page.tier),
            state=TimerState.PENDING,
            created_at=op.now,
        )
    )


def _advance(op: Op, incident: Incident, page: Page, snap: Snapshot, why: str) -> bool:
    """Move the page to its next tier (or repeat). False when it is exhausted."""
    step = next_step(snap, page.tier, page.round)
    if step is None:
        _exhaust(op, incident, page, snap)
        return False
    page.tier, page.round = step
    page.tier_paged_at = op.now
    return True


def _exhaust(
    op: Op, incident: Incident, page: Page, snap: Snapshot, *, reached_nobody: bool = False
) -> None:
    page.state, page.ended_at = PageState.EXHAUSTED, op.now
    if reached_nobody:
        return  # already said, with why
    rounds = f" and {snap.repeat} repeat(s)" if snap.repeat else ""
    record(
        op,
        incident,
        EventKind.MISSED,
        f"nobody acknowledged the page ({page.reason}) after {len(snap.tiers)} tier(s){rounds}: "
        "reach someone another way",
        page=page.id,
    )


def tier_timed_out(op: Op, incident: Incident, timer: Timer) -> None:
    """A tier's timeout fired: if that tier is still the one paged and nobody acknowledged,
    page the next."""
    page_id, round_, tier = (int(part) for part in timer.key.split(":"))
    page = op.session.get(Page, page_id)
    if page is None or page.state is not PageState.OPEN:
        return
    if (page.round, page.tier) != (round_, tier):
        return
    snap = Snapshot.from_json(page.snapshot)
    waited = humanize(snap.timeout(tier))
    record(
        op,
        incident,
        EventKind.PAGE,
        f"tier {tier + 1} did not acknowledge within {waited}: escalating",
        page=page.id,
        tier=tier + 1,
    )
    if _advance(op, incident, page, snap, "timed out"):
        _page_tier(op, incident, page, snap)
    touch(op, incident)


def escalate(op: Op, incident: Incident, action: Action) -> None:
    """Escalation (no progress, the resolve target passed, or a request): page the tier after
    the one that last answered, through the incident's latest page's policy."""
    latest = next(
        (
            page
            for page in op.session.scalars(
                select(Page)
                .where(Page.incident_id == incident.id, Page.kind == PageKind.PAGE)
                .order_by(Page.id.desc())
            )
            if _base(op.session, page) in ESCALATING
        ),
        None,
    )
    if latest is None:
        snap = policy_for(op, incident, team_of(op.session, incident))
        start(op, incident, action, snap, reason="escalate")
        return
    snap = Snapshot.from_json(latest.snapshot)
    nxt = latest.tier + 1
    if latest.state is PageState.OPEN:
        if next_step(snap, latest.tier, latest.round) is None:
            record(
                op,
                incident,
                EventKind.MISSED,
                f"escalation: the page is at its last tier ({latest.tier + 1} of policy "
                f"{snap.policy}); nobody further to page",
                action=action.key,
            )
            return
        # Still unanswered: skip its timeout and page the next tier now.
        _cancel_timers(op, latest)
        latest.tier_paged_at = op.now
        record(op, incident, EventKind.PAGE, "escalation: paging the next tier now", page=latest.id)
        if _advance(op, incident, latest, snap, "escalated"):
            _page_tier(op, incident, latest, snap)
        _done(op, action, f"paged tier {latest.tier + 1} of the open page")
        return
    if nxt >= len(snap.tiers):
        record(
            op,
            incident,
            EventKind.MISSED,
            f"escalation: no tier after tier {latest.tier + 1} of policy {snap.policy}",
            action=action.key,
        )
        return
    start(op, incident, action, snap, reason="escalate", first_tier=nxt)


def _done(op: Op, action: Action, note: str) -> None:
    if action.done_at is None and action.cancelled_at is None:
        action.done_at, action.note = op.now, note
        action.done_by_id = person(op, op.actor).id


def resolve(op: Op, targets: Iterable[str], team: str | None, at: datetime) -> list[Reached]:
    """The people a tier's targets name at ``at``, each once, in target order."""
    found: dict[int, Reached] = {}
    for target in targets:
        for handle, why in _expand(op, target, team, at, depth=0):
            someone = person(op, handle)
            found.setdefault(someone.id, Reached(someone, why))
    return list(found.values())


def _expand(
    op: Op, target: str, team: str | None, at: datetime, depth: int
) -> list[tuple[str, str]]:
    kind, _, rest = target.partition(":")
    if not rest:
        if target == "all-hands":
            if depth > 0:
                return []
            return [
                found
                for item in op.policy.paging.all_hands
                for found in _expand(op, item, team, at, depth + 1)
            ]
        if team is None:
            return []
        team_row = op.session.scalars(select(Team).where(Team.name == team)).one_or_none()
        if team_row is None:
            return []
        if target == "lead":
            lead = team_row.lead
            return [(lead.handle, f"lead of {team}")] if lead is not None else []
        handle = oncall.on_call(op.session, team_row, target, at)
        return [(handle, f"{target} on-call of {team}")] if handle else []
    if kind == "person":
        return [(rest, "named in the tier")]
    if kind == "team":
        return _expand(op, "primary", rest, at, depth + 1)
    if kind == "schedule":
        name, _, level = rest.partition(":")
        schedule = op.session.scalars(select(Schedule).where(Schedule.name == name)).one_or_none()
        if schedule is None:
            return []
        handle = oncall.schedule_on_call(op.session, schedule, level or "primary", at)
        return [(handle, f"{level or 'primary'} on-call of schedule {name}")] if handle else []
    return []


def _queue(
    op: Op, page: Page, reached: list[Reached], event: DeliveryEvent
) -> tuple[list[Person], list[str]]:
    """A delivery per working contact method of each person; who had none."""
    queued: list[Person] = []
    unreachable: list[str] = []
    if not reached:
        return queued, unreachable
    methods = methods_of(op.session, [r.person.id for r in reached])
    for r in reached:
        working = [
            m
            for m in methods.get(r.person.id, [])
            if m.failing_since is None and (page.kind is PageKind.PAGE or m.kind in TELLING)
        ]
        if not working:
            unreachable.append(r.person.handle)
            continue
        for method in working:
            op.session.add(_delivery(op, page, r.person.id, method, event))
        queued.append(r.person)
    return queued, unreachable


def methods_of(session: Session, person_ids: list[int]) -> dict[int, list[ContactMethod]]:
    rows = session.scalars(
        select(ContactMethod)
        .where(ContactMethod.person_id.in_(person_ids))
        .order_by(ContactMethod.position, ContactMethod.id)
    )
    grouped: dict[int, list[ContactMethod]] = {}
    for row in rows:
        grouped.setdefault(row.person_id, []).append(row)
    return grouped


def _delivery(
    op: Op, page: Page, person_id: int, method: ContactMethod, event: DeliveryEvent
) -> PageDelivery:
    """One message to one contact method; its id is the same on every retry, and derived from
    the page, tier and repeat, so the same step can never queue two different ones."""
    return PageDelivery(
        delivery_id=f"{page.key}:{page.round}:{page.tier}:{method.id}:{event.value}",
        page_id=page.id,
        person_id=person_id,
        contact_method_id=method.id,
        kind=method.kind,
        address=method.address,
        event=event,
        tier=page.tier,
        round=page.round,
        state=DeliveryState.PENDING,
        next_attempt_at=op.now,
        created_at=op.now,
    )


def _cancel_timers(op: Op, page: Page) -> None:
    for timer in op.session.scalars(
        select(Timer).where(
            Timer.incident_id == page.incident_id,
            Timer.kind == TimerKind.PAGE_TIER,
            Timer.state == TimerState.PENDING,
            Timer.key.startswith(f"{page.id}:"),
        )
    ):
        timer.state, timer.cancelled_at = TimerState.CANCELLED, op.now


def open_pages(session: Session, incident_id: int) -> list[Page]:
    return list(
        session.scalars(
            select(Page)
            .where(Page.incident_id == incident_id, Page.state == PageState.OPEN)
            .order_by(Page.id)
        )
    )


def acknowledge_incident_pages(op: Op, incident: Incident) -> list[Page]:
    """A person acknowledged the incident (or acted on it): every open page of it stops."""
    pages = open_pages(op.session, incident.id)
    for page in pages:
        acknowledge_page(op, incident, page, op.actor)
    return pages


def acknowledge_page(op: Op, incident: Incident, page: Page, handle: str) -> None:
    """Stop one page: record who and how long it took, cancel its timeout, tell the pagers it
    was mirrored to, and acknowledge the incident itself if nobody had."""
    if page.state is not PageState.OPEN:
        return
    who = person(op, handle)
    page.state = PageState.ACKNOWLEDGED
    page.acknowledged_at, page.acknowledged_by = op.at, who
    page.ended_at = op.now
    _cancel_timers(op, page)
    _mirror(op, page, DeliveryEvent.ACKNOWLEDGE)
    took = humanize(max(op.at - page.created_at, timedelta()))
    record(
        op,
        incident,
        EventKind.PAGE,
        f"page acknowledged by {who.handle} after {took} (tier {page.tier + 1}: {page.reason})",
        page=page.id,
        tier=page.tier + 1,
        seconds=(op.at - page.created_at).total_seconds(),
    )
    if incident.acknowledged_at is None:
        incident.acknowledged_at = op.at
        incident.acknowledged_by = who
        record(op, incident, EventKind.ACKNOWLEDGED, f"acknowledged by {who.handle} (page)")
    touch(op, incident)


def end_pages(op: Op, incident: Incident) -> None:
    """The incident resolved, was dismissed or merged: stop paging, resolve the mirrors."""
    for page in open_pages(op.session, incident.id):
        page.state, page.ended_at = PageState.ENDED, op.now
        _cancel_timers(op, page)
        record(op, incident, EventKind.PAGE, f"paging stopped ({page.reason}): {incident.stage}")
    for page in op.session.scalars(
        select(Page).where(Page.incident_id == incident.id, Page.kind == PageKind.PAGE)
    ):
        _mirror(op, page, DeliveryEvent.RESOLVE)


def _mirror(op: Op, page: Page, event: DeliveryEvent) -> None:
    """Acknowledge or resolve, once, on every pager (PagerDuty, Opsgenie) the page triggered."""
    sent = op.session.scalars(
        select(PageDelivery).where(
            PageDelivery.page_id == page.id, PageDelivery.kind.in_(tuple(MIRRORED))
        )
    ).all()
    done = {(d.kind, d.address) for d in sent if d.event is event}
    for delivery in sent:
        target = (delivery.kind, delivery.address)
        if delivery.event is not DeliveryEvent.TRIGGER or target in done:
            continue
        done.add(target)
        op.session.add(
            PageDelivery(
                delivery_id=f"{page.key}:{delivery.contact_method_id}:{event.value}",
                page_id=page.id,
                person_id=delivery.person_id,
                contact_method_id=delivery.contact_method_id,
                kind=delivery.kind,
                address=delivery.address,
                event=event,
                tier=delivery.tier,
                round=delivery.round,
                state=DeliveryState.PENDING,
                next_attempt_at=op.now,
                created_at=op.now,
            )
        )


def delivery_outcome(op: Op, delivery: PageDelivery, error: TransportError | None) -> None:
    """What a delivery's final outcome means for its page: the first message out marks the
    page's checklist action done; a method that failed for good is marked and said on the
    timeline; a tier left with nobody reached is skipped at once instead of waiting out its
    timeout."""
    page = op.session.get(Page, delivery.page_id)
    assert page is not None
    incident = op.session.get(Incident, page.incident_id)
    assert incident is not None
    how = f"{delivery.person.handle} by {delivery.kind.value}"
    if error is None:
        if delivery.event is DeliveryEvent.TRIGGER and page.action_id is not None:
            action = op.session.get(Action, page.action_id)
            if action is not None and action.done_at is None and action.cancelled_at is None:
                action.done_at, action.note = op.now, f"reached {how}"
                action.done_by_id = person(op, op.actor).id
                record(
                    op,
                    incident,
                    EventKind.ACTION,
                    f"done: {action.title} (reached {how})",
                    action=action.key,
                    page=page.id,
                )
                # Only the action's own deadline changes: cancelled here rather than by
                # reconciling every timer of the incident (a storm's thousand pages).
                _cancel_action_deadline(op, action)
        return
    if delivery.event is not DeliveryEvent.TRIGGER:
        return  # a mirror that failed: the pager keeps its own alert; nothing to escalate
    blamed = not isinstance(error, NotConfigured) and error.permanent
    if blamed and directory.mark_failing(
        op.session, delivery.contact_method_id, op.now, str(error)
    ):
        problem = f"could not reach {how} ({error}); that contact method is marked failing"
    else:
        problem = f"could not reach {how} ({error})"
    record(op, incident, EventKind.MISSED, problem, page=page.id, tier=delivery.tier + 1)
    touch(op, incident)
    if (
        page.kind is PageKind.PAGE
        and page.state is PageState.OPEN
        and (page.tier, page.round) == (delivery.tier, delivery.round)
        and not _tier_has_hope(op.session, page)
    ):
        snap = Snapshot.from_json(page.snapshot)
        _cancel_timers(op, page)
        record(
            op,
            incident,
            EventKind.PAGE,
            f"nobody at tier {page.tier + 1} could be reached: paging the next tier now",
            page=page.id,
        )
        if _advance(op, incident, page, snap, "unreachable"):
            _page_tier(op, incident, page, snap)


def _cancel_action_deadline(op: Op, action: Action) -> None:
    for timer in op.session.scalars(
        select(Timer).where(
            Timer.incident_id == action.incident_id,
            Timer.kind == TimerKind.ACTION_DUE,
            Timer.key == action.key,
            Timer.state == TimerState.PENDING,
        )
    ):
        timer.state, timer.cancelled_at = TimerState.CANCELLED, op.now


def _tier_has_hope(session: Session, page: Page) -> bool:
    """Whether any message of the page's current tier went out or may still go out."""
    return (
        session.scalars(
            select(PageDelivery.id).where(
                PageDelivery.page_id == page.id,
                PageDelivery.tier == page.tier,
                PageDelivery.round == page.round,
                PageDelivery.event == DeliveryEvent.TRIGGER,
                PageDelivery.state != DeliveryState.FAILED,
            )
        ).first()
        is not None
    )


def link_holder(session: Session, token: str, now: datetime) -> tuple[Page, str]:
    """The page an acknowledgement link is for, and the handle of the person it was sent to."""
    claim = acklinks.verify(session, token, now)
    page = session.get(Page, claim.page_id)
    someone = session.get(Person, claim.person_id)
    if page is None or someone is None:
        raise NotFound("this acknowledgement link is not valid (or has expired)")
    return page, someone.handle


def acknowledge_with_link(op: Op, token: str) -> Page:
    """One click in a page: the person it was sent to acknowledges it (if still open)."""
    page, handle = link_holder(op.session, token, op.now)
    incident = op.session.get(Incident, page.incident_id)
    assert incident is not None
    acknowledge_page(op, incident, page, handle)
    return page


def acknowledge_by_id(op: Op, page_id: int) -> Page:
    page = op.session.get(Page, page_id)
    if page is None:
        raise NotFound(f"page {page_id} does not exist")
    incident = op.session.get(Incident, page.incident_id)
    assert incident is not None
    acknowledge_page(op, incident, page, op.actor)
    return page


def page_row(session: Session, page: Page) -> dict[str, Any]:
    snap = Snapshot.from_json(page.snapshot)
    deliveries = session.scalars(
        select(PageDelivery).where(PageDelivery.page_id == page.id).order_by(PageDelivery.id)
    )
    return {
        "id": page.id,
        "incident": f"INC-{page.incident_id}",
        "kind": page.kind.value,
        "reason": page.reason,
        "state": page.state.value,
        "policy": snap.policy,
        "team": snap.team,
        "tier": page.tier + 1,
        "tiers": len(snap.tiers),
        "round": page.round,
        "created_at": page.created_at.isoformat(),
        "tier_paged_at": page.tier_paged_at.isoformat(),
        "acknowledged_at": page.acknowledged_at.isoformat() if page.acknowledged_at else None,
        "acknowledged_by": page.acknowledged_by.handle if page.acknowledged_by else None,
        "seconds_to_acknowledge": (
            (page.acknowledged_at - page.created_at).total_seconds()
            if page.acknowledged_at
            else None
        ),
        "deliveries": [
            {
                "person": d.person.handle,
                "transport": d.kind.value,
                "event": d.event.value,
                "tier": d.tier + 1,
                "round": d.round,
                "state": d.state.value,
                "attempts": d.attempts,
                "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
                "error": d.last_error,
            }
            for d in deliveries
        ],
    }


def pages(session: Session, incident_id: int | None = None, limit: int = 50) -> list[Page]:
    query = select(Page).order_by(Page.id.desc()).limit(limit)
    if incident_id is not None:
        query = query.where(Page.incident_id == incident_id)
    return list(session.scalars(query))


def incident_summary(session: Session, number: int) -> str:
    incident = session.get(Incident, number)
    if incident is None:
        return f"INC-{number}"
    severity = incident.severity.value if incident.severity else "SEV?"
    return f"INC-{number} [{severity}] {incident.title} ({incident.stage.value})"
