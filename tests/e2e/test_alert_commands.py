"""``warroom integration``, ``warroom service`` and ``warroom alerts`` as a user runs them."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.e2e.test_cli import run
from tests.e2e.test_serve import started
from tests.web.conftest import serving
from warroom.config import Settings
from warroom.db.alert_models import Alert
from warroom.db.engine import make_engine
from warroom.jobs.grouping import group_alerts
from warroom.runtime import Runtime
from warroom.web.app import create_app


def test_it_manages_integrations_and_moves_alerts_from_the_cli(
    tmp_path: Path, database_url: str
) -> None:
    env = {"WARROOM_DATABASE_URL": database_url}

    def cli(*args: str) -> tuple[int, str, str]:
        done = run(*args, cwd=tmp_path, env=env)
        return done.returncode, done.stdout, done.stderr

    code, out, err = cli("integration", "create", "generic", "--service", "Checkout")
    assert code == 0, err
    assert "keep the key, it is not shown again" in out
    path = next(line.split(maxsplit=1)[1] for line in out.splitlines() if line.startswith("post:"))
    assert path.startswith("/api/v1/ingest/generic/")

    runtime = Runtime(settings=Settings(database_url=database_url))
    with serving(create_app(runtime)) as http:
        for key in ("latency", "errors"):
            body = {"summary": f"checkout {key}", "dedup_key": key, "severity": "critical"}
            assert http.post(path, json=body).status_code == 202
    group_alerts(runtime.sessions, runtime.policy, now=runtime.clock())
    runtime.engine.dispose()

    code, out, _ = cli("alerts", "--json")
    listed = json.loads(out)
    assert [(a["status"], a["incident"], a["service"]) for a in listed] == [
        ("firing", "INC-1", "checkout"),
        ("firing", "INC-1", "checkout"),
    ]
    code, out, _ = cli("alerts")
    assert "firing   INC-1" in out
    assert "checkout latency" in out

    code, _, err = cli("declare", "SEV2", "Search slow")
    assert code == 0, err
    code, out, err = cli("alerts", "move", f"#{listed[0]['id']}", "--to", "INC-2")
    assert code == 0, err
    assert f"alert #{listed[0]['id']} is now on INC-2" in out
    code, out, _ = cli("alerts", "--incident", "INC-2", "--json")
    assert [a["id"] for a in json.loads(out)] == [listed[0]["id"]]
    code, _, err = cli("alerts", "move", "nine", "--to", "INC-2")
    assert code == 2
    assert "not an alert number" in err

    code, out, _ = cli("service", "list")
    assert "checkout" in out.split()
    code, out, _ = cli("integration", "list")
    assert "generic" in out
    assert "(active)" in out
    code, out, _ = cli("integration", "revoke", "1")
    assert "revoked" in out
    code, _, err = cli("integration", "create", "cloudwatch", "--service", "x")
    assert code == 2
    assert "--topic ARN" in err
    with serving(create_app(Runtime(settings=Settings(database_url=database_url)))) as http:
        assert http.post(path, json={"summary": "late"}).status_code == 404


def test_it_keeps_every_alert_it_answered_202_for_when_killed(
    tmp_path: Path, database_url: str
) -> None:
    """2xx means committed: ``kill -9`` straight after the answers loses none of them. Those
    still waiting in the intake are folded into alerts by the next worker pass."""
    env = {"WARROOM_DATABASE_URL": database_url, "WARROOM_USER": "ops"}
    done = run(
        "integration", "create", "generic", "--service", "checkout", "--json", cwd=tmp_path, env=env
    )
    path = json.loads(done.stdout)["path"]
    accepted = 0
    with (
        started(tmp_path, env, "--no-worker", stop=signal.SIGKILL) as (base, _),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        for n in range(40):
            batch = [{"summary": f"alert {n}-{i}", "dedup_key": f"{n}-{i}"} for i in range(25)]
            if http.post(path, json=batch).status_code == 202:
                accepted += 25
    assert accepted == 1000
    run("worker", "--once", cwd=tmp_path, env=env)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = connection.scalar(select(func.count()).select_from(Alert))
    finally:
        engine.dispose()
    assert stored == accepted
