"""How much of a request's work is the database's: each operation of the mix, called as a
route function in-process, against its own SQL statements replayed on the bare driver.

For each operation (declare a SEV2, post a status update spread over 40 incidents,
investigate a declared incident, read an incident) this captures the statements one request
sends, with their parameters, then runs them again straight on the ``sqlite3`` cursor, one
transaction per request, with nothing of SQLAlchemy or warroom above them. What is left of
the route function's CPU time is the Python above the driver: SQLAlchemy's ORM and Core,
warroom's services and domain, the answer's JSON.

The replay is a floor, not a twin: its INSERTs are ``INSERT OR IGNORE`` (the rows exist
already: the index is checked, no row is written), and an UPDATE keyed on the version the
request saw matches no row. SQLite only: on PostgreSQL the same figure would need each
statement rewritten for a different parameter style and conflict clause.

    .venv/bin/python bench/statement_floor.py --rounds 3

Everything runs in one process on a SQLite file in a temporary directory; bounded in count.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api_cpu import MIX, in_ms
from api_inprocess import WARM_UP, operations
from sqlalchemy import Engine, event

from warroom.config import Settings
from warroom.runtime import Runtime

Statement = tuple[str, Any, bool]  # SQL, parameters, executemany


def captured(engine: Engine, call: Callable[[], object]) -> list[Statement]:
    """The statements one call sends, as the driver receives them."""
    sent: list[Statement] = []

    def grab(_c: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        sent.append((sql, params, many))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    return sent


def replay(engine: Engine, statements: list[Statement], count: int) -> float:
    """CPU seconds per request of the statements alone, one transaction each, on one of
    warroom's own pooled connections (its pragmas), through the bare ``sqlite3`` cursor."""
    connection = engine.raw_connection()
    try:
        started = time.process_time()
        for _ in range(count):
            cursor = connection.cursor()
            for sql, params, many in statements:
                again = sql.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)
                if many and params and isinstance(params[0], list | tuple):
                    cursor.executemany(again, params)
                    continue
                cursor.execute(again, tuple(params))
                if cursor.description is not None:
                    cursor.fetchall()
            connection.commit()
        return (time.process_time() - started) / count
    finally:
        connection.close()


def run_round(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bench.db"
        runtime = Runtime(settings=Settings(database_url=f"sqlite:///{path}", user="bench"))
        try:
            calls = operations(runtime)  # declares before it moves, as often
            costs: dict[str, float] = {}
            for op, call in calls.items():
                for _ in range(WARM_UP):  # lazy set-up is not measured
                    call()
                started = time.process_time()
                for _ in range(count):
                    call()
                costs[op] = (time.process_time() - started) / count
                statements = captured(runtime.engine, call)
                costs[f"{op} statements"] = len(statements)
                costs[f"{op} driver"] = replay(runtime.engine, statements, count)
            return costs
        finally:
            runtime.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="Per operation and round.")
    args = parser.parse_args()
    rounds = [run_round(args.requests) for _ in range(args.rounds)]
    for op in MIX:
        statements = int(rounds[0][f"{op} statements"])
        print(f"sqlite {op:<7} route function: {in_ms([r[op] for r in rounds])}")
        print(
            f"sqlite {op:<7} its {statements} statements on the driver: "
            f"{in_ms([r[f'{op} driver'] for r in rounds])}"
        )
        shares = ", ".join(f"{r[f'{op} driver'] / r[op]:.0%}" for r in rounds)
        print(f"sqlite {op:<7} the driver's share, per round: {shares}")


if __name__ == "__main__":
    main()
