"""Options every command shares, and parsers that turn bad input into exit status 2."""

from __future__ import annotations

from typing import Annotated

import typer

from warroom.domain.errors import BadInput
from warroom.domain.types import Severity, parse_incident_number

By = Annotated[
    str | None,
    typer.Option(
        "--by",
        help="Who does it. Default: $WARROOM_USER, else the OS user; against a server "
        "($WARROOM_SERVER), the token's person (another person needs an admin token).",
    ),
]
At = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="When it happened, ISO 8601 with a UTC offset (e.g. 2026-03-02T10:15:00Z). "
        "Default: now. Never in the future.",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
IncidentArg = Annotated[str, typer.Argument(metavar="ID", help="The incident: INC-42 or 42.")]


def incident_number(text: str) -> int:
    try:
        return parse_incident_number(text)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
