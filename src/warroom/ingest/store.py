"""The write path of ingestion: a request's raw body and what it says about its alerts, made
durable before the sender gets its 2xx, in a few statements per request however many alerts
it carries.

- The request row goes first, unique on its idempotency key: a replay inserts nothing and
  changes nothing.
- Firing alerts are one upsert: a new row, or the open row of the same key counted again. A
  firing notice older than the key's last resolution (a reordered retry) is dropped, for
  senders whose times order their notices.
- Resolutions close the open row. One for an alert never seen firing is kept as a resolved
  alert when the sender dates it: its firing still counts for closure, and a firing notice
  that arrives after it is recognised as older.
- Acknowledgements mark the open row.

This is the hot path, so it speaks SQL to the driver directly (no ORM objects, no statement
compilation per request), and :mod:`warroom.ingest.writer` writes the requests that arrive
together in one transaction: one commit, one fsync on PostgreSQL, for all of them. Grouping
into incidents happens after the commit, in the worker (:mod:`warroom.services.alerts`),
marked ``pending``.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson

from warroom.db.alert_models import DEFLATE
from warroom.domain.alerts import AlertSource, Notification, Observation, Signal

KEY_LIMIT = 128  # the idempotency key column; longer keys are stored as their digest
HINT_LIMIT = 32


@dataclass(frozen=True)
class Sender:
    """The integration a request came through, as ingestion needs it."""

    id: int
    source: AlertSource
    service: str
    severity: str | None


@dataclass(frozen=True)
class Outcome:
    replay: bool
    alerts: int  # alerts stored by this request: none for a replay
    # What the request said, for its answer: how many alerts, and why it was ignored.
    told: int = 0
    ignored: str | None = None
    queued: int = 0  # firing notices appended to the intake, for settle() to fold in


PACK_FROM = 1024  # bytes: smaller bodies are kept as they came


def packed(body: bytes) -> tuple[bytes, str | None]:
    """A body as it is kept, and its encoding. A batch of alerts compresses about tenfold at
    zlib's fastest level, which costs less than writing (and checkpointing) the full text,
    and zlib does it with the interpreter lock released."""
    if len(body) < PACK_FROM:
        return body, None
    return zlib.compress(body, 1), DEFLATE


@dataclass(frozen=True)
class Job:
    """One request to store. It is either parsed already, or parsed by the writer thread
    (``parse``): then the request's thread only does HTTP, and the two do not take turns on
    the interpreter lock in the middle of every statement."""

    sender: Sender
    notification: Notification | None
    body: bytes  # as received
    content_type: str
    now: datetime
    outcome: str = "accepted"  # or "refused", with the reason in ``detail``
    detail: str | None = None
    parse: Callable[[], Notification] | None = None
    # The body as it is kept (``packed``), when the request's thread packed it already.
    kept: tuple[bytes, str | None] | None = None
    # The body's SHA-256, for sources whose idempotency key is a function of the body alone
    # (and that sign nothing): a body stored before is then a replay, known without parsing.
    digest: str | None = None
    # Each statement's parameters (``prepared``), made before the writer takes its turn on
    # the database, so that the turn is spent on SQL only.
    rows: dict[str, list[dict[str, Any]]] | None = None

    def parsed(self) -> Job:
        if self.notification is not None or self.parse is None:
            return self
        return replace(self, notification=self.parse(), parse=None)

    def prepared(self, sql: Sql) -> Job:
        """Parsed, with each statement's parameters."""
        job = self.parsed()
        return replace(job, rows=_rows(sql, job)) if job.rows is None else job


PG_TYPES = {
    "i": "integer",
    "id": "bigint",
    "key": "text",
    "source": "text",
    "hint": "text",
    "summary": "text",
    "labels": "jsonb",
    "links": "jsonb",
    "starts": "timestamptz",
    "ends": "timestamptz",
    "now": "timestamptz",
    "ctype": "text",
    "body": "bytea",
    "encoding": "text",
    "digest": "text",
    "outcome": "text",
    "detail": "text",
    "alerts": "integer",
}


