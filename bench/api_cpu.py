"""Server CPU time per API request, by operation: what the work per request costs, apart from
the machine's noise.

``api_latency.py`` measures rates, which on a shared machine move with the CPU its host takes
away. This benchmark sends the mix's operations one at a time and reads the server process's
own CPU time (``/proc/<pid>/stat``: user + system) before and after each block, so the figure
is the server's work per request, not the wall clock. Requests: declare (SEV2), status update
(spread over 40 incidents), stage move (investigate a declared incident) and get. Beside it,
in the same round and on the same database, the reference of ``api_latency.py`` (a bare
Starlette endpoint, one insert per request): the ratio of the two costs is the ceiling of the
ratio of their sustained rates on one core. It also reads the main thread's share (the event
loop; the route functions run in worker threads). On PostgreSQL it also reads the CPU time of the
cluster's processes around each block: the database's share of a request's work.

    .venv/bin/python bench/api_cpu.py --database sqlite --rounds 3
    .venv/bin/python bench/api_cpu.py --database postgresql --rounds 3

Loopback only: a 127.0.0.1 server and the local PostgreSQL. Every run is bounded in count.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
from collections.abc import Callable
from pathlib import Path

import httpx
from api_latency import servers

SPREAD = 40  # incidents the updates and reads go to, in turn
MIX = ("declare", "update", "move", "get")
UPDATE = {"issue": "i", "impact": "i", "progress": "p", "next": "n"}


def cpu_seconds(pid: int) -> float:
    return _ticks(Path(f"/proc/{pid}/stat"))


def _ticks(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def event_loop_seconds(pid: int) -> float:
    """The server's main thread: uvicorn's event loop (parsing, routing, writing answers)."""
    return _ticks(Path(f"/proc/{pid}/task/{pid}/stat"))


def database_cpu_seconds(kind: str) -> float:
    """PostgreSQL's own processes, all of them (the machine's cluster: nothing else uses it
    while the benchmark runs); SQLite runs inside the server process. A lower bound: a
    process that ends within a block (an autovacuum worker) takes its time with it."""
    if kind != "postgresql":
        return 0.0
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not re.fullmatch(r"\d+", proc.name):
            continue
        try:
            if (proc / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return total


def run_round(kind: str, count: int) -> dict[str, float]:
    with servers(kind) as running:
        auth = {"Authorization": f"Bearer {running.token}"}
        with httpx.Client(base_url=running.warroom_url, headers=auth, timeout=10) as client:
            costs = measure(client, running.warroom.pid, count, kind)
        with httpx.Client(base_url=running.reference_url, timeout=10) as client:
            for _ in range(50):  # lazy set-up, not measured
                client.post("/insert").raise_for_status()
            before, database = cpu_seconds(running.reference.pid), database_cpu_seconds(kind)
            for _ in range(count):
                client.post("/insert").raise_for_status()
            costs["reference"] = (cpu_seconds(running.reference.pid) - before) / count
            costs["reference database"] = (database_cpu_seconds(kind) - database) / count
        return costs


def measure(client: httpx.Client, pid: int, count: int, kind: str) -> dict[str, float]:
    declared: list[str] = []

    def declare() -> None:
        response = client.post(
            "/api/v1/incidents/declare", json={"severity": "SEV2", "title": "bench"}
        )
        response.raise_for_status()
        declared.append(response.json()["id"])

    for _ in range(SPREAD + 10):  # the first requests pay for lazy set-up: not measured
        declare()
    spread = declared[:SPREAD]
    del declared[:SPREAD]
    updated, read = itertools.cycle(spread), itertools.cycle(spread)

    def update() -> None:
        client.post(f"/api/v1/incidents/{next(updated)}/updates", json=UPDATE).raise_for_status()

    def move() -> None:
        client.post(f"/api/v1/incidents/{declared.pop()}/investigate").raise_for_status()

    def get() -> None:
        client.get(f"/api/v1/incidents/{next(read)}").raise_for_status()

    clocks = {
        "": lambda: cpu_seconds(pid),
        " event loop": lambda: event_loop_seconds(pid),
        " database": lambda: database_cpu_seconds(kind),
    }
    return per_request(dict(zip(MIX, (declare, update, move, get), strict=True)), count, clocks)


def per_request(
    operations: dict[str, Callable[[], None]],
    count: int,
    clocks: dict[str, Callable[[], float]],
    warm_up: int = 0,
) -> dict[str, float]:
    """Each operation called ``count`` times in a block (after ``warm_up`` calls not
    measured), and what each clock advanced by per call: ``{operation + clock name: cost}``."""
    costs = {}
    for op, call in operations.items():
        for _ in range(warm_up):
            call()
        before = {name: clock() for name, clock in clocks.items()}
        for _ in range(count):
            call()
        for name, clock in clocks.items():
            costs[op + name] = (clock() - before[name]) / count
    return costs


def in_ms(seconds: list[float]) -> str:
    """Per-round costs as the benchmarks print them: their median, then each round."""
    each = [v * 1000 for v in seconds]
    return (
        f"median {statistics.median(each):5.2f} ms  (rounds: {', '.join(f'{v:.2f}' for v in each)})"
    )


def options(description: str | None, rounds: int) -> argparse.Namespace:
    """The CPU benchmarks' command line: the database, the rounds, the requests per round."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--requests", type=int, default=300, help="Per operation and round.")
    return parser.parse_args()


def main() -> None:
    args = options(__doc__, rounds=3)
    rounds = [run_round(args.database, args.requests) for _ in range(args.rounds)]
    for op in (*MIX, "reference"):
        line = f"{args.database} {op:<9} server CPU per request: {in_ms([r[op] for r in rounds])}"
        if op != "reference":
            loop = statistics.median(r[f"{op} event loop"] for r in rounds) * 1000
            line += f"; on the event loop {loop:.2f} ms, the rest in the threads"
        if args.database == "postgresql":
            database = statistics.median(r[f"{op} database"] for r in rounds) * 1000
            line += f"; PostgreSQL's own processes: {database:.2f} ms"
        print(line)
    mix = [sum(r[op] for op in MIX) / len(MIX) for r in rounds]
    ratios = [r["reference"] / m for r, m in zip(rounds, mix, strict=True)]
    print(
        f"{args.database} the mix, averaged: median {statistics.median(mix) * 1000:5.2f} ms; "
        f"reference / mix, per round: {', '.join(f'{v:.2f}' for v in ratios)}; "
        f"median {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
