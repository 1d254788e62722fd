"""``/metrics`` for Prometheus (anonymous, like /healthz): this process's counters, and gauges
read from the database when scraped, so every node reports the same shared state."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.db.models import Delivery, DeliveryState, Incident, Timer, TimerState
from warroom.domain.errors import WarroomError
from warroom.domain.types import ACTIVE_STAGES
from warroom.metrics import HTTP_DURATION, HTTP_REQUESTS, REGISTRY
from warroom.runtime import Runtime


class DatabaseCollector(Collector):
    """Active incidents by severity and stage, pending and overdue timers, deliveries waiting
    or failed. A scrape during a database outage reports ``warroom_database_up 0``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("warroom_database_up", "Whether the database answered the scrape.")
        try:
            gauges = list(self._read())
        except (SQLAlchemyError, WarroomError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from gauges

    def _read(self) -> Iterator[Metric]:
        now = self.runtime.clock()
        with self.runtime.reading() as session:
            incidents = session.execute(
                select(Incident.severity, Incident.stage, func.count())
                .where(Incident.stage.in_(ACTIVE_STAGES))
                .group_by(Incident.severity, Incident.stage)
            ).all()
            pending = session.scalar(select(func.count()).where(Timer.state == TimerState.PENDING))
            overdue = session.scalar(
                select(func.count()).where(Timer.state == TimerState.PENDING, Timer.due_at <= now)
            )
            deliveries = session.execute(
                select(Delivery.state, func.count())
                .where(Delivery.state != DeliveryState.DELIVERED)
                .group_by(Delivery.state)
            ).all()
        active = GaugeMetricFamily(
            "warroom_incidents_active",
            "Incidents not yet closed, by severity and stage.",
            labels=["severity", "stage"],
        )
        for severity, stage, count in incidents:
            active.add_metric([severity.value if severity else "unclassified", stage.value], count)
        yield active
        yield GaugeMetricFamily("warroom_timers_pending", "Timers waiting to fire.", pending or 0)
        yield GaugeMetricFamily(
            "warroom_timers_overdue",
            "Pending timers already due: a backlog here means no worker keeps up.",
            overdue or 0,
        )
        waiting = GaugeMetricFamily(
            "warroom_webhook_deliveries_open",
            "Webhook deliveries not delivered, by state (pending or failed).",
            labels=["state"],
        )
        for state, count in deliveries:
            waiting.add_metric([state.value], count)
        yield waiting


class NamedRoute(Route):
    """A Starlette route that, like FastAPI's, names itself in the scope: the request metrics
    label requests by route template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


class RequestMetrics:
    """Counts and times every request by its route template (``/api/v1/incidents/{incident_id}``),
    never by the raw path, so incident ids do not explode the label set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route = _template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)


class RouteMetrics:
    """The request metrics for the layers that answer before the app (the public status
    surface, ingestion): the same counters, with their children looked up once per route and
    status rather than per request."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def record(self, method: str, route: str, status: int, started: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(method, route, str(status))
            self._counters[(method, route, status)] = counter
        timer = self._timers.get((method, route))
        if timer is None:
            timer = self._timers[(method, route)] = HTTP_DURATION.labels(method, route)
        counter.inc()
        timer.observe(time.perf_counter() - started)


def _template(scope: Scope) -> str:
    """The route the router chose (it leaves it in the scope), or ``unmatched``."""
    return str(getattr(scope.get("route"), "path", "unmatched"))


def install(app: FastAPI, runtime: Runtime) -> None:
    # Not auto-described: describing would run the collector, i.e. query the database, every
    # time an app is built (each local CLI command builds one).
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(runtime))
    app.add_middleware(RequestMetrics)

    @app.get("/metrics", include_in_schema=False)
    def metrics(_request: Request) -> Response:
        body = generate_latest(REGISTRY) + generate_latest(database)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
