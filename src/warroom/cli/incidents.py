"""Incident commands (product.md §7): each parses, calls one service, prints."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from warroom.cli import render
from warroom.cli.options import At, By, IncidentArg, Json, incident_number, severity
from warroom.cli.runtime import Runtime, current, handled, out, parse_at
from warroom.db.models import Incident
from warroom.domain.classifier import classify, parse_answers
from warroom.domain.errors import BadInput, NotFound
from warroom.domain.types import (
    DismissReason,
    MitigationKind,
    Move,
    NoteKind,
    ReportSource,
    Role,
    Severity,
    Stage,
    UpdateStatus,
    Visibility,
)
from warroom.domain.updates import UpdateText
from warroom.services import coordination, lifecycle
from warroom.services.reading import ListFilter, detail, list_incidents, summary, timeline
from warroom.services.records import Op


def _rt() -> Runtime:
    return current()


def _print_incident(runtime: Runtime, incident: Incident, verb: str, as_json: bool) -> None:
    if as_json:
        with runtime.reading() as session:
            fresh = session.get(Incident, incident.id)
            assert fresh is not None
            render.print_json(summary(session, fresh, runtime.policy))
    else:
        render.incident_line(incident, verb)


def _stage_move(
    number_text: str,
    which: Move,
    by: str | None,
    at: str | None,
    as_json: bool,
    performed_by: str | None = None,
) -> None:
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: lifecycle.move(op, number, which, performed_by=performed_by),
            by=by,
            at=at,
            incident=number,
            attempted=which.value,
        )
        _print_incident(runtime, incident, which.value, as_json)


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
    runtime = _rt()
    with handled():
        if incident is not None:
            number = incident_number(incident)
            found = runtime.write(
                lambda op: lifecycle.customer_report(op, number, title, source=source), by=by, at=at
            )
            _print_incident(runtime, found, f"got a {source.value} report", as_json)
            return
        level = severity(proposed) if proposed else None
        created = runtime.write(
            lambda op: lifecycle.report(
                op, title, source=source, service_name=service, severity=level
            ),
            by=by,
            at=at,
        )
        _print_incident(runtime, created, "detected", as_json)


def ack(number_text: IncidentArg, by: By = None, at: At = None, as_json: Json = False) -> None:
    """Acknowledge an incident (any stage move or IC assignment also acknowledges)."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident, changed = runtime.write(
            lambda op: lifecycle.acknowledge(op, number),
            by=by,
            at=at,
            incident=number,
            attempted="ack",
        )
        _print_incident(
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
    runtime = _rt()
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
        _print_incident(runtime, incident, f"triaged as {chosen.value}", as_json)


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
    runtime = _rt()
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
                lambda op: lifecycle.declare_new(op, level, title, ic=ic, service_name=service),
                by=by,
                at=at,
            )
        else:
            number = incident_number(first)
            level_opt = severity(second) if second else None
            incident = runtime.write(
                lambda op: lifecycle.declare(op, number, level_opt, ic=ic),
                by=by,
                at=at,
                incident=number,
                attempted="declare",
            )
        _print_incident(runtime, incident, "declared", as_json)
        if not as_json and incident.channel_name:
            out.print(
                f"  channel: #{incident.channel_name}  (pending until Slack is connected)",
                markup=False,
            )


def role(
    number_text: IncidentArg,
    which: Annotated[
        Role, typer.Argument(metavar="ROLE", help="ic, comms, scribe, sme or responder.")
    ],
    who: Annotated[str, typer.Argument(metavar="PERSON", help="The person's handle.")],
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Assign a role; a single-holder role is handed over, and the history is kept."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident, changed = runtime.write(
            lambda op: coordination.assign_role(op, number, which, who), by=by, at=at
        )
        verb = (
            f"has {who} as {which.display_name}"
            if changed
            else f"already has {who} as {which.display_name}"
        )
        _print_incident(runtime, incident, verb, as_json)


def note(
    number_text: IncidentArg,
    text: Annotated[str, typer.Argument(metavar="TEXT")],
    kind: Annotated[
        NoteKind, typer.Option("--kind", help="What the note records.")
    ] = NoteKind.OTHER,
    performed_by: Annotated[
        str | None, typer.Option("--performed-by", help="Who did the work (default: the recorder).")
    ] = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Record an investigation note: a hypothesis, a change, a system, a runbook."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: coordination.note(op, number, kind, text, performed_by=performed_by),
            by=by,
            at=at,
        )
        _print_incident(runtime, incident, f"noted ({kind.value})", as_json)


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
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: lifecycle.mitigate(
                op,
                number,
                action,
                note=mitigation_note,
                permanent=permanent,
                performed_by=performed_by,
            ),
            by=by,
            at=at,
            incident=number,
            attempted="mitigate",
        )
        _print_incident(
            runtime, incident, "mitigated" + (" and resolved" if permanent else ""), as_json
        )


