"""Incident commands (product.md §7): each parses, calls one service, prints."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from warroom.cli.common import act_on, client, path_of, print_incident
from warroom.cli.options import At, By, IncidentArg, Json, incident_number, severity
from warroom.cli.runtime import handled, out
from warroom.domain.classifier import parse_answers
from warroom.domain.errors import BadInput
from warroom.domain.types import DismissReason, MitigationKind, Move, ReportSource

# What the confirmation line says a plain stage move did, as the other commands do
# ("INC-4 SEV1 mitigated — stage mitigated").
DONE = {
    Move.INVESTIGATE: "investigation started",
    Move.RESOLVE: "resolved",
    Move.MONITOR: "monitoring started",
}


def _stage_move(
    number_text: str,
    which: Move,
    by: str | None,
    at: str | None,
    as_json: bool,
    performed_by: str | None = None,
) -> None:
    act_on(
        number_text,
        which.value,
        DONE.get(which, which.value),
        body={"performed_by": performed_by},
        by=by,
        at=at,
        as_json=as_json,
    )


def report(
    title: Annotated[str, typer.Argument(help="What is broken, in a few words.")],
    source: Annotated[ReportSource, typer.Option(help="Who noticed.")] = ReportSource.INTERNAL,
    service: Annotated[
        str | None, typer.Option(help="The affected service (created on first use).")
    ] = None,
    incident: Annotated[
        str | None, typer.Option("--incident", help="Add the report to this incident instead.")
    ] = None,
    proposed: Annotated[
        str | None, typer.Option("--severity", help="A proposed severity, confirmed at triage.")
    ] = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Record a detection, or a (customer) report on an existing incident."""
    with handled():
        if incident is not None:
            number = incident_number(incident)
            found = client(by).post(
                path_of(number, "reports"), {"title": title, "source": source.value, "at": at}
            )
            print_incident(found, f"got a {source.value} report", as_json)
            return
        level = severity(proposed).value if proposed else None
        created = client(by).post(
            "/incidents",
            {
                "title": title,
                "source": source.value,
                "service": service,
                "severity": level,
                "at": at,
            },
        )
        print_incident(created, "detected", as_json)


def ack(number_text: IncidentArg, by: By = None, at: At = None, as_json: Json = False) -> None:
    """Acknowledge an incident (any stage move or IC assignment also acknowledges)."""
    act_on(
        number_text,
        "ack",
        lambda data: "acknowledged" if data.get("changed") else "was already acknowledged",
        by=by,
        at=at,
        as_json=as_json,
    )


