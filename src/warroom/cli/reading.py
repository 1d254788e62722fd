"""Read commands: list, show, timeline. Every read takes --json."""

from __future__ import annotations

from typing import Annotated

import typer

from warroom.cli import render
from warroom.cli.options import IncidentArg, Json, incident_number, severity
from warroom.cli.runtime import Runtime, current, handled, parse_at
from warroom.db.models import Incident
from warroom.domain.errors import NotFound
from warroom.domain.types import Stage
from warroom.services.reading import ListFilter, detail, list_incidents, summary, timeline


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
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    as_json: Json = False,
) -> None:
    """List incidents, newest first (active ones unless --all or --stage)."""
    runtime = current()
    with handled():
        filters = ListFilter(
            stages=tuple(stage or ()),
            severities=tuple(severity(s) for s in level or ()),
            service=service,
            include_inactive=all_,
            since=parse_at(since, "--since") if since else None,
            limit=limit,
        )
        with runtime.reading() as session:
            rows = [summary(session, i, runtime.policy) for i in list_incidents(session, filters)]
        if as_json:
            render.print_json(rows)
        else:
            render.incident_table(rows, runtime.clock())


def show(
    number_text: IncidentArg,
    as_json: Json = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Evaluate the checklist at this time (past or future)."),
    ] = None,
) -> None:
    """The incident, its roles, its checklist and anti-pattern findings."""
    runtime = current()
    with handled():
        show_incident(runtime, incident_number(number_text), as_json, at=at)


def show_incident(
    runtime: Runtime, number: int, as_json: bool, *, at: str | None, only_checklist: bool = False
) -> None:
    now = parse_at(at) if at else runtime.clock()
    with runtime.reading() as session:
        incident = session.get(Incident, number)
        if incident is None:
            raise NotFound(f"INC-{number} does not exist")
        view = detail(session, incident, runtime.policy, now)
        if as_json:
            data = view.to_json()
            render.print_json(data["checklist"] if only_checklist else data)
        else:
            render.detail(view, now)


def timeline_cmd(number_text: IncidentArg, as_json: Json = False) -> None:
    """Everything that happened, in order. Append-only."""
    runtime = current()
    with handled():
        number = incident_number(number_text)
        with runtime.reading() as session:
            if session.get(Incident, number) is None:
                raise NotFound(f"INC-{number} does not exist")
            rows = timeline(session, number)
        if as_json:
            render.print_json(rows)
        else:
            render.timeline_table(f"INC-{number}", rows)


def register(app: typer.Typer) -> None:
    app.command("list")(list_cmd)
    app.command()(show)
    app.command("timeline")(timeline_cmd)
