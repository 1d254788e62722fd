"""Paging latency: from an alert's POST to the first page delivered, warroom beside Prometheus
Alertmanager 0.25 in one run.

warroom: ``warroom serve`` (embedded worker) on a fresh database; a routing rule makes every
critical alert a SEV1 for team ``bench``, whose on-call is reached by e-mail (a real SMTP
server, aiosmtpd, on loopback) and by webhook. The time is from sending the POST to the
message's arrival: the alert persisted, grouped into a new incident, the page queued and
delivered. Reference: Alertmanager 0.25 with ``group_wait: 0s``, from its
``POST /api/v2/alerts`` to its webhook's arrival (it keeps nothing on disk).

Per round, both start afresh; the phases alternate between the two systems:

1. one alert at a time, each of a new service (``--probes`` of them, 0.2 s apart, after one
   warm-up probe reported apart);
2. a storm: 1,000 alerts on 1,000 services, posted 100 per request as fast as possible;
   every alert's latency counts.

    .venv/bin/python bench/paging.py --database sqlite --rounds 3

Loopback only. Every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_latency import drop, free_port, fresh_database, wait_ready

BIN = Path(sys.executable).parent / "warroom"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
STORM = 1_000
PER_REQUEST = 100
ARRIVAL_TIMEOUT = 120.0

POLICY = """
[[routing]]
match = { severity = "critical" }
team = "bench"
severity = "SEV1"
"""


class Arrivals:
    """When each title first arrived, by channel ("smtp", "warroom-hook", "am-hook")."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.seen: dict[tuple[str, str], float] = {}

    def arrived(self, channel: str, title: str) -> None:
        now = time.perf_counter()
        with self.lock:
            self.seen.setdefault((channel, title), now)
            self.lock.notify_all()

    def wait(self, channel: str, titles: list[str]) -> dict[str, float]:
        deadline = time.perf_counter() + ARRIVAL_TIMEOUT
        with self.lock:
            while True:
                missing = [t for t in titles if (channel, t) not in self.seen]
                if not missing:
                    return {t: self.seen[(channel, t)] for t in titles}
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise SystemExit(f"{len(missing)} of {len(titles)} never arrived by {channel}")
                self.lock.wait(left)


class _Mail:
    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message: Message = message_from_bytes(envelope.content)
        subject = str(message["Subject"])
        self.arrivals.arrived("smtp", subject.split(" INC-", 1)[1].split(" ", 1)[1])
        return "250 OK"


@contextmanager
def receivers(arrivals: Arrivals) -> Iterator[tuple[int, int]]:
    """An SMTP server and a webhook receiver (warroom's and Alertmanager's paths)."""

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/am":
                for alert in body["alerts"]:
                    arrivals.arrived("am-hook", alert["annotations"]["summary"])
            else:
                arrivals.arrived("warroom-hook", body["title"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024  # a storm's 1,000 webhooks arrive at once
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    smtp_port = free_port()
    mail = Controller(_Mail(arrivals), hostname="127.0.0.1", port=smtp_port)
    mail.start()
    try:
        yield smtp_port, server.server_address[1]
    finally:
        mail.stop()
        server.shutdown()
        server.server_close()


def alert(title: str, service: str, started: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": title, "service": service, "severity": "critical"},
        "annotations": {"summary": title},
        "startsAt": started,
    }


def webhook_body(alerts: list[dict[str, Any]]) -> bytes:
    """Alertmanager's webhook (version 4) carrying these alerts, as warroom receives it."""
    items = [
        a
        | {
            "status": "firing",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": a["annotations"]["summary"],
        }
        for a in alerts
    ]
    return json.dumps(
        {
            "version": "4",
            "groupKey": "{}:{bench}",
            "status": "firing",
            "receiver": "warroom",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.bench.test",
            "alerts": items,
        }
    ).encode()


def now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@contextmanager
def alertmanager(scratch: Path, hook_port: int) -> Iterator[int]:
    if ALERTMANAGER is None:
        raise SystemExit("prometheus-alertmanager is not installed (apt-get install it)")
    config = scratch / "am.yml"
    config.write_text(
        "route:\n  receiver: hook\n  group_by: ['alertname']\n  group_wait: 0s\n"
        "  group_interval: 1m\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n"
        f"    webhook_configs:\n      - url: http://127.0.0.1:{hook_port}/am\n"
        "        send_resolved: false\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={scratch / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=error",
        ]
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def warroom(kind: str, scratch: Path, smtp_port: int, hook_port: int) -> Iterator[tuple[int, str]]:
    url, name = fresh_database(kind, scratch)
    (scratch / "warroom.toml").write_text(POLICY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | {
        "WARROOM_DATABASE_URL": url,
        "WARROOM_USER": "bench",
        "WARROOM_SMTP_HOST": "127.0.0.1",
        "WARROOM_SMTP_PORT": str(smtp_port),
        "WARROOM_PUBLIC_URL": "http://warroom.bench.test",
    }

    def cli(*args: str) -> str:
        done = subprocess.run(
            [str(BIN), *args], cwd=scratch, env=env, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise SystemExit(f"warroom {' '.join(args)}: {done.stderr}")
        return done.stdout

    cli("team", "create", "bench")
    cli("schedule", "create", "bench", "--zone", "UTC", "--team", "bench")
    cli(
        "schedule",
        "layer",
        "bench",
        "primary",
        "--people",
        "oncall",
        "--handoff",
        "2026-01-05T09:00",
    )
    cli("person", "contact", "oncall", "email", "oncall@bench.test")
    cli("person", "contact", "oncall", "webhook", f"http://127.0.0.1:{hook_port}/warroom")
    path = json.loads(cli("integration", "create", "alertmanager", "--service", "bench", "--json"))[
        "path"
    ]
    port = free_port()
    with (scratch / "serve.log").open("w") as out:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port)],
            cwd=scratch,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        yield port, path
    finally:
        process.terminate()
        process.wait(timeout=30)
        drop(name)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latencies(sent: dict[str, float], arrived: dict[str, float]) -> dict[str, float]:
    values = [arrived[title] - sent[title] for title in sent]
    return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99)}


