"""``warroom component|status|subscriber|comms``: the public status page, its subscribers and
the customer e-mail. Through the API like every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import orjson
import typer

from warroom.cli import render
from warroom.cli.common import client, path_of
from warroom.cli.options import By, Json, incident_number
from warroom.cli.paging import read_file, say
from warroom.cli.runtime import handled
from warroom.domain.errors import BadInput
from warroom.domain.statuspage import ComponentStatus

component_app = typer.Typer(
    help="Components of the status page: the parts of the product customers recognise.",
    no_args_is_help=True,
)
status_app = typer.Typer(help="The public status page.", no_args_is_help=True)
subscriber_app = typer.Typer(help="E-mail subscribers of the status page.", no_args_is_help=True)
comms_app = typer.Typer(
    help="The customer e-mail after a SEV0/SEV1: draft, edit, send.", no_args_is_help=True
)

Services = Annotated[
    list[str] | None,
    typer.Option("--service", help="A service whose incidents affect it (repeatable)."),
]


def _component_line(row: dict[str, Any]) -> None:
    status = ComponentStatus(row["status"]).label
    by_hand = " (set by hand)" if row["status_set_by_hand"] else ""
    if row["group"]:
        say(f"{row['name']} [group]: {status}")
        return
    indent = "  " if row.get("in_group") else ""
    services = ", ".join(row["services"]) or "no services"
    say(f"{indent}{row['name']}: {status}{by_hand} · {services}")


@component_app.command("list")
def component_list(as_json: Json = False) -> None:
    """The components, in page order, with their status now."""
    with handled():
        rows = client().get("/components")
    if as_json:
        render.print_json(rows)
        return
    if not rows:
        say("no components yet: warroom component create NAME --service S")
    for row in rows:
        _component_line(row)


@component_app.command("create")
def component_create(
    name: Annotated[str, typer.Argument(help="As customers know it: API, Checkout…")],
    service: Services = None,
    group: Annotated[str | None, typer.Option(help="The group it is shown in.")] = None,
    group_only: Annotated[
        bool, typer.Option("--group-only", help="Create a group that holds components.")
    ] = False,
    description: Annotated[str | None, typer.Option(help="One line for customers.")] = None,
    position: Annotated[int | None, typer.Option(help="Order on the page.")] = None,
    only_if_degraded: Annotated[
        bool, typer.Option("--only-if-degraded", help="Shown only while not operational.")
    ] = False,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Create a component, mapped to the services whose incidents affect it."""
    with handled():
        row = client(by).post(
            "/components",
            {
                "name": name,
                "services": service or [],
                "group": group,
                "is_group": group_only,
                "description": description,
                "position": position,
                "only_show_if_degraded": only_if_degraded,
            },
        )
    if as_json:
        render.print_json(row)
    else:
        _component_line(row)


