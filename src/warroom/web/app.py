"""``create_app()``: the API, health endpoints and OpenAPI docs, over one runtime."""

from __future__ import annotations

import hashlib
import json
import threading

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.types import ASGIApp

from warroom import __version__
from warroom.db.listen import listen
from warroom.db.schema import SCHEMA_REVISION, current_revision
from warroom.ingest.sns import SnsVerifier
from warroom.process import settle_heap
from warroom.revocations import REVOCATIONS, hear_revocations
from warroom.runtime import Runtime
from warroom.web import (
    ack_links,
    admin_api,
    alerts_api,
    api,
    coordination_api,
    events,
    metrics,
    paging_api,
    problems,
    status_api,
)
from warroom.web.deps import RuntimeDep
from warroom.web.hot_path import HotPath
from warroom.web.ingest import Ingestion
from warroom.web.ingest_surface import IngestSurface
from warroom.web.slack_routes import SlackRoutes
from warroom.web.status_page import PublicSurface, Surface
from warroom.web.subscribe import SubscribeRoutes


def policy_hash(runtime: Runtime) -> str:
    """Shows configuration drift between nodes: the same policy hashes the same."""
    canonical = json.dumps(runtime.policy.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def create_app(runtime: Runtime | None = None, *, sns: SnsVerifier | None = None) -> FastAPI:
    """The whole HTTP surface. ``sns`` replaces the SNS signature checker (tests sign with
    their own certificate)."""
    app = FastAPI(
        title="warroom",
        version=__version__,
        description="Incident response from the first alert to the finished post-mortem.",
    )
    app.state.runtime = runtime or Runtime()
    problems.install(app)
    metrics.install(app, app.state.runtime)
    app.include_router(api.router)
    app.include_router(coordination_api.router)
    app.include_router(events.router)
    app.include_router(admin_api.router)
    app.include_router(alerts_api.router)
    app.include_router(paging_api.router)
    app.include_router(status_api.router)
    app.include_router(ack_links.links)
    # Every API route, in the order the app tries them: the hot path serves the incident
    # routes' plain requests from among them (decision 107).
    app.state.api_routes = [
        route
        for router in (api, coordination_api, events, admin_api, alerts_api, paging_api, status_api)
        for route in router.router.routes
    ]
    app.add_middleware(HotPath, fastapi=app, routes=app.state.api_routes)
    ingestion = Ingestion(app.state.runtime, sns=sns or SnsVerifier())
    app.state.ingestion = ingestion
    # First in the table: the busiest routes are matched before the rest are tried.
    surface = Surface(app.state.runtime)
    app.state.status_surface = surface
    # Outermost: the public status surface and ingestion are served before any other
    # middleware runs.
    app.add_middleware(IngestSurface, ingestion=ingestion)
    app.add_middleware(PublicSurface, surface=surface)
    subscribe = SubscribeRoutes(app.state.runtime, surface)
    slack = SlackRoutes(app.state.runtime)
    app.router.routes[:0] = ingestion.routes() + subscribe.routes() + slack.routes()
    app.router.on_shutdown.append(ingestion.close)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(runtime: RuntimeDep) -> JSONResponse:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(runtime.engine)
        ready = revision == SCHEMA_REVISION
        body = {
            "status": "ready" if ready else "schema-mismatch",
            "database": "reachable",
            "schema": revision,
            "expected_schema": SCHEMA_REVISION,
            "policy": policy_hash(runtime),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    return app


def served(app: FastAPI) -> ASGIApp:
    """The app as ``warroom serve`` runs it: the public status surface and ingestion are
    answered before any of FastAPI's own layers (the busiest routes during an outage or an
    alert storm pay for none of them). Inside the app the same layers serve them for
    everyone else (tests, the CLI's local mode)."""
    hot = HotPath(app, fastapi=app, routes=app.state.api_routes)
    ingest = IngestSurface(hot, ingestion=app.state.ingestion)
    return PublicSurface(ingest, surface=app.state.status_surface)


def from_environment() -> ASGIApp:
    """The app of one process of ``warroom serve --workers N``, configured by WARROOM_*. Each
    process listens for the other nodes' changes itself (PostgreSQL)."""
    runtime = Runtime()
    app = create_app(runtime)
    stop = threading.Event()
    listen(runtime.engine, runtime.wakeup, stop, revoked=REVOCATIONS.bump)
    hear_revocations(runtime.engine)  # SQLite: the other processes on its file
    app.router.on_shutdown.append(stop.set)
    settle_heap()
    return served(app)
