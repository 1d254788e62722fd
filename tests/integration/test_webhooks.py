"""Outbound webhooks against a real HTTP receiver on loopback: signed, retried, at least once."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import World
from warroom.db.models import Delivery, DeliveryState, TimelineEvent, Webhook
from warroom.domain.types import Severity
from warroom.jobs.deliveries import LEASE, deliver_one
from warroom.jobs.worker import run
from warroom.services import declaration, webhooks


@dataclass
class Receiver:
    """Answers with the statuses it is told to, then 200; records what it received."""

    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    garbled: int = 0  # answers that claim to be gzip and are not
    delay: float = 0.0  # seconds before each answer
    # The first request waits for ``release`` and then answers ``held_status``.
    release: threading.Event | None = None
    held_status: int = 200
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(state.delay)
            state.received.append({"headers": dict(self.headers), "body": body})
            status = state.statuses.pop(0) if state.statuses else 200
            if state.release is not None and not state.arrived.is_set():
                state.arrived.set()
                state.release.wait(10)
                status = state.held_status
            self.send_response(status)
            if state.garbled:
                state.garbled -= 1
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"not gz!")
                return
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def drain(world: World) -> int:
    sent = 0
    while (
        deliver_one(world.runtime.sessions, world.runtime.policy, now=world.clock.now)
        and sent < 100
    ):
        sent += 1
    return sent


def assert_retried_once_then_delivered(world: World, receiver: Receiver, total: int) -> None:
    """The first delivery failed; at its retry (10 s later) it comes again under the same id,
    and every delivery ends delivered."""
    world.later(seconds=11)
    drain(world)
    ids = [r["headers"]["Warroom-Delivery-Id"] for r in receiver.received]
    assert len(ids) == total + 1
    assert ids.count(ids[0]) == 2
    with world.runtime.reading() as session:
        states = {d.state for d in session.scalars(select(Delivery))}
    assert states == {DeliveryState.DELIVERED}


def test_it_delivers_every_event_signed_with_a_delivery_id(
    world: World, receiver: Receiver
) -> None:
    hook = world.act("admin", lambda op: webhooks.add(op, receiver.url, "s3cret"))
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV1, "Checkout errors"))
    sent = drain(world)
    assert sent == len(receiver.received) > 0
    kinds = [json.loads(r["body"])["kind"] for r in receiver.received]
    assert "declared" in kinds
    first = receiver.received[0]
    timestamp, mac = (
        part.split("=", 1)[1] for part in first["headers"]["Warroom-Signature"].split(",")
    )
    expected = hmac.new(
        b"s3cret", f"{timestamp}.".encode() + first["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(mac, expected)
    ids = {r["headers"]["Warroom-Delivery-Id"] for r in receiver.received}
    assert len(ids) == len(receiver.received)
    assert json.loads(first["body"])["incident"] == "INC-1"
    assert hook.id == 1


def test_it_retries_a_failing_delivery_under_the_same_id(world: World, receiver: Receiver) -> None:
    world.act("admin", lambda op: webhooks.add(op, receiver.url))
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV1, "x"))
    with world.runtime.reading() as session:
        total = len(session.scalars(select(Delivery)).all())
    receiver.statuses = [503]
    drain(world)
    assert_retried_once_then_delivered(world, receiver, total)


def test_it_retries_a_delivery_whose_answer_cannot_be_read(
    world: World, receiver: Receiver
) -> None:
    """A receiver (or a proxy before it) answers with a body that says gzip and is not: the
    delivery is tried again later, and the worker goes on with the rest."""
    world.act("admin", lambda op: webhooks.add(op, receiver.url))
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV1, "x"))
    with world.runtime.reading() as session:
        total = len(session.scalars(select(Delivery)).all())
    receiver.garbled = 1
    drain(world)
    assert len(receiver.received) == total
    assert_retried_once_then_delivered(world, receiver, total)


def test_it_fires_a_due_timer_while_a_slow_receiver_still_has_deliveries_waiting(
    world: World, receiver: Receiver
) -> None:
    """A receiver takes 0.3 s per delivery and has dozens waiting. A timer falling due
    meanwhile fires within about a second, not after the last delivery."""
    world.act("admin", lambda op: webhooks.add(op, receiver.url))
    numbers = [
        world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV1, "Outage")).id
        for _ in range(5)
    ]
    with world.runtime.reading() as session:
        waiting = len(session.scalars(select(Delivery)).all())
    assert waiting >= 25
    receiver.delay = 0.3
    stop = threading.Event()
    runtime = world.runtime
    thread = threading.Thread(
        target=run, args=(runtime.sessions, runtime.policy, world.clock), kwargs={"stop": stop}
    )
    thread.start()
    try:
        for _ in range(100):  # bounded: the worker starts sending
            if receiver.received:
                break
            time.sleep(0.05)
        world.later(minutes=6)  # the on-call page action of each incident is now overdue
        sent_when_fired = None
        for _ in range(150):  # up to 15 s
            with runtime.reading() as session:
                overdue = session.scalars(
                    select(TimelineEvent.id).where(
                        TimelineEvent.incident_id == numbers[0],
                        TimelineEvent.summary.startswith("overdue since"),
                    )
                ).first()
            if overdue is not None:
                sent_when_fired = len(receiver.received)
                break
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(30)
    assert sent_when_fired is not None
    assert sent_when_fired < waiting / 2  # most deliveries were still waiting


def test_it_redelivers_after_a_worker_died_mid_send(world: World, receiver: Receiver) -> None:
    world.act("admin", lambda op: webhooks.add(op, receiver.url))
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV2, "x"))
    with world.runtime.sessions() as session:  # a worker leases one and dies before sending
        from warroom.db.models import Delivery
        from warroom.jobs.deliveries import lease

        leased = lease(session, Delivery, world.clock.now)
        assert leased is not None
        session.commit()
        leased_id = leased.delivery_id
    drain(world)
    assert leased_id not in {r["headers"]["Warroom-Delivery-Id"] for r in receiver.received}
    world.later(seconds=LEASE.total_seconds() + 1)
    drain(world)
    assert leased_id in {r["headers"]["Warroom-Delivery-Id"] for r in receiver.received}


def test_it_keeps_the_outcome_of_the_send_that_holds_the_lease_not_of_one_that_outlasted_it(
    world: World, receiver: Receiver
) -> None:
    """A send slower than the lease is leased and delivered again by another worker; the slow
    one's late 410 must neither undo that delivery nor disable the webhook."""
    world.act("admin", lambda op: webhooks.add(op, receiver.url))
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV2, "x"))
    receiver.release, receiver.held_status = threading.Event(), 410
    started = world.clock.now
    slow = threading.Thread(
        target=deliver_one,
        args=(world.runtime.sessions, world.runtime.policy),
        kwargs={"now": started},
    )
    slow.start()
    assert receiver.arrived.wait(10)
    world.later(seconds=LEASE.total_seconds() + 1)  # the slow send's lease has run out
    drain(world)
    receiver.release.set()
    slow.join(10)
    ids = [r["headers"]["Warroom-Delivery-Id"] for r in receiver.received]
    assert ids.count(ids[0]) == 2  # sent again under its id while the first send hung
    with world.runtime.reading() as session:
        states = {d.state for d in session.scalars(select(Delivery))}
        hook = session.scalars(select(Webhook)).one()
    assert states == {DeliveryState.DELIVERED}
    assert hook.disabled_at is None


