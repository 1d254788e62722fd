"""Timer lag: how long after its due time a timer fires (issue 3's performance section).

10,000 pending timers, of which 1,000 fall due within one second; `warroom worker` processes
(one, then two) fire them on the system clock. Lag is fired_at - due_at, reported as p50/p99.

    .venv/bin/python bench/timer_lag.py --database sqlite --rounds 3
    .venv/bin/python bench/timer_lag.py --database postgresql --rounds 3

Talks only to the loopback PostgreSQL (127.0.0.1:5432) or a SQLite file in a temp directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text

from warroom.db.engine import make_engine
from warroom.db.models import Action, Incident, Timer, TimerState
from warroom.db.schema import upgrade
from warroom.domain.timers import TimerKind
from warroom.domain.types import ReportSource, Severity, Stage

TOTAL, DUE, PER_INCIDENT = 10_000, 1_000, 100
LEAD = timedelta(seconds=6)  # time for the workers to start before the first timer falls due
WORKER = Path(sys.executable).parent / "warroom"


def database(kind: str, scratch: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{scratch / 'bench.db'}", None
    name = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def drop(name: str | None) -> None:
    if name is None:
        return
    admin = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(url: str, first_due: datetime) -> None:
    """Incidents whose pending actions carry deadlines: the timers the plan keeps."""
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    incidents, actions, timers = [], [], []
    for n in range(TOTAL // PER_INCIDENT):
        incidents.append(
            {
                "id": n + 1,
                "title": f"bench {n}",
                "severity": Severity.SEV3,
                "severity_confirmed": True,
                "stage": Stage.TRIAGED,
                "stage_entered_at": now,
                "source": ReportSource.SYNTHETIC,
                "detected_at": now,
                "triaged_at": now,
                "customer_visible": False,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    for index in range(TOTAL):
        incident = index // PER_INCIDENT + 1
        # The first DUE timers fall due spread over one second; the rest a day later.
        due = (
            first_due + timedelta(seconds=index / DUE)
            if index < DUE
            else first_due + timedelta(days=1)
        )
        key = f"check-{index}"
        actions.append(
            {"incident_id": incident, "key": key, "title": key, "created_at": now, "due_at": due}
        )
        timers.append(
            {
                "incident_id": incident,
                "kind": TimerKind.ACTION_DUE,
                "key": key,
                "due_at": due,
                "state": TimerState.PENDING,
                "created_at": now,
            }
        )
    with engine.begin() as connection:
        connection.execute(insert(Incident), incidents)
        connection.execute(insert(Action), actions)
        connection.execute(insert(Timer), timers)
    engine.dispose()


def run_round(kind: str, workers: int) -> list[float]:
    with tempfile.TemporaryDirectory() as scratch:
        url, name = database(kind, Path(scratch))
        try:
            first_due = datetime.now(UTC) + LEAD
            seed(url, first_due)
            if datetime.now(UTC) > first_due - timedelta(seconds=2):
                raise SystemExit("seeding took longer than the lead time; raise LEAD")
            env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
            env["WARROOM_DATABASE_URL"] = url
            procs = [
                subprocess.Popen(
                    [str(WORKER), "worker", "--name", f"w{i}"],
                    cwd=scratch,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for i in range(workers)
            ]
            engine = make_engine(url)
            deadline = time.monotonic() + 120
            try:
                while time.monotonic() < deadline:
                    with engine.connect() as connection:
                        fired = connection.execute(
                            select(func.count())
                            .select_from(Timer)
                            .where(Timer.state == TimerState.FIRED)
                        ).scalar_one()
                    if fired >= DUE:
                        break
                    time.sleep(0.2)
                with engine.connect() as connection:
                    rows = connection.execute(
                        select(Timer.due_at, Timer.fired_at).where(Timer.state == TimerState.FIRED)
                    ).all()
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    proc.wait(timeout=20)
                engine.dispose()
            return [(fired - due).total_seconds() for due, fired in rows]
        finally:
            drop(name)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for workers in (1, 2):
        p50s, p99s, counts = [], [], []
        for _ in range(args.rounds):
            lags = run_round(args.database, workers)
            counts.append(len(lags))
            p50s.append(percentile(lags, 50))
            p99s.append(percentile(lags, 99))
        print(
            f"{args.database} workers={workers} fired={counts} "
            f"lag p50 median={statistics.median(p50s):.3f}s "
            f"p99 median={statistics.median(p99s):.3f}s "
            f"(rounds p99: {', '.join(f'{v:.3f}' for v in p99s)})"
        )


if __name__ == "__main__":
    main()