def resolve(number_text: IncidentArg, by: By = None, at: At = None, as_json: Json = False) -> None:
    """The root cause is fixed."""
    _stage_move(number_text, Move.RESOLVE, by, at, as_json)


def monitor(number_text: IncidentArg, by: By = None, at: At = None, as_json: Json = False) -> None:
    """Start the monitoring window before closure."""
    _stage_move(number_text, Move.MONITOR, by, at, as_json)


def close(number_text: IncidentArg, by: By = None, at: At = None, as_json: Json = False) -> None:
    """Close after the monitoring window, if the closure criteria hold."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: lifecycle.close(op, number), by=by, at=at, incident=number, attempted="close"
        )
        _print_incident(runtime, incident, "closed", as_json)


Reason = Annotated[str, typer.Option("--reason", help="Why.")]


def reopen(
    number_text: IncidentArg, reason: Reason, by: By = None, at: At = None, as_json: Json = False
) -> None:
    """Reopen a closed incident."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: lifecycle.reopen(op, number, reason),
            by=by,
            at=at,
            incident=number,
            attempted="reopen",
        )
        _print_incident(runtime, incident, "reopened", as_json)


def dismiss(
    number_text: IncidentArg,
    reason: Annotated[DismissReason, typer.Option("--reason", help="noise, duplicate or test.")],
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Close as noise, duplicate or test: excluded from metrics, no post-mortem."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: lifecycle.dismiss(op, number, reason),
            by=by,
            at=at,
            incident=number,
            attempted="dismiss",
        )
        _print_incident(runtime, incident, f"dismissed as {reason.value}", as_json)


def merge(
    number_text: IncidentArg,
    into: Annotated[str, typer.Option("--into", help="The incident it duplicates.")],
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Merge a duplicate into another active incident, which receives its reports and timeline."""
    runtime = _rt()
    with handled():
        number, target = incident_number(number_text), incident_number(into)
        incident = runtime.write(
            lambda op: lifecycle.merge(op, number, target),
            by=by,
            at=at,
            incident=number,
            attempted="merge",
        )
        _print_incident(runtime, incident, f"merged into INC-{target}", as_json)


def severity_cmd(
    number_text: IncidentArg,
    level: Annotated[str, typer.Argument(metavar="SEVn")],
    reason: Reason,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Reclassify: raising to SEV0/SEV1 declares; lowering cancels the old level's actions."""
    runtime = _rt()
    with handled():
        number, chosen = incident_number(number_text), severity(level)
        incident = runtime.write(
            lambda op: lifecycle.change_severity(op, number, chosen, reason),
            by=by,
            at=at,
            incident=number,
            attempted="severity",
        )
        _print_incident(runtime, incident, f"is now {chosen.value}", as_json)


def update(
    number_text: IncidentArg,
    issue: Annotated[str, typer.Option("--issue", help="One-sentence description.")],
    impact: Annotated[str, typer.Option("--impact", help="Who or what is affected.")],
    progress: Annotated[str, typer.Option("--progress", help="What we have learned or done.")],
    next_steps: Annotated[str, typer.Option("--next", help="What we are doing next.")],
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Investigating, Identified, Implementing Fix or Monitoring "
            "(default: from the stage).",
        ),
    ] = None,
    eta: Annotated[str, typer.Option("--eta", help="Expected resolution.")] = "Unknown",
    public: Annotated[
        bool, typer.Option("--public", help="Also publish it on the status page.")
    ] = False,
    public_text: Annotated[
        str | None, typer.Option("--public-text", help="A separate text for customers.")
    ] = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Post a status update, rendered from the workflow's template."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        chosen: UpdateStatus | None = None
        if status is not None:
            try:
                chosen = UpdateStatus.parse(status)
            except ValueError as exc:
                raise BadInput(f"--status: {exc}") from None
        text = UpdateText(
            issue=issue, impact=impact, progress=progress, next_steps=next_steps, eta=eta
        )
        posted = runtime.write(
            lambda op: coordination.post_update(
                op, number, text, status=chosen, public=public, public_text=public_text
            ),
            by=by,
            at=at,
            incident=number,
            attempted="update",
        )
        if as_json:
            render.print_json(
                {
                    "id": f"INC-{number}",
                    "number": posted.number,
                    "status": posted.status.value,
                    "text": posted.rendered,
                }
            )
        else:
            out.print(posted.rendered, markup=False)