FIRE_COLUMNS = (
    "INSERT INTO alerts (integration_id, source, dedup_key, open_key, status, severity_hint, "
    "summary, labels, links, starts_at, ends_at, count, first_seen_at, last_seen_at, "
    "resolved_at, pending) "
)
FIRE_UPDATE = (
    "count = alerts.count + 1, last_seen_at = excluded.last_seen_at, "
    "summary = excluded.summary, labels = excluded.labels, links = excluded.links, "
    "severity_hint = excluded.severity_hint"
)
INTAKE_COLUMNS = (
    "INSERT INTO alert_intake (integration_id, source, dedup_key, severity_hint, summary, "
    "labels, links, starts_at, received_at) "
)
# The intake's notices in arrival order, as the firing upsert: SQLite applies the rows of one
# statement in order, so a key twice counts twice. ("WHERE true" tells SQLite's parser that
# ON CONFLICT belongs to the INSERT.)
SETTLE = (
    FIRE_COLUMNS + "SELECT integration_id, source, dedup_key, dedup_key, 'firing', "
    "severity_hint, summary, labels, links, starts_at, NULL, 1, received_at, received_at, "
    "NULL, TRUE FROM alert_intake WHERE true ORDER BY id "
    "ON CONFLICT (integration_id, open_key) DO UPDATE SET " + FIRE_UPDATE
)