@component_app.command("set")
def component_set(
    name: Annotated[str, typer.Argument()],
    status: Annotated[
        str | None,
        typer.Argument(
            help="operational, degraded_performance, partial_outage, major_outage, "
            "under_maintenance, or auto (derived from incidents again)."
        ),
    ] = None,
    service: Services = None,
    rename: Annotated[str | None, typer.Option(help="A new name.")] = None,
    group: Annotated[str | None, typer.Option(help="Move it into a group (or `none`).")] = None,
    description: Annotated[str | None, typer.Option(help="One line for customers.")] = None,
    position: Annotated[int | None, typer.Option(help="Order on the page.")] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Set a component's status by hand (or back to auto), or change it."""
    with handled():
        if status is not None and status != "auto":
            try:
                ComponentStatus(status)
            except ValueError:
                allowed = ", ".join(s.value for s in ComponentStatus)
                raise BadInput(f"{status!r} is not a status: use {allowed} or auto") from None
        row = client(by).patch(
            f"/components/{quote(name, safe='')}",
            {
                "status": status,
                "services": service,
                "rename": rename,
                "group": group,
                "description": description,
                "position": position,
            },
        )
    if as_json:
        render.print_json(row)
    else:
        _component_line(row)


@component_app.command("remove")
def component_remove(name: Annotated[str, typer.Argument()], by: By = None) -> None:
    """Remove a component: it vanishes from the page and every JSON list at once."""
    with handled():
        client(by).delete(f"/components/{quote(name, safe='')}")
    say(f"removed {name}")


@status_app.command("export")
def status_export(
    directory: Annotated[Path, typer.Argument(help="Where to write the files.")],
) -> None:
    """Write the whole public surface (page, JSON, feeds) as static files any web server or
    CDN can serve. The worker keeps one up to date with WARROOM_STATUS_EXPORT_DIR."""
    from warroom.web.status_export import write_tree
    from warroom.web.status_render import JSON_PATHS

    with handled():
        api = client()
        tree: dict[str, bytes] = {
            "status/index.html": api.public("/status"),
            "status/history.atom": api.public("/status/history.atom"),
            "status/history.rss": api.public("/status/history.rss"),
        }
        for path in JSON_PATHS:
            tree[f"api/v2/{path}"] = api.public(f"/api/v2/{path}")
        for incident in orjson.loads(tree["api/v2/incidents.json"])["incidents"]:
            public_id = incident["id"]
            tree[f"status/incidents/{public_id}/index.html"] = api.public(
                f"/status/incidents/{public_id}"
            )
        written = write_tree(directory, tree)
    say(f"wrote {written} files to {directory}")


@subscriber_app.command("list")
def subscriber_list(as_json: Json = False) -> None:
    """Subscribers, confirmed or waiting for their confirmation."""
    with handled():
        rows = client().get("/subscribers")
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        updates = "each update" if row["incident_updates"] else "customer e-mails only"
        say(f"{row['email']}: {row['state']} · {updates}")


@subscriber_app.command("add")
def subscriber_add(
    email: Annotated[str, typer.Argument()],
    no_updates: Annotated[
        bool,
        typer.Option("--no-updates", help="Only the customer e-mails, not every update."),
    ] = False,
    by: By = None,
) -> None:
    """Add an address you vouch for (confirmed at once; the public form asks its owner)."""
    with handled():
        row = client(by).post("/subscribers", {"email": email, "incident_updates": not no_updates})
    say(f"{row['email']}: {row['state']}")


@subscriber_app.command("remove")
def subscriber_remove(email: Annotated[str, typer.Argument()], by: By = None) -> None:
    """Remove a subscriber (their address is deleted)."""
    with handled():
        client(by).delete(f"/subscribers/{quote(email, safe='')}")
    say(f"removed {email}")


def _draft_text(row: dict[str, Any]) -> None:
    if row["sent_at"]:
        say(f"sent {row['sent_at']} to {row['recipients']} recipient(s)")
    elif row["edited"]:
        say("edited draft (not sent yet)")
    else:
        say("draft generated from the record (not sent yet)")
    say(f"Subject: {row['subject']}\n")
    say(row["body"])


@comms_app.command("draft")
def comms_draft(
    number_text: Annotated[str, typer.Argument(metavar="ID")],
    subject: Annotated[str | None, typer.Option(help="Replace the subject.")] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Replace the body with this file's text.")
    ] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Show the customer e-mail; with --subject or --body-file, edit it first."""
    with handled():
        number = incident_number(number_text)
        if subject is not None or body_file is not None:
            body = read_file(body_file) if body_file is not None else None
            row = client(by).put(path_of(number, "comms"), {"subject": subject, "body": body})
        else:
            row = client(by).get(path_of(number, "comms"))
    if as_json:
        render.print_json(row)
    else:
        _draft_text(row)


@comms_app.command("send")
def comms_send(
    number_text: Annotated[str, typer.Argument(metavar="ID")],
    by: By = None,
    as_json: Json = False,
) -> None:
    """Send the customer e-mail (as drafted or edited) to the confirmed subscribers and the
    [status_page] customers. It goes out once."""
    with handled():
        number = incident_number(number_text)
        row = client(by).post(path_of(number, "comms/send"))
    if as_json:
        render.print_json(row)
    else:
        say(f"sent to {row['recipients']} recipient(s): {row['subject']}")


def register(app: typer.Typer) -> None:
    app.add_typer(component_app, name="component")
    app.add_typer(status_app, name="status")
    app.add_typer(subscriber_app, name="subscriber")
    app.add_typer(comms_app, name="comms")
