"""Revoked credentials are refused at once, although every process trusts what it has seen
for a few seconds (API tokens, decision 96; integration keys, decision 51).

``REVOCATIONS`` counts the revocations this process has committed or heard of. Every cache of
credentials in the process forgets what it knew when the count moves, so a credential revoked
on this node is refused at once, and a lookup that read it before the revocation committed is
not kept. On PostgreSQL the revoking transaction also announces it (``REVOKED``), and every
node's change listener moves its count: the other nodes refuse it at once too. Several
processes on one SQLite file are not told; theirs end with the cache window.
"""

from __future__ import annotations

import threading

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


def revoked(session: Session) -> None:
    """This transaction revokes a credential: once it commits, every node forgets the ones it
    trusted."""
    event.listen(session, "after_commit", REVOCATIONS.bump, once=True)
    announce(session, REVOKED)
