"""``warroom db``: schema migrations."""

from __future__ import annotations

import typer

from warroom.cli.runtime import current, handled, out
from warroom.db.engine import default_url, make_engine
from warroom.db.schema import current_revision, head_revision, upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


def _url() -> str:
    return current().settings.database_url or default_url()


@app.command("upgrade")
def upgrade_cmd() -> None:
    """Apply pending migrations (back up first)."""
    with handled():
        engine = make_engine(_url())
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
    with handled():
        engine = make_engine(_url())
        out.print(f"database: {current_revision(engine) or 'empty'}; warroom: {head_revision()}")
