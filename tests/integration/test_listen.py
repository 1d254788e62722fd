"""Several nodes on one PostgreSQL: a change on one wakes the others at once."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from tests.conftest import Clock
from tests.e2e.test_cli import run
from tests.web.conftest import serving
from warroom.config import Settings
from warroom.db.listen import listen
from warroom.domain.alerts import AlertSource
from warroom.domain.types import Access, Severity
from warroom.revocations import REVOCATIONS
from warroom.runtime import Runtime
from warroom.services import declaration, integrations, tokens
from warroom.web.app import create_app


def test_it_wakes_another_node_when_a_change_commits(postgres_server_url: str) -> None:
    settings = Settings(database_url=postgres_server_url, user="tester")
    writer, reader = (
        Runtime(settings=settings, clock=Clock()),
        Runtime(settings=settings, clock=Clock()),
    )
    stop = threading.Event()
    try:
        listener = listen(reader.engine, reader.wakeup, stop)
        assert listener is not None
        assert listener.listening.wait(10)
        seen = reader.wakeup.generation
        writer.write(
            lambda op: declaration.declare_new(op, Severity.SEV1, "Across nodes"), by="a", at=None
        )
        assert reader.wakeup.wait(seen, 10) > seen
    finally:
        stop.set()
        writer.engine.dispose()
        reader.engine.dispose()


def test_it_refuses_credentials_revoked_on_another_node_at_once(
    postgres_server_url: str, tmp_path: Path
) -> None:
    # Unless told, this node would trust what it has seen for minutes.
    settings = Settings(
        database_url=postgres_server_url, user="tester", credential_cache_seconds=300
    )
    node = Runtime(settings=settings)
    token, secret = node.write(
        lambda op: tokens.create(op, holder="alice", access=Access.MEMBER, name="laptop"),
        by="admin",
        at=None,
    )
    integration, key = node.write(
        lambda op: integrations.create(
            op, AlertSource.GENERIC, "checkout", None, integrations.Options()
        ),
        by="admin",
        at=None,
    )
    auth = {"Authorization": f"Bearer {secret}"}
    alert = json.dumps({"summary": "checkout is failing", "dedup_key": "checkout"})
    stop = threading.Event()
    try:
        listener = listen(node.engine, node.wakeup, stop, revoked=REVOCATIONS.bump)
        assert listener is not None
        assert listener.listening.wait(10)
        with serving(create_app(node)) as client:

            def api() -> int:
                return client.get("/api/v1/incidents", headers=auth).status_code

            def ingest() -> int:
                return client.post(f"/api/v1/ingest/generic/{key}", content=alert).status_code

            assert (api(), ingest()) == (200, 202)  # both trusted from now on
            # Another process (the CLI on the database) revokes each in turn: only
            # PostgreSQL tells this node.
            for what, which, ask, refused in (
                ("token", token.id, api, 401),
                ("integration", integration.id, ingest, 404),  # the key is no address now
            ):
                done = run(
                    what,
                    "revoke",
                    str(which),
                    cwd=tmp_path,
                    env={"WARROOM_DATABASE_URL": postgres_server_url},
                )
                assert done.returncode == 0, done.stderr
                deadline = time.monotonic() + 5
                while (answer := ask()) != refused and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert answer == refused, what
                if what == "token":
                    assert ingest() == 202  # the key, looked up again, is still good
    finally:
        stop.set()
        node.engine.dispose()


def test_it_needs_no_listener_on_sqlite(tmp_path: object) -> None:
    runtime = Runtime(settings=Settings(database_url="sqlite:///listen.db"), clock=Clock())
    try:
        assert listen(runtime.engine, runtime.wakeup, threading.Event()) is None
    finally:
        runtime.engine.dispose()
