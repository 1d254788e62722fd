"""Revoked credentials are refused at once, although every process trusts what it has seen
for a few seconds (:class:`Trusted`: API tokens, decision 96; integration keys, decision 51).

``REVOCATIONS`` counts the revocations this process has committed or heard of. A credential
is trusted only while the count is what it was when the credential was read, so one revoked
on this node is refused at once, and a lookup that a revocation overtook is never trusted.
On PostgreSQL the revoking transaction also announces it (``REVOKED``), and every node's
change listener moves its count: the other nodes refuse it at once too. Several processes on
one SQLite file are not told; theirs end with the cache window.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from warroom.db.listen import REVOKED, announce


class Revocations:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def bump(self, _session: object = None) -> None:
        with self._lock:
            self.count += 1


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
    announce(session, REVOKED)
