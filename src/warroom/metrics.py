"""What this process counts, for Prometheus: requests, timers fired and their lag, webhook
deliveries. ``/metrics`` adds gauges read from the database at scrape time
(``warroom.web.metrics``). Each process exposes its own counters; sum them across nodes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "warroom_http_requests",
    "API requests answered, by route template, method and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "warroom_http_request_duration_seconds",
    "Time to answer an API request, by route template and method.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
TIMERS_FIRED = Counter(
    "warroom_timers_fired",
    "Timers fired by this process's worker, by kind.",
    ["kind"],
    registry=REGISTRY,
)
TIMER_LAG = Histogram(
    "warroom_timer_lag_seconds",
    "How late a timer fired: fired minus due.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "warroom_webhook_deliveries",
    "Webhook delivery attempts, by outcome (delivered, retry, failed, dropped, superseded).",
    ["outcome"],
    registry=REGISTRY,
)
PAGE_DELIVERIES = Counter(
    "warroom_page_deliveries",
    "Page and notification delivery attempts, by transport and outcome (delivered, retry, "
    "failed, dropped).",
    ["transport", "outcome"],
    registry=REGISTRY,
)
ALERTS_INGESTED = Counter(
    "warroom_alerts_ingested",
    "Alert notices accepted by the ingestion endpoints, by source.",
    ["source"],
    registry=REGISTRY,
)
INGEST_REFUSED = Counter(
    "warroom_ingest_refused",
    "Ingestion requests refused, by source and reason (malformed, unsigned, unknown-key, "
    "rate-limited, too-large).",
    ["source", "reason"],
    registry=REGISTRY,
)
ALERTS_GROUPED = Counter(
    "warroom_alerts_grouped",
    "Alert changes the worker settled into incidents.",
    registry=REGISTRY,
)
INGEST_REPLAYS = Counter(
    "warroom_ingest_replays",
    "Ingestion requests that repeated one already stored (same idempotency key): answered 2xx, "
    "changing nothing.",
    ["source"],
    registry=REGISTRY,
)
