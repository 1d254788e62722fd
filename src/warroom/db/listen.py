"""Cross-node wake-ups on PostgreSQL: every write NOTIFYs, every long-running process LISTENs.

Several API processes and workers on one PostgreSQL form one system: a change committed on one
node wakes the event streams and workers of every node at once instead of at their next poll.
NOTIFY is sent inside the writing transaction, so it is delivered only if the change commits.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from warroom.wakeup import Wakeup

CHANNEL = "warroom_changes"
RECONNECT_SECONDS = 2.0
log = logging.getLogger("warroom.listen")


def announce(session: Session) -> None:
    """Tell the other nodes that this transaction, once committed, changed something."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


class ChangeListener(threading.Thread):
    """Turns NOTIFYs from any node into this process's :class:`Wakeup`."""

    def __init__(self, engine: Engine, wakeup: Wakeup, stop: threading.Event) -> None:
        super().__init__(name="warroom-listen", daemon=True)
        url = engine.url.set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._wakeup, self._stop = wakeup, stop
        self.listening = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=1.0, stop_after=100):
                            self._wakeup.notify()
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("lost the change listener's connection (%s); reconnecting", exc)
                self._stop.wait(RECONNECT_SECONDS)


def listen(engine: Engine, wakeup: Wakeup, stop: threading.Event) -> ChangeListener | None:
    """Start listening when the database is PostgreSQL; SQLite is one process, no need."""
    if engine.dialect.name != "postgresql":
        return None
    listener = ChangeListener(engine, wakeup, stop)
    listener.start()
    return listener
