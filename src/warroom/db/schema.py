"""Schema management with Alembic: ``warroom db upgrade``, and the start-up check.

An empty database is brought to the current schema automatically; one that is behind is
left alone (several nodes may share it) and the user is told to run ``warroom db upgrade``.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from warroom.domain.errors import BadInput

SCRIPT_LOCATION = "warroom:migrations"
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("file_template", FILE_TEMPLATE)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "warroom ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def ensure_current(engine: Engine) -> None:
    """Migrate an empty database; refuse one whose schema is behind or ahead of this warroom."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        upgrade(engine)
        return
    raise BadInput(
        f"the database schema is at revision {current}, this warroom needs {head}: "
        "run `warroom db upgrade` (back up the database first)"
    )
