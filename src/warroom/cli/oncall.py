"""``warroom schedule|override|oncall``: who is on call when. Through the API like every
command."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from warroom.cli import render
from warroom.cli.common import client
from warroom.cli.paging import JsonOption, say, write_file
from warroom.cli.runtime import handled
from warroom.domain.timefmt import utc_text

schedule_app = typer.Typer(help="On-call schedules: rotations in layers.", no_args_is_help=True)
override_app = typer.Typer(help="Overrides: someone takes a shift.", no_args_is_help=True)


@schedule_app.command("create")
def schedule_create(
    name: Annotated[str, typer.Argument()],
    zone: Annotated[str, typer.Option(help="Time zone of hand-offs, e.g. Europe/Berlin.")],
    team: Annotated[str | None, typer.Option(help="The team it puts on call.")] = None,
) -> None:
    """Create an on-call schedule; add rotations with `warroom schedule layer`."""
    with handled():
        row = client().post("/schedules", {"name": name, "zone": zone, "team": team})
    say(f"schedule {row['name']} ({row['zone']}, team {row['team'] or '-'})")


@schedule_app.command("layer")
def schedule_layer(
    schedule: Annotated[str, typer.Argument()],
    layer: Annotated[str, typer.Argument(help="The layer's name, e.g. primary-eu.")],
    people: Annotated[str, typer.Option(help="Handles in rotation order, comma-separated.")],
    handoff: Annotated[
        str,
        typer.Option(
            help="The first hand-off, e.g. 2026-03-02T09:00 (the schedule's local time; its "
            "weekday and time repeat)."
        ),
    ],
    level: Annotated[str, typer.Option(help="What tiers ask for: primary, secondary…")] = "primary",
    every: Annotated[int, typer.Option(min=1, max=366, help="Days per shift.")] = 7,
    window: Annotated[
        str | None,
        typer.Option(help="Only these local hours each day, e.g. 07:00-19:00 (follow the sun)."),
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the layer.")] = False,
) -> None:
    """Add or replace a rotation layer. A later layer of the same level wins where it covers."""
    with handled():
        if remove:
            client().delete(f"/schedules/{schedule}/layers/{layer}")
            say(f"schedule {schedule}: layer {layer} removed")
            return
        client().put(
            f"/schedules/{schedule}/layers/{layer}",
            {
                "level": level,
                "participants": [p.strip() for p in people.split(",") if p.strip()],
                "handoff": handoff,
                "rotation_days": every,
                "window": window,
            },
        )
    say(f"schedule {schedule}: layer {layer} ({level}) rotates {people} every {every} day(s)")


@schedule_app.command("list")
def schedule_list(as_json: JsonOption = False) -> None:
    """List schedules with their layers."""
    with handled():
        rows = client().get("/schedules")
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        say(f"{row['name']} ({row['zone']}, team {row['team'] or '-'})")
        for layer in row["layers"]:
            window = f", {layer['window']}" if layer["window"] else ""
            say(
                f"  {layer['name']:<14} {layer['level']:<10} "
                f"{', '.join(layer['participants'])} every {layer['rotation_days']}d{window}"
            )


@schedule_app.command("show")
def schedule_show(
    name: Annotated[str, typer.Argument()],
    days: Annotated[int, typer.Option(min=1, max=366, help="How far ahead.")] = 14,
    start: Annotated[str | None, typer.Option(help="From when (default now).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Who is on call, shift by shift."""
    with handled():
        rows = client().get(f"/schedules/{name}/shifts", days=days, start=start)
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        begin = utc_text(datetime.fromisoformat(row["start"]))
        end = utc_text(datetime.fromisoformat(row["end"]))
        source = " (override)" if row["source"] == "override" else ""
        say(f"{row['level']:<10} {begin} → {end}  {row['person']}{source}")


@schedule_app.command("export")
def schedule_export(
    name: Annotated[str, typer.Argument()],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the .ics.")],
    person: Annotated[str | None, typer.Option(help="Only this person's shifts.")] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="How far ahead.")] = 90,
) -> None:
    """Write the shifts as iCalendar, for people's calendars."""
    with handled():
        text = client().text(f"/schedules/{name}/calendar.ics", person=person, days=days)
        write_file(output, text)
    say(f"wrote {text.count('BEGIN:VEVENT')} shift(s) to {output}")


@schedule_app.command("feed")
def schedule_feed(
    name: Annotated[str, typer.Argument()],
    person: Annotated[str | None, typer.Option(help="Only this person's shifts.")] = None,
) -> None:
    """A URL calendar apps subscribe to (it updates as the rotation and overrides change).
    Treat it as a password: anyone with it can read the shifts."""
    with handled():
        say(client().get(f"/schedules/{name}/feed", person=person)["url"])


@override_app.command("create")
def override_create(
    schedule: Annotated[str, typer.Argument()],
    person: Annotated[str, typer.Option(help="Who takes the shift.")],
    start: Annotated[str, typer.Option("--from", help="Start (ISO 8601 with offset).")],
    end: Annotated[str, typer.Option("--to", help="End (ISO 8601 with offset).")],
    level: Annotated[str, typer.Option(help="Which level they take.")] = "primary",
) -> None:
    """Someone takes a shift (a swap): they are on call instead for that time."""
    with handled():
        row = client().post(
            f"/schedules/{schedule}/overrides",
            {"person": person, "start": start, "end": end, "level": level},
        )
    say(f"override {row['id']}: {row['person']} is {row['level']} {_span(row)}")


def _span(row: dict[str, Any]) -> str:
    start = utc_text(datetime.fromisoformat(row["start"]))
    return f"from {start} to {utc_text(datetime.fromisoformat(row['end']))}"


@override_app.command("list")
def override_list(schedule: Annotated[str, typer.Argument()], as_json: JsonOption = False) -> None:
    """The schedule's overrides to come."""
    with handled():
        rows = client().get(f"/schedules/{schedule}")["overrides"]
    if as_json:
        render.print_json(rows)
        return
    if not rows:
        say("no overrides to come")
    for row in rows:
        say(f"{row['id']:>4}  {row['person']} is {row['level']} {_span(row)}")


@override_app.command("remove")
def override_remove(override_id: Annotated[int, typer.Argument(metavar="ID", min=1)]) -> None:
    """Remove an override: the rotation applies again."""
    with handled():
        row = client().delete(f"/overrides/{override_id}")
    say(f"override {row['id']} removed")


def oncall(
    team: Annotated[str | None, typer.Option(help="Only this team's schedules.")] = None,
    at: Annotated[
        str | None, typer.Option(help="At this time instead of now (the future works too).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Who is on call now, or at any time."""
    with handled():
        rows = client().get("/oncall", team=team, at=at)
    if as_json:
        render.print_json(rows)
        return
    if not rows:
        say("no schedules: `warroom schedule create NAME --zone ZONE --team TEAM`")
    for row in rows:
        who = row["person"] or "nobody"
        say(f"{row['team'] or '-':<14} {row['schedule']:<16} {row['level']:<10} {who}")


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")
    app.add_typer(override_app, name="override")
    app.command("oncall")(oncall)
