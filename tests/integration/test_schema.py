"""Models and migrations agree, and the schema check protects a shared database."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

from warroom.db.engine import make_engine
from warroom.db.models import Base
from warroom.db.schema import (
    SCHEMA_REVISION,
    alembic_config,
    current_revision,
    ensure_current,
    head_revision,
    upgrade,
)
from warroom.domain.errors import BadInput
from warroom.ingest.store import packed


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


def test_it_upgrades_incidents_and_their_timeline_to_alerts_keeping_them(
    tmp_path: object,
) -> None:
    engine = make_engine("sqlite:///second.db")
    upgrade(engine, "0002")
    with engine.begin() as connection:
        connection.execute(text(PERSON))
        connection.execute(text(INCIDENT))
        connection.execute(text(EVENT.format(incident=1)))
    with engine.connect() as connection:  # a reference broken before: not the upgrade's doing
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        connection.execute(text(EVENT.format(incident=99)))
        connection.commit()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    upgrade(engine)
    with engine.begin() as connection:
        kinds = connection.execute(text("SELECT kind FROM timeline_events")).scalars().all()
        connection.execute(text(EVENT.format(incident=1).replace("'detected'", "'alert'")))
    engine.dispose()
    assert kinds == ["detected", "detected"]


def test_it_leaves_a_database_as_it_was_when_an_upgrade_fails(tmp_path: object) -> None:
    engine = make_engine("sqlite:///third.db")
    upgrade(engine, "0002")
    with engine.begin() as connection:
        connection.execute(text(PERSON))
        connection.execute(text(INCIDENT))
        connection.execute(text("CREATE TABLE _widen_reports (x INTEGER)"))  # in the way
    with pytest.raises(OperationalError):
        upgrade(engine)
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        titles = connection.execute(text("SELECT title FROM incidents")).scalars().all()
    assert current_revision(engine) == "0002"
    assert "integrations" not in tables
    assert "_widen_incidents" not in tables
    assert titles == ["t"]
    engine.dispose()


PERSON = "INSERT INTO people (handle, created_at) VALUES ('a', '2026-03-02 10:00:00')"
INCIDENT = (
    "INSERT INTO incidents (title, stage, stage_entered_at, source, detected_at, created_at, "
    "updated_at, version, severity_confirmed, customer_visible) VALUES ('t', 'detected', "
    "'2026-03-02 10:00:00', 'internal', '2026-03-02 10:00:00', '2026-03-02 10:00:00', "
    "'2026-03-02 10:00:00', 1, 0, 0)"
)
EVENT = (
    "INSERT INTO timeline_events (incident_id, at, recorded_at, kind, summary, data) VALUES "
    "({incident}, '2026-03-02 10:00:00', '2026-03-02 10:00:00', 'detected', 'x', '{{}}')"
)


def test_it_gives_compressed_bodies_back_when_downgraded(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'warroom.db'}")
    upgrade(engine)
    body = b'{"alerts": [' + b'{"status": "firing"}, ' * 200 + b"{}]}"
    kept, encoding = packed(body)
    assert encoding == "deflate"
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # no integration needed here
        connection.execute(
            text(
                "INSERT INTO inbound_requests (integration_id, received_at, content_type, "
                "body, body_encoding, outcome, alerts) VALUES (1, '2026-03-02 10:00:00.000000', "
                "'application/json', :body, :encoding, 'accepted', 201)"
            ),
            {"body": kept, "encoding": encoding},
        )
        connection.commit()
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT body FROM inbound_requests")).scalar() == body
        columns = {column["name"] for column in inspect(connection).get_columns("inbound_requests")}
    assert "body_encoding" not in columns
    engine.dispose()


def test_it_folds_the_waiting_intake_into_alerts_when_downgraded(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'warroom.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        for key, summary in (("disk", "disk 91%"), ("cpu", "cpu hot"), ("disk", "disk 97%")):
            connection.execute(
                text(
                    "INSERT INTO alert_intake (integration_id, source, dedup_key, summary, "
                    "labels, links, starts_at, received_at) VALUES (1, 'alertmanager', :key, "
                    ":summary, '{}', '{}', '2026-03-02 10:00:00.000000', "
                    "'2026-03-02 10:00:01.000000')"
                ),
                {"key": key, "summary": summary},
            )
        connection.commit()
    config = alembic_config()
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # no integration needed here
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    with engine.connect() as connection:
        alerts = connection.execute(
            text("SELECT dedup_key, status, count, summary FROM alerts ORDER BY id")
        ).all()
        tables = inspect(connection).get_table_names()
    assert [tuple(row) for row in alerts] == [
        ("disk", "firing", 2, "disk 97%"),
        ("cpu", "firing", 1, "cpu hot"),
    ]
    assert "alert_intake" not in tables
    engine.dispose()