def escalate(
    number_text: IncidentArg,
    team: Annotated[
        str | None, typer.Option("--team", help="The team whose expertise is needed.")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Escalate: recorded now; paging the team arrives with the paging capability."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: coordination.escalate(op, number, team=team, reason=reason),
            by=by,
            at=at,
            incident=number,
            attempted="escalate",
        )
        _print_incident(runtime, incident, "escalated" + (f" to {team}" if team else ""), as_json)


def checklist(
    number_text: IncidentArg,
    verb: Annotated[
        str | None, typer.Argument(metavar="[done]", help="`done` marks ITEM done.")
    ] = None,
    item: Annotated[
        str | None, typer.Argument(metavar="[ITEM]", help="The action's key, as `show` lists it.")
    ] = None,
    action_note: Annotated[str | None, typer.Option("--note", help="How it was done.")] = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Show the checklist, or mark a manual action done (e.g. executives informed by phone)."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        if verb is None:
            _show(runtime, number, as_json, at=None, only_checklist=True)
            return
        if verb != "done" or not item:
            raise BadInput("usage: warroom checklist ID done ITEM [--note TEXT]")
        action = runtime.write(
            lambda op: coordination.complete_action(op, number, item, note=action_note),
            by=by,
            at=at,
        )
        if as_json:
            render.print_json({"id": f"INC-{number}", "key": action.key, "done_at": action.done_at})
        else:
            out.print(f"INC-{number}: done — {action.title}", markup=False)


def visibility(
    number_text: IncidentArg,
    which: Annotated[Visibility, typer.Argument(metavar="public|internal")],
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Whether a SEV2 is customer-visible (on the status page)."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: coordination.set_visibility(op, number, which),
            by=by,
            at=at,
            incident=number,
            attempted="visibility",
        )
        _print_incident(runtime, incident, f"is {which.value}", as_json)


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
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: lifecycle.postmortem(op, number, doc),
            by=by,
            at=at,
            incident=number,
            attempted="postmortem",
        )
        _print_incident(runtime, incident, "post-mortem complete", as_json)


def list_cmd(
    stage: Annotated[
        list[Stage] | None, typer.Option("--stage", help="Only these stages (repeatable).")
    ] = None,
    level: Annotated[
        list[str] | None, typer.Option("--severity", help="Only these severities (repeatable).")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Include closed incidents and the backlog.")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="Only incidents detected since this time.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    as_json: Json = False,
) -> None:
    """List incidents, newest first (active ones unless --all or --stage)."""
    runtime = _rt()
    with handled():
        filters = ListFilter(
            stages=tuple(stage or ()),
            severities=tuple(severity(s) for s in level or ()),
            service=service,
            include_inactive=all_,
            since=parse_at(since) if since else None,
            limit=limit,
        )
        with runtime.reading() as session:
            rows = [summary(session, i, runtime.policy) for i in list_incidents(session, filters)]
        if as_json:
            render.print_json(rows)
        else:
            render.incident_table(rows, runtime.clock())


def show(
    number_text: IncidentArg,
    as_json: Json = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Evaluate the checklist at this time (past or future)."),
    ] = None,
) -> None:
    """The incident, its roles, its checklist and anti-pattern findings."""
    runtime = _rt()
    with handled():
        _show(runtime, incident_number(number_text), as_json, at=at)


def _show(
    runtime: Runtime, number: int, as_json: bool, *, at: str | None, only_checklist: bool = False
) -> None:
    now = parse_at(at) if at else runtime.clock()
    with runtime.reading() as session:
        incident = session.get(Incident, number)
        if incident is None:
            raise NotFound(f"INC-{number} does not exist")
        view = detail(session, incident, runtime.policy, now)
        if as_json:
            data = view.to_json()
            render.print_json(data["checklist"] if only_checklist else data)
        else:
            render.detail(view, now)


def timeline_cmd(number_text: IncidentArg, as_json: Json = False) -> None:
    """Everything that happened, in order. Append-only."""
    runtime = _rt()
    with handled():
        number = incident_number(number_text)
        with runtime.reading() as session:
            if session.get(Incident, number) is None:
                raise NotFound(f"INC-{number} does not exist")
            rows = timeline(session, number)
        if as_json:
            render.print_json(rows)
        else:
            render.timeline_table(f"INC-{number}", rows)


def register(app: typer.Typer) -> None:
    for command in (
        report,
        ack,
        triage,
        declare,
        role,
        note,
        investigate,
        mitigate,
        resolve,
        monitor,
        close,
        reopen,
        dismiss,
        merge,
        update,
        escalate,
        checklist,
        visibility,
        postmortem,
        show,
    ):
        app.command()(command)
    app.command("severity")(severity_cmd)
    app.command("list")(list_cmd)
    app.command("timeline")(timeline_cmd)


__all__ = ["Op", "register"]
