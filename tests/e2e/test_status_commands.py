"""The status page's commands as a user runs them: components, subscribers, the customer
e-mail, exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import ago, cli  # noqa: F401  (a fixture)


def test_it_manages_components_from_the_command_line(cli) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    assert cli("service", "create", "checkout").returncode == 0
    assert cli("component", "create", "Web apps", "--group-only").returncode == 0
    made = cli("component", "create", "Checkout", "--service", "checkout", "--group", "Web apps")
    assert made.returncode == 0, made.stderr
    assert "Checkout: Operational · checkout" in made.stdout
    missing = cli("component", "create", "Search", "--service", "search")
    assert missing.returncode == 2
    assert "there is no service called 'search'" in missing.stderr
    wrong = cli("component", "set", "Checkout", "broken")
    assert wrong.returncode == 2
    assert "is not a status" in wrong.stderr
    assert cli("component", "set", "checkout", "under_maintenance").returncode == 0
    listed = json.loads(cli("component", "list", "--json").stdout)
    checkout = next(row for row in listed if row["name"] == "Checkout")
    assert checkout["status"] == "under_maintenance"
    assert checkout["status_set_by_hand"]
    assert checkout["in_group"] == "Web apps"
    group = next(row for row in listed if row["name"] == "Web apps")
    assert group["status"] == "under_maintenance"
    assert cli("component", "set", "Checkout", "auto").returncode == 0
    declared = cli("declare", "SEV0", "Checkout down", "--service", "checkout")
    assert declared.returncode == 0, declared.stderr
    text = cli("component", "list").stdout
    assert "Checkout: Major outage · checkout" in text
    assert cli("component", "remove", "Checkout").returncode == 0
    assert "Checkout" not in cli("component", "list").stdout
    assert cli("component", "create", "CI/CD #1").returncode == 0
    odd = cli("component", "set", "CI/CD #1", "degraded_performance")
    assert odd.returncode == 0, odd.stderr
    assert "CI/CD #1: Degraded performance (set by hand)" in odd.stdout


def test_it_drafts_and_refuses_the_customer_email_by_the_rules(cli) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    cli("service", "create", "checkout")
    cli("component", "create", "Checkout", "--service", "checkout")
    assert cli("declare", "SEV1", "Checkout errors", "--service", "checkout", "--at", ago(60))
    early = cli("comms", "draft", "INC-1")
    assert early.returncode == 1
    assert "not-resolved" in early.stderr
    for args in (
        ("investigate", "1", "--at", ago(50)),
        ("mitigate", "1", "--action", "rollback", "--at", ago(45)),
        ("resolve", "1", "--at", ago(40)),
        ("monitor", "1", "--at", ago(39)),
        ("close", "1"),
    ):
        done = cli(*args)
        assert done.returncode == 0, done.stderr
    draft = cli("comms", "draft", "INC-1")
    assert draft.returncode == 0, draft.stderr
    assert "Subject: [Status] Incident report: Partial outage affecting Checkout" in draft.stdout
    assert "We rolled back the change that caused the problem." in draft.stdout
    nobody = cli("comms", "send", "INC-1")
    assert nobody.returncode == 2
    assert "nobody to send it to" in nobody.stderr
    assert cli("subscriber", "add", "IT@Client.test").returncode == 0
    assert "it@client.test: confirmed" in cli("subscriber", "list").stdout
    sent = cli("comms", "send", "INC-1")
    assert sent.returncode == 0
    assert "sent to 1 recipient(s)" in sent.stdout
    again = cli("comms", "send", "INC-1")
    assert again.returncode == 1
    assert "customer-email-sent" in again.stderr
    assert cli("subscriber", "remove", "it@client.test").returncode == 0
    gone = cli("subscriber", "remove", "it@client.test")
    assert gone.returncode == 2
    assert "is not subscribed" in gone.stderr


def test_it_refuses_a_customer_email_for_a_sev2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    cli("declare", "SEV2", "Slow search")
    refused = cli("comms", "draft", "1")
    assert refused.returncode == 1
    assert "no-customer-email" in refused.stderr
