"""Shared fixtures: real databases (SQLite and PostgreSQL), a clock the test controls.

PostgreSQL is not optional: when it is unreachable the suite fails, it never skips. Each test
session gets a database of its own on the server, dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from warroom.config import Settings
from warroom.db import alert_models, slack_models, status_models  # noqa: F401  (their tables too)
from warroom.db.engine import make_engine
from warroom.db.models import Base, Incident
from warroom.db.schema import upgrade
from warroom.domain.policy import DEFAULT_POLICY
from warroom.runtime import Runtime
from warroom.services.reading import Detail, detail
from warroom.services.records import Op

T = TypeVar("T")

POSTGRES_URL = os.environ.get(
    "WARROOM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No WARROOM_* setting of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("WARROOM_") and name != "WARROOM_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    admin = make_url(POSTGRES_URL)
    name = f"warroom_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required and unreachable at {POSTGRES_URL}: {exc}. "
            "Start it (see README) or set WARROOM_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    url = admin.set(database=name).render_as_string(hide_password=False)
    migrated = make_engine(url)
    upgrade(migrated)
    migrated.dispose()
    yield url
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "warroom.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that takes this runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "warroom.db"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_server_url")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class World:
    """The services on a real database, with a clock the test moves."""

    runtime: Runtime
    clock: Clock
    _refusals: list[Any] = field(default_factory=list)

    def act(self, by: str, action: Callable[[Op], T], *, incident: int | None = None) -> T:
        return self.runtime.write(action, by=by, at=None, incident=incident, attempted="test")

    def later(self, **delta: float) -> World:
        self.clock.advance(**delta)
        return self

    def detail(self, number: int, at: datetime | None = None) -> Detail:
        with self.runtime.reading() as session:
            incident = session.get(Incident, number)
            assert incident is not None
            return detail(session, incident, self.runtime.policy, at or self.clock.now)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(database_url: str, clock: Clock) -> Iterator[World]:
    runtime = Runtime(settings=Settings(database_url=database_url, user="tester"), clock=clock)
    runtime.__dict__["policy"] = DEFAULT_POLICY
    yield World(runtime, clock)
    runtime.engine.dispose()