def probe_warroom(
    port: int, path: str, arrivals: Arrivals, tag: str, probes: int
) -> dict[str, Any]:
    """The first probe after the start is reported apart ("first"): it pays for what every
    process pays once (compiling its SQL statements, the signing key, connection pools)."""
    sent: dict[str, float] = {}
    first = 0.0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for i in range(-1, probes):
            title = f"{tag}-probe-{i}"
            body = webhook_body([alert(title, f"{tag}-svc-{i}", now_text())])
            sent[title] = time.perf_counter()
            assert client.post(path, content=body).status_code == 202
            arrivals.wait("smtp", [title])
            arrivals.wait("warroom-hook", [title])
            if i < 0:
                first = arrivals.wait("smtp", [title])[title] - sent.pop(title)
            time.sleep(0.2)
    return {
        "first": first,
        "smtp": latencies(sent, arrivals.wait("smtp", list(sent))),
        "webhook": latencies(sent, arrivals.wait("warroom-hook", list(sent))),
    }


def probe_alertmanager(port: int, arrivals: Arrivals, tag: str, probes: int) -> dict[str, Any]:
    sent: dict[str, float] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for i in range(probes):
            title = f"{tag}-probe-{i}"
            sent[title] = time.perf_counter()
            answer = client.post(
                "/api/v2/alerts", json=[alert(title, f"{tag}-svc-{i}", now_text())]
            )
            assert answer.status_code == 200, answer.text
            arrivals.wait("am-hook", [title])
            time.sleep(0.2)
    return {"webhook": latencies(sent, arrivals.wait("am-hook", list(sent)))}


def storm_titles(tag: str) -> list[list[str]]:
    titles = [f"{tag}-storm-{i}" for i in range(STORM)]
    return [titles[n : n + PER_REQUEST] for n in range(0, STORM, PER_REQUEST)]


def storm_warroom(port: int, path: str, arrivals: Arrivals, tag: str) -> dict[str, Any]:
    sent: dict[str, float] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for chunk in storm_titles(tag):
            body = webhook_body([alert(t, f"{t}-svc", now_text()) for t in chunk])
            started = time.perf_counter()
            sent |= dict.fromkeys(chunk, started)
            assert client.post(path, content=body).status_code == 202
    return {
        "smtp": latencies(sent, arrivals.wait("smtp", list(sent))),
        "webhook": latencies(sent, arrivals.wait("warroom-hook", list(sent))),
    }


def storm_alertmanager(port: int, arrivals: Arrivals, tag: str) -> dict[str, Any]:
    sent: dict[str, float] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for chunk in storm_titles(tag):
            started = time.perf_counter()
            sent |= dict.fromkeys(chunk, started)
            answer = client.post(
                "/api/v2/alerts", json=[alert(t, f"{t}-svc", now_text()) for t in chunk]
            )
            assert answer.status_code == 200, answer.text
    return {"webhook": latencies(sent, arrivals.wait("am-hook", list(sent)))}


def run_round(kind: str, number: int, probes: int) -> dict[str, Any]:
    arrivals = Arrivals()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, receivers(arrivals) as (smtp_port, hook_port):
        scratch = Path(tmp)
        (scratch / "am").mkdir()
        (scratch / "wr").mkdir()
        with (
            alertmanager(scratch / "am", hook_port) as am_port,
            warroom(kind, scratch / "wr", smtp_port, hook_port) as (port, path),
        ):
            order = ["am", "wr"] if number % 2 else ["wr", "am"]
            for system in order:
                tag = f"r{number}-{system}"
                if system == "am":
                    result["am_single"] = probe_alertmanager(am_port, arrivals, tag, probes)
                else:
                    result["wr_single"] = probe_warroom(port, path, arrivals, tag, probes)
            for system in order:
                tag = f"r{number}-{system}"
                if system == "am":
                    result["am_storm"] = storm_alertmanager(am_port, arrivals, tag)
                else:
                    result["wr_storm"] = storm_warroom(port, path, arrivals, tag)
    return result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--probes", type=int, default=50)
    args = parser.parse_args()
    rounds = []
    for number in range(1, args.rounds + 1):
        result = run_round(args.database, number, args.probes)
        rounds.append(result)
        print(f"round {number}: {json.dumps(result)}", flush=True)

    def median(*keys: str) -> float:
        values = []
        for result in rounds:
            value: Any = result
            for key in keys:
                value = value[key]
            values.append(value)
        return statistics.median(values)

    print(f"\n{args.database}, median of {args.rounds} round(s):")
    print(f"  first page after the start (e-mail): {ms(median('wr_single', 'first'))}")
    for phase in ("single", "storm"):
        am = median(f"am_{phase}", "webhook", "p99")
        for channel in ("smtp", "webhook"):
            p50 = median(f"wr_{phase}", channel, "p50")
            p99 = median(f"wr_{phase}", channel, "p99")
            print(
                f"  {phase:<6} warroom→{channel:<7} p50 {ms(p50)}, p99 {ms(p99)}; "
                f"Alertmanager→webhook p50 {ms(median(f'am_{phase}', 'webhook', 'p50'))}, "
                f"p99 {ms(am)}; p99 ratio warroom/Alertmanager {p99 / am:.1f}"
            )


if __name__ == "__main__":
    main()
