"""``warroom token`` and ``warroom webhook``: access and outbound webhooks, through the API
like every other command (admin tokens only, in remote mode)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from warroom.cli import render
from warroom.cli.common import client
from warroom.cli.runtime import handled, out
from warroom.domain.timefmt import utc_text
from warroom.domain.types import Access, WebhookAudience

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]

token_app = typer.Typer(
    help="API tokens: only a hash is stored; the secret is shown once.", no_args_is_help=True
)
webhook_app = typer.Typer(
    help="Outbound webhooks: every timeline event, or the executive notification; signed.",
    no_args_is_help=True,
)


@token_app.command("create")
def token_create(
    person: Annotated[
        str, typer.Option("--person", help="Whose token it is: the API acts as them.")
    ],
    access: Annotated[
        Access, typer.Option("--access", help="viewer, member or admin.")
    ] = Access.MEMBER,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "api",
    as_json: JsonOption = False,
) -> None:
    """Create a token and print its secret, once."""
    with handled():
        token = client().post("/tokens", {"person": person, "access": access.value, "name": name})
    if as_json:
        render.print_json(token)
        return
    out.print(
        f"token {token['id']} for {token['person']} ({token['access']}); "
        "keep it, it is not shown again:",
        markup=False,
    )
    out.print(token["token"], markup=False)


@token_app.command("list")
def token_list(as_json: JsonOption = False) -> None:
    """List tokens (never their secrets)."""
    with handled():
        rows = client().get("/tokens")
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        used = row["last_used_at"]
        state = (
            "revoked"
            if row["revoked"]
            else f"last used {utc_text(datetime.fromisoformat(used)) if used else 'never'}"
        )
        who = f"{row['person']:<16} {row['access']:<7}"
        out.print(f"{row['id']:>4}  {row['prefix']}…  {who} {row['name']}  ({state})", markup=False)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(metavar="ID", min=1)]) -> None:
    """Revoke a token at once."""
    with handled():
        token = client().delete(f"/tokens/{token_id}")
    out.print(f"token {token['id']} ({token['name']}) is revoked", markup=False)


@webhook_app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(metavar="URL")],
    secret: Annotated[
        str | None, typer.Option(help="The signing secret (default: generated).")
    ] = None,
    audience: Annotated[
        WebhookAudience,
        typer.Option(
            help="events: every timeline event. executives: the executive list, which gets "
            "the SEV0 executive notification."
        ),
    ] = WebhookAudience.EVENTS,
) -> None:
    """Deliver every timeline event (or the executive notification) to URL, signed with
    Warroom-Signature."""
    with handled():
        hook = client().post(
            "/webhooks", {"url": url, "secret": secret, "audience": audience.value}
        )
    out.print(
        f"webhook {hook['id']} ({hook['audience']}) → {hook['url']}; signing secret (shown once):",
        markup=False,
    )
    out.print(hook["secret"], markup=False)


@webhook_app.command("list")
def webhook_list(as_json: JsonOption = False) -> None:
    """List webhooks and whether they are active."""
    with handled():
        rows = client().get("/webhooks")
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        state = "active" if row["active"] else f"disabled: {row['disabled_reason']}"
        out.print(f"{row['id']:>4}  {row['audience']:<10}  {row['url']}  ({state})", markup=False)


@webhook_app.command("remove")
def webhook_remove(hook_id: Annotated[int, typer.Argument(metavar="ID", min=1)]) -> None:
    """Stop delivering to a webhook."""
    with handled():
        hook = client().delete(f"/webhooks/{hook_id}")
    out.print(f"webhook {hook['id']} removed", markup=False)


@webhook_app.command("enable")
def webhook_enable(hook_id: Annotated[int, typer.Argument(metavar="ID", min=1)]) -> None:
    """Deliver to a disabled (or removed) webhook again, from the next event on."""
    with handled():
        hook = client().post(f"/webhooks/{hook_id}/enable", {})
    out.print(f"webhook {hook['id']} is active again → {hook['url']}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
    app.add_typer(webhook_app, name="webhook")