class Sql:
    """The statements in one database's dialect, and its way of writing values."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        # SQLite appends a request's firing notices to the intake (decision 95). PostgreSQL
        # writes them straight to alerts: its index pages are not written again per commit.
        self.intake = not self.postgres
        p = self.p
        # An untyped NULL in a SELECT list is text to PostgreSQL: say what it is.
        no_time = "NULL::timestamptz" if self.postgres else "NULL"
        self.request = (
            "INSERT INTO inbound_requests (integration_id, idempotency_key, received_at, "
            "content_type, body, body_encoding, body_digest, outcome, detail, alerts) VALUES "
            f"({p('i')}, {p('key')}, {p('now')}, {p('ctype')}, {p('body')}, {p('encoding')}, "
            f"{p('digest')}, {p('outcome')}, {p('detail')}, {p('alerts')}) "
            "ON CONFLICT (integration_id, idempotency_key) DO NOTHING RETURNING id"
        )
        self.known = (
            "SELECT outcome, detail, alerts FROM inbound_requests "
            f"WHERE integration_id = {p('i')} AND body_digest = {p('digest')} "
            "AND outcome <> 'refused' LIMIT 1"
        )
        upsert = " ON CONFLICT (integration_id, open_key) DO UPDATE SET " + FIRE_UPDATE
        columns = FIRE_COLUMNS
        # The guard against late firing notices is one query per batch, not a NOT EXISTS per
        # row: SQLite runs an INSERT ... SELECT that reads its own table through a temporary
        # copy, three times slower.
        self.fire = (
            columns
            + f"VALUES ({p('i')}, {p('source')}, {p('key')}, {p('key')}, 'firing', {p('hint')}, "
            f"{p('summary')}, {p('labels')}, {p('links')}, {p('starts')}, {no_time}, "
            f"1, {p('now')}, {p('now')}, {no_time}, TRUE)" + upsert
        )
        self.resolved_since = (
            f"SELECT dedup_key, MAX(ends_at) FROM alerts WHERE integration_id = {p('i')} "
            "AND status = 'resolved' AND dedup_key IN ({keys}) GROUP BY dedup_key"
        )
        self.resolve = (
            "UPDATE alerts SET status = 'resolved', open_key = NULL, "
            f"ends_at = {p('ends')}, resolved_at = {p('now')}, last_seen_at = {p('now')}, "
            f"pending = TRUE WHERE integration_id = {p('i')} AND open_key = {p('key')} "
            f"AND starts_at <= {p('ends')}"
        )
        # Senders whose times do not order their notices (PagerDuty, Opsgenie): a resolve
        # closes the open alert, whenever it says it ended.
        self.resolve_any = (
            "UPDATE alerts SET status = 'resolved', open_key = NULL, "
            f"ends_at = {p('ends')}, resolved_at = {p('now')}, last_seen_at = {p('now')}, "
            f"pending = TRUE WHERE integration_id = {p('i')} AND open_key = {p('key')}"
        )
        self.unseen = (
            columns + f"SELECT {p('i')}, {p('source')}, {p('key')}, NULL, 'resolved', {p('hint')}, "
            f"{p('summary')}, {p('labels')}, {p('links')}, {p('starts')}, "
            f"{p('ends')}, 1, {p('now')}, {p('now')}, {p('now')}, TRUE "
            f"WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE integration_id = {p('i')} "
            f"AND dedup_key = {p('key')} AND status = 'resolved' AND starts_at <= {p('ends')} "
            f"AND (ends_at IS NULL OR ends_at >= {p('ends')}))"
        )
        self.acknowledge = (
            f"UPDATE alerts SET acknowledged_at = {p('now')}, pending = TRUE "
            f"WHERE integration_id = {p('i')} AND open_key = {p('key')} "
            "AND acknowledged_at IS NULL"
        )
        self.resolve_by_id = (
            "UPDATE alerts SET status = 'resolved', open_key = NULL, "
            f"ends_at = {p('now')}, resolved_at = {p('now')}, last_seen_at = {p('now')}, "
            f"pending = TRUE WHERE integration_id = {p('i')} AND id = {p('id')} "
            "AND status = 'firing'"
        )
        self.acknowledge_by_id = (
            f"UPDATE alerts SET acknowledged_at = {p('now')}, pending = TRUE "
            f"WHERE integration_id = {p('i')} AND id = {p('id')} AND status = 'firing' "
            "AND acknowledged_at IS NULL"
        )

    def fire_all(self, cursor: Any, rows: list[dict[str, Any]]) -> None:
        """The firing upsert for many rows. SQLite takes them as one multi-row statement,
        which binds and steps in one call instead of one per row (a third less time for a
        storm); it applies the rows in order, so a key twice in one request counts twice.
        PostgreSQL refuses a row that conflicts with another of the same statement, so it
        gets the rows one by one, in its pipeline."""
        if self.postgres:
            cursor.executemany(self.fire, rows)
            return
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            cursor.execute(
                _sqlite_fire(len(chunk)), list(chain.from_iterable(map(FIRE_VALUES, chunk)))
            )

    def queue_all(self, cursor: Any, rows: list[dict[str, Any]]) -> None:
        """Firing notices appended to the intake (SQLite), in order."""
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            cursor.execute(
                _sqlite_intake(len(chunk)), list(chain.from_iterable(map(INTAKE_VALUES, chunk)))
            )

    def p(self, name: str) -> str:
        """A parameter. PostgreSQL is told each one's type: one used both as a value and in a
        comparison would otherwise be ambiguous to it."""
        return f"%({name})s::{PG_TYPES[name]}" if self.postgres else f":{name}"

    def time(self, moment: datetime | None) -> Any:
        """SQLite keeps times as the text SQLAlchemy writes (UTC, microseconds), which also
        orders correctly; PostgreSQL takes the aware datetime."""
        if moment is None or self.postgres:
            return moment
        return _sqlite_time(moment)

    def json(self, value: dict[str, str]) -> str:
        return orjson.dumps(value).decode()


FIRE_PARAMETERS: tuple[str, ...] = ("i", "source", "key", "key", "hint", "summary", "labels")
FIRE_PARAMETERS += ("links", "starts", "now", "now")
FIRE_VALUES = itemgetter(*FIRE_PARAMETERS)  # a row's values in that order, as a tuple
INTAKE_PARAMETERS = ("i", "source", "key", "hint", "summary", "labels", "links", "starts", "now")
INTAKE_VALUES = itemgetter(*INTAKE_PARAMETERS)
ROWS_PER_STATEMENT = 500  # 11 parameters a row, well under SQLite's limit of 32,766


@lru_cache(maxsize=64)
def _sqlite_fire(rows: int) -> str:
    """Sql.fire for SQLite with ``rows`` rows of positional parameters."""
    row = "(?, ?, ?, ?, 'firing', ?, ?, ?, ?, ?, NULL, 1, ?, ?, NULL, TRUE)"
    return (
        FIRE_COLUMNS + "VALUES " + ", ".join([row] * rows) + " ON CONFLICT (integration_id, "
        "open_key) DO UPDATE SET " + FIRE_UPDATE
    )


@lru_cache(maxsize=64)
def _sqlite_intake(rows: int) -> str:
    """Sql.queue_all's statement with ``rows`` rows of positional parameters."""
    return INTAKE_COLUMNS + "VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * rows)


