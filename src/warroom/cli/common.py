"""What the incident commands share: printing the incident a command acted on."""

from __future__ import annotations

from collections.abc import Callable

from warroom.cli import render
from warroom.cli.options import incident_number
from warroom.cli.runtime import Runtime, current, handled
from warroom.db.models import Incident
from warroom.services.reading import summary
from warroom.services.records import Op


def print_incident(runtime: Runtime, incident: Incident, verb: str, as_json: bool) -> None:
    if as_json:
        with runtime.reading() as session:
            fresh = session.get(Incident, incident.id)
            assert fresh is not None
            render.print_json(summary(session, fresh, runtime.policy))
    else:
        render.incident_line(incident, verb)


def act_on(
    number_text: str,
    action: Callable[[Op, int], Incident],
    verb: str,
    *,
    by: str | None,
    at: str | None,
    as_json: bool,
    attempted: str,
) -> None:
    """The shape of most incident commands: parse the id, run one write, print the result."""
    runtime = current()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: action(op, number), by=by, at=at, incident=number, attempted=attempted
        )
        print_incident(runtime, incident, verb, as_json)
