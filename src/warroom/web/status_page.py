"""The public status surface: ``/status``, its incident pages and feeds, the
Statuspage-compatible JSON under ``/api/v2``, and the subscribe form. Anonymous, read-only
(the form aside), and built to stay up when the rest is struggling.

Every node renders from one cached :class:`Snapshot`. It asks the database only whether the
page's revision moved, at most every ``WARROOM_STATUS_CACHE_SECONDS``, and rebuilds when it
did. Each representation carries an ETag and Last-Modified and answers 304 to a poller that
has it. When the database is unreachable the last good snapshot keeps being served, the page
saying how old it is.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from warroom.domain.errors import NotFound, Unavailable, WarroomError
from warroom.runtime import Runtime
from warroom.services import subscribers
from warroom.services.status_views import Snapshot, current_revision, snapshot
from warroom.web import status_render
from warroom.web.metrics import NamedRoute
from warroom.web.status_render import Stale

CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
FORM_LIMIT = 4096


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str
    etag: str
    last_modified: datetime

    @classmethod
    def of(cls, body: bytes, content_type: str, last_modified: datetime) -> Rendered:
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        return cls(body, content_type, f'"{digest}"', last_modified)


class Surface:
    """The cached snapshot of one process and its rendered representations."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.every = runtime.settings.status_cache_seconds
        self._snapshot: Snapshot | None = None
        self._checked = float("-inf")
        self._stale: Stale | None = None
        self._rendered: dict[str, Rendered] = {}
        self._lock = threading.Lock()

    def fresh(self) -> bool:
        """Whether the cached snapshot may be served without asking the database."""
        snap = self._snapshot
        return (
            snap is not None
            and time.monotonic() - self._checked < self.every
            and snap.local_day() == self.runtime.clock().astimezone(snap.zone).date()
        )

    def refresh(self) -> None:
        """Ask whether the page changed, and rebuild if it did. One thread at a time; the
        others go on serving what is cached meanwhile."""
        if not self._lock.acquire(blocking=self._snapshot is None):
            return
        try:
            if self.fresh():
                return
            now = self.runtime.clock()
            try:
                with self.runtime.reading() as session:
                    cached = self._snapshot
                    same_day = cached is not None and cached.local_day() == (
                        now.astimezone(cached.zone).date()
                    )
                    if (
                        cached is None
                        or not same_day
                        or current_revision(session) != cached.revision
                        or self._stale is not None
                    ):
                        built = snapshot(
                            session,
                            self.runtime.policy,
                            now=now,
                            public_url=self.runtime.settings.public_url,
                        )
                        self._snapshot, self._rendered = built, {}
                self._stale = None
            except (SQLAlchemyError, WarroomError) as exc:
                if self._snapshot is None:
                    raise Unavailable(f"the status page cannot be built: {exc}") from None
                since = self._snapshot.built_at
                minutes = max(0, int((now - since).total_seconds() // 60))
                if self._stale is None or self._stale.minutes != minutes:
                    self._stale = Stale(since, minutes)
                    self._rendered = {}
            self._checked = time.monotonic()
        finally:
            self._lock.release()

    async def current(self) -> tuple[Snapshot, Stale | None]:
        if not self.fresh():
            await run_in_threadpool(self.refresh)
        snap = self._snapshot
        assert snap is not None
        return snap, self._stale

    def rendered(self, key: str, snap: Snapshot, stale: Stale | None) -> Rendered:
        found = self._rendered.get(key)
        if found is not None:
            return found
        made = self._render(key, snap, stale)
        if snap is self._snapshot:
            self._rendered[key] = made
        return made

    def _render(self, key: str, snap: Snapshot, stale: Stale | None) -> Rendered:
        modified = max(
            snap.updated_at,
            datetime.combine(snap.local_day(), datetime.min.time(), snap.zone),
        )
        if key == "page":
            body = status_render.page_html(snap, stale=stale).encode()
            return Rendered.of(body, HTML, modified)
        if key == "atom":
            return Rendered.of(status_render.atom(snap), ATOM, modified)
        if key == "rss":
            return Rendered.of(status_render.rss(snap), RSS, modified)
        if key.startswith("incident:"):
            public_id = key.removeprefix("incident:")
            incident = next((i for i in snap.incidents if i.public_id == public_id), None)
            if incident is None:
                raise NotFound("no such incident")
            body = status_render.incident_html(snap, incident, stale=stale).encode()
            return Rendered.of(body, HTML, modified)
        documents = status_render.json_documents(snap)
        for path, document in documents.items():
            self._rendered.setdefault(f"json:{path}", Rendered.of(document, JSON, modified))
        return self._rendered[key]


def _not_modified(request: Request, rendered: Rendered) -> bool:
    tags = request.headers.get("if-none-match")
    if tags is not None:
        wanted = {tag.strip().removeprefix("W/") for tag in tags.split(",")}
        return rendered.etag in wanted or "*" in wanted
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        moment = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if moment.tzinfo is None:
        return False
    return rendered.last_modified.replace(microsecond=0) <= moment


def _respond(request: Request, rendered: Rendered, stale: Stale | None, *, cors: bool) -> Response:
    headers = {
        "ETag": rendered.etag,
        "Last-Modified": format_datetime(rendered.last_modified.astimezone(UTC), usegmt=True),
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
    }
    if cors:
        headers["Access-Control-Allow-Origin"] = "*"
    if stale is not None:
        headers["Age"] = str(stale.minutes * 60)
    if _not_modified(request, rendered):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type=rendered.content_type, headers=headers)


class StatusRoutes:
    """The public routes, over one :class:`Surface`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.surface = Surface(runtime)

    async def _serve(self, request: Request, key: str, *, cors: bool = False) -> Response:
        try:
            snap, stale = await self.surface.current()
            rendered = self.surface.rendered(key, snap, stale)
        except Unavailable:
            return _unavailable()
        except NotFound:
            return HTMLResponse(
                "<!doctype html><title>Not found</title><h1>Not found</h1>", status_code=404
            )
        return _respond(request, rendered, stale, cors=cors)

    async def page(self, request: Request) -> Response:
        return await self._serve(request, "page")

    async def incident(self, request: Request) -> Response:
        public_id = str(request.path_params["public_id"])
        if len(public_id) > 16 or not public_id.isalnum():
            return HTMLResponse(
                "<!doctype html><title>Not found</title><h1>Not found</h1>", status_code=404
            )
        return await self._serve(request, f"incident:{public_id}")

    async def atom(self, request: Request) -> Response:
        return await self._serve(request, "atom", cors=True)

    async def rss(self, request: Request) -> Response:
        return await self._serve(request, "rss", cors=True)

    def json_route(self, path: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return await self._serve(request, f"json:{path}", cors=True)

        return endpoint

    # -- subscribing ------------------------------------------------------------------------

    async def _form(self, template: str, status: int = 200, **context: Any) -> Response:
        try:
            snap, _ = await self.surface.current()
        except Unavailable:
            return _unavailable()
        body = status_render.form_html(snap, template, **context)
        return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    async def subscribe_form(self, request: Request) -> Response:
        return await self._form("subscribe.html", form=True, email=None, message=None)

    async def subscribe(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > FORM_LIMIT:
            return await self._form(
                "subscribe.html", 413, form=True, message="That form was too large.", problem=True
            )
        fields = parse_qs(body.decode("utf-8", "replace"))
        email = (fields.get("email") or [""])[0]
        incident_updates = (fields.get("incident_updates") or [""])[0] == "yes"
        if self.runtime.transports.smtp is None:
            return await self._form(
                "subscribe.html",
                503,
                form=False,
                problem=True,
                message="E-mail updates are not available on this page yet.",
            )
        try:
            await run_in_threadpool(self._request, email, incident_updates)
        except NotFound as exc:
            return await self._form("subscribe.html", 404, form=True, message=str(exc))
        except WarroomError as exc:
            if isinstance(exc, Unavailable):
                return _unavailable()
            return await self._form(
                "subscribe.html", 422, form=True, email=email, message=str(exc), problem=True
            )
        except SQLAlchemyError:
            return _unavailable()
        return await self._form(
            "subscribe.html",
            form=False,
            message=f"Check {email.strip()} for a link to confirm your subscription.",
        )

    def _request(self, email: str, incident_updates: bool) -> None:
        runtime = self.runtime
        base = (runtime.policy.status_page.url or runtime.settings.public_url).rstrip("/")
        with runtime.writer(), runtime.reading() as session:
            subscribers.request(
                session,
                email,
                incident_updates=incident_updates,
                now=runtime.clock(),
                base_url=base,
                page_name=runtime.policy.status_page.name,
            )
        runtime.wakeup.notify()

    async def _link(self, request: Request, purpose: str, act: bool) -> Response:
        token = str(request.path_params["token"])
        runtime = self.runtime
        done = {"c": "Subscription confirmed", "u": "Unsubscribed"}[purpose]
        ask = {"c": "Confirm your subscription", "u": "Unsubscribe"}[purpose]

        def work() -> str:
            with runtime.writer(), runtime.reading() as session:
                now = runtime.clock()
                if not act:
                    return subscribers.describe_token(session, token, purpose, now).email
                if purpose == "c":
                    return subscribers.confirm(session, token, now).email
                return subscribers.unsubscribe(session, token, now)

        try:
            email = await run_in_threadpool(work)
        except NotFound as exc:
            return await self._form("confirm.html", 404, heading=ask, message=str(exc))
        except (SQLAlchemyError, Unavailable):
            return _unavailable()
        if not act:
            return await self._form(
                "confirm.html",
                heading=ask,
                message=f"For {email}.",
                action=str(request.url.path),
                button=ask,
            )
        if request.headers.get("content-type", "").startswith("application/x-www-form") and (
            b"List-Unsubscribe=One-Click" in await request.body()
        ):
            return Response(status_code=200)  # a mail client's one-click unsubscribe
        what = (
            "You will get updates at this address."
            if purpose == "c"
            else "You will get no more updates at this address."
        )
        return await self._form("confirm.html", heading=done, message=f"{email}: {what}")

    async def confirm_form(self, request: Request) -> Response:
        return await self._link(request, "c", act=False)

    async def confirm(self, request: Request) -> Response:
        return await self._link(request, "c", act=True)

    async def unsubscribe_form(self, request: Request) -> Response:
        return await self._link(request, "u", act=False)

    async def unsubscribe(self, request: Request) -> Response:
        return await self._link(request, "u", act=True)

    def routes(self) -> list[Route]:
        json_routes = [
            NamedRoute(f"/api/v2/{path}", self.json_route(path), methods=["GET", "HEAD"])
            for path in status_render.JSON_PATHS
        ]
        return [
            *json_routes,
            NamedRoute("/status", self.page, methods=["GET", "HEAD"]),
            NamedRoute("/status/", self.page, methods=["GET", "HEAD"]),
            NamedRoute("/status/index.html", self.page, methods=["GET", "HEAD"]),
            NamedRoute("/status/history.atom", self.atom, methods=["GET", "HEAD"]),
            NamedRoute("/status/history.rss", self.rss, methods=["GET", "HEAD"]),
            NamedRoute("/status/incidents/{public_id}", self.incident, methods=["GET", "HEAD"]),
            NamedRoute("/status/subscribe", self.subscribe_form, methods=["GET"]),
            NamedRoute("/status/subscribe", self.subscribe, methods=["POST"]),
            NamedRoute("/status/subscribe/confirm/{token}", self.confirm_form, methods=["GET"]),
            NamedRoute("/status/subscribe/confirm/{token}", self.confirm, methods=["POST"]),
            NamedRoute("/status/unsubscribe/{token}", self.unsubscribe_form, methods=["GET"]),
            NamedRoute("/status/unsubscribe/{token}", self.unsubscribe, methods=["POST"]),
        ]


def _unavailable() -> Response:
    return HTMLResponse(
        "<!doctype html><html lang=en><title>Status unavailable</title>"
        "<h1>Status temporarily unavailable</h1><p>Please try again in a minute.</p></html>",
        status_code=503,
        headers={"Retry-After": "30", "Cache-Control": "no-store"},
    )
