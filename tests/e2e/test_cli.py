"""The installed ``warroom`` entry point, run as a user runs it, in a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent / "warroom"
REPO = Path(__file__).resolve().parents[2]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    environment.update({"WARROOM_USER": "alice", "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ago(minutes: float) -> str:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Any:
    def call(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run(*args, cwd=tmp_path, env={"WARROOM_DATABASE_URL": database_url}, stdin=stdin)

    return call


def test_it_runs_the_drill_through_all_nine_stages(tmp_path: Path) -> None:
    result = run("drill", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for heading in (
        "1. Detection",
        "2. Triage",
        "3. Incident declaration",
        "4. Investigation",
        "5. Mitigation",
        "6. Resolution",
        "7. Monitoring",
        "8. Closure",
        "9. Post-mortem",
    ):
        assert heading in result.stdout
    assert "refused by rule closure-window" in result.stdout
    assert "Drill complete" in result.stdout
    assert list(tmp_path.iterdir()) == []  # the drill's database was thrown away


def test_it_refuses_a_closure_10_minutes_into_monitoring_and_allows_it_after_31(cli: Any) -> None:
    declared = cli(
        "declare", "SEV1", "API experiencing elevated error rates", "--at", ago(60), "--json"
    )
    assert declared.returncode == 0, declared.stderr
    incident = json.loads(declared.stdout)
    assert (incident["id"], incident["severity"], incident["stage"]) == (
        "INC-1",
        "SEV1",
        "declared",
    )
    for key in ("detected_at", "acknowledged_at", "triaged_at", "declared_at", "closed_at"):
        assert key in incident

    assert cli("investigate", "INC-1", "--performed-by", "bob", "--at", ago(58)).returncode == 0
    assert (
        cli(
            "mitigate", "1", "--action", "rollback", "--performed-by", "bob", "--at", ago(50)
        ).returncode
        == 0
    )
    assert cli("resolve", "INC-1", "--at", ago(45)).returncode == 0
    assert cli("monitor", "INC-1", "--at", ago(41)).returncode == 0

    early = cli("close", "INC-1", "--at", ago(31))
    assert early.returncode == 1
    assert "closure-window" in early.stderr
    assert "10m" in early.stderr

    closed = cli("close", "INC-1", "--at", ago(10), "--json")
    assert closed.returncode == 0, closed.stderr
    assert json.loads(closed.stdout)["stage"] == "closed"

    events = json.loads(cli("timeline", "INC-1", "--json").stdout)
    assert [e["data"].get("rule") for e in events if e["kind"] == "refused"] == ["closure-window"]
    shown = json.loads(cli("show", "INC-1", "--json").stdout)
    assert shown["ic"] == "alice"
    assert shown["channel"] == f"incident-{ago(60)[:10]}-api-experiencing-elevated-error-rates"
    assert "premature-closure" in [f["pattern"] for f in shown["findings"]]


def test_it_prints_readable_tables(cli: Any) -> None:
    cli("report", "Search results stale", "--service", "search", "--at", ago(20))
    cli("triage", "INC-1", "SEV2", "--by", "dana", "--at", ago(19))
    listing = cli("list")
    assert listing.returncode == 0
    for word in ("INC-1", "SEV2", "triaged"):
        assert word in listing.stdout
    shown = cli("show", "INC-1")
    assert "Checklist" in shown.stdout
    assert "Responder: dana" in shown.stdout
    timeline = cli("timeline", "INC-1")
    assert "triaged as SEV2" in timeline.stdout


def test_it_keeps_titles_and_checklist_keys_readable_at_80_columns(
    database_url: str, tmp_path: Path
) -> None:
    # 80 columns is a small terminal's width and what piped output gets.
    env = {"WARROOM_DATABASE_URL": database_url, "COLUMNS": "80"}
    declared = run("declare", "SEV1", "Checkout failing in the EU", cwd=tmp_path, env=env)
    assert declared.returncode == 0, declared.stderr
    listing = run("list", cwd=tmp_path, env=env).stdout
    assert "Checkout failing" in listing
    assert max(len(line) for line in listing.splitlines()) <= 80
    shown = run("show", "INC-1", cwd=tmp_path, env=env).stdout
    # The keys `warroom checklist ID done KEY` takes appear whole.
    for key in ("(incident-channel)", "(status-update)", "(initial-status)", "(page-oncall)"):
        assert key in shown, key


def test_it_posts_a_rendered_status_update(cli: Any) -> None:
    cli("declare", "SEV0", "Everything is down", "--at", ago(20))
    posted = cli(
        "update",
        "INC-1",
        "--issue",
        "All requests fail",
        "--impact",
        "Every customer",
        "--progress",
        "Failing over",
        "--next",
        "Verify failover",
        "--at",
        ago(5),
    )
    assert posted.returncode == 0, posted.stderr
    lines = posted.stdout.strip().splitlines()
    assert lines[0].endswith("Update #1 - Investigating")
    assert lines[-1].startswith("Next Update: [")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "INC-99"), "INC-99 does not exist"),
        (("ack", "banana"), "not an incident id"),
        (("investigate", "INC-1", "--at", "yesterday"), "--at"),
        (("investigate", "INC-1", "--at", "2099-01-01T00:00:00Z"), "in the future"),
        (("severity", "INC-1", "SEV7", "--reason", "x"), "not a severity"),
        (("mitigate", "INC-1", "--action", "pray"), "pray"),
        (("role", "INC-1", "ic", "Not A Handle!"), "not a handle"),
    ],
)
def test_it_refuses_bad_input_with_exit_2_and_keeps_what_is_stored(
    cli: Any, args: tuple[str, ...], message: str
) -> None:
    cli("declare", "SEV1", "Checkout errors", "--at", ago(5))
    before = cli("show", "INC-1", "--json").stdout
    result = cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(cli("show", "INC-1", "--json").stdout)["stage"] == json.loads(before)["stage"]


def test_it_names_a_bad_policy_key(tmp_path: Path) -> None:
    (tmp_path / "warroom.toml").write_text('[lifecycle]\nmonitoring_windw = "30m"\n')
    result = run("declare", "SEV1", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown key lifecycle.monitoring_windw" in result.stderr


def test_it_names_a_bad_setting_instead_of_a_traceback(tmp_path: Path) -> None:
    for command in (("list",), ("serve", "--port", "1")):
        result = run(*command, cwd=tmp_path, env={"WARROOM_CREDENTIAL_CACHE_SECONDS": "soon"})
        assert result.returncode == 2
        assert "WARROOM_CREDENTIAL_CACHE_SECONDS: Input should be a valid number" in result.stderr
        assert "'soon'" in result.stderr
        assert "Traceback" not in result.stderr


def test_it_classifies_from_stdin_flags_and_the_script(tmp_path: Path) -> None:
    payload = (
        '{"core_impact":"unavailable","revenue_critical":true,'
        '"customers_affected_pct":100,"workaround":false}'
    )
    from_stdin = run("classify", "--json", cwd=tmp_path, stdin=payload)
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert json.loads(from_stdin.stdout)["severity"] == "SEV0"

    flags = run(
        "classify",
        "--json",
        "--core-impact",
        "degraded",
        "--error-rate-pct",
        "15",
        "--no-workaround",
        cwd=tmp_path,
    )
    result = json.loads(flags.stdout)
    assert (result["severity"], result["declare"]) == ("SEV1", True)

    script = subprocess.run(
        [sys.executable, "scripts/classify-severity.py", "--json"],
        cwd=REPO,
        input=payload,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert json.loads(script.stdout) == json.loads(from_stdin.stdout)

    bad = run("classify", cwd=tmp_path, stdin='{"customers_affected_pct": 130}')
    assert bad.returncode == 2
    assert "customers_affected_pct" in bad.stderr


def test_it_triages_from_classifier_answers_on_stdin(cli: Any) -> None:
    cli("report", "Exports failing", "--at", ago(3))
    triaged = cli("triage", "INC-1", "--json", stdin='{"core_impact":"non_core"}')
    assert triaged.returncode == 0, triaged.stderr
    assert json.loads(triaged.stdout)["severity"] == "SEV2"


def test_it_exits_4_when_the_database_is_unreachable(tmp_path: Path) -> None:
    result = run(
        "list", cwd=tmp_path, env={"WARROOM_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/none"}
    )
    assert result.returncode == 4
    assert "unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_it_adds_a_customer_report_to_an_existing_incident(cli: Any) -> None:
    cli("declare", "SEV1", "Checkout errors", "--at", ago(5))
    result = cli("report", "Customer cannot pay", "--source", "customer", "--incident", "INC-1")
    assert result.returncode == 0, result.stderr
    events = json.loads(cli("timeline", "INC-1", "--json").stdout)
    assert events[-1]["summary"] == "customer report: Customer cannot pay"
