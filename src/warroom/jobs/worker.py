"""The timer worker: claim one due timer, fire it, mark it fired, commit. Repeat.

Timers are claimed and fired in one transaction, a batch at a time, so their effects happen
exactly once: a worker that dies mid-way rolls back and the timers are still pending for the
next one. Several workers may run against one database: PostgreSQL hands each different rows
(``FOR UPDATE SKIP LOCKED``); on SQLite a compare-and-set UPDATE lets only one of them win.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from warroom.db.engine import unit_of_work
from warroom.db.listen import announce
from warroom.db.models import Incident, Timer, TimerState
from warroom.domain.errors import BadInput, WarroomError
from warroom.domain.policy import Policy
from warroom.jobs import BATCH
from warroom.jobs.deliveries import Writer, deliver_one
from warroom.jobs.emails import deliver_email, fan_out
from warroom.jobs.grouping import group_alerts
from warroom.jobs.pages import deliver_pages
from warroom.jobs.slack import deliver_slack
from warroom.metrics import TIMER_LAG, TIMERS_FIRED
from warroom.notify.dispatch import Transports
from warroom.services.records import Op
from warroom.services.timers import SYSTEM_ACTOR, fire_all
from warroom.wakeup import Wakeup

if TYPE_CHECKING:
    from warroom.runtime import Runtime
    from warroom.web.status_export import Exporter

log = logging.getLogger("warroom.worker")

MAX_CLAIM_ATTEMPTS = 20
RETRY_SECONDS = 2.0
GROUP_EVERY = 0.2  # seconds between grouping passes while alerts keep coming
STORM = 50  # alerts grouped in one go that make the next pass wait GROUP_EVERY
GROUP_PASS = 200  # alerts per grouping pass: a backlog is grouped pass by pass, pages between
# How long one kind of work (timers, pages, webhooks, e-mail, Slack) runs before the others get
# their turn: a receiver that answers slowly delays timers by at most this and one send.
SHARE_SECONDS = 1.0
HELD_PAUSE = 0.05  # seconds: a due timer another transaction holds is looked at again after


def _deliveries(
    sessions: sessionmaker[Session],
    policy: Policy,
    clock: Callable[[], datetime],
    writer: Writer,
    transports: Transports | None,
) -> list[Callable[[], object]]:
    """One step of each kind of delivery, most urgent first: a person waiting to be paged
    matters more than a webhook; customers are told of published updates, then mailed."""

    def webhooks() -> object:
        return deliver_one(sessions, policy, now=clock(), writer=writer)

    if transports is None:
        return [webhooks]
    told = transports
    base = policy.status_page.url or told.public_url

    def pages() -> object:
        return deliver_pages(sessions, policy, told, now=clock(), writer=writer)

    def subscribers() -> object:
        return fan_out(sessions, policy, base_url=base, now=clock(), writer=writer)

    def mail() -> object:
        return deliver_email(sessions, told, now=clock(), writer=writer)

    steps = [pages, webhooks, subscribers, mail]
    if told.slack_token is not None:
        web = told.slack_client()
        steps.append(lambda: deliver_slack(sessions, policy, web, now=clock(), writer=writer))
    return steps


def _drain(stop: threading.Event, step: Callable[[], object]) -> bool:
    """Run ``step`` until it finds nothing to do, ``stop`` is set, or its share of time is
    spent. True when it may have left work: the loop then comes back without sleeping."""
    ends = time.monotonic() + SHARE_SECONDS
    while not stop.is_set() and step():
        if time.monotonic() >= ends:
            return True
    return False


def claim(session: Session, now: datetime, worker: str, limit: int) -> list[Timer]:
    """Take up to ``limit`` due timers for this transaction, earliest first.

    On PostgreSQL the transaction also takes their incidents, skipping any another write
    holds (:func:`_free`), and looks past the timers of those."""
    due = (
        select(Timer.id, Timer.incident_id)
        .where(Timer.state == TimerState.PENDING, Timer.due_at <= now)
        .order_by(Timer.due_at, Timer.id)
        .limit(limit)
    )
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        due = due.with_for_update(of=Timer, skip_locked=True)
    held: set[int] = set()
    for _ in range(MAX_CLAIM_ATTEMPTS):
        rows = session.execute(due.where(Timer.incident_id.not_in(held)) if held else due).all()
        if not rows:
            return []
        if postgresql:
            free = _free(session, {incident for _, incident in rows})
            held |= {incident for _, incident in rows} - free
            candidates = [timer for timer, incident in rows if incident in free]
        else:
            candidates = [timer for timer, _ in rows]
        if not candidates:
            continue
        # On SQLite another worker may have taken them meanwhile: the state check settles it,
        # and a worker that lost them all looks again.
        won = session.scalars(
            update(Timer)
            .where(Timer.id.in_(candidates), Timer.state == TimerState.PENDING)
            .values(state=TimerState.FIRED, fired_at=now, fired_by=worker)
            .returning(Timer.id)
            .execution_options(synchronize_session=False)
        ).all()
        if won:
            return list(
                session.scalars(
                    select(Timer).where(Timer.id.in_(won)).order_by(Timer.due_at, Timer.id)
                )
            )
    return []


def _free(session: Session, incidents: set[int]) -> set[int]:
    """Of ``incidents``, those this transaction takes now; not those another write holds.

    A write to an incident holds its row and then changes its timers. A worker that held
    those timers and then waited for the row would deadlock with it (PostgreSQL breaks that
    after a second by rolling one of them back). So the worker takes the incidents right
    after their timers, without waiting: a held incident's timers stay pending until that
    write commits, which wakes the worker again."""
    return set(
        session.scalars(
            select(Incident.id)
            .where(Incident.id.in_(incidents))
            .order_by(Incident.id)
            .with_for_update(key_share=True, skip_locked=True)
        )
    )


def fire_due(
    sessions: sessionmaker[Session],
    policy: Policy,
    *,
    now: datetime,
    worker: str = "worker",
    limit: int = BATCH,
    writer: Writer = nullcontext,
    slack: bool = False,
) -> int:
    """One step: fire up to ``limit`` due timers in one transaction; returns how many fired.
    With ``slack``, what they record is posted in the incidents' Slack channels."""
    with writer(), unit_of_work(sessions) as session:
        timers = claim(session, now, worker, limit)
        if not timers:
            return 0
        op = Op(session=session, policy=policy, actor=SYSTEM_ACTOR, at=now, now=now, slack=slack)
        fire_all(op, timers)
        announce(session)
        fired = [(timer.kind.value, (now - timer.due_at).total_seconds()) for timer in timers]
    for kind, lag in fired:  # counted once committed
        TIMERS_FIRED.labels(kind).inc()
        TIMER_LAG.observe(max(lag, 0.0))
    return len(timers)