def triage(
    number_text: IncidentArg,
    level: Annotated[
        str | None,
        typer.Argument(
            metavar="[SEVn]",
            help="The severity; without it, classifier answers are read as JSON from stdin.",
        ),
    ] = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Set the severity of a detected incident (SEV3 goes to the backlog)."""
    with handled():
        body = (
            {"severity": severity(level).value}
            if level is not None
            else {"answers": _answers_from_stdin()}
        )
    act_on(
        number_text,
        "triage",
        lambda data: f"triaged as {data['severity']}",
        body=body,
        by=by,
        at=at,
        as_json=as_json,
    )


def _answers_from_stdin() -> dict[str, Any]:
    """The classifier's answers, asked in a terminal or read as JSON from a pipe. The server
    classifies them, so its ``warroom.toml`` decides."""
    if sys.stdin.isatty():
        from warroom.cli.classify import questionnaire

        return questionnaire().to_json()
    raw = sys.stdin.read()
    try:
        data = json.loads(raw) if raw.strip() else None
    except json.JSONDecodeError as exc:
        raise BadInput(f"stdin is not JSON: {exc}") from None
    if data is None:
        raise BadInput(
            "give a severity (e.g. `triage INC-4 SEV2`) or classifier answers as JSON on stdin"
        )
    return parse_answers(data).to_json()  # checked here, so a mistake names the local input


def declare(
    first: Annotated[
        str,
        typer.Argument(
            metavar="SEVn|ID",
            help="A severity to declare a new incident, or an existing incident's id.",
        ),
    ],
    second: Annotated[
        str | None,
        typer.Argument(
            metavar="[TITLE|SEVn]",
            help="The new incident's title, or the severity of an existing one.",
        ),
    ] = None,
    ic: Annotated[
        str | None, typer.Option("--ic", help="The Incident Commander (default: the declarer).")
    ] = None,
    service: Annotated[
        str | None, typer.Option(help="The affected service, for a new incident.")
    ] = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Declare an incident: `declare SEV1 "API errors"` or `declare INC-42 [SEV1]`."""
    with handled():
        if first.strip().upper().startswith("SEV"):
            level = severity(first)
            if not second:
                raise BadInput(
                    'a new incident needs a title: warroom declare SEV1 "what is broken"'
                )
            body = {"severity": level.value, "title": second, "service": service}
            path = "/incidents/declare"
        else:
            number = incident_number(first)
            body = {"severity": severity(second).value if second else None}
            path = path_of(number, "declare")
        incident = client(by).post(path, {**body, "ic": ic, "at": at})
        print_incident(incident, "declared", as_json)
        if not as_json and incident.get("channel"):
            out.print(
                f"  channel: #{incident['channel']}  (pending until Slack is connected)",
                markup=False,
            )


PerformedBy = Annotated[
    str | None, typer.Option("--performed-by", help="Who did the work (default: the recorder).")
]


def investigate(
    number_text: IncidentArg,
    performed_by: PerformedBy = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Move to investigating (also: the mitigation failed, or the system is unstable again)."""
    _stage_move(number_text, Move.INVESTIGATE, by, at, as_json, performed_by)


def mitigate(
    number_text: IncidentArg,
    action: Annotated[MitigationKind, typer.Option("--action", help="The mitigation deployed.")],
    mitigation_note: Annotated[
        str | None, typer.Option("--note", help="What exactly was done.")
    ] = None,
    permanent: Annotated[
        bool, typer.Option("--permanent", help="The mitigation is also the resolution.")
    ] = False,
    performed_by: PerformedBy = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Record the mitigation that stopped customer impact."""
    act_on(
        number_text,
        "mitigate",
        "mitigated" + (" and resolved" if permanent else ""),
        body={
            "action": action.value,
            "note": mitigation_note,
            "permanent": permanent,
            "performed_by": performed_by,
        },
        by=by,
        at=at,
        as_json=as_json,
    )


def resolve(number_text: IncidentArg, by: By = None, at: At = None, as_json: Json = False) -> None:
    """The root cause is fixed."""
    _stage_move(number_text, Move.RESOLVE, by, at, as_json)


def monitor(number_text: IncidentArg, by: By = None, at: At = None, as_json: Json = False) -> None:
    """Start the monitoring window before closure."""
    _stage_move(number_text, Move.MONITOR, by, at, as_json)


def close(number_text: IncidentArg, by: By = None, at: At = None, as_json: Json = False) -> None:
    """Close after the monitoring window, if the closure criteria hold."""
    act_on(
        number_text,
        "close",
        "closed",
        by=by,
        at=at,
        as_json=as_json,
    )


Reason = Annotated[str, typer.Option("--reason", help="Why.")]


def reopen(
    number_text: IncidentArg, reason: Reason, by: By = None, at: At = None, as_json: Json = False
) -> None:
    """Reopen a closed incident."""
    act_on(
        number_text,
        "reopen",
        "reopened",
        body={"reason": reason},
        by=by,
        at=at,
        as_json=as_json,
    )


def dismiss(
    number_text: IncidentArg,
    reason: Annotated[DismissReason, typer.Option("--reason", help="noise, duplicate or test.")],
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Close as noise, duplicate or test: excluded from metrics, no post-mortem."""
    act_on(
        number_text,
        "dismiss",
        f"dismissed as {reason.value}",
        body={"reason": reason.value},
        by=by,
        at=at,
        as_json=as_json,
    )


def merge(
    number_text: IncidentArg,
    into: Annotated[str, typer.Option("--into", help="The incident it duplicates.")],
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Merge a duplicate into another active incident, which receives its reports and timeline."""
    with handled():
        target = incident_number(into)
    act_on(
        number_text,
        "merge",
        f"merged into INC-{target}",
        body={"into": f"INC-{target}"},
        by=by,
        at=at,
        as_json=as_json,
    )


def severity_cmd(
    number_text: IncidentArg,
    level: Annotated[str, typer.Argument(metavar="SEVn")],
    reason: Reason,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Reclassify: raising to SEV0/SEV1 declares; lowering cancels the old level's actions."""
    with handled():
        chosen = severity(level)
    act_on(
        number_text,
        "severity",
        f"is now {chosen.value}",
        body={"severity": chosen.value, "reason": reason},
        by=by,
        at=at,
        as_json=as_json,
    )


def postmortem(
    number_text: IncidentArg,
    doc: Annotated[
        str | None, typer.Option("--doc", help="Where the post-mortem document lives.")
    ] = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Record the post-mortem as complete."""
    act_on(
        number_text,
        "postmortem",
        "post-mortem complete",
        body={"doc": doc},
        by=by,
        at=at,
        as_json=as_json,
    )


def register(app: typer.Typer) -> None:
    for command in (
        report,
        ack,
        triage,
        declare,
        investigate,
        mitigate,
        resolve,
        monitor,
        close,
        reopen,
        dismiss,
        merge,
        postmortem,
    ):
        app.command()(command)
    app.command("severity")(severity_cmd)
