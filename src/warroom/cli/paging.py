"""``warroom person|team|policy|pages|paging``: who is paged and how, the pages sent, and the
directory as TOML. Schedules are ``cli/oncall.py``. Through the API like every command."""

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
pages_app = typer.Typer(
    help="Pages sent for incidents, and the pager load.", invoke_without_command=True
)
paging_app = typer.Typer(
    help="The paging directory as TOML, for review: export and import.", no_args_is_help=True
)


def say(text: str) -> None:
    out.print(text, markup=False, highlight=False)


def write_file(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}") from None


def read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None


# person -----------------------------------------------------------------------------------


def _person_text(row: dict[str, Any]) -> None:
    name = f" ({row['name']})" if row.get("name") else ""
    say(f"{row['handle']}{name}")
    if not row["contacts"]:
        say("  no contact method: cannot be paged")
    for contact in row["contacts"]:
        failing = (
            f"  FAILING since {utc_text(datetime.fromisoformat(contact['failing_since']))}: "
            f"{contact['failing_reason']}"
            if contact["failing_since"]
            else ""
        )
        say(f"  {contact['kind']:<10} {contact['address']}{failing}")


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
    say(f"team {row['name']}: lead {row['lead'] or '-'}, policy {row['policy'] or 'default'}")


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
        say(
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
    say(f"policy {row['name']} (repeat {row['repeat']}):")
    for number, tier in enumerate(row["tiers"], 1):
        timeout = tier["timeout"] or "the acknowledge target"
        say(f"  {number}. {', '.join(tier['targets'])}  (after {timeout})")


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
        say("no pages")
    for row in rows:
        acked = (
            f" by {row['acknowledged_by']} after {row['seconds_to_acknowledge']:.0f}s"
            if row["acknowledged_by"]
            else ""
        )
        say(
            f"page {row['id']:<4} {row['incident']:<8} {row['state']}{acked}: {row['reason']} "
            f"(tier {row['tier']}/{row['tiers']}, policy {row['policy']})"
        )
        for d in row["deliveries"]:
            error = f": {d['error']}" if d["error"] and d["state"] != "delivered" else ""
            say(
                f"    tier {d['tier']} {d['event']:<11} {d['person']:<12} "
                f"{d['transport']:<9} {d['state']}{error}"
            )


@pages_app.command("ack")
def pages_ack(page_id: Annotated[int, typer.Argument(metavar="PAGE", min=1)]) -> None:
    """Acknowledge a page: it stops escalating (`warroom ack INC-n` stops all of an incident's)."""
    with handled():
        row = client().post(f"/pages/{page_id}/acknowledge")
    say(f"page {row['id']} ({row['incident']}) is {row['state']}")


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
        say(f"no pages in the last {weeks} week(s)")
    for row in report["people"]:
        heavy = (
            f"; over {report['nightly_limit']} a night on {', '.join(row['heavy_nights'])}"
            if row["heavy_nights"]
            else ""
        )
        weekly = ", ".join(f"{week}: {n}" for week, n in row["per_week"].items())
        say(
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
            write_file(output, text)
    if output is None:
        out.print(text, markup=False, highlight=False, end="")
    else:
        say(f"wrote {output}")


@paging_app.command("import")
def paging_import(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Apply an export: creates and updates, never deletes; all of it or nothing."""
    with handled():
        counts = client().post_text("/paging/import", read_file(path), "application/toml")
    summary = ", ".join(f"{n} {what}" for what, n in counts.items()) or "nothing"
    say(f"imported {summary}")


@paging_app.command("secret")
def paging_secret() -> None:
    """The secret that signs page webhooks (``Warroom-Signature``, as for event webhooks)."""
    with handled():
        say(client().get("/paging/webhook-secret")["secret"])


def register(app: typer.Typer) -> None:
    app.add_typer(person_app, name="person")
    app.add_typer(team_app, name="team")
    app.add_typer(policy_app, name="policy")
    app.add_typer(pages_app, name="pages")
    app.add_typer(paging_app, name="paging")
