"""``warroom serve`` as a user starts it: first-start admin token, API, embedded worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import TABLES
from tests.e2e.test_cli import BIN, run
from warroom.db.engine import make_engine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def started(
    cwd: Path, env: dict[str, str], *options: str, stop: signal.Signals = signal.SIGTERM
) -> Iterator[tuple[str, str]]:
    """``warroom serve`` as a user starts it, in ``cwd``: its URL and first-start admin token.
    ``stop`` is how it ends: SIGTERM as a service manager stops it, SIGKILL as a crash."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | env
    log_path = cwd / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), *options],
            cwd=cwd,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.1)
        token = next(
            line.split("=", 1)[1].strip()
            for line in log_path.read_text().splitlines()
            if "WARROOM_TOKEN=" in line
        )
        yield url, token
    finally:
        process.send_signal(stop)
        process.wait(timeout=20)


def test_it_serves_the_api_with_a_first_start_admin_token(tmp_path: Path) -> None:
    with started(tmp_path, {"WARROOM_USER": "ops"}) as (base, token):
        auth = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{base}/api/v1/incidents/declare",
            json={"severity": "SEV1", "title": "API down"},
            headers=auth,
        )
        assert created.status_code == 201, created.text
        assert created.json()["ic"] == "ops"
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    listed = run("list", "--json", cwd=tmp_path)
    assert '"INC-1"' in listed.stdout  # the same database, driven from a second terminal


def test_it_manages_tokens_from_the_cli(tmp_path: Path) -> None:
    created = run(
        "token",
        "create",
        "--person",
        "dana",
        "--access",
        "viewer",
        "--name",
        "grafana",
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("wr_")
    listing = run("token", "list", cwd=tmp_path)
    assert "dana" in listing.stdout
    assert secret not in listing.stdout
    assert run("token", "revoke", "1", cwd=tmp_path).returncode == 0
    assert "revoked" in run("token", "list", cwd=tmp_path).stdout
    assert run("token", "revoke", "9", cwd=tmp_path).returncode == 2


def test_it_serves_from_several_processes_on_one_sqlite_database(tmp_path: Path) -> None:
    """``--workers 2``: two API processes write to one embedded database at once; every write
    lands once, none is refused for the other process's lock."""
    from concurrent.futures import ThreadPoolExecutor

    with started(tmp_path, {"WARROOM_USER": "ops"}, "--workers", "2") as (base, token):
        auth = {"Authorization": f"Bearer {token}"}

        def declare(index: int) -> int:
            answer = httpx.post(
                f"{base}/api/v1/incidents/declare",
                json={"severity": "SEV2", "title": f"slow search {index}"},
                headers=auth,
                timeout=30,
            )
            return answer.status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(declare, range(24)))
        listed = httpx.get(f"{base}/api/v1/incidents", params={"limit": 100}, headers=auth)
    assert statuses == [201] * 24
    titles = sorted(item["title"] for item in listed.json()["items"])
    assert titles == sorted(f"slow search {index}" for index in range(24))


def test_it_refuses_a_revoked_token_at_once_in_every_process_on_postgresql(
    tmp_path: Path, postgres_server_url: str
) -> None:
    """``--workers 2`` on PostgreSQL: each process trusts a token it has seen (here for five
    minutes), yet a revocation written by the CLI straight to the database is heard by both."""
    engine = make_engine(postgres_server_url)
    with engine.begin() as connection:  # a first start: no admin token yet
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    refused_at_once_by_every_process(
        tmp_path, {"WARROOM_USER": "ops", "WARROOM_DATABASE_URL": postgres_server_url}
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_it_refuses_a_revoked_token_at_once_in_every_process_on_one_sqlite_file(
    tmp_path: Path, workers: str
) -> None:
    """The embedded database, one server process or two: the CLI revokes on the file (a
    second terminal next to ``warroom serve``), and no process waits for its cache window
    (here five minutes) to refuse the token."""
    refused_at_once_by_every_process(tmp_path, {"WARROOM_USER": "ops"}, workers)


def refused_at_once_by_every_process(
    tmp_path: Path, env: dict[str, str], workers: str = "2"
) -> None:
    """Every process of ``serve --workers N`` trusts a token it has seen for five minutes; a
    revocation written by the CLI straight to the database reaches all of them within 2 s."""
    trusting = env | {"WARROOM_CREDENTIAL_CACHE_SECONDS": "300"}
    with started(tmp_path, trusting, "--workers", workers, "--no-worker") as (base, token):
        auth = {"Authorization": f"Bearer {token}"}

        def answers() -> set[int]:  # each on a new connection: either process may answer
            return {
                httpx.get(f"{base}/api/v1/incidents", headers=auth, timeout=10).status_code
                for _ in range(20)
            }

        assert answers() == {200}  # trusted from now on by whichever answered
        revoked = run("token", "revoke", "1", cwd=tmp_path, env=env)
        assert revoked.returncode == 0, revoked.stderr
        deadline = time.monotonic() + 2
        while (seen := answers()) != {401} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen == {401}
