"""``warroom serve`` as a user starts it: first-start admin token, API, embedded worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.test_cli import BIN, run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_it_serves_the_api_with_a_first_start_admin_token(tmp_path: Path) -> None:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    environment["WARROOM_USER"] = "ops"
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        log.seek(0)
        output = log.read()
        token = next(
            line.split("=", 1)[1] for line in output.splitlines() if "WARROOM_TOKEN=" in line
        )
        auth = {"Authorization": f"Bearer {token.strip()}"}
        created = httpx.post(
            f"{base}/api/v1/incidents/declare",
            json={"severity": "SEV1", "title": "API down"},
            headers=auth,
        )
        assert created.status_code == 201, created.text
        assert created.json()["ic"] == "ops"
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        log.close()
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
