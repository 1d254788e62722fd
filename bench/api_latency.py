"""API latency and sustained rate: warroom beside a bare Starlette insert endpoint.

Both servers run side by side in the same run, on the same database. Requests are sent at a
fixed rate over 50 connections (open loop: latency counts from when a request was due, so a
slow server cannot hide its queue). warroom's mix is declare, status update, stage move and
get, in equal parts; the reference does one insert per request.

    .venv/bin/python bench/api_latency.py --database sqlite --rounds 3
    .venv/bin/python bench/api_latency.py --database postgresql --rounds 3
    .venv/bin/python bench/api_latency.py --database postgresql --rounds 3 --workers 2

``--workers N`` runs each server as N processes (warroom as ``serve --workers N``), the way
a deployment uses a machine's cores.

Loopback only: 127.0.0.1 servers and the local PostgreSQL. Every run is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

BIN = Path(sys.executable).parent / "warroom"
HERE = Path(__file__).resolve().parent
CONNECTIONS = 50
SECONDS = 8
RATES = (25, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200)
BISECTIONS = 2
P99_LIMIT = 0.050
# After an overloaded step the server keeps working off its backlog, though the client gave up:
# wait before measuring anything else on this machine.
SETTLE_SECONDS = 15
WARM_UP_RATE, WARM_UP_SECONDS = 10, 3
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fresh_database(kind: str, scratch: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{scratch / 'bench.db'}", None
    name = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    with create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return ADMIN_URL.replace("/test", f"/{name}"), name


def drop(name: str | None) -> None:
    if name:
        with create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT").connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


class Warroom:
    """The mix: declare, update, stage move (investigate a declared incident), get."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.auth = base, {"Authorization": f"Bearer {token}"}
        self.declared: list[str] = []
        self.existing: list[str] = []
        self.ops = itertools.cycle(["declare", "update", "move", "get"])

    async def request(self, client: httpx.AsyncClient) -> tuple[str, int]:
        op = next(self.ops)
        if op == "declare" or (op == "move" and not self.declared):
            response = await client.post(
                f"{self.base}/api/v1/incidents/declare",
                json={"severity": "SEV2", "title": "bench"},
                headers=self.auth,
            )
            if response.status_code == 201:
                self.declared.append(response.json()["id"])
                self.existing.append(response.json()["id"])
            return "declare", response.status_code
        target = self.existing[len(self.existing) // 2] if self.existing else "INC-1"
        if op == "update":
            body = {"issue": "i", "impact": "i", "progress": "p", "next": "n"}
            response = await client.post(
                f"{self.base}/api/v1/incidents/{target}/updates", json=body, headers=self.auth
            )
        elif op == "move":
            response = await client.post(
                f"{self.base}/api/v1/incidents/{self.declared.pop()}/investigate", headers=self.auth
            )
        else:
            response = await client.get(f"{self.base}/api/v1/incidents/{target}", headers=self.auth)
        return op, response.status_code


class Reference:
    def __init__(self, base: str) -> None:
        self.base = base

    async def request(self, client: httpx.AsyncClient) -> tuple[str, int]:
        response = await client.post(f"{self.base}/insert")
        return "insert", response.status_code


async def load(
    target: Warroom | Reference, rate: int, seconds: int
) -> tuple[dict[str, list[float]], float, int]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors = 0
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        start = time.perf_counter() + 0.2
        total = rate * seconds

        async def one(index: int) -> None:
            nonlocal errors
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                op, status = await target.request(client)
            except httpx.HTTPError:
                errors += 1
                return
            if status >= 400:
                errors += 1
            latencies[op].append(time.perf_counter() - due)

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    done = sum(len(v) for v in latencies.values())
    return latencies, done / elapsed, errors


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def holds(target: Warroom | Reference, rate: int) -> bool:
    """Whether the target answers ``rate`` requests/s without errors, with p99 under the limit.
    A rate it does not hold leaves a backlog behind: wait it out before anything else runs."""
    latencies, achieved, errors = asyncio.run(load(target, rate, SECONDS))
    everything = [v for values in latencies.values() for v in values]
    held = not errors and achieved >= 0.95 * rate and p(everything, 0.99) <= P99_LIMIT
    if not held:
        time.sleep(SETTLE_SECONDS)
    return held


def sustained(target: Warroom | Reference) -> int:
    """The highest rate held: up the ladder to the first step not held, then halving the gap
    between the last step held and that one BISECTIONS times (to within a quarter of it)."""
    best, failed = 0, None
    for rate in RATES:
        if not holds(target, rate):
            failed = rate
            break
        best = rate
    if failed is None:
        return best
    for _ in range(BISECTIONS):
        middle = (best + failed) // 2
        if middle in (best, failed):
            break
        if holds(target, middle):
            best = middle
        else:
            failed = middle
    return best


@dataclass
class Servers:
    """warroom and the reference, side by side on one fresh database."""

    warroom: subprocess.Popen[bytes]
    warroom_url: str
    token: str
    reference: subprocess.Popen[bytes]
    reference_url: str


@contextmanager
def servers(kind: str, workers: int = 1) -> Iterator[Servers]:
    """``warroom serve --no-worker`` and the reference on a fresh database, both ready, each
    as ``workers`` processes; both stopped and the database dropped afterwards."""
    with tempfile.TemporaryDirectory() as scratch:
        url, name = fresh_database(kind, Path(scratch))
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | {
            "WARROOM_DATABASE_URL": url,
            "WARROOM_USER": "bench",
        }
        wport, rport = free_port(), free_port()
        log = Path(scratch) / "serve.log"
        with log.open("w") as out:
            server = subprocess.Popen(
                [str(BIN), "serve", "--no-worker", "--port", str(wport), "--workers", str(workers)],
                cwd=scratch,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        reference = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "reference_app.py"),
                "--database",
                url,
                "--port",
                str(rport),
                "--workers",
                str(workers),
            ],
            env=env,
        )
        try:
            wait_ready(f"http://127.0.0.1:{wport}/healthz")
            wait_ready(f"http://127.0.0.1:{rport}/insert")
            token = next(
                line.split("=", 1)[1].strip()
                for line in log.read_text().splitlines()
                if "WARROOM_TOKEN=" in line
            )
            yield Servers(
                server, f"http://127.0.0.1:{wport}", token, reference, f"http://127.0.0.1:{rport}"
            )
        finally:
            for proc in (server, reference):
                proc.terminate()
                proc.wait(timeout=20)
            drop(name)


