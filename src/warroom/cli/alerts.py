"""``warroom alerts``, ``warroom integration`` and ``warroom service``: what monitoring tools
sent, where they send it, and the services it belongs to. Through the API like every command."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import typer

from warroom.cli import render
from warroom.cli.common import client
from warroom.cli.runtime import handled, out
from warroom.domain.alerts import AlertSource, AlertStatus
from warroom.domain.timefmt import utc_text

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]

alerts_app = typer.Typer(
    help="Alerts from monitoring tools, with their state and incident.",
    invoke_without_command=True,
)
integration_app = typer.Typer(
    help="Integrations: where a monitoring tool sends alerts, one key each (shown once).",
    no_args_is_help=True,
)
service_app = typer.Typer(
    help="Services: what alerts and incidents are about.", no_args_is_help=True
)


@alerts_app.callback()
def alerts_list(
    ctx: typer.Context,
    incident: Annotated[
        str | None, typer.Option("--incident", help="Only this incident's alerts.")
    ] = None,
    status: Annotated[AlertStatus | None, typer.Option(help="firing or resolved.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List alerts, newest first. `warroom alerts move ALERT --to ID` moves one."""
    if ctx.invoked_subcommand is not None:
        return
    params: dict[str, object] = {"limit": limit}
    if incident:
        params["incident"] = incident
    if status:
        params["status"] = status.value
    with handled():
        page = client().get("/alerts", **params)
    if as_json:
        render.print_json(page["items"])
        return
    if not page["items"]:
        out.print("no alerts", markup=False)
    for row in page["items"]:
        count = f" ×{row['count']}" if row["count"] > 1 else ""
        where = row["incident"] or "no incident"
        since = utc_text(datetime.fromisoformat(row["starts_at"]))
        out.print(
            f"#{row['id']:<5} {row['status']:<8} {where:<9} {row['service']:<14} "
            f"{row['source']:<12} since {since}{count}  {row['summary']}",
            markup=False,
        )


@alerts_app.command("move")
def alerts_move(
    alert: Annotated[
        str, typer.Argument(metavar="ALERT", help="The alert number, e.g. 17 or #17.")
    ],
    to: Annotated[str, typer.Option("--to", help="The incident it belongs to: INC-42 or 42.")],
) -> None:
    """Move an alert to another incident; both timelines record it."""
    number = alert.strip().removeprefix("#")
    with handled():
        if not re.fullmatch(r"[0-9]{1,18}", number) or int(number) == 0:
            raise typer.BadParameter(f"{alert!r} is not an alert number", param_hint="ALERT")
        moved = client().post(f"/alerts/{int(number)}/move", {"to": to})
    out.print(f"alert #{moved['id']} is now on {moved['incident']}", markup=False)


@integration_app.command("create")
def integration_create(
    source: Annotated[AlertSource, typer.Argument(help="Which tool sends the alerts.")],
    service: Annotated[str, typer.Option("--service", help="The service its alerts belong to.")],
    name: Annotated[str | None, typer.Option(help="Default: SOURCE-SERVICE.")] = None,
    secret: Annotated[
        str | None, typer.Option(help="grafana: the HMAC secret Grafana signs with.")
    ] = None,
    signature_header: Annotated[
        str | None, typer.Option(help="grafana: the signature header's name.")
    ] = None,
    timestamp_header: Annotated[
        str | None, typer.Option(help="grafana: the timestamp header's name, if configured.")
    ] = None,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="cloudwatch: an SNS topic ARN allowed.")
    ] = None,
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per minute; more are answered 429.")
    ] = None,
    severity: Annotated[
        str | None, typer.Option(help="The severity hint for alerts that carry none.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an integration and print its key and URL path, once."""
    body = {
        "source": source.value,
        "service": service,
        "name": name,
        "secret": secret,
        "signature_header": signature_header,
        "timestamp_header": timestamp_header,
        "topics": topic or [],
        "rate_limit": rate_limit,
        "severity": severity,
    }
    with handled():
        created = client().post("/integrations", body)
    if as_json:
        render.print_json(created)
        return
    out.print(
        f"integration {created['id']} ({created['name']}): {created['source']} alerts for "
        f"{created['service']}; keep the key, it is not shown again:",
        markup=False,
    )
    out.print(f"key:  {created['key']}", markup=False)
    out.print(f"post: {created['path']}", markup=False)


@integration_app.command("list")
def integration_list(as_json: JsonOption = False) -> None:
    """List integrations (never their keys)."""
    with handled():
        rows = client().get("/integrations")
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revoked"] else "active"
        signed = ", signed" if row["signed"] else ""
        out.print(
            f"{row['id']:>4}  {row['prefix']}…  {row['source']:<12} {row['service']:<14} "
            f"{row['name']}  ({state}{signed})",
            markup=False,
        )


@integration_app.command("revoke")
def integration_revoke(
    integration_id: Annotated[int, typer.Argument(metavar="ID", min=1)],
) -> None:
    """Revoke an integration's key at once: its sender gets 404 from then on."""
    with handled():
        row = client().delete(f"/integrations/{integration_id}")
    out.print(f"integration {row['id']} ({row['name']}) is revoked", markup=False)


@service_app.command("create")
def service_create(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    team: Annotated[
        str | None, typer.Option(help="The team that owns it and is paged ('' for none).")
    ] = None,
    policy: Annotated[
        str | None, typer.Option(help="Its own escalation policy (else its team's).")
    ] = None,
) -> None:
    """Create a service (also created on first use), or say who owns it and how they are
    paged."""
    with handled():
        row = client().post("/services", {"name": name, "team": team, "policy": policy})
    owner = f", owned by {row['team']}" if row["team"] else ""
    paged = f", paged through policy {row['policy']}" if row["policy"] else ""
    out.print(f"service {row['name']}{owner}{paged}", markup=False)


@service_app.command("list")
def service_list(as_json: JsonOption = False) -> None:
    """List services."""
    with handled():
        rows = client().get("/services")
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        out.print(
            f"{row['name']:<20} team {row['team'] or '-':<14} policy {row['policy'] or '-'}",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(integration_app, name="integration")
    app.add_typer(service_app, name="service")
