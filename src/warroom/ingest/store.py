"""The write path of ingestion: the raw request and what it says about its alerts, made durable
in one transaction, a few statements per request whatever the number of alerts.

- The request row goes first, unique on its idempotency key: a replay inserts nothing and
  changes nothing.
- Firing alerts are one upsert: a new row, or the open row of the same key counted again. A
  firing notice older than the key's last resolution (a retry arriving late) is dropped.
- Resolutions close the open row. One for an alert never seen firing is kept as a resolved
  alert when the sender dates it: its firing still counts for closure, and a firing notice
  that arrives after it (a reordered retry) is recognised as older and dropped.
- Acknowledgements mark the open row.

Grouping into incidents happens after the commit, in the worker (:mod:`warroom.services.alerts`),
marked by ``pending``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, exists, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from warroom.db.models import Alert, InboundRequest
from warroom.domain.alerts import AlertSource, AlertStatus, Notification, Signal

ALERTS: Table = Alert.__table__  # type: ignore[assignment]
REQUESTS: Table = InboundRequest.__table__  # type: ignore[assignment]
KEY_LIMIT = 128  # the idempotency key column; longer keys are stored as their digest
COLUMNS = (
    "integration_id",
    "source",
    "dedup_key",
    "open_key",
    "status",
    "severity_hint",
    "summary",
    "labels",
    "links",
    "starts_at",
    "ends_at",
    "count",
    "first_seen_at",
    "last_seen_at",
    "resolved_at",
    "pending",
)


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
    alerts: int


def _dialect_insert(session: Session, table: Any) -> Any:
    name = session.get_bind().dialect.name
    return (postgresql if name == "postgresql" else sqlite).insert(table)


def _params() -> dict[str, Any]:
    """One typed parameter per column, each used wherever its value is needed."""
    return {name: bindparam(name, type_=ALERTS.c[name].type) for name in COLUMNS}


def _fire_statement(session: Session, *, ordered: bool) -> Any:
    p = _params()
    values = select(*p.values())
    if ordered:
        values = values.where(
            ~exists().where(
                ALERTS.c.integration_id == p["integration_id"],
                ALERTS.c.dedup_key == p["dedup_key"],
                ALERTS.c.status == AlertStatus.RESOLVED.value,
                ALERTS.c.ends_at >= p["starts_at"],
            )
        )
    else:
        values = values.where(true())  # SQLite needs a WHERE before ON CONFLICT here
    statement = _dialect_insert(session, ALERTS).from_select(list(COLUMNS), values)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[ALERTS.c.integration_id, ALERTS.c.open_key],
        set_={
            "count": ALERTS.c.count + 1,
            "last_seen_at": excluded.last_seen_at,
            "summary": excluded.summary,
            "labels": excluded.labels,
            "links": excluded.links,
            "severity_hint": excluded.severity_hint,
        },
    )


RESOLVE = (
    update(ALERTS)
    .where(
        ALERTS.c.integration_id == bindparam("b_integration"),
        ALERTS.c.open_key == bindparam("b_key"),
        ALERTS.c.starts_at <= bindparam("b_ends"),
    )
    .values(
        status=AlertStatus.RESOLVED.value,
        open_key=None,
        ends_at=bindparam("b_ends"),
        resolved_at=bindparam("b_now"),
        last_seen_at=bindparam("b_now"),
        pending=True,
    )
)
RESOLVE_BY_ID = (
    update(ALERTS)
    .where(
        ALERTS.c.integration_id == bindparam("b_integration"),
        ALERTS.c.id == bindparam("b_id"),
        ALERTS.c.status == AlertStatus.FIRING.value,
    )
    .values(
        status=AlertStatus.RESOLVED.value,
        open_key=None,
        ends_at=bindparam("b_now"),
        resolved_at=bindparam("b_now"),
        last_seen_at=bindparam("b_now"),
        pending=True,
    )
)
ACKNOWLEDGE = (
    update(ALERTS)
    .where(
        ALERTS.c.integration_id == bindparam("b_integration"),
        ALERTS.c.open_key == bindparam("b_key"),
        ALERTS.c.acknowledged_at.is_(None),
    )
    .values(acknowledged_at=bindparam("b_now"), pending=True)
)
ACKNOWLEDGE_BY_ID = (
    update(ALERTS)
    .where(
        ALERTS.c.integration_id == bindparam("b_integration"),
        ALERTS.c.id == bindparam("b_id"),
        ALERTS.c.status == AlertStatus.FIRING.value,
        ALERTS.c.acknowledged_at.is_(None),
    )
    .values(acknowledged_at=bindparam("b_now"), pending=True)
)


def _unseen_resolution(session: Session) -> Any:
    """A resolution for an alert with no row covering its end: kept as a resolved alert."""
    p = _params()
    values = select(*p.values()).where(
        ~exists().where(
            ALERTS.c.integration_id == p["integration_id"],
            ALERTS.c.dedup_key == p["dedup_key"],
            ALERTS.c.starts_at <= p["ends_at"],
            or_(ALERTS.c.ends_at.is_(None), ALERTS.c.ends_at >= p["ends_at"]),
        )
    )
    return _dialect_insert(session, ALERTS).from_select(list(COLUMNS), values)


def record_request(
    session: Session,
    sender: Sender,
    key: str | None,
    body: bytes,
    content_type: str,
    now: datetime,
    *,
    outcome: str,
    detail: str | None = None,
    alerts: int = 0,
) -> bool:
    """Store the raw request; ``False`` when its idempotency key was seen before (a replay)."""
    statement = _dialect_insert(session, REQUESTS).values(
        integration_id=sender.id,
        idempotency_key=key,
        received_at=now,
        content_type=content_type[:200],
        body=body,
        outcome=outcome,
        detail=detail,
        alerts=alerts,
    )
    if key is None:
        session.execute(statement)
        return True
    inserted = session.execute(
        statement.on_conflict_do_nothing(
            index_elements=[REQUESTS.c.integration_id, REQUESTS.c.idempotency_key]
        ).returning(REQUESTS.c.id)
    ).first()
    return inserted is not None


def accept(
    session: Session,
    sender: Sender,
    notification: Notification,
    body: bytes,
    content_type: str,
    now: datetime,
) -> Outcome:
    """Make a parsed notification durable in the caller's transaction."""
    observations = notification.observations
    key = notification.idempotency_key
    if key is not None and len(key) > KEY_LIMIT:
        key = hashlib.sha256(key.encode()).hexdigest()
    fresh = record_request(
        session,
        sender,
        key,
        body,
        content_type,
        now,
        outcome="ignored" if notification.ignored else "accepted",
        detail=notification.ignored,
        alerts=len(observations),
    )
    if not fresh or not observations:
        return Outcome(replay=not fresh, alerts=0)
    fires: list[dict[str, Any]] = []
    unordered: list[dict[str, Any]] = []
    resolves: list[dict[str, Any]] = []
    acks: list[dict[str, Any]] = []
    by_id = []
    for o in observations:
        if o.key.startswith("#"):
            by_id.append(o)
            continue
        starts: datetime = min(o.starts_at, now) if o.starts_at else now
        row: dict[str, Any] = {
            "integration_id": sender.id,
            "source": sender.source.value,
            "dedup_key": o.key,
            "severity_hint": (o.severity or sender.severity or "")[:32] or None,
            "summary": o.summary or o.key,
            # The alert's own service (a label, or the source's field) wins over the
            # integration's default; routing rules may still route it elsewhere.
            "labels": o.labels
            if o.service is None or "service" in o.labels
            else {**o.labels, "service": o.service},
            "links": o.links,
            "starts_at": starts,
            "count": 1,
            "first_seen_at": now,
            "last_seen_at": now,
            "pending": True,
            "now": now,
        }
        if o.signal is Signal.FIRE:
            (fires if o.ordered else unordered).append(
                row | {"open_key": o.key, "status": "firing", "ends_at": None, "resolved_at": None}
            )
        elif o.signal is Signal.RESOLVE:
            ended = min(o.ends_at or now, now)
            resolves.append(
                row
                | {
                    "open_key": None,
                    "status": "resolved",
                    "ends_at": ended,
                    "resolved_at": now,
                    "starts_at": min(starts, ended) if o.starts_at else ended,
                    "dated": o.starts_at is not None or o.ends_at is not None,
                }
            )
        else:
            acks.append(row)
    if fires:
        statement = _fire_statement(session, ordered=True)
        session.execute(statement, [_only(r, COLUMNS) for r in fires])
    if unordered:
        statement = _fire_statement(session, ordered=False)
        session.execute(statement, [_only(r, COLUMNS) for r in unordered])
    if resolves:
        session.execute(
            RESOLVE,
            [
                {
                    "b_integration": sender.id,
                    "b_key": r["dedup_key"],
                    "b_ends": r["ends_at"],
                    "b_now": now,
                }
                for r in resolves
            ],
        )
        unseen = [_only(r, COLUMNS) for r in resolves if r["dated"]]
        if unseen:
            session.execute(_unseen_resolution(session), unseen)
    if acks:
        session.execute(
            ACKNOWLEDGE,
            [{"b_integration": sender.id, "b_key": r["dedup_key"], "b_now": now} for r in acks],
        )
    for o in by_id:
        number = o.key[1:]
        if not number.isdigit() or len(number) > 18:
            continue
        params = {"b_integration": sender.id, "b_id": int(number), "b_now": now}
        session.execute(RESOLVE_BY_ID if o.signal is Signal.RESOLVE else ACKNOWLEDGE_BY_ID, params)
    return Outcome(replay=False, alerts=len(observations))


def _only(row: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: row[name] for name in names}
