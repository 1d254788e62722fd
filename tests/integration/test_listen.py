"""Several nodes on one PostgreSQL: a change on one wakes the others at once."""

from __future__ import annotations

import threading

from tests.conftest import Clock
from warroom.config import Settings
from warroom.db.listen import listen
from warroom.domain.types import Severity
from warroom.runtime import Runtime
from warroom.services import declaration


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


def test_it_needs_no_listener_on_sqlite(tmp_path: object) -> None:
    runtime = Runtime(settings=Settings(database_url="sqlite:///listen.db"), clock=Clock())
    try:
        assert listen(runtime.engine, runtime.wakeup, threading.Event()) is None
    finally:
        runtime.engine.dispose()
