"""``warroom worker``: fire due timers (reminders, deadlines, escalations) as they fall due."""

from __future__ import annotations

import os
import signal
import socket
import threading
from types import FrameType
from typing import Annotated

import typer

from warroom.cli.runtime import current, handled, invocation, out
from warroom.jobs import BATCH
from warroom.logs import configure as configure_logs
from warroom.process import settle_heap


def worker(
    once: Annotated[bool, typer.Option("--once", help="Fire what is due now, then exit.")] = False,
    name: Annotated[
        str | None, typer.Option("--name", help="This worker's name in the record.")
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=1000, help="Timers fired per transaction.")
    ] = BATCH,
) -> None:
    """Run the timer worker. Several may run against one database; each timer fires once."""
    # The worker's stack loads only for the command that runs it.
    from warroom.db.listen import listen
    from warroom.jobs.deliveries import deliver_one
    from warroom.jobs.grouping import group_alerts
    from warroom.jobs.pages import deliver_pages
    from warroom.jobs.worker import exporter, fire_due, run

    configure_logs(invocation().settings.log_format)
    worker_name = name or f"{socket.gethostname()}:{os.getpid()}"
    with handled():
        runtime = current()
        if once:
            fired = sent = 0
            while count := fire_due(
                runtime.sessions,
                runtime.policy,
                now=runtime.clock(),
                worker=worker_name,
                limit=batch,
            ):
                fired += count
            grouped = 0
            while count := group_alerts(runtime.sessions, runtime.policy, now=runtime.clock()):
                grouped += count
            paged = 0
            while count := deliver_pages(
                runtime.sessions, runtime.policy, runtime.transports, now=runtime.clock()
            ):
                paged += count
            while deliver_one(runtime.sessions, runtime.policy, now=runtime.clock()):
                sent += 1
            out.print(
                f"fired {fired} timer(s); settled {grouped} alert change(s); "
                f"attempted {paged} page delivery(ies) and {sent} webhook delivery(ies)"
            )
            return
        stop = threading.Event()

        def _stop(_signum: int, _frame: FrameType | None) -> None:
            stop.set()
            runtime.wakeup.notify()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        listen(runtime.engine, runtime.wakeup, stop)
        settle_heap()
        out.print(f"warroom worker {worker_name}: firing timers as they fall due (Ctrl-C stops)")
        run(
            runtime.sessions,
            runtime.policy,
            runtime.clock,
            stop=stop,
            worker=worker_name,
            wakeup=runtime.wakeup,
            batch=batch,
            transports=runtime.transports,
            exporter=exporter(runtime),
        )


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