def fire_one(
    sessions: sessionmaker[Session], policy: Policy, *, now: datetime, worker: str = "worker"
) -> bool:
    """Fire the earliest due timer. Returns whether one fired."""
    return fire_due(sessions, policy, now=now, worker=worker, limit=1) > 0


def seconds_until_next(sessions: sessionmaker[Session], now: datetime) -> float | None:
    with unit_of_work(sessions) as session:
        due = session.scalar(
            select(Timer.due_at)
            .where(Timer.state == TimerState.PENDING)
            .order_by(Timer.due_at)
            .limit(1)
        )
    return None if due is None else max((due - now).total_seconds(), 0.0)


def exporter(runtime: Runtime) -> Exporter | None:
    """The static copy of the status page WARROOM_STATUS_EXPORT_DIR asks for, if any."""
    root = runtime.settings.status_export_dir
    if root is None:
        return None
    from warroom.web.status_export import Exporter

    url = runtime.policy.status_page.url or runtime.settings.public_url
    return Exporter(root, url.rstrip("/"))


def run(
    sessions: sessionmaker[Session],
    policy: Policy,
    clock: Callable[[], datetime],
    *,
    stop: threading.Event,
    worker: str = "worker",
    idle: timedelta = timedelta(seconds=1),
    wakeup: Wakeup | None = None,
    batch: int = BATCH,
    writer: Writer = nullcontext,
    transports: Transports | None = None,
    exporter: Exporter | None = None,
) -> None:
    """Fire timers, group alerts, deliver pages and webhooks as they fall due until ``stop``
    is set.
    Waiting is bounded by ``idle`` so work queued by other processes is picked up within it;
    ``wakeup`` cuts the wait short when this process commits something."""
    if transports is not None:
        transports.warm()  # the first page after a start does not pay for client setup
    slack = transports is not None and transports.slack_token is not None

    def timers() -> object:
        now = clock()
        return fire_due(
            sessions, policy, now=now, worker=worker, limit=batch, writer=writer, slack=slack
        )

    deliveries = _deliveries(sessions, policy, clock, writer, transports)
    seen = wakeup.generation if wakeup else 0
    next_grouping = 0.0
    waiting_to_group = False
    backlog = False
    while not stop.is_set():
        try:
            backlog = _drain(stop, timers)
            # At most every GROUP_EVERY: a storm is grouped in passes of many alerts, each
            # incident told once per pass, not once per request that brought an alert.
            waiting_to_group = time.monotonic() < next_grouping
            if not waiting_to_group:
                try:
                    # One pass, then the pages it started go out before the next: during a
                    # storm the first pages do not wait for the last alert to be grouped.
                    grouped = group_alerts(
                        sessions, policy, now=clock(), writer=writer, limit=GROUP_PASS
                    )
                    backlog = backlog or grouped >= GROUP_PASS
                except (WarroomError, SQLAlchemyError) as exc:
                    # Grouping failing must not stop timers and deliveries: they go on, and
                    # grouping is tried again after the usual pause.
                    log.warning("grouping alerts failed (%s); retrying in %ss", exc, RETRY_SECONDS)
                    next_grouping = time.monotonic() + RETRY_SECONDS
                else:
                    # A quiet moment (a few alerts) is grouped as soon as they arrive, so the
                    # first page goes out at once; a storm waits GROUP_EVERY between passes.
                    pause = GROUP_EVERY if STORM <= grouped < GROUP_PASS else 0.0
                    next_grouping = time.monotonic() + pause
            for deliver in deliveries:  # each kind gets its share of time, most urgent first
                backlog |= _drain(stop, deliver)
            if exporter is not None:
                try:
                    exporter.run(sessions, policy, clock())
                except SQLAlchemyError:
                    raise  # the database is away: the loop waits and retries
                except BadInput as exc:  # the directory cannot be written
                    log.warning("the status page export failed: %s", exc)
                except Exception:
                    log.exception("the status page export failed")
            wait = seconds_until_next(sessions, clock())
        except (WarroomError, SQLAlchemyError) as exc:
            # The database went away or a write conflicted: nothing was half-done (each step
            # is one transaction). Wait and try again; a worker must outlive an outage.
            log.warning("worker step failed (%s); retrying in %ss", exc, RETRY_SECONDS)
            stop.wait(RETRY_SECONDS)
            continue
        except Exception:
            # A bug, or something a transport did not expect: the step's transaction rolled
            # back. Said loudly, and tried again: a worker that ended here would leave every
            # timer, page and delivery of the process undone while the API kept answering.
            log.exception("worker step failed unexpectedly; retrying in %ss", RETRY_SECONDS)
            stop.wait(RETRY_SECONDS)
            continue
        if backlog:
            continue  # alerts still to group, or work a step's share of time left: no sleep
        timeout = min(wait if wait is not None else idle.total_seconds(), idle.total_seconds())
        if wait == 0.0:
            # Due, yet not ours to fire: another worker's batch or a write holds it. The
            # commit that frees it wakes this worker; until then, do not spin.
            timeout = HELD_PAUSE
        if waiting_to_group:
            # Woken with grouping not yet due: sleep until it is (or a timer is), without
            # waking for every request of the storm meanwhile (the pass after the sleep takes
            # in whatever they brought).
            seen = wakeup.generation if wakeup else 0
            stop.wait(max(min(timeout, next_grouping - time.monotonic()), 0.0))
        elif wakeup is None:
            stop.wait(timeout)
        else:
            seen = wakeup.wait(seen, timeout)