def run_round(kind: str, workers: int) -> dict[str, object]:
    with servers(kind, workers) as running:
        warroom = Warroom(running.warroom_url, running.token)
        ref = Reference(running.reference_url)
        # warroom's fixed 200 req/s run goes last, and every overloaded step is followed by
        # a pause (SETTLE_SECONDS): a backlog would take the CPU from what comes next.
        for target in (ref, warroom):  # first requests pay for lazy set-up: not measured
            asyncio.run(load(target, WARM_UP_RATE, WARM_UP_SECONDS))
        ref_fixed, _, _ = asyncio.run(load(ref, 200, SECONDS))
        time.sleep(SETTLE_SECONDS)
        reference_rate = sustained(ref)
        warroom_rate = sustained(warroom)
        fixed, _, _ = asyncio.run(load(warroom, 200, SECONDS))
        return {
            "fixed": {op: (p(v, 0.5), p(v, 0.99)) for op, v in fixed.items()},
            "ref_fixed": {op: (p(v, 0.5), p(v, 0.99)) for op, v in ref_fixed.items()},
            "warroom_rate": warroom_rate,
            "reference_rate": reference_rate,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Processes of each server (warroom's `serve --workers`, the reference's uvicorn "
        "workers): the same for both.",
    )
    args = parser.parse_args()
    rounds = [run_round(args.database, args.workers) for _ in range(args.rounds)]
    for op in ("declare", "update", "move", "get"):
        p50 = statistics.median(r["fixed"][op][0] for r in rounds)  # type: ignore[index]
        p99 = statistics.median(r["fixed"][op][1] for r in rounds)  # type: ignore[index]
        print(
            f"{args.database} 200 req/s {op:<8} p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms"
        )
    ref50 = statistics.median(r["ref_fixed"]["insert"][0] for r in rounds)  # type: ignore[index]
    ref99 = statistics.median(r["ref_fixed"]["insert"][1] for r in rounds)  # type: ignore[index]
    print(
        f"{args.database} 200 req/s reference insert "
        f"p50 {ref50 * 1000:6.1f} ms  p99 {ref99 * 1000:6.1f} ms"
    )
    ratios = [
        r["warroom_rate"] / r["reference_rate"] if r["reference_rate"] else float("nan")
        for r in rounds
    ]  # type: ignore[operator]
    print(
        f"{args.database} sustained (p99 < 50 ms): "
        f"warroom {[r['warroom_rate'] for r in rounds]} req/s, "
        f"reference {[r['reference_rate'] for r in rounds]} req/s, "
        f"ratio median {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
