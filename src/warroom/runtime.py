"""What every edge (CLI, API, worker) needs: settings, the database, the policy and the clock,
and one way to run a write: in one transaction, timers settled, refusals recorded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from warroom.config import Settings, load_policy, load_settings
from warroom.db.engine import default_url, make_engine, session_factory, unit_of_work
from warroom.db.listen import announce
from warroom.db.models import Incident
from warroom.db.schema import ensure_current
from warroom.domain.errors import BadInput, Conflict, Refused, Unavailable
from warroom.domain.policy import Policy
from warroom.domain.timefmt import parse_at, parse_instant
from warroom.notify.dispatch import Transports
from warroom.revocations import Trusted
from warroom.services.lifecycle import record_refusal
from warroom.services.records import Op
from warroom.services.timers import settle
from warroom.services.tokens import Caller
from warroom.wakeup import Wakeup

T = TypeVar("T")
WRITE_ATTEMPTS = 3
HELD = "warroom.held_incident"
# A fact recorded with ``at`` happened in this year or later.
EARLIEST_FACT = 1970


def system_now() -> datetime:
    return datetime.now(UTC)


class Turns:
    """A re-entrant lock per key, kept only while a thread holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[int, tuple[threading.RLock, int]] = {}

    @contextmanager
    def of(self, key: int) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key) or (threading.RLock(), 0)
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users = self._locks[key][1] - 1
                if users:
                    self._locks[key] = (lock, users)
                else:
                    del self._locks[key]


@dataclass
class Runtime:
    settings: Settings = field(default_factory=load_settings)
    clock: Callable[[], datetime] = system_now
    wakeup: Wakeup = field(default_factory=Wakeup)
    # Re-entrant: a write may run another (recording a refusal; a test's race).
    _write_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _turns: Turns = field(default_factory=Turns, repr=False)

    def __post_init__(self) -> None:
        path = self.settings.clock_file()
        if path is not None:
            self.clock = FileClock(path)

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.settings.policy_path())

    @cached_property
    def callers(self) -> Trusted[Caller]:
        """Who the API tokens seen in the last seconds belong to (decision 96): authentication
        is not a database round trip on every request. Unknown tokens are not remembered."""
        return Trusted(self.settings.credential_cache_seconds)

    @cached_property
    def people(self) -> dict[str, int]:
        """The ids of the people this database is known to hold, by handle: a person is never
        deleted and a handle never changes, so a write by a known person need not read it."""
        return {}

    @cached_property
    def transports(self) -> Transports:
        return Transports.from_settings(self.settings)

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.database_url or default_url())
        try:
            ensure_current(engine)
        except OperationalError as exc:
            raise Unavailable(f"the database is unreachable: {str(exc.orig).strip()}") from None
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    def op(
        self, session: Session, *, by: str | None, at: str | None, entered_by: str | None = None
    ) -> Op:
        now = self.clock()
        when = parse_at(at) if at else now
        if when.year < EARLIEST_FACT:
            # Before any incident anyone records: a slip (a zero time, a lost century).
            raise BadInput(f"--at: {when.isoformat()} is before {EARLIEST_FACT}")
        actor = by or self.settings.actor()
        return Op(
            session,
            self.policy,
            actor,
            when,
            now,
            entered_by=entered_by,
            slack=self.settings.slack_bot_token is not None,
            known_people=self.people,
        )

    def writer(self, incident: int | None = None) -> AbstractContextManager[object]:
        """SQLite has one writer at a time. Writers of one process take turns on a lock
        instead of in SQLite's busy handler, whose back-off sleeps cost tail latency.

        On PostgreSQL, writes to one incident take turns on its row (:meth:`_hold`). Those of
        one process take turns here first, so a queue of writes to a busy incident holds one
        pooled connection, not one each, and the rest of the API keeps its connections."""
        if self.engine.dialect.name == "sqlite":
            return self._write_lock
        return self._turns.of(incident) if incident is not None else nullcontext()

    def _hold(self, session: Session, incident: int) -> None:
        """On PostgreSQL, writes to one incident take turns on its row (SQLite's writer lock
        already serialises every write). The clock is read once the turn has come, so a write
        never carries an earlier time than one committed before it, and concurrent writers
        wait instead of losing the optimistic race and running again. ``FOR NO KEY UPDATE``:
        rows that only point at the incident (its timeline, timers) are not held up."""
        if self.engine.dialect.name == "postgresql":
            # Read whole, and kept (the session holds objects weakly): the write's own reads
            # of it are then answered from the session.
            session.info[HELD] = session.get(
                Incident, incident, with_for_update={"of": Incident, "key_share": True}
            )

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with unit_of_work(self.sessions) as session:
            yield session

    def write(
        self,
        action: Callable[[Op], T],
        *,
        by: str | None,
        at: str | None,
        incident: int | None = None,
        attempted: str = "",
        entered_by: str | None = None,
    ) -> T:
        """Run one write in its own transaction. A write that loses a race with another write
        to the same incident is run again on the new state (its rules checked again) a few
        times before the conflict is the caller's. A refusal is recorded on the incident's
        timeline in a transaction of its own, since the refused change itself rolls back."""
        try:
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                try:
                    with self.writer(incident), unit_of_work(self.sessions) as session:
                        if incident is not None:
                            self._hold(session, incident)
                        op = self.op(session, by=by, at=at, entered_by=entered_by)
                        result = action(op)
                        settle(op)
                        announce(session)
                    break
                except Conflict:
                    if attempt == WRITE_ATTEMPTS:
                        raise
        except Refused as refused:
            if incident is not None:
                with self.writer(), unit_of_work(self.sessions) as session:
                    op = self.op(session, by=by, at=at, entered_by=entered_by)
                    record_refusal(op, incident, refused, attempted)
                self.wakeup.notify()
            raise
        self.wakeup.notify()
        return result


@dataclass(frozen=True)
class FileClock:
    """A clock a test moves by writing an instant into a file (WARROOM_TEST_CLOCK_FILE)."""

    path: Path

    def __call__(self) -> datetime:
        return parse_instant(self.path.read_text(encoding="utf-8"))
