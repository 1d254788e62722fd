"""``warroom serve``: the API and the embedded worker in one process, with a first admin token."""

from __future__ import annotations

import os
import socket
import threading
from typing import Annotated

import typer

from warroom.cli.runtime import current, handled, invocation, out
from warroom.domain.types import Access
from warroom.logs import configure as configure_logs
from warroom.process import settle_heap


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker", help="Leave the timer worker out (run `warroom worker` elsewhere)."
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="API processes. More than one uses more cores for busy ingestion; the timer "
            "worker still runs once, in this process.",
        ),
    ] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log",
            help="Log every request. Off by default: a status page under load answers "
            "thousands a second, and /metrics already counts and times them by route.",
        ),
    ] = False,
) -> None:
    """Run the API (and, unless --no-worker, the timer worker)."""
    # The server's stack loads only for the command that runs it.
    import uvicorn

    from warroom.db.listen import listen
    from warroom.jobs.worker import exporter
    from warroom.jobs.worker import run as run_worker
    from warroom.revocations import REVOCATIONS, hear_revocations
    from warroom.services import tokens
    from warroom.web.app import create_app, served

    configure_logs(invocation().settings.log_format)
    with handled():
        runtime = current()
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
        # Other nodes' changes wake this one; their revoked tokens are forgotten at once.
        listen(runtime.engine, runtime.wakeup, stop, revoked=REVOCATIONS.bump)
        hear_revocations(runtime.engine)  # SQLite: the other processes on its file
        worker: threading.Thread | None = None
        if not no_worker:
            name = f"{socket.gethostname()}:{os.getpid()}:embedded"
            worker = threading.Thread(
                target=run_worker,
                args=(runtime.sessions, runtime.policy, runtime.clock),
                kwargs={
                    "stop": stop,
                    "worker": name,
                    "wakeup": runtime.wakeup,
                    "writer": runtime.writer,  # takes turns with the API's SQLite writes
                    "transports": runtime.transports,
                    "exporter": exporter(runtime),
                },
                name="warroom-worker",
                daemon=True,
            )
            worker.start()
        try:
            if workers == 1:
                app = served(create_app(runtime))
                settle_heap()
                uvicorn.run(
                    app,
                    host=host,
                    port=port,
                    log_level="info",
                    access_log=access_log,
                )
            else:  # each process builds its app from the same environment
                settle_heap()  # this one runs the embedded worker
                uvicorn.run(
                    "warroom.web.app:from_environment",
                    factory=True,
                    workers=workers,
                    host=host,
                    port=port,
                    log_level="info",
                    access_log=access_log,
                )
        finally:
            stop.set()
            runtime.wakeup.notify()
            if worker is not None:
                worker.join(timeout=10)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
