"""An in-process signal that something was committed, so waiters need not poll blindly.

Within one process (the embedded SQLite default) every write notifies it; the live event
stream and the embedded worker wake at once instead of at their next poll. Across processes
they still poll, at a short interval.
"""

from __future__ import annotations

import threading


class Wakeup:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        with self._condition:
            return self._generation

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Wait until a notification newer than ``seen``, or ``timeout`` seconds."""
        with self._condition:
            self._condition.wait_for(lambda: self._generation != seen, timeout)
            return self._generation
