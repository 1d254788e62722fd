"""The CLI's side of the runtime: the current invocation's runtime, the consoles, and the one
place that turns the domain's errors into exit codes (product.md §7)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError

from warroom.domain.errors import Refused, Unavailable, WarroomError
from warroom.runtime import Runtime, parse_at, system_now

__all__ = ["Runtime", "activate", "current", "fail", "handled", "parse_at", "system_now"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


_current: ContextVar[Runtime] = ContextVar("warroom_runtime")


def activate(runtime: Runtime) -> None:
    """Make ``runtime`` the one the commands of this invocation use."""
    _current.set(runtime)


def current() -> Runtime:
    return _current.get()


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


@contextmanager
def handled() -> Iterator[None]:
    try:
        yield
    except WarroomError as error:
        fail(error)
    except OperationalError as exc:
        fail(Unavailable(f"the database is unreachable: {str(exc.orig or exc).strip()}"))
