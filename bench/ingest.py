"""Alert ingestion: warroom beside Prometheus Alertmanager 0.25, interleaved in one run.

Alertmanager ingests through its own ``POST /api/v2/alerts`` (it keeps alerts in memory);
warroom ingests the same alerts through ``warroom serve`` (Alertmanager webhook format, the
alert persisted before the answer). Each round starts both afresh and measures, alternating
the two systems phase by phase:

1. batched: 50,000 distinct alerts over 50 services, 100 per request, 4 keep-alive clients;
2. single: 5,000 more distinct alerts, one per request, 4 clients;
3. dedup: the batched requests posted again.

Reported per phase: alerts/s for each, the ratio warroom/Alertmanager, request p50/p99. Then
the time from a POST to its incident being visible through warroom's API, and the memory
each holds for the 50,000 open alerts (resident memory growth; for warroom also the growth of
the database). The median of the rounds is what counts.

    .venv/bin/python bench/ingest.py --database sqlite --rounds 3
    .venv/bin/python bench/ingest.py --database postgresql --rounds 3

Loopback only: 127.0.0.1 servers and the local PostgreSQL. Every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_latency import drop, free_port, fresh_database, wait_ready

BIN = Path(sys.executable).parent / "warroom"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
ALERTS, SERVICES, PER_REQUEST, CLIENTS = 50_000, 50, 100, 4
SINGLES = 5_000
PHASE_TIMEOUT = 300.0
VISIBLE_TIMEOUT = 60.0
WORKER = "embedded"  # --worker: where grouping runs
PROCESSES = 1  # --processes: warroom serve --workers


# --- a lean keep-alive HTTP/1.1 client: the load generator must not be the bottleneck ------


async def _response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status


async def _client(
    port: int, queue: list[bytes], latencies: list[float], failures: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status = await _response(reader)
            latencies.append(time.perf_counter() - started)
            if not 200 <= status < 300:
                failures.append(status)
    finally:
        writer.close()


@dataclass
class Phase:
    alerts: int
    seconds: float
    p50: float
    p99: float
    failures: int

    @property
    def rate(self) -> float:
        return self.alerts / self.seconds


def post_all(port: int, path: str, bodies: list[bytes], alerts: int) -> Phase:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    queue = [(head + f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies][::-1]
    latencies: list[float] = []
    failures: list[int] = []

    async def run() -> None:
        await asyncio.wait_for(
            asyncio.gather(*(_client(port, queue, latencies, failures) for _ in range(CLIENTS))),
            PHASE_TIMEOUT,
        )

    started = time.perf_counter()
    asyncio.run(run())
    seconds = time.perf_counter() - started
    latencies.sort()
    return Phase(
        alerts,
        seconds,
        latencies[len(latencies) // 2],
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        len(failures),
    )


# --- the alerts, as each system receives them ------------------------------------------------


def alert(i: int, starts: str) -> dict[str, object]:
    return {
        "labels": {
            "alertname": f"Bench{i % 200}",
            "service": f"svc-{i % SERVICES}",
            "instance": f"host-{i}:9100",
            "severity": "critical" if i % 10 == 0 else "warning",
        },
        "annotations": {"summary": f"bench alert {i}", "runbook_url": "https://rb.test/x"},
        "startsAt": starts,
        "generatorURL": "http://prometheus.bench.test/graph",
    }


def webhook(alerts: list[dict[str, object]]) -> bytes:
    """The same alerts as Alertmanager's webhook (version 4) would deliver them."""
    items = []
    for a in alerts:
        labels = a["labels"]
        assert isinstance(labels, dict)
        fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()
        items.append(
            a
            | {
                "status": "firing",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": fingerprint[:16],
            }
        )
    body = {
        "version": "4",
        "groupKey": "{}:{bench}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "warroom",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.bench.test",
        "alerts": items,
    }
    return json.dumps(body).encode()


def batches(first: int, count: int, size: int, starts: str) -> list[list[dict[str, object]]]:
    return [
        [alert(i, starts) for i in range(n, min(n + size, first + count))]
        for n in range(first, first + count, size)
    ]


