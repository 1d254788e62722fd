"""The timer worker: claim one due timer, fire it, mark it fired, commit. Repeat.

A timer is claimed and fired in one transaction, so its effects happen exactly once: a worker
that dies mid-way rolls back and the timer is still pending for the next one. Several workers
may run against one database: PostgreSQL hands each a different row (``FOR UPDATE SKIP
LOCKED``); on SQLite a compare-and-set UPDATE lets only one of them win.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from warroom.db.engine import unit_of_work
from warroom.db.listen import announce
from warroom.db.models import Incident, Timer, TimerState
from warroom.domain.policy import Policy
from warroom.jobs.deliveries import deliver_one
from warroom.services.records import Op
from warroom.services.timers import SYSTEM_ACTOR, fire, settle
from warroom.wakeup import Wakeup

log = logging.getLogger("warroom.worker")

MAX_CLAIM_ATTEMPTS = 20


def claim(session: Session, now: datetime, worker: str) -> Timer | None:
    """Take one due timer for this transaction, or ``None`` when nothing is due."""
    due = (
        select(Timer)
        .where(Timer.state == TimerState.PENDING, Timer.due_at <= now)
        .order_by(Timer.due_at, Timer.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        timer = session.scalars(due.with_for_update(skip_locked=True)).first()
        if timer is not None:
            timer.state, timer.fired_at, timer.fired_by = TimerState.FIRED, now, worker
        return timer
    for _ in range(MAX_CLAIM_ATTEMPTS):
        candidate = session.scalars(due).first()
        if candidate is None:
            return None
        won = session.execute(
            update(Timer)
            .where(Timer.id == candidate.id, Timer.state == TimerState.PENDING)
            .values(state=TimerState.FIRED, fired_at=now, fired_by=worker)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(candidate)
            return candidate
    return None


def fire_one(
    sessions: sessionmaker[Session], policy: Policy, *, now: datetime, worker: str = "worker"
) -> bool:
    """One step: fire the earliest due timer. Returns whether there may be more work."""
    with unit_of_work(sessions) as session:
        timer = claim(session, now, worker)
        if timer is None:
            return False
        log.info("firing %s for INC-%s (due %s)", timer.kind.value, timer.incident_id, timer.due_at)
        op = Op(session=session, policy=policy, actor=SYSTEM_ACTOR, at=now, now=now)
        fire(op, timer)
        incident = session.get(Incident, timer.incident_id)
        assert incident is not None
        op.touched[incident.id] = incident  # what fired may arm the next occurrence
        settle(op)
        announce(session)
    return True


def seconds_until_next(sessions: sessionmaker[Session], now: datetime) -> float | None:
    with unit_of_work(sessions) as session:
        due = session.scalar(
            select(Timer.due_at)
            .where(Timer.state == TimerState.PENDING)
            .order_by(Timer.due_at)
            .limit(1)
        )
    return None if due is None else max((due - now).total_seconds(), 0.0)


def run(
    sessions: sessionmaker[Session],
    policy: Policy,
    clock: Callable[[], datetime],
    *,
    stop: threading.Event,
    worker: str = "worker",
    idle: timedelta = timedelta(seconds=1),
    wakeup: Wakeup | None = None,
) -> None:
    """Fire timers and deliver webhooks as they fall due until ``stop`` is set. Waiting is
    bounded by ``idle`` so work queued by other processes is picked up within it; ``wakeup``
    cuts the wait short when this process commits something."""
    seen = wakeup.generation if wakeup else 0
    while not stop.is_set():
        while not stop.is_set() and fire_one(sessions, policy, now=clock(), worker=worker):
            pass
        while not stop.is_set() and deliver_one(sessions, now=clock()):
            pass
        wait = seconds_until_next(sessions, clock())
        timeout = min(wait if wait is not None else idle.total_seconds(), idle.total_seconds())
        if wakeup is None:
            stop.wait(timeout)
        else:
            seen = wakeup.wait(seen, timeout)