def test_it_marks_a_permanently_failing_webhook_and_stops(world: World, receiver: Receiver) -> None:
    world.act("admin", lambda op: webhooks.add(op, receiver.url))
    receiver.statuses = [410]
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV1, "x"))
    drain(world)
    with world.runtime.reading() as session:
        hook = session.scalars(select(Webhook)).one()
        failed = session.scalars(
            select(Delivery).where(Delivery.state == DeliveryState.FAILED)
        ).all()
    assert hook.disabled_at is not None
    assert "HTTP 410" in (hook.disabled_reason or "")
    assert len(failed) >= 1
    received = len(receiver.received)
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV1, "y"))
    drain(world)
    assert len(receiver.received) == received  # nothing more goes to a disabled endpoint

    hook_id = hook.id
    world.act("admin", lambda op: webhooks.enable(op, hook_id))  # the receiver is fixed
    world.act("alice", lambda op: declaration.declare_new(op, Severity.SEV1, "z"))
    drain(world)
    # Delivered again from the next event on; what happened while disabled is not replayed.
    incidents = {json.loads(r["body"])["incident"] for r in receiver.received[received:]}
    assert incidents == {"INC-3"}


@pytest.mark.parametrize("url", ["http://example.test:abc/", "ftp://example.test/", "http:///path"])
def test_it_refuses_a_webhook_url_it_could_never_call(world: World, url: str) -> None:
    from warroom.domain.errors import BadInput

    with pytest.raises(BadInput, match="not a webhook URL"):
        world.act("admin", lambda op: webhooks.add(op, url))
