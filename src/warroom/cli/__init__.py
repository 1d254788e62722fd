"""The ``warroom`` command. Thin: parse, call a service, print."""

from __future__ import annotations

import typer

from warroom.cli import admin as _admin
from warroom.cli import alerts as _alerts
from warroom.cli import classify as _classify
from warroom.cli import coordination as _coordination
from warroom.cli import database as _database
from warroom.cli import drill as _drill
from warroom.cli import incidents as _incidents
from warroom.cli import oncall as _oncall
from warroom.cli import paging as _paging
from warroom.cli import reading as _reading
from warroom.cli import serve as _serve
from warroom.cli import status as _status
from warroom.cli import worker as _worker
from warroom.cli.runtime import Invocation, activate, handled

app = typer.Typer(
    name="warroom",
    help="Incident response from the first alert to the finished post-mortem.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _invocation(ctx: typer.Context) -> None:
    """Incident response from the first alert to the finished post-mortem."""
    if ctx.obj is None:
        with handled():
            ctx.obj = Invocation()
    activate(ctx.obj)


_incidents.register(app)
_coordination.register(app)
_reading.register(app)
_worker.register(app)
_serve.register(app)
_admin.register(app)
_alerts.register(app)
_classify.register(app)
_drill.register(app)
_paging.register(app)
_oncall.register(app)
_status.register(app)
app.add_typer(_database.app, name="db")


def main() -> None:
    app()
