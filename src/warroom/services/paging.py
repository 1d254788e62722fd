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

from sqlalchemy import select

from warroom.db.models import (
    Action,
    ContactMethod,
    DeliveryState,
    Incident,
    Page,
    PageDelivery,
    Person,
    Team,
    Timer,
)
from warroom.domain.durations import humanize
from warroom.domain.paging import (
    ContactKind,
    DeliveryEvent,
    PageKind,
    PageState,
    Snapshot,
    Tier,
    next_step,
)
from warroom.domain.timers import TimerKind
from warroom.domain.types import EventKind
from warroom.services.executives import base_key
from warroom.services.page_stops import (
    acknowledge_incident_pages,
    action_base,
    cancel_timers,
    end_pages,
    end_unwanted,
    needs_paging,
    opened,
)
from warroom.services.paging_targets import (
    Reached,
    expertise,
    make_snapshot,
    methods_of,
    policy_for,
    resolve,
    team_name,
    team_of,
)
from warroom.services.records import Op, arm, finish_action, record, touch


def settle(op: Op) -> None:
    """Run at the end of every write: stop the pages a person acknowledged, start the pages
    this write's new actions ask for, and end the pages of incidents that no longer need any."""
    acknowledging, op.acknowledging = op.acknowledging, {}
    for incident in acknowledging.values():
        acknowledge_incident_pages(op, incident)
    # Not flushed here: a page names its action through the relationship, so the action
    # and its page go in with the flush that gives the page its id.
    added, op.added_actions = op.added_actions, []
    for action in added:
        target = op.session.get(Incident, action.incident_id)
        assert target is not None
        _carry_out(op, target, action)
    for touched in list(op.touched.values()):
        if not needs_paging(touched):
            end_pages(op, touched)
        elif touched.id in op.regraded:
            end_unwanted(op, touched)


# Pages an escalation moves on: the incident's own on-call paging, not an expertise request.
ESCALATING = frozenset({"page-oncall", "page-all-hands", "escalate"})
# Transports a notification (nothing to acknowledge) may use: a pager would page.
TELLING = frozenset({ContactKind.EMAIL, ContactKind.SLACK, ContactKind.WEBHOOK})


def _carry_out(op: Op, incident: Incident, action: Action) -> None:
    base = base_key(action.key)
    if base == "page-oncall":
        team = team_of(op.session, incident)
        start(op, incident, action, policy_for(op, incident, team), reason="page the on-call")
    elif base == "page-all-hands":
        tiers = (Tier(op.policy.paging.all_hands),) if op.policy.paging.all_hands else ()
        snap = make_snapshot(op, incident, "all-hands", None, tiers, op.policy.paging.repeat)
        start(op, incident, action, snap, reason="page all hands")
    elif base == "notify-oncall":
        team = team_of(op.session, incident)
        snap = make_snapshot(op, incident, "on-call", team_name(team), (Tier(("primary",)),), 0)
        start(op, incident, action, snap, reason="tell the on-call", kind=PageKind.NOTIFY)
    elif base == "notify-executives":
        if op.policy.paging.executives:
            tiers = (Tier(op.policy.paging.executives),)
            snap = make_snapshot(op, incident, "executives", None, tiers, 0)
            start(op, incident, action, snap, reason="notify the executives", kind=PageKind.NOTIFY)
    elif base == "escalate":
        escalate(op, incident, action)
        _settle_request(op, action)
    elif base.startswith("page-team-"):
        need = _need(op, action.key, base)
        start(op, incident, action, expertise(op, incident, need), reason=f"page {need}")
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
        .where(Page.action == action)  # its id is taken once the query's flush stored it
        .limit(1)
    ).first()
    if paged is not None:
        finish_action(op, action, "paged")
    else:
        action.cancelled_at, action.note = op.now, "nobody could be paged"


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
    # A notification asks nobody to acknowledge it: it ends as its deliveries are queued
    # (page_tier), and is stored ended rather than updated in the same transaction.
    telling = kind is PageKind.NOTIFY
    page = Page(
        key=str(uuid.uuid4()),
        incident_id=incident.id,
        action=action,
        kind=kind,
        reason=reason,
        snapshot=snap.as_json(),
        tier=min(first_tier, len(snap.tiers) - 1),
        round=0,
        tier_paged_at=op.now,
        state=PageState.ENDED if telling else PageState.OPEN,
        ended_at=op.now if telling else None,
        created_at=op.now,
    )
    op.session.add(page)
    op.session.flush()
    opened(op.session, page)
    page_tier(op, incident, page, snap)
    return page


def page_tier(op: Op, incident: Incident, page: Page, snap: Snapshot) -> None:
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
        advance(op, incident, page, snap, "nobody reachable")
    else:
        queued = []
    if problems:
        record(
            op,
            incident,
            EventKind.MISSED,
            f"{page.reason}: cannot reach {'; '.join(problems)}"
            + ("" if snap.team or snap.policy != "default" else _no_team(incident)),
            page=page.id,
        )
    if page.kind is PageKind.NOTIFY:
        page.state, page.ended_at = PageState.ENDED, op.now
    elif queued:
        _arm(op, page, snap)
    else:
        _exhaust(op, incident, page, snap, reached_nobody=True)


def _no_team(incident: Incident) -> str:
    """Why nobody was found: no team owns the incident's service, or it names none."""
    if incident.service_id is None:
        return (
            f" (INC-{incident.id} names no service, so no team's on-call is known: give "
            "`--service NAME` when reporting or declaring)"
        )
    return " (its service has no owning team: `warroom service create NAME --team TEAM`)"


def _arm(op: Op, page: Page, snap: Snapshot) -> None:
    arm(
        op,
        page.incident_id,
        TimerKind.PAGE_TIER,
        f"{page.id}:{page.round}:{page.tier}",
        page.tier_paged_at + snap.timeout(page.tier),
    )


def advance(op: Op, incident: Incident, page: Page, snap: Snapshot, why: str) -> bool:
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
    if advance(op, incident, page, snap, "timed out"):
        page_tier(op, incident, page, snap)
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
            if action_base(op.session, page) in ESCALATING
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
        cancel_timers(op, latest)
        latest.tier_paged_at = op.now
        record(op, incident, EventKind.PAGE, "escalation: paging the next tier now", page=latest.id)
        if advance(op, incident, latest, snap, "escalated"):
            page_tier(op, incident, latest, snap)
        finish_action(op, action, f"paged tier {latest.tier + 1} of the open page")
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
