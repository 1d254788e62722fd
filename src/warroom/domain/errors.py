"""One error hierarchy for the whole product.

The edges map it in one place each: the CLI to exit codes (``cli/errors.py``), the API to
problem details. Every refusal names the rule that refused and what would satisfy it.
"""

from __future__ import annotations


class WarroomError(Exception):
    """Base of every error a user can cause or meet."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(WarroomError):
    """The request itself is wrong: an unknown key, a bad value, a time in the future."""

    exit_code = 2


class NotFound(BadInput):
    """The request names something that does not exist."""


class Refused(WarroomError):
    """A workflow rule refused the request. Recorded on the incident's timeline."""

    exit_code = 1

    def __init__(self, rule: str, message: str, *, hint: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} [rule {self.rule}] {self.hint}"


class Conflict(WarroomError):
    """Someone else changed the same record meanwhile; the change was not applied."""

    exit_code = 3


class Unavailable(WarroomError):
    """The database or server could not be reached, or refused the credentials."""

    exit_code = 4
