"""The worker as a real process: killed with SIGKILL while timers are due, then restarted.

Every due timer fires once and only once, and every webhook delivery arrives at least once,
always under one delivery id. The processes run on a clock the test controls.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from tests.conftest import START, Clock
from tests.e2e.test_cli import BIN, run
from tests.integration.test_webhooks import Receiver, receiver  # noqa: F401 - a fixture
from warroom.config import Settings
from warroom.db.models import Delivery, DeliveryState, Incident, TimelineEvent, Timer, TimerState
from warroom.domain.types import EventKind, Severity
from warroom.runtime import Runtime
from warroom.services import declaration, webhooks
from warroom.services.records import Op

INCIDENTS = 60  # about 180 due timers, fired 10 a transaction: the kill lands mid-way


def declare_many(op: Op) -> list[Incident]:
    return [declaration.declare_new(op, Severity.SEV1, f"Outage {n}") for n in range(INCIDENTS)]


def test_it_fires_each_due_timer_once_across_a_kill_9(
    database_url: str,
    tmp_path: Path,
    receiver: Receiver,  # noqa: F811
) -> None:
    runtime = Runtime(settings=Settings(database_url=database_url, user="tester"), clock=Clock())
    try:
        check_kill_9(runtime, tmp_path, receiver)
    finally:
        runtime.engine.dispose()


def check_kill_9(runtime: Runtime, tmp_path: Path, receiver: Receiver) -> None:  # noqa: F811
    runtime.write(declare_many, by="alice", at=None)  # one transaction: quick to set up
    runtime.write(lambda op: webhooks.add(op, receiver.url), by="admin", at=None)
    with runtime.reading() as session:
        already = session.scalar(select(func.count()).select_from(Delivery)) or 0

    clock_file = tmp_path / "now"
    clock_file.write_text((START + timedelta(minutes=31)).isoformat())
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    environment |= {
        "WARROOM_DATABASE_URL": runtime.settings.database_url or "",
        "WARROOM_ENV": "test",
        "WARROOM_TEST_CLOCK_FILE": str(clock_file),
    }
    worker = subprocess.Popen(
        [str(BIN), "worker", "--name", "doomed", "--batch", "10"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with runtime.reading() as session:
            fired = session.scalar(
                select(func.count()).select_from(Timer).where(Timer.state == TimerState.FIRED)
            )
        if fired:
            break
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)

    restarted = run("worker", "--once", "--name", "restarted", cwd=tmp_path, env=environment)
    assert restarted.returncode == 0, restarted.stderr

    with runtime.reading() as session:
        states = Counter(
            session.scalars(
                select(Timer.state).where(Timer.due_at <= START + timedelta(minutes=31))
            )
        )
        reminders = Counter(
            session.scalars(
                select(TimelineEvent.incident_id).where(TimelineEvent.kind == EventKind.REMINDER)
            )
        )
        fired_by = Counter(
            session.scalars(select(Timer.fired_by).where(Timer.state == TimerState.FIRED))
        )
        deliveries = {row.delivery_id: row.state for row in session.scalars(select(Delivery))}
    assert states[TimerState.PENDING] == 0
    assert fired_by["doomed"] > 0
    assert fired_by["restarted"] > 0  # the kill left due work, and the restart did it
    assert set(reminders.values()) == {1}  # one update reminder per incident, never two
    assert len(reminders) == INCIDENTS
    assert set(deliveries.values()) == {DeliveryState.DELIVERED}
    assert len(deliveries) > already
    seen = Counter(r["headers"]["Warroom-Delivery-Id"] for r in receiver.received)
    assert set(seen) == set(deliveries)  # every delivery arrived, under its own id


def test_it_refuses_the_test_clock_outside_tests(tmp_path: Path) -> None:
    (tmp_path / "now").write_text(START.isoformat())
    env = {"WARROOM_TEST_CLOCK_FILE": str(tmp_path / "now")}
    remote = {**env, "WARROOM_SERVER": "http://127.0.0.1:9", "WARROOM_TOKEN": "wr_x"}
    for command, environment in (
        (["list"], env),
        (["worker", "--once"], env),
        (["db", "current"], env),
        (["list"], remote),  # refused before anything is sent
    ):
        result = run(*command, cwd=tmp_path, env=environment)
        assert result.returncode == 2, (command, result.stderr)
        assert "for tests only" in result.stderr
        assert "Traceback" not in result.stderr


def test_it_logs_json_lines_that_name_the_incident(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'warroom.db'}"
    runtime = Runtime(settings=Settings(database_url=database, user="tester"), clock=Clock())
    try:
        runtime.write(
            lambda op: declaration.declare_new(op, Severity.SEV1, "Logged"), by="a", at=None
        )
    finally:
        runtime.engine.dispose()
    (tmp_path / "now").write_text((START + timedelta(minutes=31)).isoformat())
    env = {
        "WARROOM_DATABASE_URL": database,
        "WARROOM_ENV": "test",
        "WARROOM_TEST_CLOCK_FILE": str(tmp_path / "now"),
        "WARROOM_LOG_FORMAT": "json",
    }
    result = run("worker", "--once", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    fired = [e for e in entries if "update-due timer" in e["message"]]
    assert fired
    assert fired[0]["incident"] == "INC-1"
    assert fired[0]["level"] == "info"
