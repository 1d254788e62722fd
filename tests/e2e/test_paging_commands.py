"""The paging commands as a user runs them: set up who is on call, ask who is on call now and
later, page through a declared SEV1, and round-trip the directory through TOML."""

from __future__ import annotations

import json
from pathlib import Path

from icalendar import Calendar

from tests.e2e.test_cli import run


def test_it_sets_up_on_call_and_answers_who_is_paged_from_the_cli(
    tmp_path: Path, database_url: str
) -> None:
    env = {"WARROOM_DATABASE_URL": database_url, "WARROOM_USER": "admin"}

    def cli(*args: str) -> str:
        done = run(*args, cwd=tmp_path, env=env)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    cli("policy", "create", "payments", "--tier", "primary@5m", "--tier", "secondary,lead")
    cli("team", "create", "payments", "--lead", "lee", "--policy", "payments")
    assert "owned by payments" in cli("service", "create", "checkout", "--team", "payments")
    cli("schedule", "create", "payments", "--zone", "Europe/Berlin", "--team", "payments")
    handoff = "2026-03-02T09:00"
    cli("schedule", "layer", "payments", "primary", "--people", "ana,ben", "--handoff", handoff)
    cli(
        "schedule", "layer", "payments", "secondary", "--people", "cat",
        "--handoff", handoff, "--level", "secondary",
    )  # fmt: skip
    cli("person", "contact", "ana", "email", "ana@example.test")
    cli("person", "contact", "ben", "email", "ben@example.test")

    week_one = json.loads(cli("oncall", "--at", "2026-03-03T12:00:00Z", "--json"))
    week_two = json.loads(cli("oncall", "--at", "2026-03-10T12:00:00Z", "--json"))
    assert [(r["level"], r["person"]) for r in week_one] == [
        ("primary", "ana"),
        ("secondary", "cat"),
    ]
    assert week_two[0]["person"] == "ben"
    cli(
        "override", "create", "payments", "--person", "cat",
        "--from", "2030-01-01T00:00:00Z", "--to", "2030-01-02T00:00:00Z",
    )  # fmt: skip
    assert "cat is primary" in cli("override", "list", "payments")
    assert "cat" in cli("oncall", "--at", "2030-01-01T12:00:00Z")

    cli("schedule", "export", "payments", "--person", "ana", "-o", "ana.ics")
    events = Calendar.from_ical((tmp_path / "ana.ics").read_bytes()).walk("VEVENT")
    assert events
    assert all("ana" in str(event["SUMMARY"]) for event in events)

    primary = json.loads(cli("oncall", "--json"))[0]["person"]
    cli("declare", "SEV1", "Checkout failing", "--service", "checkout")
    shown = json.loads(cli("show", "INC-1", "--json"))
    assert shown["roles"]["ic"] == [primary]  # the on-call primary, not the declarer
    pages = json.loads(cli("pages", "--incident", "INC-1", "--json"))
    assert [(p["state"], p["policy"], p["tier"]) for p in pages] == [("open", "payments", 1)]
    assert pages[0]["deliveries"][0]["person"] == primary
    assert "page 1" in cli("pages")

    exported = cli("paging", "export")
    assert 'tiers = [\n    "primary@5m",' in exported
    (tmp_path / "paging.toml").write_text(exported.replace('lead = "lee"', 'lead = "mo"'))
    assert "imported" in cli("paging", "import", "paging.toml")
    assert "lead mo" in cli("team", "list")

    broken = run("paging", "import", "missing.toml", cwd=tmp_path, env=env)
    assert broken.returncode == 2
    refused = run("schedule", "create", "mars", "--zone", "Mars/Olympus", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "not a time zone" in refused.stderr
