"""What a CLI command needs: settings, the database, the policy, the clock, and one place
that turns the domain's errors into exit codes (product.md §7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from warroom.config import Settings, load_policy
from warroom.db.engine import default_url, make_engine, session_factory, unit_of_work
from warroom.db.schema import ensure_current
from warroom.domain.errors import BadInput, Refused, Unavailable, WarroomError
from warroom.domain.policy import Policy
from warroom.domain.timefmt import parse_instant
from warroom.services.lifecycle import record_refusal
from warroom.services.records import Op
from warroom.services.timers import settle

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def system_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], datetime] = system_now

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.settings.policy_path())

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.database_url or default_url())
        try:
            ensure_current(engine)
        except OperationalError as exc:
            raise Unavailable(f"the database is unreachable: {str(exc.orig).strip()}") from None
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    def op(self, session: Session, *, by: str | None, at: str | None) -> Op:
        now = self.clock()
        when = parse_at(at) if at else now
        return Op(
            session=session, policy=self.policy, actor=by or self.settings.actor(), at=when, now=now
        )

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with unit_of_work(self.sessions) as session:
            yield session

    def write(
        self,
        action: Callable[[Op], T],
        *,
        by: str | None,
        at: str | None,
        incident: int | None = None,
        attempted: str = "",
    ) -> T:
        """Run one write in its own transaction. A refusal is recorded on the incident's
        timeline in a transaction of its own, since the refused change itself rolls back."""
        try:
            with unit_of_work(self.sessions) as session:
                op = self.op(session, by=by, at=at)
                result = action(op)
                settle(op)
                return result
        except Refused as refused:
            if incident is not None:
                with unit_of_work(self.sessions) as session:
                    record_refusal(self.op(session, by=by, at=at), incident, refused, attempted)
            raise


_current: ContextVar[Runtime] = ContextVar("warroom_runtime")


def activate(runtime: Runtime) -> None:
    """Make ``runtime`` the one the commands of this invocation use."""
    _current.set(runtime)


def current() -> Runtime:
    return _current.get()


def parse_at(text: str, option: str = "--at") -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise BadInput(f"{option}: {exc}") from None


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
