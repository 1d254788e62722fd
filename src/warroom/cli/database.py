"""``warroom db``: schema migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from warroom.cli.runtime import handled, invocation, out

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(help="Database schema.", no_args_is_help=True)


def _engine() -> Engine:
    from warroom.db.engine import default_url, make_engine

    return make_engine(invocation().settings.database_url or default_url())


@app.command("upgrade")
def upgrade_cmd() -> None:
    """Apply pending migrations (back up first)."""
    from warroom.db.schema import current_revision, upgrade

    with handled():
        engine = _engine()
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
        if before == after:
            out.print(f"The schema is current (revision {after}).")
        else:
            out.print(f"Upgraded the schema from {before or 'empty'} to {after}.")


@app.command("current")
def current_cmd() -> None:
    """Print the schema revision of the database and of this warroom."""
    from warroom.db.schema import current_revision, head_revision

    with handled():
        engine = _engine()
        out.print(f"database: {current_revision(engine) or 'empty'}; warroom: {head_revision()}")
