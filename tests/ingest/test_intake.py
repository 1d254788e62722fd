"""A storm's firing notices on SQLite: committed to the intake before the 202, folded into
alerts by the ingestion writer on its own, in arrival order, before anything that acts on
them (decision 95). On PostgreSQL the same behaviour, written to alerts at once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ingest.conftest import Sender, fixture
from warroom.domain.alerts import AlertSource
from warroom.ingest import writer

AM = AlertSource.ALERTMANAGER


def notification(status: str, fingerprints: list[str]) -> bytes:
    body: dict[str, Any] = json.loads(fixture("alertmanager/firing.json"))
    alert = body["alerts"][0]
    body["status"] = status
    body["alerts"] = [
        alert
        | {
            "status": status,
            "fingerprint": fingerprint,
            "labels": alert["labels"] | {"instance": fingerprint},
            "endsAt": "2026-03-02T09:59:30.5Z" if status == "resolved" else alert["endsAt"],
        }
        for fingerprint in fingerprints
    ]
    return json.dumps(body).encode()


def test_it_folds_each_storm_into_alerts_without_a_worker(sender: Sender) -> None:
    first = [f"{n:016x}" for n in range(30)]
    assert sender.post(AM, notification("firing", first)).status_code == 202
    assert [alert.dedup_key for alert in sender.alerts()] == first
    # A later storm, after the first was folded in: new alerts, and one counted again.
    later = [f"{n:016x}" for n in range(30, 40)]
    assert sender.post(AM, notification("firing", [*later, first[0]])).status_code == 202
    alerts = sender.alerts()
    assert [alert.dedup_key for alert in alerts] == first + later
    assert [alert.count for alert in alerts] == [2] + [1] * 39


@pytest.fixture
def unhurried(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settler left alone for the test's length: what folds the intake is the test's."""
    monkeypatch.setattr(writer, "SETTLE_IDLE_SECONDS", 60.0)
    monkeypatch.setattr(writer, "SETTLE_SECONDS", 60.0)


def on_sqlite(sender: Sender) -> bool:
    return sender.world.runtime.engine.dialect.name == "sqlite"


@pytest.mark.usefixtures("unhurried")
def test_it_resolves_an_alert_whose_firing_notice_was_not_folded_in_yet(sender: Sender) -> None:
    assert sender.post(AM, notification("firing", ["00000000000000aa"])).status_code == 202
    assert sender.waiting() == (1 if on_sqlite(sender) else 0)
    # The resolution folds the firing notice in before it applies.
    assert sender.post(AM, notification("resolved", ["00000000000000aa"])).status_code == 202
    assert sender.waiting() == 0
    [alert] = sender.alerts()
    assert alert.status.value == "resolved"
    assert alert.count == 1


@pytest.mark.usefixtures("unhurried")
def test_it_groups_notices_still_waiting_in_the_intake(sender: Sender) -> None:
    assert sender.post(AM, notification("firing", ["00000000000000bb"])).status_code == 202
    assert sender.waiting() == (1 if on_sqlite(sender) else 0)
    assert sender.group() == 1  # the pass folds the intake in first
    [incident] = sender.incidents()
    assert [alert.incident_id for alert in sender.alerts()] == [incident.id]
