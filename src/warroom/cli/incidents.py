"""Incident commands (product.md §7): each parses, calls one service, prints."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from warroom.cli.common import act_on, print_incident
from warroom.cli.options import At, By, IncidentArg, Json, incident_number, severity
from warroom.cli.runtime import Runtime, current, handled, out
from warroom.domain.classifier import classify, parse_answers
from warroom.domain.errors import BadInput
from warroom.domain.types import (
    DismissReason,
    MitigationKind,
    Move,
    ReportSource,
    Severity,
)
from warroom.services import declaration, lifecycle


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
        lambda op, number: lifecycle.move(op, number, which, performed_by=performed_by),
        which.value,
        by=by,
        at=at,
        as_json=as_json,
        attempted=which.value,
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
    runtime = current()
    with handled():
        if incident is not None:
            number = incident_number(incident)
            found = runtime.write(
                lambda op: lifecycle.customer_report(op, number, title, source=source), by=by, at=at
            )
            print_incident(runtime, found, f"got a {source.value} report", as_json)
            return
        level = severity(proposed) if proposed else None
        created = runtime.write(
            lambda op: lifecycle.report(
                op, title, source=source, service_name=service, severity=level
            ),
            by=by,
            at=at,
        )
        print_incident(runtime, created, "detected", as_json)


def ack(number_text: IncidentArg, by: By = None, at: At = None, as_json: Json = False) -> None:
    """Acknowledge an incident (any stage move or IC assignment also acknowledges)."""
    runtime = current()
    with handled():
        number = incident_number(number_text)
        incident, changed = runtime.write(
            lambda op: lifecycle.acknowledge(op, number),
            by=by,
            at=at,
            incident=number,
            attempted="ack",
        )
        print_incident(
            runtime, incident, "acknowledged" if changed else "was already acknowledged", as_json
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
    runtime = current()
    with handled():
        number = incident_number(number_text)
        reasons: list[str] | None = None
        if level is not None:
            chosen = severity(level)
        else:
            chosen, reasons = _classify_from_stdin(runtime)
        incident = runtime.write(
            lambda op: lifecycle.triage(op, number, chosen, reasons=reasons),
            by=by,
            at=at,
            incident=number,
            attempted="triage",
        )
        print_incident(runtime, incident, f"triaged as {chosen.value}", as_json)


def _classify_from_stdin(runtime: Runtime) -> tuple[Severity, list[str]]:
    if sys.stdin.isatty():
        from warroom.cli.classify import questionnaire

        answers = questionnaire()
    else:
        raw = sys.stdin.read()
        try:
            data = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError as exc:
            raise BadInput(f"stdin is not JSON: {exc}") from None
        if data is None:
            raise BadInput(
                "give a severity (e.g. `triage INC-4 SEV2`) or classifier answers as JSON on stdin"
            )
        answers = parse_answers(data)
    result = classify(answers, runtime.policy)
    return result.severity, list(result.reasons)


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
    runtime = current()
    with handled():
        is_new = first.strip().upper().startswith("SEV")
        if is_new:
            level = severity(first)
            if not second:
                raise BadInput(
                    'a new incident needs a title: warroom declare SEV1 "what is broken"'
                )
            title = second
            incident = runtime.write(
                lambda op: declaration.declare_new(op, level, title, ic=ic, service_name=service),
                by=by,
                at=at,
            )
        else:
            number = incident_number(first)
            level_opt = severity(second) if second else None
            incident = runtime.write(
                lambda op: declaration.declare(op, number, level_opt, ic=ic),
                by=by,
                at=at,
                incident=number,
                attempted="declare",
            )
        print_incident(runtime, incident, "declared", as_json)
        if not as_json and incident.channel_name:
            out.print(
                f"  channel: #{incident.channel_name}  (pending until Slack is connected)",
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
        lambda op, number: lifecycle.mitigate(
            op,
            number,
            action,
            note=mitigation_note,
            permanent=permanent,
            performed_by=performed_by,
        ),
        "mitigated" + (" and resolved" if permanent else ""),
        by=by,
        at=at,
        as_json=as_json,
        attempted="mitigate",
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
        lambda op, number: lifecycle.close(op, number),
        "closed",
        by=by,
        at=at,
        as_json=as_json,
        attempted="close",
    )


Reason = Annotated[str, typer.Option("--reason", help="Why.")]


def reopen(
    number_text: IncidentArg, reason: Reason, by: By = None, at: At = None, as_json: Json = False
) -> None:
    """Reopen a closed incident."""
    act_on(
        number_text,
        lambda op, number: lifecycle.reopen(op, number, reason),
        "reopened",
        by=by,
        at=at,
        as_json=as_json,
        attempted="reopen",
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
        lambda op, number: lifecycle.dismiss(op, number, reason),
        f"dismissed as {reason.value}",
        by=by,
        at=at,
        as_json=as_json,
        attempted="dismiss",
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
        lambda op, number: lifecycle.merge(op, number, target),
        f"merged into INC-{target}",
        by=by,
        at=at,
        as_json=as_json,
        attempted="merge",
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
        lambda op, number: declaration.change_severity(op, number, chosen, reason),
        f"is now {chosen.value}",
        by=by,
        at=at,
        as_json=as_json,
        attempted="severity",
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
        lambda op, number: lifecycle.postmortem(op, number, doc),
        "post-mortem complete",
        by=by,
        at=at,
        as_json=as_json,
        attempted="postmortem",
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
