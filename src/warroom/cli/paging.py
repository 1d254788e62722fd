"""``warroom person|team|policy|schedule|override|oncall|pages|paging``: who is paged, when,
and how. Through the API like every command."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from warroom.cli import render
from warroom.cli.common import client
from warroom.cli.runtime import handled, out
from warroom.domain.errors import BadInput
from warroom.domain.paging import ContactKind
from warroom.domain.timefmt import utc_text

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]

person_app = typer.Typer(help="People and how they are reached.", no_args_is_help=True)
team_app = typer.Typer(help="Teams: who owns services and is paged for them.", no_args_is_help=True)
policy_app = typer.Typer(
    help="Escalation policies: ordered tiers with timeouts, and repeats.", no_args_is_help=True
)
schedule_app = typer.Typer(help="On-call schedules: rotations in layers.", no_args_is_help=True)
override_app = typer.Typer(help="Overrides: someone takes a shift.", no_args_is_help=True)
pages_app = typer.Typer(
    help="Pages sent for incidents, and the pager load.", invoke_without_command=True
)
paging_app = typer.Typer(
    help="The paging directory as TOML, for review: export and import.", no_args_is_help=True
)


def _print(text: str) -> None:
    out.print(text, markup=False, highlight=False)


# person -----------------------------------------------------------------------------------


def _person_text(row: dict[str, Any]) -> None:
    name = f" ({row['name']})" if row.get("name") else ""
    _print(f"{row['handle']}{name}")
    if not row["contacts"]:
        _print("  no contact method: cannot be paged")
    for contact in row["contacts"]:
        failing = (
            f"  FAILING since {utc_text(datetime.fromisoformat(contact['failing_since']))}: "
            f"{contact['failing_reason']}"
            if contact["failing_since"]
            else ""
        )
        _print(f"  {contact['kind']:<10} {contact['address']}{failing}")


@person_app.command("list")
def person_list(as_json: JsonOption = False) -> None:
    """List people and their contact methods."""
    with handled():
        rows = client().get("/people")
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        _person_text(row)


@person_app.command("show")
def person_show(handle: Annotated[str, typer.Argument()], as_json: JsonOption = False) -> None:
    """One person and their contact methods (a failing one says why)."""
    with handled():
        row = client().get(f"/people/{handle}")
    if as_json:
        render.print_json(row)
    else:
        _person_text(row)


@person_app.command("set")
def person_set(
    handle: Annotated[str, typer.Argument()],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a person (also made on first use of a handle), or change the display name."""
    with handled():
        row = client().put(f"/people/{handle}", {"name": name})
    _person_text(row)


@person_app.command("contact")
def person_contact(
    handle: Annotated[str, typer.Argument()],
    kind: Annotated[ContactKind, typer.Argument(help="How: email, slack, webhook, ...")],
    address: Annotated[
        str,
        typer.Argument(
            help="E-mail address, Slack user id (U…), webhook URL, PagerDuty routing key or "
            "Opsgenie API key."
        ),
    ],
    remove: Annotated[bool, typer.Option("--remove", help="Remove it instead.")] = False,
    reset: Annotated[
        bool, typer.Option("--reset", help="Use a method marked failing again.")
    ] = False,
) -> None:
    """Add a way to reach someone (tried together with their others)."""
    body = {"kind": kind.value, "address": address}
    with handled():
        if remove:
            row = client().post(f"/people/{handle}/contacts/remove", body)
        elif reset:
            row = client().post(f"/people/{handle}/contacts/reset", body)
        else:
            row = client().post(f"/people/{handle}/contacts", body)
    _person_text(row)


# team and policy --------------------------------------------------------------------------


@team_app.command("create")
def team_create(
    name: Annotated[str, typer.Argument()],
    lead: Annotated[
        str | None, typer.Option(help="The team lead (a tier can page 'lead').")
    ] = None,
    policy: Annotated[
        str | None, typer.Option(help="Its escalation policy ('' for the default).")
    ] = None,
) -> None:
    """Create a team, or change its lead or escalation policy."""
    with handled():
        row = client().post("/teams", {"name": name, "lead": lead, "policy": policy})
    _print(f"team {row['name']}: lead {row['lead'] or '-'}, policy {row['policy'] or 'default'}")