@lru_cache(maxsize=64)
def _sqlite_guard(keys: int) -> str:
    """Sql.resolved_since for SQLite with ``keys`` keys, positional."""
    return Sql("sqlite").resolved_since.replace(":i", "?").replace("{keys}", ", ".join("?" * keys))


@lru_cache(maxsize=4096)
def _sqlite_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _rows(sql: Sql, job: Job) -> dict[str, list[dict[str, Any]]]:
    """The parameters of each statement for one request's alerts."""
    sender, now = job.sender, job.now
    assert job.notification is not None
    at = sql.time(now)
    statements: dict[str, list[dict[str, Any]]] = {}
    fire: list[dict[str, Any]] = []
    common = {"i": sender.id, "source": sender.source.value, "now": at}
    for o in job.notification.observations:
        if o.alert_id is not None:  # Opsgenie's id / tiny identifiers: warroom's alert number
            kind = "resolve_by_id" if o.signal is Signal.RESOLVE else "acknowledge_by_id"
            statements.setdefault(kind, []).append({"i": sender.id, "id": o.alert_id, "now": at})
            continue
        if o.signal is Signal.ACKNOWLEDGE:
            statements.setdefault("acknowledge", []).append(
                {"i": sender.id, "key": o.key, "now": at}
            )
            continue
        row = _alert(sql, sender, o, now, common)
        if o.signal is Signal.FIRE:
            (fire if o.ordered else statements.setdefault("fire_unordered", [])).append(row)
            continue
        ended = min(o.ends_at or now, now)
        row["ends"] = sql.time(ended)
        statements.setdefault("resolve" if o.ordered else "resolve_any", []).append(
            {"i": sender.id, "key": o.key, "ends": row["ends"], "now": at}
        )
        if o.ends_at is not None and o.ordered:  # dated: kept even if it closed nothing
            started = min(o.starts_at, ended) if o.starts_at else ended
            statements.setdefault("unseen", []).append(row | {"starts": sql.time(started)})
    if fire:
        statements["fire"] = fire
    return statements


def _alert(
    sql: Sql, sender: Sender, o: Observation, now: datetime, common: dict[str, Any]
) -> dict[str, Any]:
    labels = o.labels
    if o.service is not None and "service" not in labels:
        # The alert's own service wins over the integration's default; routing rules may
        # still route it elsewhere.
        labels = {**labels, "service": o.service}
    hint = o.severity or sender.severity
    starts = o.starts_at
    return {
        **common,
        "key": o.key,
        "hint": hint[:HINT_LIMIT] if hint else None,
        "summary": o.summary or o.key,
        "labels": sql.json(labels),
        "links": sql.json(o.links),
        "starts": sql.time(starts if starts is not None and starts < now else now),
    }


def _idempotency(key: str | None) -> str | None:
    if key is not None and len(key) > KEY_LIMIT:
        return hashlib.sha256(key.encode()).hexdigest()
    return key


# Statements in the order a request's notices apply: fire, then close, then acknowledge.
ORDER = (
    "fire",
    "resolve",
    "resolve_any",
    "unseen",
    "acknowledge",
    "resolve_by_id",
    "acknowledge_by_id",
)


GUARD_CHUNK = 500  # keys per guard query, well under any database's parameter limit


