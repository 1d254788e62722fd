"""The ingestion writer: one thread with its own connection that writes the requests waiting
when it is free in one transaction (:func:`warroom.ingest.store.apply` each), commits them
together, then answers each sender. One commit (one fsync on PostgreSQL) for all of them."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine

from warroom.db.engine import Checkpoints
from warroom.db.listen import CHANNEL
from warroom.domain.alerts import Malformed
from warroom.domain.errors import Unavailable
from warroom.ingest.store import Job, Outcome, Sql, apply, known

log = logging.getLogger("warroom.ingest")

BATCH = 64  # requests per group commit at most
IDLE_SECONDS = 10.0  # an idle writer thread closes its connection and exits
STOP = None  # queued by close()


class GroupCommit:
    """One writer thread with its own connection: the requests waiting when it is free are
    written in one transaction and committed together, then each sender is answered. A failed
    batch is retried request by request, so one bad request fails alone."""

    def __init__(
        self, engine: Engine, writer: Callable[[], AbstractContextManager[object]]
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._sql = Sql(engine.dialect.name)
        self._checkpoints = None if self._sql.postgres else Checkpoints(engine)
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
                self._release(connection)

    def _release(self, connection: Any) -> None:
        try:
            if self._checkpoints is not None:
                self._checkpoints.writer_done(connection)
        except Exception:  # noqa: BLE001 - a broken connection is not pooled again
            connection.invalidate()
            return
        connection.close()

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
        batch = [first]
        while len(batch) < BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is STOP:
                self._queue.put(STOP)  # stop once this batch is written
                break
            batch.append(item)
        return batch

    def _commit(self, connection: Any, batch: list[tuple[Job, Future[Outcome]]]) -> None:
        ready = []
        cursor = connection.cursor()
        for job, future in batch:
            # A database error here escapes to _run, which fails the batch as unavailable.
            replayed = known(cursor, self._sql, job)
            if replayed is not None:
                if not future.done():  # its request may have been cancelled meanwhile
                    future.set_result(replayed)
                continue
            try:
                ready.append((job.parsed(), future))
            except Exception as exc:  # noqa: BLE001 - a refusal (or worse) is that request's
                _fail([(job, future)], exc)
        if ready:
            self._write(connection, ready)
        elif self._sql.postgres:
            connection.rollback()  # only read: end the transaction the reads began

    def _write(self, connection: Any, batch: list[tuple[Job, Future[Outcome]]]) -> None:
        """Write a batch; every future is settled when this returns, or the error escapes to
        :meth:`_run` (a broken connection), which fails the batch."""
        dbapi = self._engine.dialect.loaded_dbapi
        try:
            with self._writer():
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
            if not future.done():
                future.set_result(outcome)
        if self._checkpoints is not None:
            try:
                self._checkpoints.due()
            except Exception as exc:  # noqa: BLE001 - committed and answered all the same
                log.warning("asking for a checkpoint failed: %s", exc)


def _fail(batch: list[tuple[Job, Future[Outcome]]], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