@team_app.command("list")
def team_list(as_json: JsonOption = False) -> None:
    """List teams with their lead, policy and services."""
    with handled():
        rows = client().get("/teams")
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        services = ", ".join(row["services"]) or "no services"
        _print(
            f"{row['name']:<16} lead {row['lead'] or '-':<12} "
            f"policy {row['policy'] or 'default':<14} {services}"
        )


@policy_app.command("create")
def policy_create(
    name: Annotated[str, typer.Argument()],
    tier: Annotated[
        list[str],
        typer.Option(
            "--tier",
            help="A tier, in order: targets separated by commas (primary, secondary, lead, "
            "person:H, team:T, schedule:S[:level], all-hands) and an optional @timeout "
            "(default: the severity's acknowledge target). Repeat the option per tier.",
        ),
    ],
    repeat: Annotated[
        int, typer.Option(min=0, max=5, help="Run through all tiers again this many times.")
    ] = 0,
) -> None:
    """Create or replace an escalation policy (pages in flight keep their copy)."""
    with handled():
        row = client().post("/policies", {"name": name, "tiers": tier, "repeat": repeat})
    _policy_text(row)


def _policy_text(row: dict[str, Any]) -> None:
    _print(f"policy {row['name']} (repeat {row['repeat']}):")
    for number, tier in enumerate(row["tiers"], 1):
        timeout = tier["timeout"] or "the acknowledge target"
        _print(f"  {number}. {', '.join(tier['targets'])}  (after {timeout})")


@policy_app.command("list")
def policy_list(as_json: JsonOption = False) -> None:
    """List escalation policies."""
    with handled():
        rows = client().get("/policies")
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        _policy_text(row)


# schedule and override --------------------------------------------------------------------


@schedule_app.command("create")
def schedule_create(
    name: Annotated[str, typer.Argument()],
    zone: Annotated[str, typer.Option(help="Time zone of hand-offs, e.g. Europe/Berlin.")],
    team: Annotated[str | None, typer.Option(help="The team it puts on call.")] = None,
) -> None:
    """Create an on-call schedule; add rotations with `warroom schedule layer`."""
    with handled():
        row = client().post("/schedules", {"name": name, "zone": zone, "team": team})
    _print(f"schedule {row['name']} ({row['zone']}, team {row['team'] or '-'})")


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
            _print(f"schedule {schedule}: layer {layer} removed")
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
    _print(f"schedule {schedule}: layer {layer} ({level}) rotates {people} every {every} day(s)")


@schedule_app.command("list")
def schedule_list(as_json: JsonOption = False) -> None:
    """List schedules with their layers."""
    with handled():
        rows = client().get("/schedules")
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        _print(f"{row['name']} ({row['zone']}, team {row['team'] or '-'})")
        for layer in row["layers"]:
            window = f", {layer['window']}" if layer["window"] else ""
            _print(
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
        _print(f"{row['level']:<10} {begin} → {end}  {row['person']}{source}")


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
        _write(output, text)
    _print(f"wrote {text.count('BEGIN:VEVENT')} shift(s) to {output}")


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}") from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None


@schedule_app.command("feed")
def schedule_feed(
    name: Annotated[str, typer.Argument()],
    person: Annotated[str | None, typer.Option(help="Only this person's shifts.")] = None,
) -> None:
    """A URL calendar apps subscribe to (it updates as the rotation and overrides change).
    Treat it as a password: anyone with it can read the shifts."""
    with handled():
        _print(client().get(f"/schedules/{name}/feed", person=person)["url"])


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
    _print(f"override {row['id']}: {row['person']} is {row['level']} {_span(row)}")


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
        _print("no overrides to come")
    for row in rows:
        _print(f"{row['id']:>4}  {row['person']} is {row['level']} {_span(row)}")


@override_app.command("remove")
def override_remove(override_id: Annotated[int, typer.Argument(metavar="ID", min=1)]) -> None:
    """Remove an override: the rotation applies again."""
    with handled():
        row = client().delete(f"/overrides/{override_id}")
    _print(f"override {row['id']} removed")


