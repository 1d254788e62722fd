"""Rows a transaction only ever inserts, written together: one multi-row INSERT per table
before the next statement the session runs with autoflush on (as pending objects would be
flushed, so a read sees them) or at commit, instead of one ORM insert each. The rows of a
table go in in the order they were appended, and tables in the order of their first row.
Nothing reads their ids back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Table, event, insert
from sqlalchemy.orm import ORMExecuteState, Session

PENDING = "warroom.appends"
_INSERTS: dict[Table, Insert] = {}


def append(session: Session, table: Any, row: dict[str, Any]) -> None:
    """Queue ``row`` for ``table`` in the session's transaction."""
    pending: dict[Table, list[dict[str, Any]]] = session.info.setdefault(PENDING, {})
    pending.setdefault(table, []).append(row)


@event.listens_for(Session, "do_orm_execute")
def _before_a_statement(state: ORMExecuteState) -> None:
    if state.session.autoflush:
        write(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write(session)


def write(session: Session) -> None:
    """Insert what is queued, one statement per table."""
    pending: dict[Table, list[dict[str, Any]]] | None = session.info.get(PENDING)
    while pending:
        table = next(iter(pending))
        rows = pending.pop(table)
        statement = _INSERTS.get(table)
        if statement is None:
            statement = _INSERTS[table] = insert(table)
        session.connection().execute(statement, rows)
