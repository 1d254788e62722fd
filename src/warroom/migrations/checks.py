"""Widening the allowed values of an enum column, which the database checks.

PostgreSQL replaces the CHECK constraint. SQLite cannot alter one, so the table is rebuilt the
way SQLite documents ("making other kinds of table schema changes"): a copy under the new
definition, the old table dropped, the copy renamed, its indexes and triggers recreated.
``warroom.db.schema.upgrade`` runs migrations on SQLite with foreign keys off and checks them
all once at the end, as that procedure requires.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alembic import op


def widen_enum_check(table: str, enum_name: str, column: str, values: Sequence[str]) -> None:
    constraint = f"ck_{table}_{enum_name}"
    allowed = ", ".join(f"'{value}'" for value in values)
    condition = f"{column} IN ({allowed})"
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f(constraint), table, type_="check")
        op.create_check_constraint(op.f(constraint), table, condition)
        return
    definition = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    dependants = list(
        bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL",
            (table,),
        ).scalars()
    )
    check = re.compile(rf"CONSTRAINT {constraint} CHECK \({column} IN \([^)]*\)\)")
    if not check.search(definition):
        raise RuntimeError(f"{table}: constraint {constraint} not found; cannot widen it")
    rebuilt = check.sub(f"CONSTRAINT {constraint} CHECK ({condition})", definition, count=1)
    copy = f"_widen_{table}"
    rebuilt = re.sub(rf"^CREATE TABLE \"?{table}\"?", f"CREATE TABLE {copy}", rebuilt, count=1)
    op.execute(rebuilt)
    op.execute(f"INSERT INTO {copy} SELECT * FROM {table}")  # noqa: S608 - fixed names
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {copy} RENAME TO {table}")
    for statement in dependants:
        op.execute(statement)
