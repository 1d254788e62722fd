"""Engines for the embedded default (SQLite, WAL) and for production (PostgreSQL, psycopg 3)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from warroom.domain.errors import BadInput, Conflict, Unavailable

DEFAULT_DATABASE_FILE = "warroom.db"
log = logging.getLogger("warroom.db")
BUSY_TIMEOUT_MS = 10000
# A pooled PostgreSQL connection idle this long is pinged before it is used again.
IDLE_PING_SECONDS = 1.0


def default_url(cwd: Path | None = None) -> str:
    return f"sqlite:///{(cwd or Path.cwd()) / DEFAULT_DATABASE_FILE}"


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; SQLAlchemy would otherwise look for psycopg2."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise BadInput(f"WARROOM_DATABASE_URL is not a database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise BadInput(
            f"WARROOM_DATABASE_URL: {parsed.get_backend_name()} is not supported; "
            "use sqlite:///path or postgresql://user@host/db"
        )
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # orjson reads the JSON columns (alert labels, event details) several times faster
        # than the standard library, which matters when grouping reads a storm's alerts.
        engine = create_engine(
            url, connect_args={"timeout": 10}, json_deserializer=_json_loads, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url,
        connect_args={"connect_timeout": 5, "application_name": "warroom"},
        **kwargs,
    )
    event.listen(engine, "checkin", _returned)

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        _ping_if_idle(engine.dialect, dbapi_connection, record)

    return engine


def _returned(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned_at"] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any) -> None:
    """Decision 106: a connection that went back to the pool a moment ago is used without a
    ping, since a ping is one more round trip on every request. One idle longer (the server
    may have restarted, a firewall may have dropped it) is pinged first and, if dead,
    replaced: the pool opens a new connection in its place. A connection that dies within the
    second fails its request with 503, and SQLAlchemy then replaces every connection opened
    before it."""
    returned = record.info.get("returned_at")
    if returned is not None and time.monotonic() - returned < IDLE_PING_SECONDS:
        return
    try:
        alive = dialect.do_ping(dbapi_connection)
    except Exception as exc:  # whatever the driver raises, the connection is gone
        raise DisconnectionError(f"a pooled connection is gone: {exc}") from exc
    if not alive:
        raise DisconnectionError("a pooled connection is gone")


def _json_loads(text: str) -> Any:
    """orjson, and the standard library for what only it reads (NaN, lone surrogates)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # SQLite's default page cache is 2 MB: an alert storm's indexes outgrow it at once, and
    # every insert then reads pages back from the operating system.
    cursor.execute("PRAGMA cache_size=-65536")
    # Index pages read through a memory map, not a system call each; and the write-ahead log
    # copied back (with its fsync) every 40 MB rather than every 4 MB. Together a third more
    # alerts per second in a storm (bench/ingest.py).
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.execute(f"PRAGMA wal_autocheckpoint={Checkpoints.AUTOCHECKPOINT}")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction per command: commit at the end, roll back on any error.

    Services flush and never commit, so several of them combine atomically here. Database
    failures become the domain's errors: a lost optimistic-lock race is a :class:`Conflict`,
    an unreachable server, or no free connection in the pool, is :class:`Unavailable`.
    """
    session = factory()
    try:
        yield session
        session.commit()
    except StaleDataError:
        session.rollback()
        raise Conflict(
            "the incident was changed by someone else at the same time; "
            "nothing was saved: read it again and retry"
        ) from None
    except DataError as exc:
        session.rollback()
        problem = str(exc.orig or exc).strip().splitlines()[0]
        raise BadInput(f"the database cannot store a value given: {problem}") from None
    except IntegrityError:
        session.rollback()
        raise Conflict(
            "a concurrent change took the same name or number; nothing was saved: retry"
        ) from None
    except OperationalError as exc:
        session.rollback()
        raise _operational(exc) from None
    except PoolTimeout:
        session.rollback()
        raise Unavailable(
            "every database connection of this process is busy; nothing was saved: retry"
        ) from None
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Serialization failure, deadlock detected. Not 40003 (statement completion unknown): that
# commit may have happened, and running it again could do it twice.
RUN_AGAIN = frozenset({"40001", "40P01"})


def _operational(exc: DBAPIError) -> Exception:
    text = str(exc.orig or exc).strip().splitlines()[0]
    if "database is locked" in text:
        return Conflict("the database is busy with another change; nothing was saved: retry")
    if getattr(exc.orig, "sqlstate", None) in RUN_AGAIN:
        # PostgreSQL rolled the transaction back (a deadlock between two writes, a
        # serialization failure): run again, like a lost optimistic race.
        return Conflict("a concurrent change got in the way; nothing was saved: retry")
    return Unavailable(f"the database is unreachable: {text}")


class Checkpoints:
    """SQLite's write-ahead log copied back into the database by a thread of its own.

    By default the commit that crosses ``wal_autocheckpoint`` does the copying (tens of
    megabytes and an fsync), so one request in a few hundred waits for it. A busy writer
    (ingestion's group commit) turns that off for its connection and calls :meth:`due` after
    each commit instead: this thread then runs a passive checkpoint, which never blocks
    readers or writers, at most every ``interval`` seconds. SQLite does the work with the
    interpreter lock released, so it runs beside the writer on another core. The log file
    stays bounded: past ``RESTART_FRAMES`` a restarting checkpoint briefly holds new writers.
    """

    AUTOCHECKPOINT = 10000  # pages, as _sqlite_pragmas sets it for every other connection
    # Past this many pages in the log (about 80 MB), new writers wait while the rest of it is
    # copied back, and the log then starts again from its beginning.
    RESTART_FRAMES = 2 * AUTOCHECKPOINT
    WAIT_MS = 50  # the checkpoint connection's busy timeout

    def __init__(self, engine: Engine, interval: float = 0.5, idle: float = 10.0) -> None:
        self._engine = engine
        self._interval = interval
        self._idle = idle
        self._due = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def writer_connection(self, connection: Any) -> None:
        """A connection whose commits leave checkpoints to this thread."""
        connection.cursor().execute("PRAGMA wal_autocheckpoint=0")

    def writer_done(self, connection: Any) -> None:
        """Before the connection goes back to the pool, where others expect the default."""
        connection.cursor().execute(f"PRAGMA wal_autocheckpoint={self.AUTOCHECKPOINT}")

    def close(self) -> None:
        """Stop the thread, which hands its connection back to the pool. A later commit that
        asks for a checkpoint starts it again."""
        self._closing.set()
        self._due.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(5.0)
        self._due.clear()
        self._closing.clear()

    def due(self) -> None:
        self._due.set()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="warroom-wal-checkpoint", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        connection: Any = None
        try:
            while True:
                if not self._due.wait(self._idle) or self._closing.is_set():
                    with self._lock:
                        if not self._due.is_set() or self._closing.is_set():
                            self._thread = None
                            return
                self._due.clear()
                try:
                    if connection is None:
                        connection = self._engine.raw_connection()
                        # A restarting checkpoint holds new writers while it waits for
                        # readers: briefly, then it gives up until the next commit asks.
                        connection.cursor().execute(f"PRAGMA busy_timeout={self.WAIT_MS}")
                    cursor = connection.cursor()
                    _, frames, _ = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames > self.RESTART_FRAMES:
                        # A writer that never pauses keeps appending while a passive
                        # checkpoint copies, so the log would never start over: make it.
                        cursor.execute("PRAGMA wal_checkpoint(RESTART)")
                except Exception as exc:  # noqa: BLE001 - the next commit asks again
                    log.warning("checkpointing the write-ahead log failed: %s", exc)
                    if connection is not None:
                        connection.invalidate()
                        connection = None
                self._closing.wait(self._interval)  # at most one checkpoint an interval
        finally:
            if connection is not None:
                _pooled_again(connection)


def _pooled_again(connection: Any) -> None:
    """Back to the pool with the busy timeout every other connection has."""
    try:
        connection.cursor().execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except Exception:  # noqa: BLE001 - a broken connection is not pooled again
        connection.invalidate()
        return
    connection.close()
