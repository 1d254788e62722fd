"""The CLI's side of the runtime: the current invocation, the consoles, and the one place
that turns the domain's errors into exit codes (product.md §7).

A command pays only for what it uses: the database, the services and the API app load when
a command first asks for the :class:`~warroom.runtime.Runtime`, so ``--help`` and the commands
sent to a server (``WARROOM_SERVER``) start without them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from warroom.domain.errors import Refused, Unavailable, WarroomError

if TYPE_CHECKING:
    from warroom.config import Settings
    from warroom.runtime import Runtime

__all__ = [
    "Invocation",
    "activate",
    "current",
    "fail",
    "handled",
    "invocation",
]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _settings() -> Settings:
    from warroom.config import load_settings  # pydantic-settings: not for `warroom --help`

    return load_settings()


@dataclass
class Invocation:
    """One run of ``warroom``: its settings, read and checked at once (a bad ``WARROOM_*``
    value fails every command alike, local or sent to a server), and its runtime, built the
    first time a command needs the local database."""

    settings: Settings = field(default_factory=_settings)

    def __post_init__(self) -> None:
        self.settings.clock_file()  # refused outside tests, whether or not a command runs here

    @cached_property
    def runtime(self) -> Runtime:
        from warroom.runtime import Runtime

        return Runtime(self.settings)


_current: ContextVar[Invocation] = ContextVar("warroom_invocation")


def activate(invocation: Invocation) -> None:
    """Make ``invocation`` the one the commands of this run use."""
    _current.set(invocation)


def invocation() -> Invocation:
    return _current.get()


def current() -> Runtime:
    """This run's runtime: the local database, its policy and the clock."""
    return _current.get().runtime


def fail(error: WarroomError) -> NoReturn:
    """Print the error the way a person needs it and exit with its code."""
    if isinstance(error, Refused):
        err.print(
            f"[bold red]refused[/] by rule [bold]{error.rule}[/]: {error.message}", markup=True
        )
        err.print(f"  {error.hint}", markup=False)
    else:
        label = {1: "refused", 2: "error", 3: "conflict", 4: "unavailable"}.get(
            error.exit_code, "error"
        )
        err.print(f"[bold red]{label}[/]: ", end="", markup=True)
        err.print(error.message, markup=False)
    raise typer.Exit(error.exit_code)


def _unreachable_database(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLAlchemy's word that the database cannot be reached. Only a
    command that loaded SQLAlchemy can raise it, so one that did not never imports it here."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.OperationalError)


@contextmanager
def handled() -> Iterator[None]:
    try:
        yield
    except WarroomError as error:
        fail(error)
    except Exception as exc:
        if not _unreachable_database(exc):
            raise
        orig = getattr(exc, "orig", None)
        fail(Unavailable(f"the database is unreachable: {str(orig or exc).strip()}"))
