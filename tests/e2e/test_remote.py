"""The CLI against a running ``warroom serve`` (WARROOM_SERVER + WARROOM_TOKEN), as a second
terminal drives it: the same commands print the same thing as on the server's own database."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.test_cli import ago, run
from tests.e2e.test_serve import free_port, started

CADENCE_SECONDS = 3


@contextmanager
def not_warroom() -> Iterator[str]:
    """A loopback web server that answers every request 404 in HTML."""

    class Missing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)  # Python's stock HTML error page

        def log_message(self, *_args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Missing)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}"
    finally:
        http.shutdown()
        http.server_close()


@dataclass
class Server:
    url: str
    token: str
    cwd: Path
    database_url: str

    def remote(
        self, *args: str, token: str | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {"WARROOM_SERVER": self.url, "WARROOM_TOKEN": token or self.token}
        return run(*args, cwd=self.cwd / "elsewhere", env=env, stdin=stdin)

    def local(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, cwd=self.cwd, env={"WARROOM_DATABASE_URL": self.database_url})


SECONDS_CADENCE = f'[severity.SEV1]\nupdate_cadence = "{CADENCE_SECONDS}s"\n'


@pytest.fixture
def server_policy() -> str:
    """The server's warroom.toml: the defaults, unless a test parametrizes it."""
    return ""


@pytest.fixture
def server(database_url: str, tmp_path: Path, server_policy: str) -> Iterator[Server]:
    """``warroom serve`` on loopback with its embedded worker."""
    (tmp_path / "warroom.toml").write_text(server_policy, encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    env = {"WARROOM_USER": "alice", "WARROOM_DATABASE_URL": database_url}
    with started(tmp_path, env) as (url, token):
        yield Server(url, token, tmp_path, database_url)


def test_it_drives_a_server_with_the_same_commands_and_output_as_locally(server: Server) -> None:
    declared = server.remote(
        "declare", "SEV1", "API experiencing elevated error rates", "--at", ago(5)
    )
    assert declared.returncode == 0, declared.stderr
    assert declared.stdout.startswith("INC-1 SEV1 declared — stage declared")
    assert "#incident-" in declared.stdout
    assert server.remote("role", "1", "comms", "bob").returncode == 0
    assert server.remote("note", "1", "--kind", "hypothesis", "bad deploy").returncode == 0
    updated = server.remote(
        "update", "1", "--issue", "5xx", "--impact", "20%", "--progress", "rollback", "--next", "x"
    )
    assert "Update #1 - Investigating" in updated.stdout, updated.stderr

    at = datetime.now(UTC).replace(microsecond=0).isoformat()
    for command in (("show", "1", "--at", at), ("timeline", "1"), ("list", "--json")):
        remote, local = server.remote(*command), server.local(*command)
        assert remote.returncode == local.returncode == 0, remote.stderr + local.stderr
        assert remote.stdout == local.stdout, command
    shown = json.loads(server.remote("show", "1", "--json").stdout)
    assert shown["roles"] == {"ic": ["alice"], "comms": ["bob"]}

    # A refusal reads the same and exits 1 either way.
    remote, local = server.remote("close", "INC-1"), server.local("close", "INC-1")
    assert remote.returncode == local.returncode == 1
    assert remote.stderr == local.stderr
    assert "refused by rule illegal-move" in remote.stderr

    # --by needs an admin token, and is recorded as done on behalf of that person.
    on_behalf = server.remote("investigate", "1", "--by", "carol", "--json")
    assert on_behalf.returncode == 0, on_behalf.stderr
    last = json.loads(server.remote("timeline", "1", "--json").stdout)[-1]
    assert (last["actor"], last["data"]["entered_by"]) == ("carol", "alice")


def test_it_exits_4_when_the_server_is_unreachable_or_refuses_the_token(server: Server) -> None:
    wrong = server.remote("list", token="wr_not-a-real-token")
    assert wrong.returncode == 4
    assert "refused the token" in wrong.stderr
    assert "unknown or revoked" in wrong.stderr

    created = server.remote("token", "create", "--person", "dana", "--access", "viewer")
    viewer = created.stdout.strip().splitlines()[-1]
    assert server.remote("list", token=viewer).returncode == 0
    denied = server.remote("declare", "SEV2", "Slow search", token=viewer)
    assert denied.returncode == 4
    assert "needs a member token" in denied.stderr
    assert "No incidents match." in server.remote("list", token=viewer).stdout  # nothing written

    bad = server.remote("declare", "SEV1", "x", "--at", "yesterday")
    assert bad.returncode == 2
    assert "--at" in bad.stderr

    unreachable = run(
        "list",
        cwd=server.cwd,
        env={"WARROOM_SERVER": f"http://127.0.0.1:{free_port()}", "WARROOM_TOKEN": server.token},
    )
    assert unreachable.returncode == 4
    assert "cannot reach the warroom server" in unreachable.stderr
    with not_warroom() as elsewhere:  # a web server, but not warroom's API
        stranger = run(
            "list", cwd=server.cwd, env={"WARROOM_SERVER": elsewhere, "WARROOM_TOKEN": "wr_x"}
        )
    assert stranger.returncode == 4
    assert "no warroom API" in stranger.stderr
    no_token = run("list", cwd=server.cwd, env={"WARROOM_SERVER": server.url})
    assert no_token.returncode == 4
    assert "WARROOM_TOKEN is not set" in no_token.stderr


def test_it_removes_and_enables_a_webhook_from_the_cli(server: Server) -> None:
    added = server.remote("webhook", "add", "https://hooks.example.com/warroom")
    assert added.returncode == 0, added.stderr
    assert "webhook 1 (events)" in added.stdout
    assert server.remote("webhook", "remove", "1").stdout.strip() == "webhook 1 removed"
    assert "(disabled: removed)" in server.remote("webhook", "list").stdout
    enabled = server.remote("webhook", "enable", "1")
    assert enabled.returncode == 0, enabled.stderr
    assert "webhook 1 is active again" in enabled.stdout
    assert "(active)" in server.remote("webhook", "list").stdout
    missing = server.remote("webhook", "enable", "9")
    assert missing.returncode == 2
    assert "webhook 9 does not exist" in missing.stderr


@pytest.mark.parametrize("server_policy", [SECONDS_CADENCE])
def test_it_reminds_the_comms_owner_on_time_in_real_time(server: Server) -> None:
    """The reminder a SEV1 gets after its update cadence, on the system clock: the cadence
    is shortened to seconds by the server's warroom.toml."""
    declared = server.remote("declare", "SEV1", "Checkout failing", "--json")
    assert declared.returncode == 0, declared.stderr
    declared_at = datetime.fromisoformat(json.loads(declared.stdout)["declared_at"])

    reminder = None
    deadline = time.monotonic() + CADENCE_SECONDS + 15
    while reminder is None and time.monotonic() < deadline:
        time.sleep(0.25)
        events = json.loads(server.remote("timeline", "1", "--json").stdout)
        reminder = next((e for e in events if e["kind"] == "reminder"), None)
    assert reminder is not None, "no reminder within 15 s of its due time"
    assert "status update #1 is due" in reminder["summary"]
    assert "reminder to alice" in reminder["summary"]  # the IC, until a comms lead is named
    due = datetime.fromisoformat(reminder["data"]["due_at"])
    assert due == declared_at + timedelta(seconds=CADENCE_SECONDS)
    fired = datetime.fromisoformat(reminder["at"])
    assert timedelta(0) <= fired - due < timedelta(seconds=2)  # within about a second
