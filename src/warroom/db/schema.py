"""Schema management with Alembic: ``warroom db upgrade``, and the start-up check.

An empty database is brought to the current schema automatically; one that is behind is
left alone (several nodes may share it) and the user is told to run ``warroom db upgrade``.
Alembic is imported only to migrate: every command runs the check, and it must stay cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from warroom.domain.errors import BadInput

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = "warroom:migrations"
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"
# The newest migration. A test checks it against the migration scripts' head.
SCHEMA_REVISION = "0008"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("file_template", FILE_TEMPLATE)
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "warroom ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    config = alembic_config()
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
            return
        # SQLite alters some constraints only by rebuilding the table, which drops it while
        # others point at it: foreign keys are off meanwhile and checked once at the end. The
        # driver would commit each DDL statement on its own; with an explicit BEGIN the whole
        # upgrade is one transaction, and a failure leaves the database as it was.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        driver = connection.connection.dbapi_connection
        assert driver is not None
        isolation = driver.isolation_level
        driver.isolation_level = None
        try:
            with connection.begin():
                connection.exec_driver_sql("BEGIN")
                before = _broken_references(connection)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                _check_foreign_keys(connection, before)
        finally:
            driver.isolation_level = isolation
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def _broken_references(connection: Connection) -> set[tuple[object, ...]]:
    return {tuple(row) for row in connection.exec_driver_sql("PRAGMA foreign_key_check")}


def _check_foreign_keys(connection: Connection, before: set[tuple[object, ...]]) -> None:
    """Refuse an upgrade that broke references; ones broken before it are not its doing."""
    broken = _broken_references(connection) - before
    if broken:
        table, row, parent, _ = sorted(broken, key=str)[0]
        raise RuntimeError(
            f"the upgrade left {len(broken)} broken references, e.g. {table} row {row} -> "
            f"{parent}; nothing was changed"
        )


def ensure_current(engine: Engine) -> None:
    """Migrate an empty database; refuse one whose schema is behind or ahead of this warroom."""
    current = current_revision(engine)
    if current == SCHEMA_REVISION:
        return
    if current is None:
        upgrade(engine)
        return
    raise BadInput(
        f"the database schema is at revision {current}, this warroom needs {SCHEMA_REVISION}: "
        "run `warroom db upgrade` (back up the database first)"
    )
