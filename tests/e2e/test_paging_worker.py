"""Escalation through the real worker process on a clock the test controls: tier 1 is paged by
e-mail, the worker is killed with SIGKILL between tiers, and the restarted worker pages tier 2
once when tier 1's five minutes are up. Every delivery of the page keeps one idempotency key,
retries included."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import START, Clock
from tests.e2e.test_cli import BIN
from tests.fakes import SmtpSink
from tests.integration.test_webhooks import Receiver, receiver  # noqa: F401 - a fixture
from warroom.config import Settings
from warroom.db.models import PageDelivery, Timer, TimerState
from warroom.domain.paging import ContactKind
from warroom.domain.timers import TimerKind
from warroom.domain.types import Severity
from warroom.runtime import Runtime
from warroom.services import declaration, directory, oncall
from warroom.services.records import Op

HANDOFF = datetime.fromisoformat("2026-03-02T09:00:00+01:00")
WAIT_SECONDS = 30


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def set_clock(path: Path, moment: datetime) -> None:
    """Move the processes' clock atomically: a worker must never read a half-written file."""
    scratch = path.with_suffix(".next")
    scratch.write_text(moment.isoformat())
    os.replace(scratch, path)


def waiting(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {WAIT_SECONDS}s: {what}")


def test_it_pages_tier_two_once_after_a_kill_9_between_tiers(
    database_url: str,
    tmp_path: Path,
    smtp: SmtpSink,
    receiver: Receiver,  # noqa: F811
) -> None:
    runtime = Runtime(settings=Settings(database_url=database_url, user="tester"), clock=Clock())

    def setup(op: Op) -> None:
        directory.save_team(op, "payments")
        directory.save_service(op, "checkout", team="payments")
        oncall.create(op, "payments", team="payments", zone="Europe/Berlin")
        for layer, people in (("primary", ["ana"]), ("secondary", ["cat"])):
            oncall.set_layer(
                op,
                "payments",
                layer,
                level=layer,
                participants=people,
                handoff=HANDOFF,
                rotation_days=7,
                window=None,
            )
        directory.add_contact(op, "ana", ContactKind.EMAIL, "ana@example.test")
        directory.add_contact(op, "cat", ContactKind.EMAIL, "cat@example.test")
        directory.add_contact(op, "cat", ContactKind.WEBHOOK, receiver.url)

    try:
        runtime.write(setup, by="admin", at=None)
        runtime.write(
            lambda op: declaration.declare_new(
                op, Severity.SEV1, "Checkout failing", service_name="checkout"
            ),
            by="oscar",
            at=None,
        )
        check_escalation(runtime, tmp_path, smtp, receiver)
    finally:
        runtime.engine.dispose()


def check_escalation(
    runtime: Runtime,
    tmp_path: Path,
    smtp: SmtpSink,
    receiver: Receiver,  # noqa: F811
) -> None:
    clock_file = tmp_path / "now"
    set_clock(clock_file, START)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    environment |= {
        "WARROOM_DATABASE_URL": runtime.settings.database_url or "",
        "WARROOM_ENV": "test",
        "WARROOM_TEST_CLOCK_FILE": str(clock_file),
        "WARROOM_SMTP_HOST": smtp.host,
        "WARROOM_SMTP_PORT": str(smtp.port),
        "WARROOM_PUBLIC_URL": "http://warroom.test",
    }

    log = tmp_path / "worker.log"

    def worker(name: str) -> subprocess.Popen[bytes]:
        with log.open("ab") as sink:
            return subprocess.Popen(
                [str(BIN), "worker", "--name", name],
                cwd=tmp_path,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )

    def until(condition: Callable[[], bool], what: str) -> None:
        try:
            waiting(condition, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nworker log:\n{log.read_text()[-6000:]}") from None

    def mailed() -> list[str]:
        return [mail.message["To"] for mail in smtp.received]

    first = worker("doomed")
    try:
        until(lambda: mailed() == ["ana@example.test"], "tier 1 paged by e-mail")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    receiver.statuses = [503]  # cat's webhook fails once: retried under the same key
    set_clock(clock_file, START + timedelta(minutes=5))
    second = worker("restarted")
    try:
        until(lambda: "cat@example.test" in mailed(), "tier 2 paged after the restart")
        until(lambda: len(receiver.received) == 1, "the webhook's first attempt")
        set_clock(clock_file, START + timedelta(minutes=5, seconds=30))
        until(lambda: len(receiver.received) == 2, "the webhook's retry")
        time.sleep(1.5)  # a pass or two more: nothing else may be sent
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)

    # At least once: a worker killed between sending and recording sends again, under the
    # same Message-ID.
    assert set(mailed()) == {"ana@example.test", "cat@example.test"}
    message_ids: dict[str, set[str]] = {}
    for mail in smtp.received:
        message_ids.setdefault(mail.message["To"], set()).add(mail.message["Message-ID"])
    assert all(len(ids) == 1 for ids in message_ids.values())
    assert mailed().count("cat@example.test") == 1  # tier 2: paged once
    keys = [r["headers"]["Warroom-Delivery-Id"] for r in receiver.received]
    assert len(set(keys)) == 1
    with runtime.reading() as session:
        delivered = Counter(session.scalars(select(PageDelivery.delivery_id)))
        tiers = session.scalars(
            select(Timer).where(Timer.kind == TimerKind.PAGE_TIER).order_by(Timer.id)
        ).all()
    assert keys[0] in delivered
    assert set(delivered.values()) == {1}
    assert [(t.state, t.fired_by) for t in tiers] == [
        (TimerState.FIRED, "restarted"),
        (TimerState.PENDING, None),
    ]
