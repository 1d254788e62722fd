"""Commands around the stage moves: roles, notes, status updates, escalation, the
checklist and visibility."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from warroom.cli import render
from warroom.cli.common import act_on, client, path_of
from warroom.cli.options import At, By, IncidentArg, Json, incident_number
from warroom.cli.reading import show_incident
from warroom.cli.runtime import handled, out
from warroom.domain.errors import BadInput
from warroom.domain.types import NoteKind, Role, UpdateStatus, Visibility


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
    act_on(
        number_text,
        "roles",
        lambda data: (
            ("has" if data.get("changed") else "already has") + f" {who} as {which.display_name}"
        ),
        body={"role": which.value, "person": who},
        by=by,
        at=at,
        as_json=as_json,
    )


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
    act_on(
        number_text,
        "notes",
        f"noted ({kind.value})",
        body={"kind": kind.value, "text": text, "performed_by": performed_by},
        by=by,
        at=at,
        as_json=as_json,
    )


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
    public_title: Annotated[
        str | None,
        typer.Option("--public-title", help="The incident's title on the status page."),
    ] = None,
    by: By = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Post a status update, rendered from the workflow's template."""
    with handled():
        number = incident_number(number_text)
        chosen: UpdateStatus | None = None
        if status is not None:
            try:
                chosen = UpdateStatus.parse(status)
            except ValueError as exc:
                raise BadInput(f"--status: {exc}") from None
        posted = client(by).post(
            path_of(number, "updates"),
            {
                "status": chosen.value if chosen else None,
                "issue": issue,
                "impact": impact,
                "progress": progress,
                "next": next_steps,
                "eta": eta,
                "public": public,
                "public_text": public_text,
                "public_title": public_title,
                "at": at,
            },
        )
        if as_json:
            render.print_json(posted)
        else:
            out.print(posted["text"], markup=False)


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
    """Escalate: page the next tier of the on-call, or with --team that expertise (the
    escalation matrix in warroom.toml, else the team of that name)."""
    act_on(
        number_text,
        "escalate",
        "escalated" + (f" to {team}" if team else ""),
        body={"team": team, "reason": reason},
        by=by,
        at=at,
        as_json=as_json,
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
    with handled():
        number = incident_number(number_text)
        if verb is None:
            show_incident(number, as_json, at=at, only_checklist=True)
            return
        if verb != "done" or not item:
            raise BadInput("usage: warroom checklist ID done ITEM [--note TEXT]")
        api = client(by)
        key = quote(item, safe="")
        api.post(path_of(number, f"checklist/{key}/done"), {"note": action_note, "at": at})
        items = api.get(path_of(number))["checklist"]
        done = next((i for i in items if i["key"] == item), {"title": item, "done_at": None})
        if as_json:
            render.print_json({"id": f"INC-{number}", "key": item, "done_at": done["done_at"]})
        else:
            out.print(f"INC-{number}: done — {done['title']}", markup=False)


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
        "visibility",
        f"is {which.value}",
        body={"visibility": which.value},
        by=by,
        at=at,
        as_json=as_json,
    )


def register(app: typer.Typer) -> None:
    for command in (role, note, update, escalate, checklist, visibility):
        app.command()(command)
