"""What the incident commands share: printing the incident a command acted on."""

from __future__ import annotations

from warroom.cli import render
from warroom.cli.runtime import Runtime
from warroom.db.models import Incident
from warroom.services.reading import summary


def print_incident(runtime: Runtime, incident: Incident, verb: str, as_json: bool) -> None:
    if as_json:
        with runtime.reading() as session:
            fresh = session.get(Incident, incident.id)
            assert fresh is not None
            render.print_json(summary(session, fresh, runtime.policy))
    else:
        render.incident_line(incident, verb)
