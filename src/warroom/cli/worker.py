"""``warroom worker``: fire due timers (reminders, deadlines, escalations) as they fall due."""

from __future__ import annotations

import os
import signal
import socket
import threading
from types import FrameType
from typing import Annotated

import typer

from warroom.cli.runtime import current, handled, out
from warroom.db.listen import listen
from warroom.jobs.deliveries import deliver_one
from warroom.jobs.worker import fire_one, run


def worker(
    once: Annotated[bool, typer.Option("--once", help="Fire what is due now, then exit.")] = False,
    name: Annotated[
        str | None, typer.Option("--name", help="This worker's name in the record.")
    ] = None,
) -> None:
    """Run the timer worker. Several may run against one database; each timer fires once."""
    runtime = current()
    worker_name = name or f"{socket.gethostname()}:{os.getpid()}"
    with handled():
        if once:
            fired = sent = 0
            while fire_one(
                runtime.sessions, runtime.policy, now=runtime.clock(), worker=worker_name
            ):
                fired += 1
            while deliver_one(runtime.sessions, now=runtime.clock()):
                sent += 1
            out.print(f"fired {fired} timer(s); attempted {sent} webhook delivery(ies)")
            return
        stop = threading.Event()

        def _stop(_signum: int, _frame: FrameType | None) -> None:
            stop.set()
            runtime.wakeup.notify()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        listen(runtime.engine, runtime.wakeup, stop)
        out.print(f"warroom worker {worker_name}: firing timers as they fall due (Ctrl-C stops)")
        run(
            runtime.sessions,
            runtime.policy,
            runtime.clock,
            stop=stop,
            worker=worker_name,
            wakeup=runtime.wakeup,
        )


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