def _not_stale(
    cursor: Any, sql: Sql, integration: int, fires: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Drop firing notices dated before their key's last resolution (a reordered retry)."""
    resolved: dict[str, Any] = {}
    keys = list({row["key"] for row in fires})
    for start in range(0, len(keys), GUARD_CHUNK):
        chunk = keys[start : start + GUARD_CHUNK]
        if sql.postgres:
            names = {f"k{n}": key for n, key in enumerate(chunk)}
            placeholders = ", ".join(sql.p("key").replace("key", name) for name in names)
            cursor.execute(
                sql.resolved_since.replace("{keys}", placeholders), {"i": integration, **names}
            )
        else:  # positional: SQLite binds them without a name lookup each
            cursor.execute(_sqlite_guard(len(chunk)), (integration, *chunk))
        resolved.update(cursor.fetchall())
    if not resolved:
        return fires
    return [
        row
        for row in fires
        if row["key"] not in resolved or _later(sql, row["starts"], resolved[row["key"]])
    ]


def _later(sql: Sql, starts: Any, ended: Any) -> bool:
    if sql.postgres:
        return bool(starts > ended)
    return str(starts) > str(ended)  # SQLite's time text orders as time does


def apply(cursor: Any, sql: Sql, job: Job) -> Outcome:
    """One request, on an open transaction."""
    notification = job.notification
    assert notification is not None, "jobs are parsed before they are applied"
    body, encoding = job.kept or packed(job.body)
    inserted = cursor.execute(
        sql.request,
        {
            "i": job.sender.id,
            "key": _idempotency(notification.idempotency_key),
            "now": sql.time(job.now),
            "ctype": job.content_type[:200],
            "body": body,
            "encoding": encoding,
            "digest": job.digest if job.outcome == "accepted" else None,
            "outcome": job.outcome if not notification.ignored else "ignored",
            "detail": job.detail or notification.ignored,
            "alerts": len(notification.observations),
        },
    ).fetchone()
    told = len(notification.observations)
    if inserted is None:
        return Outcome(replay=True, alerts=0, told=told, ignored=notification.ignored)
    assert job.rows is not None, "jobs are prepared before they are applied"
    statements = dict(job.rows)  # a copy: a batch that fails is applied again one by one
    if "fire" in statements:
        statements["fire"] = _not_stale(cursor, sql, job.sender.id, statements["fire"])
    if sql.intake:
        if statements.keys() <= {"fire"}:  # only firing notices, as in a storm: appended
            fire = statements.get("fire", [])
            if fire:
                sql.queue_all(cursor, fire)
            return Outcome(False, told, told, notification.ignored, queued=len(fire))
        # Anything else applies to alerts as they stand after every notice before it.
        settle(cursor.execute, sql)
    statements["fire"] = statements.get("fire", []) + statements.pop("fire_unordered", [])
    if statements["fire"]:
        sql.fire_all(cursor, statements.pop("fire"))
    for name in ORDER:
        if statements.get(name):
            cursor.executemany(getattr(sql, name), statements[name])
    return Outcome(replay=False, alerts=told, told=told, ignored=notification.ignored)


def settle(execute: Callable[..., Any], sql: Sql) -> int:
    """Fold the intake into alerts, on an open transaction: every notice waiting, in arrival
    order, then none waiting. ``execute`` runs a statement with positional parameters (a
    driver cursor's, or a SQLAlchemy connection's ``exec_driver_sql``). Returns how many
    notices were folded in.

    From the fold on, the transaction holds SQLite's only write lock (and one whose snapshot
    is stale cannot start writing), so nothing joins the intake between the fold and the
    delete: it is emptied whole, which SQLite does by dropping its pages, not row by row."""
    if not sql.intake:
        return 0
    # An empty intake is left alone: a DELETE that deletes nothing still writes a page.
    if execute("SELECT 1 FROM alert_intake LIMIT 1").fetchone() is None:
        return 0
    execute(SETTLE)
    return int(execute("DELETE FROM alert_intake").rowcount)


def known(cursor: Any, sql: Sql, job: Job) -> Outcome | None:
    """A replay recognised by its body: what the first request was answered."""
    if job.digest is None or job.outcome != "accepted":
        return None
    row = cursor.execute(sql.known, {"i": job.sender.id, "digest": job.digest}).fetchone()
    if row is None:
        return None
    outcome, detail, alerts = row
    return Outcome(True, 0, told=alerts, ignored=detail if outcome == "ignored" else None)
