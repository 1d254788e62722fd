"""The CLI loads only what a command uses: ``--help`` and the commands sent to a server
(``WARROOM_SERVER``) start without the database layer or the API app, which take seconds to
load; only a command on the local database loads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.test_serve import free_port

# What only a command on the local database needs: the database layer, the API app, the
# server and the worker, and the libraries they load.
HEAVY = ("sqlalchemy", "fastapi", "uvicorn", "psycopg", "icalendar", "warroom.runtime")
HEAVY_PARTS = ("warroom.db", "warroom.services", "warroom.web", "warroom.jobs.worker")
# Runs the CLI in a fresh interpreter, then names the heavy modules that run loaded.
PROBE = f"""
import json, sys
from warroom.cli import app
code = "no exit"
try:
    app(sys.argv[1:], prog_name="warroom")
except SystemExit as exit:
    code = exit.code
finally:
    loaded = set()
    for name in list(sys.modules):
        if name.split(".")[0] in {HEAVY!r} or name in {HEAVY!r}:
            loaded.add(name.split(".")[0] if not name.startswith("warroom") else name)
        for part in {HEAVY_PARTS!r}:
            if name == part or name.startswith(part + "."):
                loaded.add(part)
    print(json.dumps({{"code": code, "loaded": sorted(loaded)}}), file=sys.stderr)
"""


def probe(*args: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WARROOM_") and not k.lower().endswith("_proxy")
    }
    environment.update({"WARROOM_USER": "alice", "COLUMNS": "200", **(env or {})})
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    assert last.startswith("{"), result.stderr
    report: dict[str, Any] = json.loads(last)
    report["stdout"], report["stderr"] = result.stdout, result.stderr
    return report


def test_it_answers_help_without_loading_the_database_or_the_api(tmp_path: Path) -> None:
    shown = probe("--help", cwd=tmp_path)
    assert shown["code"] == 0
    assert "declare" in shown["stdout"]
    assert shown["loaded"] == []
    for command, says in (
        ("declare", "Incident Commander"),
        ("worker", "Timers fired per transaction"),
        ("serve", "--no-worker"),
        ("drill", "--keep"),
    ):
        helped = probe(command, "--help", cwd=tmp_path)
        assert helped["code"] == 0, helped["stderr"]
        assert says in helped["stdout"]
        assert helped["loaded"] == [], command


def test_it_sends_a_command_to_a_server_without_loading_the_database(tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    sent = probe("list", cwd=tmp_path, env={"WARROOM_SERVER": server, "WARROOM_TOKEN": "wr_x"})
    assert sent["code"] == 4
    assert "cannot reach the warroom server" in sent["stderr"]
    assert sent["loaded"] == []


def test_it_loads_the_database_for_a_command_on_the_local_database(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'warroom.db'}"
    listed = probe("list", cwd=tmp_path, env={"WARROOM_DATABASE_URL": database})
    assert listed["code"] in (0, None)
    assert "No incidents match." in listed["stdout"]
    assert {"sqlalchemy", "fastapi", "warroom.runtime"} <= set(listed["loaded"])
    assert "psycopg" not in listed["loaded"]  # PostgreSQL's driver, on SQLite
