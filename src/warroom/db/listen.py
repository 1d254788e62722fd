"""Cross-node wake-ups on PostgreSQL: every write NOTIFYs, every long-running process LISTENs.

Several API processes and workers on one PostgreSQL form one system: a change committed on one
node wakes the event streams and workers of every node at once instead of at their next poll.
NOTIFY is sent inside the writing transaction, so it is delivered only if the change commits.
A revoked credential (an API token, an integration key) is announced by name (``REVOKED``):
every node forgets the ones it trusted at once, not at the end of their cache window.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from warroom.wakeup import Wakeup

CHANNEL = "warroom_changes"
REVOKED = "revoked"  # the payload of a change that revoked a token or an integration key
RECONNECT_SECONDS = 2.0
NOTIFY = text("SELECT pg_notify(:channel, :payload)")
log = logging.getLogger("warroom.listen")


def announce(session: Session, what: str | None = None) -> None:
    """Tell the other nodes that this transaction, once committed, changed something
    (``what``: a change they act on by name, such as ``REVOKED``)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(NOTIFY, {"channel": CHANNEL, "payload": what or ""})


class ChangeListener(threading.Thread):
    """Turns NOTIFYs from any node into this process's :class:`Wakeup`, and a revocation
    into ``revoked()``."""

    def __init__(
        self,
        engine: Engine,
        wakeup: Wakeup,
        stop: threading.Event,
        revoked: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name="warroom-listen", daemon=True)
        # psycopg is imported here, on PostgreSQL only (its engine has loaded it already):
        # a SQLite process never pays for it.
        from psycopg.conninfo import make_conninfo

        url = engine.url.set(drivername="postgresql")
        # A connection that died without a word (a host gone, a firewall's idle timeout) is
        # noticed within about a minute, not when the operating system gives up hours later.
        self._dsn = make_conninfo(
            url.render_as_string(hide_password=False),
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        self._wakeup, self._stop, self._revoked = wakeup, stop, revoked
        self.listening = threading.Event()

    def run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    if self._revoked is not None:
                        self._revoked()  # one may have gone by unheard before (re)connecting
                    self.listening.set()
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=1.0, stop_after=100):
                            if note.payload == REVOKED and self._revoked is not None:
                                self._revoked()
                            self._wakeup.notify()
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("lost the change listener's connection (%s); reconnecting", exc)
                self._stop.wait(RECONNECT_SECONDS)


def listen(
    engine: Engine,
    wakeup: Wakeup,
    stop: threading.Event,
    *,
    revoked: Callable[[], None] | None = None,
) -> ChangeListener | None:
    """Start listening when the database is PostgreSQL; SQLite is one process, no need."""
    if engine.dialect.name != "postgresql":
        return None
    listener = ChangeListener(engine, wakeup, stop, revoked)
    listener.start()
    return listener
