"""The public status surface over HTTP: the Statuspage JSON read by a real consumer
(statuspage-prometheus-exporter), feeds parsed by feedparser, caching with ETag and 304,
the last good page while the database is cut off, the subscribe round trip through a real
SMTP server, and the static export."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import httpx
import orjson
import pytest
from sqlalchemy import text

from tests.conftest import TABLES, Clock, World
from tests.e2e.test_cli import run
from tests.fakes import Proxy, SmtpSink
from tests.web.conftest import serving
from tests.web.test_outage import proxied  # noqa: F401  (a fixture)
from warroom.config import Settings
from warroom.db.engine import make_engine
from warroom.db.status_models import Subscriber, SubscriberState
from warroom.domain.types import MitigationKind, Move, Severity
from warroom.jobs.emails import deliver_email
from warroom.runtime import Runtime
from warroom.services import declaration, lifecycle, records, statuspage
from warroom.web.app import create_app
from warroom.web.status_export import Exporter

EXPORTER = Path(sys.executable).with_name("statuspage-prometheus-exporter")


def setup_page(world: World) -> None:
    world.act("admin", lambda op: records.service(op, "checkout"))
    world.act(
        "admin", lambda op: statuspage.create_component(op, "Checkout", services=["checkout"])
    )
    world.act("admin", lambda op: statuspage.create_component(op, "Dashboard"))


def declare_sev1(world: World) -> int:
    return world.act(
        "alice",
        lambda op: declaration.declare_new(
            op, Severity.SEV1, "Checkout errors", service_name="checkout"
        ),
    ).id


def close(world: World, number: int) -> None:
    world.later(minutes=2).act("alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE))
    world.later(minutes=5).act(
        "alice", lambda op: lifecycle.mitigate(op, number, MitigationKind.ROLLBACK)
    )
    world.later(minutes=5).act("alice", lambda op: lifecycle.move(op, number, Move.RESOLVE))
    world.later(minutes=1).act("alice", lambda op: lifecycle.move(op, number, Move.MONITOR))
    world.later(minutes=31).act("alice", lambda op: lifecycle.close(op, number))


@pytest.fixture
def public(world: World) -> Iterator[httpx.Client]:
    """The app with a cache that asks the database on every request."""
    world.runtime.settings.status_cache_seconds = 0
    setup_page(world)
    with serving(create_app(world.runtime)) as http:
        yield http


def test_it_serves_statuspage_json_with_cors_and_caching(
    public: httpx.Client, world: World
) -> None:
    declare_sev1(world)
    for path in (
        "summary.json",
        "status.json",
        "components.json",
        "incidents.json",
        "incidents/unresolved.json",
        "scheduled-maintenances.json",
        "scheduled-maintenances/upcoming.json",
        "scheduled-maintenances/active.json",
    ):
        response = public.get(f"/api/v2/{path}")
        assert response.status_code == 200, path
        assert response.headers["access-control-allow-origin"] == "*"
        assert "max-age=10" in response.headers["cache-control"]
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert set(body["page"]) == {"id", "name", "url", "time_zone", "updated_at"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["page"]["updated_at"])
    plain = public.get("/api/v2/summary.json", headers={"Accept-Encoding": "identity"})
    zipped = public.get("/api/v2/summary.json", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == plain.json()
    assert zipped.headers["etag"] != plain.headers["etag"]  # two representations
    for refusing in ("gzip;q=0", "br, gzip;q=0.0", "*;q=0", "identity"):
        answer = public.get("/api/v2/summary.json", headers={"Accept-Encoding": refusing})
        assert "content-encoding" not in answer.headers, refusing
    for taking in ("deflate, gzip;q=0.5", "*", "GZIP"):
        answer = public.get("/api/v2/summary.json", headers={"Accept-Encoding": taking})
        assert answer.headers["content-encoding"] == "gzip", taking
    head = public.head("/api/v2/summary.json", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(plain.content))
    summary = plain.json()
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert summary["scheduled_maintenances"] == []
    [incident] = summary["incidents"]
    assert incident["shortlink"].endswith(f"/status/incidents/{incident['id']}")
    assert public.get(f"/status/incidents/{incident['id']}").status_code == 200
    assert public.get("/status/incidents/nosuchthing").status_code == 404


def test_it_answers_304_to_a_poller_that_has_the_current_version(
    public: httpx.Client, world: World
) -> None:
    first = public.get("/api/v2/summary.json")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert public.get("/api/v2/summary.json", headers={"If-None-Match": etag}).status_code == 304
    assert public.head("/status").status_code == 200
    since = public.get("/api/v2/summary.json", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    world.later(minutes=1)
    declare_sev1(world)  # a change: the old version is gone
    changed = public.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["incidents"]


@pytest.fixture
def cut_off(
    postgres_server_url: str,
    proxied: tuple[Runtime, Proxy],  # noqa: F811
) -> tuple[Runtime, Proxy]:
    """PostgreSQL behind a proxy the test cuts, starting empty."""
    engine = make_engine(postgres_server_url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return proxied


def test_it_keeps_serving_the_last_good_page_while_the_database_is_away(
    cut_off: tuple[Runtime, Proxy],
) -> None:
    runtime, proxy = cut_off
    runtime.settings.status_cache_seconds = 0
    world = World(runtime, runtime.clock)  # type: ignore[arg-type]
    setup_page(world)
    declare_sev1(world)
    with serving(create_app(runtime)) as http:
        good = http.get("/status")
        assert good.status_code == 200
        assert "Partial outage" in good.text
        proxy.cut()
        runtime.clock.advance(minutes=7)  # type: ignore[attr-defined]
        page = http.get("/status")
        assert page.status_code == 200
        assert "Live status is temporarily unavailable" in page.text
        assert "(7 minutes ago)" in page.text
        # A poller holding the good copy is told something changed: the banner is news.
        since = http.get("/status", headers={"If-Modified-Since": good.headers["last-modified"]})
        assert since.status_code == 200
        assert "temporarily unavailable" in since.text
        summary = http.get("/api/v2/summary.json")
        assert summary.status_code == 200
        assert summary.json()["status"]["indicator"] == "major"
        proxy.restore()
        back = http.get("/status")
        assert "temporarily unavailable" not in back.text


def test_it_refuses_to_start_blind_answering_503_with_no_good_version(
    cut_off: tuple[Runtime, Proxy],
) -> None:
    runtime, proxy = cut_off
    runtime.engine  # noqa: B018  (migrated while reachable)
    proxy.cut()
    with serving(create_app(runtime)) as http:
        response = http.get("/status")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exporter_metrics(base: str, workdir: Path, *expected: str) -> str:
    """Run statuspage-prometheus-exporter once against warroom and return its metrics, once
    its probe succeeded and every ``expected`` text is among them (it sets its gauges one by
    one after the probe's: a scrape on a busy machine can fall in between)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "services.json").write_text(
        orjson.dumps(
            {"warroom": {"url": f"{base}/api/v2/summary.json", "name": "Warroom"}}
        ).decode()
    )
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_PROXY")},
        "SERVICES_JSON_PATH": str(workdir / "services.json"),
        "METRICS_PORT": str(port),
        "CHECK_INTERVAL_MINUTES": "59",
    }
    process = subprocess.Popen(
        [str(EXPORTER)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                text = ""
            probed = 'statuspage_probe_check{service_name="Warroom"} 1.0' in text
            if probed and all(line in text for line in expected):
                return text
            time.sleep(0.2)
        raise AssertionError("the exporter did not poll warroom within 30 s")
    finally:
        process.terminate()
        process.wait(timeout=10)


def gauge(metrics: str, name: str, **labels: str) -> float:
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in the exporter's metrics")


def test_it_is_read_by_a_real_statuspage_consumer(
    public: httpx.Client, world: World, tmp_path: Path
) -> None:
    base = str(public.base_url).rstrip("/")
    number = declare_sev1(world)
    components = ('component_name="Checkout"', 'component_name="Dashboard"')
    during = exporter_metrics(base, tmp_path / "during", *components, "statuspage_incident_info{")
    assert gauge(during, "statuspage_service_status", service_name="Warroom") == 0.0
    assert gauge(during, "statuspage_component_status", component_name="Checkout") == 0.0
    assert gauge(during, "statuspage_component_status", component_name="Dashboard") == 1.0
    assert (
        gauge(
            during,
            "statuspage_incident_info",
            impact="major",
            incident_name="Partial outage affecting Checkout",
            affected_components="Checkout",
        )
        == 1.0
    )
    close(world, number)
    after = exporter_metrics(base, tmp_path / "after", *components)
    assert gauge(after, "statuspage_service_status", service_name="Warroom") == 1.0
    assert gauge(after, "statuspage_component_status", component_name="Checkout") == 1.0


def test_it_publishes_history_feeds_that_parse(public: httpx.Client, world: World) -> None:
    number = declare_sev1(world)
    close(world, number)
    atom = public.get("/status/history.atom")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(atom.content)
    assert not feed.bozo, feed.get("bozo_exception")
    [entry] = feed.entries
    assert entry.title == "Partial outage affecting Checkout"
    assert entry.id.startswith("tag:127.0.0.1,2026:Incident/")
    assert "Resolved" in entry.content[0].value
    assert "Investigating" in entry.content[0].value
    rss = public.get("/status/history.rss")
    assert rss.headers["content-type"].startswith("application/rss+xml")
    parsed = feedparser.parse(rss.content)
    assert not parsed.bozo
    assert parsed.entries[0].id == entry.id  # the same stable id in both
    assert parsed.entries[0].link.endswith(entry.id.rsplit("/", 1)[1])


@pytest.fixture
def mailed(world: World) -> Iterator[tuple[httpx.Client, SmtpSink]]:
    with SmtpSink() as sink:
        world.runtime.settings.smtp_host = sink.host
        world.runtime.settings.smtp_port = sink.port
        world.runtime.settings.status_cache_seconds = 0
        setup_page(world)
        with serving(create_app(world.runtime)) as http:
            yield http, sink


def deliver(world: World) -> None:
    for _ in range(10):
        if not deliver_email(world.runtime.sessions, world.runtime.transports, now=world.clock.now):
            return


def test_it_confirms_a_subscription_through_the_link_it_mails(
    mailed: tuple[httpx.Client, SmtpSink], world: World
) -> None:
    http, smtp = mailed
    form = http.get("/status/subscribe")
    assert form.status_code == 200
    assert 'name="email"' in form.text
    for wrong in ("not-an-address", "a@@customer.test"):
        bad = http.post("/status/subscribe", data={"email": wrong})
        assert bad.status_code == 422
        assert "is not an e-mail address" in bad.text
    asked = http.post(
        "/status/subscribe", data={"email": "Ana@Customer.test", "incident_updates": "yes"}
    )
    assert asked.status_code == 200
    assert "Check Ana@Customer.test" in asked.text
    deliver(world)
    [mail] = smtp.wait_for(1)
    link = re.search(r"http\S+/status/subscribe/confirm/\S+", mail.message.get_content())
    assert link is not None
    path = httpx.URL(link.group(0)).path
    shown = http.get(path)
    assert shown.status_code == 200
    assert "ana@customer.test" in shown.text
    with world.runtime.reading() as session:
        [pending] = session.query(Subscriber).all()
        assert pending.state is SubscriberState.PENDING  # a GET never confirms
    assert http.post(path).status_code == 200
    with world.runtime.reading() as session:
        [confirmed] = session.query(Subscriber).all()
        assert confirmed.state is SubscriberState.CONFIRMED
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert http.post(forged).status_code == 404


def test_it_unsubscribes_in_one_click_from_a_mail_client(
    mailed: tuple[httpx.Client, SmtpSink], world: World
) -> None:
    http, smtp = mailed
    from warroom.services import subscribers

    with world.runtime.reading() as session:
        subscribers.add(session, "ops@customer.test", incident_updates=True, now=world.clock.now)
    declare_sev1(world)
    from warroom.jobs.emails import fan_out

    fan_out(world.runtime.sessions, world.runtime.policy, base_url="http://x", now=world.clock.now)
    deliver(world)
    [mail] = smtp.wait_for(1)
    stop = mail.message["List-Unsubscribe"].strip().strip("<>")
    answer = http.post(
        httpx.URL(stop).path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    with world.runtime.reading() as session:
        assert session.query(Subscriber).count() == 0
    assert http.post(httpx.URL(stop).path).status_code == 404  # used up


def test_it_exports_the_public_surface_as_static_files(
    database_url: str, tmp_path: Path, clock: Clock
) -> None:
    env = {"WARROOM_DATABASE_URL": database_url}
    for args in (
        ("service", "create", "checkout"),
        ("component", "create", "Checkout", "--service", "checkout"),
        ("declare", "SEV1", "Checkout errors", "--service", "checkout"),
        ("status", "export", str(tmp_path / "site")),
    ):
        result = run(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
    site = tmp_path / "site"
    summary = orjson.loads((site / "api/v2/summary.json").read_bytes())
    [incident] = summary["incidents"]
    assert (site / "status/index.html").read_text().count("Partial outage affecting Checkout")
    assert (site / f"status/incidents/{incident['id']}/index.html").exists()
    assert feedparser.parse((site / "status/history.atom").read_bytes()).entries

    # The worker keeps such a directory up to date, and removes what is no longer shown.
    runtime = Runtime(settings=Settings(database_url=database_url, user="ops"))  # the CLI's clock
    exporter = Exporter(site, "http://status.test")
    assert exporter.run(runtime.sessions, runtime.policy, runtime.clock())
    assert not exporter.run(runtime.sessions, runtime.policy, runtime.clock())  # no change
    World(runtime, clock).act("ops", lambda op: statuspage.remove_component(op, "Checkout"))
    assert exporter.run(runtime.sessions, runtime.policy, runtime.clock())
    components: list[Any] = orjson.loads((site / "api/v2/components.json").read_bytes())[
        "components"
    ]
    assert components == []
    runtime.engine.dispose()


def test_it_answers_bad_links_and_forms_with_clear_errors_never_500(
    mailed: tuple[httpx.Client, SmtpSink], world: World
) -> None:
    http, _ = mailed
    for path in (
        "/status/subscribe/confirm/c.1.0.abcd.%C3%A9",
        "/status/unsubscribe/u.1.0.abcd.%C3%A9",
        "/status/unsubscribe/" + "u" * 300,
        "/status/subscribe/confirm/nonsense",
        "/ack/1.2.3.%C3%A9",
    ):
        assert http.get(path).status_code == 404, path
        assert http.post(path).status_code in (404, 405), path
    assert http.get("/status/incidents/%C3%A9").status_code == 404
    too_large = http.post("/status/subscribe", data={"email": "a@b.test", "pad": "x" * 5000})
    assert too_large.status_code == 413
    garbled = http.post(
        "/status/subscribe",
        content=b"email=%FF%FE@x.test\xff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert garbled.status_code in (400, 422)
    non_ascii = http.post("/status/subscribe", data={"email": "jörg@example.test"})
    assert non_ascii.status_code == 422
    assert "plain ASCII" in non_ascii.text
    answers = [
        http.post("/status/subscribe", data={"email": f"n{i}@example.test"}).status_code
        for i in range(8)
    ]
    assert 429 in answers  # a burst from one client is cut off
    assert "Too many requests" in http.post("/status/subscribe", data={"email": "z@x.test"}).text


def test_it_shows_each_stage_of_a_sev1_on_the_page_in_the_json_and_in_the_feeds(
    public: httpx.Client, world: World
) -> None:
    def seen() -> tuple[str, str, str, str]:
        page = public.get("/status").text
        incidents = public.get("/api/v2/incidents.json").json()["incidents"]
        feed = feedparser.parse(public.get("/status/history.atom").content)
        latest_in_page = re.search(r"<strong>(\w+)</strong>", page)
        assert latest_in_page is not None
        content = feed.entries[0].content[0].value
        latest_in_feed = re.search(r"<strong>(\w+)</strong>", content)
        assert latest_in_feed is not None
        return (
            incidents[0]["status"],
            incidents[0]["incident_updates"][0]["status"],
            latest_in_page.group(1),
            latest_in_feed.group(1),
        )

    number = declare_sev1(world)
    assert seen() == ("investigating", "investigating", "Investigating", "Investigating")
    world.later(minutes=2).act("alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE))
    assert seen()[0] == "investigating"
    world.later(minutes=5).act(
        "alice", lambda op: lifecycle.mitigate(op, number, MitigationKind.ROLLBACK)
    )
    assert seen() == ("identified", "identified", "Identified", "Identified")
    world.later(minutes=5).act("alice", lambda op: lifecycle.move(op, number, Move.RESOLVE))
    world.later(minutes=1).act("alice", lambda op: lifecycle.move(op, number, Move.MONITOR))
    assert seen() == ("monitoring", "monitoring", "Monitoring", "Monitoring")
    assert public.get("/api/v2/summary.json").json()["status"]["indicator"] == "major"
    world.later(minutes=31).act("alice", lambda op: lifecycle.close(op, number))
    assert seen() == ("resolved", "resolved", "Resolved", "Resolved")
    summary = public.get("/api/v2/summary.json").json()
    assert summary["incidents"] == []
    assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}


def test_it_keeps_the_export_directory_up_to_date_from_the_worker_loop(
    world: World, tmp_path: Path
) -> None:
    from warroom.jobs.worker import run as run_worker

    setup_page(world)
    site = tmp_path / "site"
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(world.runtime.sessions, world.runtime.policy, world.runtime.clock),
        kwargs={
            "stop": stop,
            "idle": timedelta(seconds=0.05),
            "exporter": Exporter(site, "http://status.test"),
        },
        daemon=True,
    )
    worker.start()
    try:
        summary = site / "api/v2/summary.json"

        def incidents_exported() -> list[Any]:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if summary.exists():
                    found: list[Any] = orjson.loads(summary.read_bytes())["incidents"]
                    if found:
                        return found
                time.sleep(0.05)
            return []

        declare_sev1(world)
        [incident] = incidents_exported()
        assert incident["status"] == "investigating"
        assert (site / f"status/incidents/{incident['id']}/index.html").exists()
    finally:
        stop.set()
        worker.join(timeout=10)
