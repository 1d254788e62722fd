"""Revoked credentials are refused at once, although every process trusts what it has seen
for a few seconds (:class:`Trusted`: API tokens, decision 96; integration keys, decision 51).

``REVOCATIONS`` counts the revocations this process has committed or heard of. A credential
is trusted only while the count is what it was when the credential was read, so one revoked
on this node is refused at once, and a lookup that a revocation overtook is never trusted.
On PostgreSQL the revoking transaction also announces it (``REVOKED``), and every node's
change listener moves its count: the other nodes refuse it at once too. On a SQLite file the
revoking process, once committed, appends a byte to a signal file beside the database
(``<database>-revoked``), and every server process on that file looks at the file's size
whenever it would trust a credential (a ``stat``, no query): the other processes of
``serve --workers N``, and a server whose tokens the CLI revokes on the file, refuse it at
once too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

from warroom.db.listen import REVOKED, announce

log = logging.getLogger("warroom.revocations")


class Revocations:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._signal: Path | None = None
        self._stamp: tuple[int, int] | None = None

    @property
    def count(self) -> int:
        """How many revocations this process has made or heard of, the signal file's too."""
        if self._signal is not None:
            stamp = _stamp(self._signal)
            if stamp != self._stamp:
                with self._lock:
                    self._stamp = stamp
                    self._count += 1
        return self._count

    def bump(self, _session: object = None) -> None:
        with self._lock:
            self._count += 1

    def watch(self, signal: Path | None) -> None:
        """Hear the revocations other processes append to ``signal`` (None: stop)."""
        with self._lock:
            self._signal, self._stamp = signal, _stamp(signal) if signal else None


REVOCATIONS = Revocations()
T = TypeVar("T")


@dataclass
class Trusted(Generic[T]):
    """What credentials were found to be, by a digest of the secret, for ``seconds``
    (``WARROOM_CREDENTIAL_CACHE_SECONDS``) or until a revocation. Bounded: past ``limit``
    entries it starts afresh."""

    seconds: float
    limit: int = 10_000
    # digest -> (what it was found to be, trusted until, REVOCATIONS.count when it was read)
    _entries: dict[str, tuple[T, float, int]] = field(default_factory=dict, repr=False)

    def get(self, digest: str) -> T | None:
        entry = self._entries.get(digest)
        if entry is None or entry[1] < time.monotonic() or entry[2] != REVOCATIONS.count:
            return None
        return entry[0]

    def keep(self, digest: str, found: T, *, seen: int) -> None:
        """Trust ``found``, read when the revocation count was ``seen``."""
        if len(self._entries) >= self.limit:
            self._entries = {}
        self._entries[digest] = (found, time.monotonic() + self.seconds, seen)

    def clear(self) -> None:
        self._entries = {}


def revoked(session: Session) -> None:
    """This transaction revokes a credential: once it commits, every node forgets the ones it
    trusted."""
    event.listen(session, "after_commit", REVOCATIONS.bump, once=True)
    signal = signal_file(session.get_bind())
    if signal is not None:
        event.listen(session, "after_commit", lambda _session: _append(signal), once=True)
    announce(session, REVOKED)


def hear_revocations(engine: Engine) -> None:
    """A server process on a SQLite file hears the revocations of the other processes on it
    (on PostgreSQL the change listener does)."""
    REVOCATIONS.watch(signal_file(engine))


def signal_file(bind: Engine | Connection) -> Path | None:
    """``<database>-revoked`` beside a SQLite database file; None for anything else."""
    url = bind.engine.url
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return None
    return Path(f"{url.database}-revoked")


def _stamp(path: Path) -> tuple[int, int]:
    """The file's identity and size: each revocation adds a byte, so the size only grows
    (a file removed and made again has another inode). (0, 0) before the first, or when it
    cannot be looked at: a request is never failed for it, and the window still bounds trust."""
    try:
        status = os.stat(path)
    except OSError:
        return (0, 0)
    return (status.st_ino, status.st_size)


def _append(path: Path) -> None:
    # One byte, appended: atomic, and never read back, only measured.
    try:
        with open(path, "ab") as signal:
            signal.write(b"r")
    except OSError as exc:
        # The revocation is committed; the other processes refuse it when their window ends.
        log.warning("could not tell other processes of a revocation through %s: %s", path, exc)
