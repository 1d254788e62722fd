"""``warroom serve`` and ``warroom token``: run the service, and manage its API tokens."""

from __future__ import annotations

import os
import socket
import threading
from typing import Annotated

import typer

from warroom.cli import render
from warroom.cli.runtime import current, handled, out
from warroom.db.listen import listen
from warroom.db.models import WebhookAudience
from warroom.domain.timefmt import utc_text
from warroom.domain.types import Access
from warroom.jobs.worker import run as run_worker
from warroom.logs import configure as configure_logs
from warroom.services import tokens, webhooks

token_app = typer.Typer(
    help="API tokens: only a hash is stored; the secret is shown once.", no_args_is_help=True
)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker", help="Leave the timer worker out (run `warroom worker` elsewhere)."
        ),
    ] = False,
) -> None:
    """Run the API (and, unless --no-worker, the timer worker) in one process."""
    import uvicorn  # the web stack loads only for the commands that serve

    from warroom.web.app import create_app

    runtime = current()
    configure_logs(runtime.settings.log_format)
    with handled():
        runtime.engine  # noqa: B018 - connect and check the schema before listening
        with runtime.reading() as session:
            needs_admin = not tokens.has_admin(session)
        if needs_admin:
            actor = runtime.settings.actor()
            _, secret = runtime.write(
                lambda op: tokens.create(op, holder=actor, access=Access.ADMIN, name="first admin"),
                by=actor,
                at=None,
            )
            out.print(f"First start: an admin token for {actor}. It is shown only this once:")
            out.print(f"  WARROOM_TOKEN={secret}", markup=False)
        out.print(f"warroom is listening on http://{host}:{port} (API docs at /docs)", markup=False)
        stop = threading.Event()
        listen(runtime.engine, runtime.wakeup, stop)  # other nodes' changes wake this one
        worker: threading.Thread | None = None
        if not no_worker:
            name = f"{socket.gethostname()}:{os.getpid()}:embedded"
            worker = threading.Thread(
                target=run_worker,
                args=(runtime.sessions, runtime.policy, runtime.clock),
                kwargs={"stop": stop, "worker": name, "wakeup": runtime.wakeup},
                name="warroom-worker",
                daemon=True,
            )
            worker.start()
        try:
            uvicorn.run(create_app(runtime), host=host, port=port, log_level="info")
        finally:
            stop.set()
            runtime.wakeup.notify()
            if worker is not None:
                worker.join(timeout=10)


@token_app.command("create")
def token_create(
    person: Annotated[
        str, typer.Option("--person", help="Whose token it is: the API acts as them.")
    ],
    access: Annotated[
        Access, typer.Option("--access", help="viewer, member or admin.")
    ] = Access.MEMBER,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "api",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a token and print its secret, once."""
    runtime = current()
    with handled():
        token, secret = runtime.write(
            lambda op: tokens.create(op, holder=person, access=access, name=name), by=None, at=None
        )
        if as_json:
            render.print_json(
                {"id": token.id, "person": person, "access": access.value, "token": secret}
            )
        else:
            out.print(
                f"token {token.id} for {person} ({access.value}); keep it, it is not shown again:"
            )
            out.print(secret, markup=False)


@token_app.command("list")
def token_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tokens (never their secrets)."""
    runtime = current()
    with handled(), runtime.reading() as session:
        rows = [
            {
                "id": t.id,
                "person": t.person.handle,
                "name": t.name,
                "access": t.access.value,
                "prefix": t.prefix,
                "created_at": utc_text(t.created_at),
                "last_used_at": utc_text(t.last_used_at) if t.last_used_at else None,
                "revoked": t.revoked_at is not None,
            }
            for t in tokens.listing(session)
        ]
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revoked"] else f"last used {row['last_used_at'] or 'never'}"
        who = f"{row['person']:<16} {row['access']:<7}"
        out.print(f"{row['id']:>4}  {row['prefix']}…  {who} {row['name']}  ({state})", markup=False)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Revoke a token at once."""
    runtime = current()
    with handled():
        token = runtime.write(lambda op: tokens.revoke(op, token_id), by=None, at=None)
        out.print(f"token {token.id} ({token.name}) is revoked")


webhook_app = typer.Typer(
    help="Outbound webhooks: every timeline event, or the executive notification; signed.",
    no_args_is_help=True,
)


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
    runtime = current()
    with handled():
        hook = runtime.write(lambda op: webhooks.add(op, url, secret, audience), by=None, at=None)
        out.print(
            f"webhook {hook.id} ({hook.audience.value}) → {hook.url}; signing secret (shown once):",
            markup=False,
        )
        out.print(hook.secret, markup=False)


@webhook_app.command("list")
def webhook_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List webhooks and whether they are active."""
    runtime = current()
    with handled(), runtime.reading() as session:
        rows = [
            {
                "id": h.id,
                "url": h.url,
                "audience": h.audience.value,
                "active": h.disabled_at is None,
                "disabled_reason": h.disabled_reason,
            }
            for h in webhooks.listing(session)
        ]
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        state = "active" if row["active"] else f"disabled: {row['disabled_reason']}"
        out.print(f"{row['id']:>4}  {row['audience']:<10}  {row['url']}  ({state})", markup=False)


@webhook_app.command("remove")
def webhook_remove(hook_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Stop delivering to a webhook."""
    runtime = current()
    with handled():
        hook = runtime.write(lambda op: webhooks.remove(op, hook_id), by=None, at=None)
        out.print(f"webhook {hook.id} removed", markup=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")
    app.add_typer(webhook_app, name="webhook")