# --- the systems ---------------------------------------------------------------------------


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@contextmanager
def alertmanager(scratch: Path) -> Iterator[tuple[int, int]]:
    if ALERTMANAGER is None:
        raise SystemExit("prometheus-alertmanager is not installed (apt-get install it)")
    config = scratch / "am.yml"
    config.write_text(
        "route:\n  receiver: nowhere\n  group_wait: 1h\nreceivers:\n  - name: nowhere\n"
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
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def warroom(kind: str, scratch: Path) -> Iterator[tuple[int, int, str, str, str]]:
    url, name = fresh_database(kind, scratch)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | {
        "WARROOM_DATABASE_URL": url,
        "WARROOM_USER": "bench",
    }
    created = subprocess.run(
        [str(BIN), "integration", "create", "alertmanager", "--service", "bench", "--json"],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    path = json.loads(created.stdout)["path"]
    port = free_port()
    log = scratch / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                str(BIN),
                "serve",
                "--port",
                str(port),
                "--workers",
                str(PROCESSES),
                *(["--no-worker"] if WORKER != "embedded" else []),
            ],
            cwd=scratch,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = (
        subprocess.Popen([str(BIN), "worker"], cwd=scratch, env=env, stdout=subprocess.DEVNULL)
        if WORKER == "separate"
        else None
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        token = next(
            line.split("=", 1)[1].strip()
            for line in log.read_text().splitlines()
            if "WARROOM_TOKEN=" in line
        )
        yield port, process.pid, path, token, url
    finally:
        for proc in (process, worker):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
        drop(name)


def database_bytes(url: str) -> int:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with create_engine(url).connect() as connection:
        return int(
            connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        )


def visible_after_post(port: int, path: str, token: str, i: int) -> float:
    """Seconds from posting one alert of a new service to its incident in the API."""
    service = f"probe-{i}"
    body = webhook(
        [
            alert(10_000_000 + i, now_text())
            | {"labels": {"alertname": "Probe", "service": service, "severity": "critical"}}
        ]
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
        started = time.perf_counter()
        assert client.post(path, content=body).status_code == 202
        deadline = started + VISIBLE_TIMEOUT
        while time.perf_counter() < deadline:
            listed = client.get("/api/v1/incidents", params={"service": service}).json()
            if listed["items"]:
                return time.perf_counter() - started
            time.sleep(0.005)
    raise SystemExit("the probe's incident never became visible")


def folded_after(url: str, alerts: int) -> float:
    """Seconds until ``alerts`` alerts are in warroom's alerts table: on SQLite a storm's
    notices are folded in from the intake up to 0.2 s after their 202 (decision 95)."""
    started = time.perf_counter()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            while time.perf_counter() < started + VISIBLE_TIMEOUT:
                if connection.scalar(text("SELECT count(*) FROM alerts")) >= alerts:
                    return time.perf_counter() - started
                connection.rollback()  # a fresh snapshot
                time.sleep(0.002)
    finally:
        engine.dispose()
    raise SystemExit("the storm's alerts never all reached the alerts table")


def now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def run_round(kind: str, number: int) -> dict[str, Any]:
    starts = now_text()
    batched = batches(0, ALERTS, PER_REQUEST, starts)
    singles = batches(ALERTS, SINGLES, 1, starts)
    bodies = {
        ("am", "batched"): [json.dumps(b).encode() for b in batched],
        ("am", "single"): [json.dumps(b).encode() for b in singles],
        ("wr", "batched"): [webhook(b) for b in batched],
        ("wr", "single"): [webhook(b) for b in singles],
    }
    bodies[("am", "dedup")], bodies[("wr", "dedup")] = (
        bodies[("am", "batched")],
        bodies[("wr", "batched")],
    )
    counts = {"batched": ALERTS, "single": SINGLES, "dedup": ALERTS}
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as scratch_am,
        tempfile.TemporaryDirectory() as scratch_wr,
        alertmanager(Path(scratch_am)) as (am_port, am_pid),
        warroom(kind, Path(scratch_wr)) as (wr_port, wr_pid, path, token, url),
    ):
        am_rss, wr_rss, wr_db = rss(am_pid), rss(wr_pid), database_bytes(url)
        targets = {"am": (am_port, "/api/v2/alerts"), "wr": (wr_port, path)}
        for phase in ("batched", "single", "dedup"):
            # Alternate who goes first, round by round: neither always meets a warmer machine.
            for system in ("am", "wr") if number % 2 == 0 else ("wr", "am"):
                port, target = targets[system]
                results[f"{system}-{phase}"] = post_all(
                    port, target, bodies[(system, phase)], counts[phase]
                )
                if (system, phase) == ("wr", "batched"):
                    results["wr-folded"] = folded_after(url, ALERTS)
            if phase == "batched":
                results["am-memory"] = rss(am_pid) - am_rss
                results["wr-memory"] = rss(wr_pid) - wr_rss
                results["wr-disk"] = database_bytes(url) - wr_db
        if WORKER != "none":
            time.sleep(3)  # let the worker finish grouping the storm before probing
            results["visible"] = statistics.median(
                visible_after_post(wr_port, path, token, i) for i in range(5)
            )
    return results


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--worker",
        choices=["embedded", "separate", "none"],
        default="embedded",
        help="grouping in serve's own worker, in a `warroom worker` process, or not at all",
    )
    parser.add_argument("--processes", type=int, default=1, help="warroom serve --workers N")
    args = parser.parse_args()
    global WORKER, PROCESSES  # settings of this whole run
    WORKER, PROCESSES = args.worker, args.processes
    rounds = [run_round(args.database, n) for n in range(args.rounds)]
    durability = (
        "SQLite WAL, synchronous=NORMAL"
        if args.database == "sqlite"
        else "PostgreSQL fsync=on, synchronous_commit=on"
    )
    med = statistics.median
    print(f"{args.database} ({durability}), {args.rounds} rounds, medians:")
    for phase in ("batched", "single", "dedup"):
        am: list[Phase] = [r[f"am-{phase}"] for r in rounds]
        wr: list[Phase] = [r[f"wr-{phase}"] for r in rounds]
        ratios = [w.rate / a.rate for w, a in zip(wr, am, strict=True)]
        print(
            f"  {phase:<8} warroom {med(w.rate for w in wr):8.0f} alerts/s "
            f"(p50 {ms(med(w.p50 for w in wr))}, p99 {ms(med(w.p99 for w in wr))})  "
            f"alertmanager {med(a.rate for a in am):8.0f} alerts/s "
            f"(p50 {ms(med(a.p50 for a in am))}, p99 {ms(med(a.p99 for a in am))})  "
            f"ratio {med(ratios):.2f} {[round(r, 2) for r in ratios]}"
        )
        failed = sum(x.failures for x in wr + am)
        if failed:
            print(f"  {phase}: {failed} requests failed")
    # Counted until the last alert is in the alerts table, not only answered.
    folded = [ALERTS / (ALERTS / r["wr-batched"].rate + r["wr-folded"]) for r in rounds]
    ratios = [f / r["am-batched"].rate for f, r in zip(folded, rounds, strict=True)]
    print(
        f"  batched, until the last alert is in warroom's alerts table: warroom "
        f"{med(folded):8.0f} alerts/s (median {ms(med(r['wr-folded'] for r in rounds))} "
        f"after the last answer)  ratio {med(ratios):.2f} {[round(r, 2) for r in ratios]}"
    )
    if WORKER != "none":
        visible = ms(med(r["visible"] for r in rounds))
        print(f"  POST -> incident visible through the API: median {visible}")
    mib = 1024 * 1024
    print(
        "  memory for 50,000 open alerts: "
        f"alertmanager RSS +{med(r['am-memory'] for r in rounds) / mib:.0f} MiB; "
        f"warroom RSS +{med(r['wr-memory'] for r in rounds) / mib:.0f} MiB, "
        f"database +{med(r['wr-disk'] for r in rounds) / mib:.0f} MiB"
    )


if __name__ == "__main__":
    main()
