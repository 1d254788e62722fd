"""The mix's work without HTTP: CPU time per request of the API's own route functions,
called in-process on a fresh database.

``api_cpu.py`` reads a server's CPU time around HTTP requests; on a shared machine that
figure moves by a fifth between rounds of the same code, which hides a change of a tenth.
This benchmark calls the route functions the API serves (declare a SEV2, post a status
update spread over 40 incidents, investigate a declared incident, read an incident) in one
thread and reads the process's CPU time around each block: no server, no client, no
threads handing requests to each other. What it measures is the code path itself: the
service, the ORM and the database driver (and SQLite's own work, which runs in-process).
Beside it, in the same round, the reference's request work: one insert through the same
engine.

To compare two commits, run it once per commit, alternating, with ``PYTHONPATH`` pointing
at a worktree of each (the benchmark imports warroom from wherever Python finds it):

    .venv/bin/python bench/api_inprocess.py --database sqlite --rounds 5
    PYTHONPATH=<a worktree of the older commit>/src \\
        .venv/bin/python bench/api_inprocess.py --database sqlite --rounds 5

Loopback only (SQLite in a temporary directory, or the local PostgreSQL); bounded in count.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api_cpu import MIX, UPDATE, in_ms, options, per_request
from api_latency import drop, fresh_database
from reference_app import metadata, rows
from sqlalchemy import insert

import warroom
from warroom.config import Settings
from warroom.db.engine import make_engine
from warroom.domain.types import Access
from warroom.runtime import Runtime
from warroom.services.tokens import Caller
from warroom.web import api, coordination_api

SPREAD = 40  # incidents the updates and reads go to, in turn
WARM_UP = 20  # requests of each kind before measuring: lazy set-up is not measured
CALLER = Caller("bench", Access.MEMBER, 0)


def route(path: str) -> Callable[..., Any]:
    """The function the API serves at ``POST <path>``."""
    for candidate in api.router.routes:
        if getattr(candidate, "path", None) == path and "POST" in getattr(candidate, "methods", ()):
            return candidate.endpoint  # type: ignore[attr-defined, no-any-return]
    raise SystemExit(f"no route POST {path}")


def run_round(kind: str, count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        url, name = fresh_database(kind, Path(scratch))
        runtime = Runtime(settings=Settings(database_url=url, user="bench"))
        try:
            costs = measure(runtime, count)
            costs["reference"] = reference(url, count)
        finally:
            runtime.engine.dispose()
            drop(name)
    return costs


def measure(runtime: Runtime, count: int) -> dict[str, float]:
    return per_request(operations(runtime), count, {"": time.process_time}, warm_up=WARM_UP)


def operations(runtime: Runtime) -> dict[str, Callable[[], None]]:
    """The mix's route functions, on incidents of their own: updates and reads go to
    ``SPREAD`` incidents in turn; a move investigates an incident the declarations made, so
    the declarations run first and at least as often as the moves."""
    investigate = route("/api/v1/incidents/{incident_id}/investigate")
    declared: list[str] = []

    def declare() -> None:
        body = api.DeclareNewBody(severity="SEV2", title="bench")
        answer = api.declare_new_route(body, runtime, CALLER)
        declared.append(json.loads(answer.body)["id"])

    for _ in range(SPREAD):
        declare()
    spread = declared[:SPREAD]
    del declared[:SPREAD]
    updated, read = itertools.cycle(spread), itertools.cycle(spread)

    def update() -> None:
        body = coordination_api.UpdateBody.model_validate(UPDATE)
        coordination_api.update_route(next(updated), body, runtime, CALLER, None)

    def move() -> None:
        investigate(incident_id=declared.pop(), runtime=runtime, caller=CALLER)

    def get() -> None:
        api.get_route(next(read), runtime, CALLER, None)

    return dict(zip(MIX, (declare, update, move, get), strict=True))


def reference(url: str, count: int) -> float:
    """The reference endpoint's work: one insert in its own transaction."""
    engine = make_engine(url)
    metadata.create_all(engine)

    def one() -> None:
        with engine.begin() as connection:
            connection.execute(insert(rows).values(title="reference", created_at=datetime.now(UTC)))

    try:
        for _ in range(WARM_UP):
            one()
        started = time.process_time()
        for _ in range(count):
            one()
        return (time.process_time() - started) / count
    finally:
        engine.dispose()


def main() -> None:
    args = options(__doc__, rounds=5)
    print(f"warroom from {Path(warroom.__file__).parent}", file=sys.stderr)
    rounds = [run_round(args.database, args.requests) for _ in range(args.rounds)]
    for op in (*MIX, "reference"):
        costs = in_ms([r[op] for r in rounds])
        print(f"{args.database} {op:<9} CPU per request, in-process: {costs}")
    mix = [sum(r[op] for op in MIX) / len(MIX) for r in rounds]
    print(f"{args.database} the mix, averaged: {in_ms(mix)}")


if __name__ == "__main__":
    main()
