"""Models and migrations agree, and the schema check protects a shared database."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from warroom.db.engine import make_engine
from warroom.db.models import Base
from warroom.db.schema import (
    SCHEMA_REVISION,
    current_revision,
    ensure_current,
    head_revision,
    upgrade,
)
from warroom.domain.errors import BadInput


def test_it_has_migrations_that_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_it_migrates_an_empty_database_on_first_use(tmp_path: object) -> None:
    engine = make_engine("sqlite:///fresh.db")
    assert current_revision(engine) is None
    ensure_current(engine)
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # idempotent
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_it_refuses_a_schema_from_another_revision(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        with pytest.raises(BadInput, match="warroom db upgrade"):
            ensure_current(engine)
    finally:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()}
            )
        engine.dispose()


def test_it_knows_its_own_schema_revision() -> None:
    assert head_revision() == SCHEMA_REVISION


def test_it_upgrades_a_first_release_database_keeping_its_webhooks(tmp_path: object) -> None:
    engine = make_engine("sqlite:///first.db")  # the test runs in a temporary directory
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO webhooks (url, secret, created_at) "
                "VALUES ('https://hooks.example.com/a', 's', '2026-03-02 10:00:00')"
            )
        )
        connection.execute(  # a delivery points at the webhook the upgrade rebuilds
            text(
                "INSERT INTO deliveries (delivery_id, webhook_id, payload, state, attempts, "
                "next_attempt_at, created_at) VALUES ('d-1', 1, '{}', 'delivered', 1, "
                "'2026-03-02 10:00:00', '2026-03-02 10:00:00')"
            )
        )
    with pytest.raises(BadInput, match="warroom db upgrade"):
        ensure_current(engine)  # behind: a shared database is never migrated behind its back
    upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT url, audience FROM webhooks")).all()
        delivered = connection.execute(text("SELECT webhook_id FROM deliveries")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [("https://hooks.example.com/a", "events")]
    assert [tuple(row) for row in delivered] == [(1,)]
