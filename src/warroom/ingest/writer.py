"""The ingestion writer: one thread with its own connection that writes the requests waiting
when it is free in one transaction (:func:`warroom.ingest.store.apply` each), commits them
together, then answers each sender. One commit (one fsync on PostgreSQL) for all of them.

On SQLite a storm's firing notices are appended to the intake, and a second thread, the
:class:`Settler`, folds them into alerts in bulk (decision 95). It runs one statement with the
interpreter lock released, so the writer parses the next requests meanwhile."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from contextlib import AbstractContextManager, suppress
from typing import Any

from sqlalchemy import Engine

from warroom.db.engine import Checkpoints
from warroom.db.listen import CHANNEL
from warroom.domain.alerts import Malformed
from warroom.domain.errors import Unavailable
from warroom.ingest.store import Job, Outcome, Sql, apply, known, settle

log = logging.getLogger("warroom.ingest")

BATCH = 64  # requests per group commit at most
IDLE_SECONDS = 10.0  # an idle writer thread closes its connection and exits
STOP = None  # queued by close()
# The intake is folded into alerts once this many notices wait, at the latest this long
# after the first of them was committed, and at once when no request has added to it for
# SETTLE_IDLE_SECONDS: a storm's alerts reach grouping and the API within moments, in folds
# large enough that each index page is written about once per fold.
SETTLE_ROWS = 20000
SETTLE_SECONDS = 0.2
SETTLE_IDLE_SECONDS = 0.005
RETRY_SECONDS = 1.0  # after a failed fold: the notices wait, durable, in the intake
# While waiting for its turn on the database, the writer looks for new requests this often.
ARRIVALS_SECONDS = 0.001


class GroupCommit:
    """One writer thread with its own connection: the requests waiting when it is free are
    written in one transaction and committed together, then each sender is answered. A failed
    batch is retried request by request, so one bad request fails alone."""

    def __init__(
        self,
        engine: Engine,
        writer: Callable[[], AbstractContextManager[object]],
        settled: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._sql = Sql(engine.dialect.name)
        self._checkpoints = None if self._sql.postgres else Checkpoints(engine)
        self._settler = (
            Settler(engine, writer, self._checkpoints, settled) if self._sql.intake else None
        )
        self._queue: queue.SimpleQueue[tuple[Job, Future[Outcome]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, job: Job) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self._queue.put((job, future))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="warroom-ingest-writer", daemon=True
                )
                self._thread.start()
        return future

    def write(self, job: Job) -> Outcome:
        return self.submit(job).result()

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the thread and close its connection."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._queue.put(STOP)
            thread.join(timeout)
        if self._settler is not None:
            self._settler.close(timeout)
        if self._checkpoints is not None:
            self._checkpoints.close()

    def _run(self) -> None:
        connection: Any = None
        try:
            while (batch := self._next_batch()) is not None:
                try:
                    if connection is None:
                        connection = self._engine.raw_connection()
                        if self._checkpoints is not None:
                            self._checkpoints.writer_connection(connection)
                    self._commit(connection, batch)
                except Exception as exc:  # noqa: BLE001 - the connection is gone or broken
                    log.warning("storing alert notifications failed: %s", exc)
                    _fail(batch, Unavailable(f"the database is unreachable: {exc}"))
                    if connection is not None:
                        connection.invalidate()  # a fresh one for the next batch
                        connection = None
        finally:
            if connection is not None:
                _release(connection, self._checkpoints)

    def _next_batch(self) -> list[tuple[Job, Future[Outcome]]] | None:
        try:
            first = self._queue.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with self._lock:
                if self._queue.empty():
                    self._thread = None
                    return None
            first = self._queue.get()
        if first is STOP:
            with self._lock:
                self._thread = None
            return None
        return [first, *self._arrived(BATCH - 1)]

    def _commit(self, connection: Any, batch: list[tuple[Job, Future[Outcome]]]) -> None:
        cursor = connection.cursor()
        ready = self._ready(cursor, batch)
        # SQLite: this process's writers take turns on a lock (Runtime.writer). While another
        # holds it (the settler folding the intake, mostly, with the interpreter lock
        # released), parse the requests that arrive meanwhile: they join this transaction
        # instead of waiting for the next, and ``batch`` too, which _run fails whole if the
        # database fails. PostgreSQL has no lock to wait for.
        turn = self._writer()
        take, give = getattr(turn, "acquire", None), getattr(turn, "release", None)
        if take is not None:
            while not take(timeout=ARRIVALS_SECONDS):
                if more := self._arrived(BATCH - len(batch)):
                    batch += more
                    ready += self._ready(cursor, more)
        try:
            if ready:
                self._write(connection, ready)
            elif self._sql.postgres:
                connection.rollback()  # only read: end the transaction the reads began
        finally:
            if give is not None:
                give()

    def _ready(
        self, cursor: Any, batch: list[tuple[Job, Future[Outcome]]]
    ) -> list[tuple[Job, Future[Outcome]]]:
        """The batch's jobs parsed, without those answered already: replays recognised by
        their body, and refusals."""
        ready = []
        for job, future in batch:
            # A database error here escapes to _run, which fails the batch as unavailable.
            replayed = known(cursor, self._sql, job)
            if replayed is not None:
                _answer(future, replayed)
                continue
            try:
                ready.append((job.prepared(self._sql), future))
            except Exception as exc:  # noqa: BLE001 - a refusal (or worse) is that request's
                _fail([(job, future)], exc)
        return ready

    def _arrived(self, room: int) -> list[tuple[Job, Future[Outcome]]]:
        """Up to ``room`` requests queued now, without waiting."""
        arrived: list[tuple[Job, Future[Outcome]]] = []
        while len(arrived) < room:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is STOP:
                self._queue.put(STOP)  # stop once this batch is written
                break
            arrived.append(item)
        return arrived

    def _write(self, connection: Any, batch: list[tuple[Job, Future[Outcome]]]) -> None:
        """Write a batch, in the writer's turn (:meth:`_commit` holds it); every future is
        settled when this returns, or the error escapes to :meth:`_run` (a broken
        connection), which fails the batch."""
        dbapi = self._engine.dialect.loaded_dbapi
        try:
            cursor = connection.cursor()
            outcomes = [apply(cursor, self._sql, job) for job, _ in batch]
            if self._sql.postgres and any(outcome.alerts for outcome in outcomes):
                cursor.execute(f"NOTIFY {CHANNEL}")  # wakes the workers of every node
            connection.commit()
        except dbapi.OperationalError:
            connection.rollback()  # raises if the connection is gone: _run starts afresh
            _fail(batch, Unavailable("the database is busy or unreachable; nothing was stored"))
            return
        except Exception as exc:
            connection.rollback()
            if len(batch) > 1:
                for item in batch:
                    self._write(connection, [item])
                return
            if isinstance(exc, dbapi.DataError):
                refused: Exception = Malformed(f"the database refused a value: {exc}".strip())
            else:
                log.exception("storing an alert notification failed")
                refused = Unavailable("storing the notification failed; nothing was stored")
            _fail(batch, refused)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _answer(future, outcome)
        queued = sum(outcome.queued for outcome in outcomes)
        if queued and self._settler is not None:
            self._settler.queued(queued)
        if self._checkpoints is not None:
            try:
                self._checkpoints.due()
            except Exception as exc:  # noqa: BLE001 - committed and answered all the same
                log.warning("asking for a checkpoint failed: %s", exc)


class Settler:
    """Folds the intake into alerts (:func:`warroom.ingest.store.settle`) on a thread with its
    own connection: ``SETTLE_IDLE_SECONDS`` after the last notice, and during a storm once
    ``SETTLE_ROWS`` notices wait or ``SETTLE_SECONDS`` after the first.
    It takes turns with the other writers of this process on their lock. Notices left in the
    intake by a stopped process are folded in by the worker's next grouping pass."""

    def __init__(
        self,
        engine: Engine,
        writer: Callable[[], AbstractContextManager[object]],
        checkpoints: Checkpoints | None,
        settled: Callable[[], None],
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._checkpoints = checkpoints
        self._settled = settled
        self._sql = Sql(engine.dialect.name)
        self._wake = threading.Condition()
        self._waiting = 0
        self._since: float | None = None  # when the first waiting notice was committed
        self._last = 0.0  # when the last was
        self._retry_at = 0.0  # after a failed fold, not before this
        self._closing = False
        self._thread: threading.Thread | None = None

    def queued(self, rows: int) -> None:
        with self._wake:
            self._waiting += rows
            self._last = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="warroom-alert-settler", daemon=True
                )
                self._thread.start()
            if self._since is None or self._waiting >= SETTLE_ROWS:
                self._since = self._since or self._last
                self._wake.notify()  # a fold is now to come, or due at once

    def close(self, timeout: float = 10.0) -> None:
        """Fold in what waits, then stop the thread."""
        with self._wake:
            self._closing = True
            thread = self._thread
            self._wake.notify()
        if thread is not None:
            thread.join(timeout)
        with self._wake:
            self._closing = False

    def _run(self) -> None:
        connection: Any = None
        try:
            while self._due():
                try:
                    if connection is None:
                        connection = self._engine.raw_connection()
                        if self._checkpoints is not None:
                            self._checkpoints.writer_connection(connection)
                    with self._writer():
                        folded = settle(connection.cursor().execute, self._sql)
                        connection.commit()
                except Exception as exc:  # noqa: BLE001 - the notices wait in the intake
                    log.warning("folding alert notifications into alerts failed: %s", exc)
                    if connection is not None:
                        connection.invalidate()
                        connection = None
                    if not self._later():
                        return  # closing: the worker's next grouping pass folds them in
                    continue
                try:
                    if self._checkpoints is not None:
                        self._checkpoints.due()
                    if folded:
                        self._settled()
                except Exception as exc:  # noqa: BLE001 - folded all the same
                    log.warning("after folding alert notifications: %s", exc)
        finally:
            with self._wake:
                self._thread = None  # the next notice starts another
            if connection is not None:
                _release(connection, self._checkpoints)

    def _due(self) -> bool:
        """Wait until a fold is due: True, or False when closing with nothing waiting."""
        with self._wake:
            while True:
                if self._since is None:
                    if self._closing:
                        return False
                    self._wake.wait()
                    continue
                due = max(
                    min(self._since + SETTLE_SECONDS, self._last + SETTLE_IDLE_SECONDS),
                    self._retry_at,
                )
                if self._closing or self._waiting >= SETTLE_ROWS or time.monotonic() >= due:
                    self._waiting, self._since = 0, None
                    return True
                self._wake.wait(due - time.monotonic())

    def _later(self) -> bool:
        """After a failed fold: try again in ``RETRY_SECONDS``, unless closing."""
        with self._wake:
            if self._closing:
                return False
            self._waiting = max(self._waiting, 1)
            self._since = self._since or time.monotonic()
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return True


def _release(connection: Any, checkpoints: Checkpoints | None) -> None:
    """A writer's connection back to the pool, as the pool's other connections are."""
    try:
        if checkpoints is not None:
            checkpoints.writer_done(connection)
    except Exception:  # noqa: BLE001 - a broken connection is not pooled again
        connection.invalidate()
        return
    connection.close()


def _answer(future: Future[Outcome], outcome: Outcome) -> None:
    """Settle a request's future, unless its request was cancelled (the client went away),
    which may happen at any moment: its work is committed all the same."""
    with suppress(InvalidStateError):
        future.set_result(outcome)


def _fail(batch: list[tuple[Job, Future[Outcome]]], error: Exception) -> None:
    for _, future in batch:
        with suppress(InvalidStateError):
            future.set_exception(error)
