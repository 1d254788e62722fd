"""A real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``, started here on
loopback with clustering off and short intervals) whose webhook receiver is a real
``warroom serve``: a firing alert opens a detected incident, repeat notifications add nothing,
and the resolved notification resolves the alert."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.test_cli import run
from tests.e2e.test_serve import free_port, started

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], seconds: float = 30) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@contextmanager
def alertmanager(tmp: Path, receiver_url: str) -> Iterator[str]:
    if ALERTMANAGER is None:
        pytest.fail(
            "prometheus-alertmanager is not installed: scripts/test installs it "
            "(apt-get install prometheus-alertmanager)",
            pytrace=False,
        )
    config = tmp / "alertmanager.yml"
    config.write_text(
        f"""
route:
  receiver: warroom
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 4s
receivers:
  - name: warroom
    webhook_configs:
      - url: {receiver_url}
        send_resolved: true
"""
    )
    port = free_port()
    log = (tmp / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
            except httpx.TransportError:
                assert process.poll() is None, (tmp / "alertmanager.log").read_text()
                return False

        wait_for("Alertmanager to be ready", ready)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def test_it_turns_a_real_alertmanagers_notifications_into_an_incident(
    tmp_path: Path, database_url: str
) -> None:
    env = {"WARROOM_DATABASE_URL": database_url, "WARROOM_USER": "ops"}
    created = run(
        "integration",
        "create",
        "alertmanager",
        "--service",
        "checkout",
        "--json",
        cwd=tmp_path,
        env=env,
    )
    assert created.returncode == 0, created.stderr
    path = json.loads(created.stdout)["path"]
    with started(tmp_path, env) as (base, token), alertmanager(tmp_path, base + path) as am:
        auth = {"Authorization": f"Bearer {token}"}
        alert: dict[str, Any] = {
            "labels": {
                "alertname": "ApiLatencyHigh",
                "service": "checkout",
                "severity": "critical",
            },
            "annotations": {
                "summary": "checkout p99 latency above 2s",
                "runbook_url": "https://runbooks.example.test/latency",
            },
            "startsAt": now_text(),
            "generatorURL": "http://prometheus.example.test/graph",
        }
        assert httpx.post(f"{am}/api/v2/alerts", json=[alert]).status_code == 200

        def alerts() -> list[dict[str, Any]]:
            listed = httpx.get(f"{base}/api/v1/alerts", headers=auth)
            items: list[dict[str, Any]] = listed.json()["items"]
            return items

        [first] = wait_for(
            "the alert to open an incident", lambda: [a for a in alerts() if a["incident"]]
        )
        assert first["status"] == "firing"
        assert first["links"]["runbook"] == "https://runbooks.example.test/latency"
        incident = httpx.get(f"{base}/api/v1/incidents/{first['incident']}", headers=auth).json()
        assert incident["stage"] == "detected"
        assert incident["severity"] == "SEV1"

        # Alertmanager repeats the group every repeat_interval: warroom receives the repeats,
        # recognises each as a replay, and adds nothing.
        def replays() -> bool:
            metrics = httpx.get(f"{base}/metrics").text
            return 'warroom_ingest_replays_total{source="alertmanager"}' in metrics

        wait_for("a repeat notification", replays, seconds=30)
        [again] = alerts()
        assert (again["id"], again["count"], again["status"]) == (first["id"], 1, "firing")
        listed = httpx.get(f"{base}/api/v1/incidents", headers=auth).json()["items"]
        assert [i["id"] for i in listed] == [first["incident"]]

        # Resolve it at Alertmanager: its resolved notification resolves warroom's alert.
        resolved = alert | {"endsAt": now_text()}
        assert httpx.post(f"{am}/api/v2/alerts", json=[resolved]).status_code == 200
        wait_for("the resolution", lambda: alerts()[0]["status"] == "resolved")
        timeline = httpx.get(
            f"{base}/api/v1/incidents/{first['incident']}/timeline", headers=auth
        ).json()
        assert "all linked alerts are resolved" in timeline[-1]["summary"]
