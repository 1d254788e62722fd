"""What the incident commands share: one API call, then the incident it answers with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warroom.cli import render
from warroom.cli.client import Client, connect
from warroom.cli.options import incident_number
from warroom.cli.runtime import handled, invocation


def client(by: str | None = None) -> Client:
    """This invocation's way to the API: the local database, or WARROOM_SERVER."""
    return connect(invocation(), by)


def path_of(number: int, action: str = "") -> str:
    return f"/incidents/INC-{number}" + (f"/{action}" if action else "")


def print_incident(data: dict[str, Any], verb: str, as_json: bool) -> None:
    if as_json:
        render.print_json(data)
    else:
        render.incident_line(data, verb)


def act_on(
    number_text: str,
    action: str,
    verb: str | Callable[[dict[str, Any]], str],
    *,
    body: dict[str, Any] | None = None,
    by: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """The shape of most incident commands: parse the id, send one write, print the result."""
    with handled():
        number = incident_number(number_text)
        data = client(by).post(path_of(number, action), {"at": at, **(body or {})})
        print_incident(data, verb(data) if callable(verb) else verb, as_json)
