"""``/metrics``: anonymous Prometheus text with the shared state read at scrape time and this
process's request, timer and delivery counters."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import World
from tests.integration.test_timers import fire_all
from tests.web.test_api import declare, token


def scrape(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")  # no token: scrapers are anonymous
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_it_exposes_incidents_timers_and_requests_to_prometheus(
    client: httpx.Client, world: World
) -> None:
    alice = token(world, "alice")
    declare(client, alice, "Checkout errors")
    declare(client, alice, "Search slow")
    client.get("/api/v1/incidents/INC-1", headers=alice)

    before = scrape(client)
    assert before[("warroom_database_up", frozenset())] == 1
    active = ("warroom_incidents_active", frozenset({("severity", "SEV1"), ("stage", "declared")}))
    assert before[active] == 2
    assert before[("warroom_timers_pending", frozenset())] > 0
    assert before[("warroom_timers_overdue", frozenset())] == 0
    declared = frozenset(
        {("method", "POST"), ("route", "/api/v1/incidents/declare"), ("status", "201")}
    )
    assert before[("warroom_http_requests_total", declared)] >= 2
    by_template = frozenset(
        {("method", "GET"), ("route", "/api/v1/incidents/{incident_id}"), ("status", "200")}
    )
    assert before[("warroom_http_requests_total", by_template)] >= 1  # never the raw id

    world.later(minutes=31)  # the first status updates are overdue
    assert scrape(client)[("warroom_timers_overdue", frozenset())] > 0
    reminders = ("warroom_timers_fired_total", frozenset({("kind", "update-due")}))
    fired_before = before.get(reminders, 0.0)
    fire_all(world)
    after = scrape(client)
    assert after[("warroom_timers_overdue", frozenset())] == 0
    assert after[reminders] >= fired_before + 2
