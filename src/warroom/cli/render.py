"""How incidents look in a terminal: Rich tables, times in UTC."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from warroom.cli.runtime import out
from warroom.domain.checklist import ItemState
from warroom.domain.durations import humanize
from warroom.domain.timefmt import utc_text
from warroom.domain.types import Role

SEVERITY_STYLE = {"SEV0": "bold white on red", "SEV1": "bold red", "SEV2": "yellow", "SEV3": "dim"}
STATE_STYLE = {
    ItemState.DONE: "green",
    ItemState.LATE: "yellow",
    ItemState.DUE: "cyan",
    ItemState.OVERDUE: "bold red",
    ItemState.PENDING: "magenta",
    ItemState.CANCELLED: "dim",
    ItemState.OPTIONAL: "dim",
}
OPEN_STATES = frozenset({ItemState.DUE, ItemState.OVERDUE, ItemState.PENDING})


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str), highlight=False)


def severity_text(severity: str | None, confirmed: bool = True) -> Text:
    if severity is None:
        return Text("unclassified", style="dim")
    text = Text(severity, style=SEVERITY_STYLE.get(severity, ""))
    if not confirmed:
        text.append(" (proposed)", style="dim")
    return text


def _when(moment: datetime | None) -> str:
    return utc_text(moment) if moment else ""


def incident_line(incident: dict[str, Any], verb: str) -> None:
    out.print(
        Text.assemble(
            (incident["id"], "bold"),
            " ",
            severity_text(incident["severity"], incident["severity_confirmed"]),
            f" {verb} — stage ",
            (incident["stage"], "bold"),
            f": {incident['title']}",
        )
    )


def incident_table(rows: list[dict[str, Any]], now: datetime) -> None:
    table = Table(title="Incidents", title_justify="left", expand=False)
    # The short columns never wrap; the title keeps room to be read. Below 100 columns (80 is
    # a small terminal's width and piped output's) the detection time gives way to the age.
    wide = out.width >= WIDE
    table.add_column("ID", no_wrap=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Stage", no_wrap=True)
    table.add_column("Title", min_width=16, overflow="fold")
    table.add_column("IC / responder", overflow="fold")
    if wide:
        table.add_column("Detected (UTC)", no_wrap=True)
    table.add_column("Age", no_wrap=True)
    for row in rows:
        detected = datetime.fromisoformat(row["detected_at"])
        table.add_row(
            row["id"],
            severity_text(row["severity"], row["severity_confirmed"]),
            row["stage"],
            Text(row["title"]),
            Text(row["ic"] or row["responder"] or ""),
            *([utc_text(detected).removesuffix(" UTC")] if wide else []),
            humanize(now - detected),
        )
    if not rows:
        out.print("No incidents match.")
        return
    out.print(table)


WIDE = 100


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def detail(view: dict[str, Any]) -> None:
    """``show``: the incident as the API's detail answer gives it, checklist evaluated at
    its ``as_of``."""
    s = view
    now = datetime.fromisoformat(view["as_of"])
    header = Text.assemble(
        (s["id"], "bold"),
        "  ",
        severity_text(s["severity"], s["severity_confirmed"]),
        "  ",
        (s["stage"], "bold cyan"),
        "\n",
        (s["title"], "bold"),
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    for label, value in (
        ("Service", s["service"]),
        ("Channel", f"#{s['channel']}" if s["channel"] else None),
        ("Status page", s["public_status"]),
        ("Dismissed", s["dismissed_reason"]),
        ("Merged into", s["merged_into"]),
        ("Post-mortem", s["postmortem_doc"]),
    ):
        if value:
            facts.add_row(label, Text(str(value)))
    for key in (
        "detected_at",
        "acknowledged_at",
        "triaged_at",
        "declared_at",
        "investigating_at",
        "mitigated_at",
        "resolved_at",
        "monitoring_at",
        "closed_at",
        "postmortem_complete_at",
        "backlog_at",
    ):
        if s[key]:
            facts.add_row(
                key.removesuffix("_at").replace("_", " "), utc_text(datetime.fromisoformat(s[key]))
            )
    out.print(
        Panel.fit(
            Text.assemble(header),
            border_style="red" if s["severity"] in ("SEV0", "SEV1") else "blue",
        )
    )
    out.print(facts)

    roles = Table(title="Roles", title_justify="left")
    roles.add_column("Role")
    roles.add_column("Person")
    roles.add_column("Since (UTC)")
    roles.add_column("Until (UTC)")
    for row in view["role_history"]:
        roles.add_row(
            Role(row["role"]).display_name,
            Text(row["person"]),
            _when(_instant(row["assigned_at"])),
            _when(_instant(row["relieved_at"])),
        )
    if view["role_history"]:
        out.print(roles)

    checklist = Table(title="Checklist", title_justify="left")
    # An item's key is what `warroom checklist ID done KEY` takes: wide enough for the longest
    # key in one piece, the titles wrapping around them.
    longest = max((len(item["key"]) + 2 for item in view["checklist"]), default=10)
    checklist.add_column("Item", overflow="fold", min_width=min(longest, 40))
    for column in ("State", "Due (UTC)", "Done (UTC)", "Note"):
        checklist.add_column(column)
    for item in view["checklist"]:
        state = ItemState(item["state"])
        due_at = _instant(item["due_at"])
        due = _when(due_at)
        if state in OPEN_STATES and due_at is not None:
            delta = due_at - now
            due += (
                f" (in {humanize(delta)})"
                if delta.total_seconds() >= 0
                else f" ({humanize(delta)} ago)"
            )
        checklist.add_row(
            Text.assemble(item["title"], (f" ({item['key']})", "dim")),
            Text(state.value, style=STATE_STYLE[state]),
            due,
            _when(_instant(item["done_at"])),
            Text(item["note"] or ""),
        )
    out.print(checklist)

    if view["findings"]:
        out.print(Text("Anti-patterns", style="bold red"))
        for finding in view["findings"]:
            at = datetime.fromisoformat(finding["at"])
            out.print(
                f"  • {finding['pattern']} at {utc_text(at)}: {finding['detail']}", markup=False
            )
    if view["updates"]:
        latest = view["updates"][-1]
        out.print(
            Panel(latest["text"], title=f"Latest status update (#{latest['number']})", expand=False)
        )


def timeline_table(incident_id: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{incident_id} timeline", title_justify="left")
    for column in ("Time (UTC)", "Event", "By", "What"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            utc_text(datetime.fromisoformat(row["at"])).removesuffix(" UTC"),
            row["kind"],
            Text(row["actor"] or ""),
            Text(row["summary"]),
        )
    out.print(table)


def classification(result: dict[str, Any]) -> None:
    out.print(
        Text.assemble(
            "Severity: ",
            severity_text(result["severity"]),
            "  —  ",
            ("declare an incident" if result["declare"] else "no declaration needed", "bold"),
        )
    )
    for reason in result["reasons"]:
        out.print(f"  • {reason}", markup=False)
    table = Table(title="What this level requires", title_justify="left", show_header=False)
    table.add_column(style="dim")
    table.add_column()
    for key, value in result["requirements"].items():
        shown = (
            ", ".join(value) if isinstance(value, list) else ("—" if value is None else str(value))
        )
        table.add_row(key.replace("_", " "), shown)
    out.print(table)
