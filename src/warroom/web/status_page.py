"""The public status surface: ``/status``, its incident pages and feeds, and the
Statuspage-compatible JSON under ``/api/v2``. Anonymous, read-only, and built to stay up when
the rest is struggling (the subscribe form is ``subscribe.py``).

Every node renders from one cached :class:`Snapshot`. It asks the database only whether the
page's revision moved, at most every ``WARROOM_STATUS_CACHE_SECONDS``, and rebuilds when it
did. Each representation carries an ETag and Last-Modified and answers 304 to a poller that
has it. When the database is unreachable the last good snapshot keeps being served, the page
saying how old it is.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.domain.errors import NotFound, Unavailable, WarroomError
from warroom.runtime import Runtime
from warroom.services.status_views import Snapshot, current_revision, snapshot
from warroom.web import status_render
from warroom.web.metrics import RouteMetrics
from warroom.web.status_render import Stale

CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
log = logging.getLogger("warroom.status")


@dataclass(frozen=True)
class Rendered:
    """One representation, ready to send: its body (and gzipped body) and headers."""

    body: bytes
    gzipped: bytes
    etag: str
    last_modified: datetime
    # Complete header lists: as is, gzipped, and for a 304.
    plain_headers: list[tuple[bytes, bytes]]
    gzip_headers: list[tuple[bytes, bytes]]
    not_modified_headers: list[tuple[bytes, bytes]]

    @classmethod
    def of(cls, body: bytes, content_type: str, last_modified: datetime, *, cors: bool) -> Rendered:
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        headers = [
            (b"content-type", content_type.encode()),
            (b"cache-control", CACHE_CONTROL.encode()),
            (
                b"last-modified",
                format_datetime(last_modified.astimezone(UTC), usegmt=True).encode(),
            ),
            (b"vary", b"Accept-Encoding"),
        ]
        if cors:
            headers.append((b"access-control-allow-origin", b"*"))
        gzipped = gzip.compress(body, 6, mtime=0)
        etag = f'"{digest}"'
        return cls(
            body,
            gzipped,
            etag,
            last_modified,
            plain_headers=[
                *headers,
                (b"etag", etag.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
            gzip_headers=[
                *headers,
                (b"etag", f'"{digest}-gz"'.encode()),
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(gzipped)).encode()),
            ],
            not_modified_headers=[*headers, (b"etag", etag.encode())],
        )


@dataclass(frozen=True)
class _State:
    """What a node serves, swapped whole: a snapshot, its age if the database is away, and
    its representations (the page, JSON and feeds rendered ahead; incident pages on first
    request)."""

    snapshot: Snapshot
    stale: Stale | None
    rendered: dict[str, Rendered]


class Surface:
    """The cached snapshot of one process and its rendered representations."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.every = runtime.settings.status_cache_seconds
        self._state: _State | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def fresh(self) -> bool:
        """Whether the cached copy may be served without asking the database: it was asked
        within the last ``every`` seconds (a new day, which moves the history bars, is
        noticed at the next asking)."""
        return self._state is not None and time.monotonic() - self._checked < self.every

    def refresh(self) -> None:
        """Ask whether the page changed, and rebuild and render if it did (in a worker
        thread, never on the event loop). One thread at a time; the others go on serving
        what is cached meanwhile."""
        if not self._lock.acquire(blocking=self._state is None):
            return
        try:
            if self.fresh():
                return
            now = self.runtime.clock()
            cached = self._state
            try:
                with self.runtime.reading() as session:
                    if (
                        cached is None
                        or cached.stale is not None
                        or cached.snapshot.local_day()
                        != now.astimezone(cached.snapshot.zone).date()
                        or current_revision(session) != cached.snapshot.revision
                    ):
                        built = snapshot(
                            session,
                            self.runtime.policy,
                            now=now,
                            public_url=self.runtime.settings.public_url,
                        )
                        self._state = _State(built, None, _render_ahead(built, None))
            except Exception as exc:
                if not isinstance(exc, SQLAlchemyError | WarroomError):
                    log.exception("the status page could not be rebuilt")
                if cached is None:
                    raise Unavailable(f"the status page cannot be built: {exc}") from None
                since = cached.snapshot.built_at
                minutes = max(0, int((now - since).total_seconds() // 60))
                if cached.stale is None or cached.stale.minutes != minutes:
                    stale = Stale(since, minutes)
                    self._state = _State(
                        cached.snapshot, stale, _render_ahead(cached.snapshot, stale, now)
                    )
            self._checked = time.monotonic()
        finally:
            self._lock.release()

    async def current(self) -> _State:
        if not self.fresh():
            await run_in_threadpool(self.refresh)
        state = self._state
        assert state is not None
        return state

    def rendered(self, key: str, state: _State) -> Rendered:
        found = state.rendered.get(key)
        if found is None:
            found = _render(key, state.snapshot, state.stale)
            state.rendered[key] = found
        return found


def _modified(snap: Snapshot) -> datetime:
    """Last-Modified: the page's last change, or the start of its day (the history bars move
    at midnight)."""
    return max(snap.updated_at, datetime.combine(snap.local_day(), datetime.min.time(), snap.zone))


def _render_ahead(
    snap: Snapshot, stale: Stale | None, now: datetime | None = None
) -> dict[str, Rendered]:
    # A stale copy says how old it is, so it is newer than the copy it replaces.
    modified = max(_modified(snap), now) if stale is not None and now else _modified(snap)
    found = {
        "page": Rendered.of(
            status_render.page_html(snap, stale=stale).encode(), HTML, modified, cors=False
        ),
        "atom": Rendered.of(status_render.atom(snap), ATOM, modified, cors=True),
        "rss": Rendered.of(status_render.rss(snap), RSS, modified, cors=True),
    }
    for path, document in status_render.json_documents(snap).items():
        found[f"json:{path}"] = Rendered.of(document, JSON, modified, cors=True)
    return found


def _render(key: str, snap: Snapshot, stale: Stale | None) -> Rendered:
    """An incident's page, the only representation not rendered ahead."""
    public_id = key.removeprefix("incident:")
    incident = next((i for i in snap.incidents if i.public_id == public_id), None)
    if incident is None or not key.startswith("incident:"):
        raise NotFound("no such incident")
    body = status_render.incident_html(snap, incident, stale=stale).encode()
    return Rendered.of(body, HTML, _modified(snap), cors=False)


def _not_modified(headers: dict[bytes, bytes], rendered: Rendered) -> bool:
    tags = headers.get(b"if-none-match")
    if tags is not None:
        wanted = {tag.strip().removeprefix(b"W/") for tag in tags.split(b",")}
        own = rendered.etag.encode()
        return own in wanted or own[:-1] + b'-gz"' in wanted or b"*" in wanted
    since = headers.get(b"if-modified-since")
    if since is None:
        return False
    try:
        moment = parsedate_to_datetime(since.decode("latin-1"))
    except (TypeError, ValueError):
        return False
    if moment.tzinfo is None:
        return False
    return rendered.last_modified.replace(microsecond=0) <= moment


def _public_key(path: str) -> str | None:
    """Which representation a public path asks for, if it is one."""
    found = PUBLIC_PATHS.get(path)
    if found is not None:
        return found
    if path.startswith("/status/incidents/"):
        public_id = path.removeprefix("/status/incidents/").rstrip("/")
        if 0 < len(public_id) <= 16 and public_id.isalnum():
            return f"incident:{public_id}"
        return "missing"
    return None


PUBLIC_PATHS: dict[str, str] = {
    "/status": "page",
    "/status/": "page",
    "/status/index.html": "page",
    "/status/history.atom": "atom",
    "/status/history.rss": "rss",
    **{f"/api/v2/{path}": f"json:{path}" for path in status_render.JSON_PATHS},
}


class PublicSurface:
    """ASGI middleware serving the public GETs from the cache before anything else runs: no
    routing, no dependency injection, a few header lookups and the bytes. Everything else
    goes on to the app."""

    def __init__(self, app: ASGIApp, surface: Surface) -> None:
        self.app = app
        self.surface = surface
        self.metrics = RouteMetrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        key = _public_key(scope["path"])
        if key is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = await self._answer(key, scope, send)
        self.metrics.record(scope["method"], _ROUTE.get(key[:5], key), status, started)

    async def _answer(self, key: str, scope: Scope, send: Send) -> int:
        try:
            if key == "missing":
                raise NotFound("no such incident")
            state = await self.surface.current()
            rendered = self.surface.rendered(key, state)
        except Unavailable:
            return await _send_simple(send, 503, UNAVAILABLE, [(b"retry-after", b"30")])
        except NotFound:
            return await _send_simple(send, 404, NOT_FOUND, [])
        headers = dict(scope["headers"])
        if _not_modified(headers, rendered):
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": rendered.not_modified_headers,
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return 304
        if accepts_gzip(headers.get(b"accept-encoding", b"")):
            body, extra = rendered.gzipped, rendered.gzip_headers
        else:
            body, extra = rendered.body, rendered.plain_headers
        await send({"type": "http.response.start", "status": 200, "headers": extra})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
        return 200


# Request metrics label public routes by template, like every other route.
_ROUTE = {
    "page": "/status",
    "atom": "/status/history.atom",
    "rss": "/status/history.rss",
    "json:": "/api/v2/{document}",
    "incid": "/status/incidents/{public_id}",
    "missi": "/status/incidents/{public_id}",
}
NOT_FOUND = b"<!doctype html><html lang=en><title>Not found</title><h1>Not found</h1></html>"
UNAVAILABLE = (
    b"<!doctype html><html lang=en><title>Status unavailable</title>"
    b"<h1>Status temporarily unavailable</h1><p>Please try again in a minute.</p></html>"
)


async def _send_simple(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> int:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"cache-control", b"no-store"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return status


def accepts_gzip(header: bytes) -> bool:
    """Whether an ``Accept-Encoding`` value (RFC 9110 §12.5.3) takes gzip: named, or ``*``,
    with a weight above zero (``gzip;q=0`` refuses it). Anything unreadable counts as no."""
    header = header.lower()
    if b";" not in header:  # no weights (what browsers send): named or not
        return b"gzip" in header or b"*" in header
    if b"gzip" not in header and b"*" not in header:
        return False
    weights: dict[str, float] = {}
    for item in header.decode("latin-1").split(","):
        coding, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.strip()] = weight
    chosen = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return chosen > 0
