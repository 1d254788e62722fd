"""Commands around the stage moves: roles, notes, status updates, escalation, the
checklist and visibility."""

from __future__ import annotations

from typing import Annotated

import typer

from warroom.cli import render
from warroom.cli.common import act_on, print_incident
from warroom.cli.options import At, By, IncidentArg, Json, incident_number
from warroom.cli.reading import show_incident
from warroom.cli.runtime import current, handled, out
from warroom.domain.errors import BadInput
from warroom.domain.types import NoteKind, Role, UpdateStatus, Visibility
from warroom.domain.updates import UpdateText
from warroom.services import coordination


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
    runtime = current()
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
        print_incident(runtime, incident, verb, as_json)


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
    runtime = current()
    with handled():
        number = incident_number(number_text)
        incident = runtime.write(
            lambda op: coordination.note(op, number, kind, text, performed_by=performed_by),
            by=by,
            at=at,
        )
        print_incident(runtime, incident, f"noted ({kind.value})", as_json)


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
    runtime = current()
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
    act_on(
        number_text,
        lambda op, number: coordination.escalate(op, number, team=team, reason=reason),
        "escalated" + (f" to {team}" if team else ""),
        by=by,
        at=at,
        as_json=as_json,
        attempted="escalate",
    )


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
    runtime = current()
    with handled():
        number = incident_number(number_text)
        if verb is None:
            show_incident(runtime, number, as_json, at=at, only_checklist=True)
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
    act_on(
        number_text,
        lambda op, number: coordination.set_visibility(op, number, which),
        f"is {which.value}",
        by=by,
        at=at,
        as_json=as_json,
        attempted="visibility",
    )


def register(app: typer.Typer) -> None:
    for command in (role, note, update, escalate, checklist, visibility):
        app.command()(command)
