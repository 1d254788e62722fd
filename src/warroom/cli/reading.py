"""Read commands: list, show, timeline. Every read takes --json."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from warroom.cli import render
from warroom.cli.common import client, path_of
from warroom.cli.options import IncidentArg, Json, incident_number, severity
from warroom.cli.runtime import handled
from warroom.domain.timefmt import parse_at
from warroom.domain.types import Stage


def list_cmd(
    stage: Annotated[
        list[Stage] | None, typer.Option("--stage", help="Only these stages (repeatable).")
    ] = None,
    level: Annotated[
        list[str] | None, typer.Option("--severity", help="Only these severities (repeatable).")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Include closed incidents and the backlog.")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="Only incidents detected since this time.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 100,
    as_json: Json = False,
) -> None:
    """List incidents, newest first (active ones unless --all or --stage)."""
    with handled():
        if since:
            parse_at(since, "--since")  # named as the user typed it, before anything is sent
        page = client().get(
            "/incidents",
            stage=[s.value for s in stage or ()] or None,
            severity=[severity(s).value for s in level or ()] or None,
            service=service,
            since=since,
            include_closed=all_ or None,
            limit=limit,
        )
        if as_json:
            render.print_json(page["items"])
        else:
            render.incident_table(page["items"], datetime.fromisoformat(page["as_of"]))


def show(
    number_text: IncidentArg,
    as_json: Json = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Evaluate the checklist at this time (past or future)."),
    ] = None,
) -> None:
    """The incident, its roles, its checklist and anti-pattern findings."""
    with handled():
        show_incident(incident_number(number_text), as_json, at=at)


def show_incident(
    number: int, as_json: bool, *, at: str | None, only_checklist: bool = False
) -> None:
    if at:
        parse_at(at)  # named as the user typed it, before anything is sent
    view = client().get(path_of(number), at=at)
    if as_json:
        render.print_json(view["checklist"] if only_checklist else view)
    else:
        render.detail(view)


def timeline_cmd(number_text: IncidentArg, as_json: Json = False) -> None:
    """Everything that happened, in order. Append-only."""
    with handled():
        number = incident_number(number_text)
        rows = client().get(path_of(number, "timeline"))
        if as_json:
            render.print_json(rows)
        else:
            render.timeline_table(f"INC-{number}", rows)


def register(app: typer.Typer) -> None:
    app.command("list")(list_cmd)
    app.command()(show)
    app.command("timeline")(timeline_cmd)
