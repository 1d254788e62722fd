"""The ingestion endpoint answered before any of FastAPI's own layers, as the public status
page is: an alert storm is the busiest traffic warroom gets, and routing, middleware and the
exception layers cost the event loop more per request than the endpoint itself. The endpoint
is the same :meth:`Ingestion.endpoint` the app routes to; this layer only finds it sooner.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import OperationalError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.domain.errors import WarroomError
from warroom.web.ingest import Ingestion, problem
from warroom.web.metrics import RouteMetrics
from warroom.web.problems import for_error, unreachable

log = logging.getLogger("warroom.web")

PREFIX = "/api/v1/ingest/"
WITH_KEY = "/api/v1/ingest/{source}/{key}"
WITHOUT_KEY = "/api/v1/ingest/{source}"


class IngestSurface:
    """ASGI middleware: ``POST``/``PUT /api/v1/ingest/<source>[/<key>]`` straight to the
    endpoint; everything else goes on to the app."""

    def __init__(self, app: ASGIApp, ingestion: Ingestion) -> None:
        self.app = app
        self.ingestion = ingestion
        self.metrics = RouteMetrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(PREFIX) or scope["method"] not in ("POST", "PUT"):
            await self.app(scope, receive, send)
            return
        parts = path[len(PREFIX) :].split("/")
        if len(parts) > 2 or not all(parts):
            await self.app(scope, receive, send)  # not an ingestion path: the app's 404
            return
        started = time.perf_counter()
        params = {"source": parts[0]} | ({"key": parts[1]} if len(parts) == 2 else {})
        route = WITH_KEY if len(parts) == 2 else WITHOUT_KEY
        scope["path_params"] = params
        response: Response
        try:
            response = await self.ingestion.endpoint(Request(scope, receive))
        except WarroomError as exc:  # as the app's own handlers would answer it
            response = for_error(exc)
        except OperationalError:
            response = unreachable()
        except Exception:
            log.exception("ingesting a notification failed")
            response = problem(
                500, "Internal error", "storing the notification failed; retry", "internal"
            )
        await response(scope, receive, send)
        self.metrics.record(scope["method"], route, response.status_code, started)