# oncall, pages, paging ----------------------------------------------------------------------


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
        _print("no schedules: `warroom schedule create NAME --zone ZONE --team TEAM`")
    for row in rows:
        who = row["person"] or "nobody"
        _print(f"{row['team'] or '-':<14} {row['schedule']:<16} {row['level']:<10} {who}")


@pages_app.callback()
def pages_list(
    ctx: typer.Context,
    incident: Annotated[str | None, typer.Option(help="Only this incident's pages.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List pages, newest first, with who was reached and how."""
    if ctx.invoked_subcommand is not None:
        return
    with handled():
        rows = client().get("/pages", incident=incident)
    if as_json:
        render.print_json(rows)
        return
    if not rows:
        _print("no pages")
    for row in rows:
        acked = (
            f" by {row['acknowledged_by']} after {row['seconds_to_acknowledge']:.0f}s"
            if row["acknowledged_by"]
            else ""
        )
        _print(
            f"page {row['id']:<4} {row['incident']:<8} {row['state']}{acked}: {row['reason']} "
            f"(tier {row['tier']}/{row['tiers']}, policy {row['policy']})"
        )
        for d in row["deliveries"]:
            error = f": {d['error']}" if d["error"] and d["state"] != "delivered" else ""
            _print(
                f"    tier {d['tier']} {d['event']:<11} {d['person']:<12} "
                f"{d['transport']:<9} {d['state']}{error}"
            )


@pages_app.command("ack")
def pages_ack(page_id: Annotated[int, typer.Argument(metavar="PAGE", min=1)]) -> None:
    """Acknowledge a page: it stops escalating (`warroom ack INC-n` stops all of an incident's)."""
    with handled():
        row = client().post(f"/pages/{page_id}/acknowledge")
    _print(f"page {row['id']} ({row['incident']}) is {row['state']}")


@pages_app.command("load")
def pages_load(
    weeks: Annotated[int, typer.Option(min=1, max=52, help="How many weeks back.")] = 4,
    zone: Annotated[str, typer.Option(help="Whose nights (22:00-07:00 in this zone).")] = "UTC",
    as_json: JsonOption = False,
) -> None:
    """The pager load: pages per person per week and per night."""
    with handled():
        report = client().get("/paging/load", weeks=weeks, zone=zone)
    if as_json:
        render.print_json(report)
        return
    if not report["people"]:
        _print(f"no pages in the last {weeks} week(s)")
    for row in report["people"]:
        heavy = (
            f"; over {report['nightly_limit']} a night on {', '.join(row['heavy_nights'])}"
            if row["heavy_nights"]
            else ""
        )
        weekly = ", ".join(f"{week}: {n}" for week, n in row["per_week"].items())
        _print(
            f"{row['person']:<12} {row['pages']} page(s), {row['night_pages']} at night "
            f"(worst night {row['worst_night']}){heavy}  [{weekly}]"
        )


@paging_app.command("export")
def paging_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Default: stdout.")] = None,
) -> None:
    """People, teams, services, policies, schedules and coming overrides as TOML."""
    with handled():
        text = client().text("/paging/export")
        if output is not None:
            _write(output, text)
    if output is None:
        out.print(text, markup=False, highlight=False, end="")
    else:
        _print(f"wrote {output}")


@paging_app.command("import")
def paging_import(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Apply an export: creates and updates, never deletes; all of it or nothing."""
    with handled():
        counts = client().post_text("/paging/import", _read(path), "application/toml")
    summary = ", ".join(f"{n} {what}" for what, n in counts.items()) or "nothing"
    _print(f"imported {summary}")


@paging_app.command("secret")
def paging_secret() -> None:
    """The secret that signs page webhooks (``Warroom-Signature``, as for event webhooks)."""
    with handled():
        _print(client().get("/paging/webhook-secret")["secret"])


def register(app: typer.Typer) -> None:
    app.add_typer(person_app, name="person")
    app.add_typer(team_app, name="team")
    app.add_typer(policy_app, name="policy")
    app.add_typer(schedule_app, name="schedule")
    app.add_typer(override_app, name="override")
    app.command("oncall")(oncall)
    app.add_typer(pages_app, name="pages")
    app.add_typer(paging_app, name="paging")
