"""The ingestion endpoints: ``/api/v1/ingest/<source>/<key>``, the PagerDuty-compatible
``/v2/enqueue`` and the Opsgenie-compatible ``/v2/alerts``.

They are lean Starlette routes inside the API app, not FastAPI models: a request is read as
raw bytes (signatures cover exact bytes), checked, parsed by its source's parser into plain
objects, and made durable in one transaction of a few statements (``warroom.ingest.store``)
before the 2xx. Grouping into incidents follows in the worker, woken at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from warroom.domain.alerts import AlertSource, Malformed, Notification, Signal, Unsigned
from warroom.domain.errors import Conflict, Unavailable
from warroom.ingest import alertmanager, cloudwatch, datadog, generic, opsgenie, pagerduty
from warroom.ingest.common import MAX_BODY, body_digest, load_json
from warroom.ingest.grafana import check_signature
from warroom.ingest.sns import SnsVerifier
from warroom.ingest.store import Job, Outcome, packed
from warroom.ingest.writer import GroupCommit
from warroom.metrics import ALERTS_INGESTED, INGEST_REFUSED, INGEST_REPLAYS
from warroom.revocations import REVOCATIONS, Trusted
from warroom.runtime import Runtime
from warroom.services.integrations import Found, find, key_hash
from warroom.web.metrics import NamedRoute
from warroom.web.problems import PROBLEM_JSON, RETRY_AFTER_SECONDS, TYPE_BASE

PATH_SOURCES = {
    s.value: s
    for s in (
        AlertSource.ALERTMANAGER,
        AlertSource.GRAFANA,
        AlertSource.DATADOG,
        AlertSource.CLOUDWATCH,
        AlertSource.GENERIC,
    )
}
# Bodies from this size (about ten alerts) are looked up by digest before they are parsed.
DIGEST_FROM = 4096


class TooLarge(Exception):
    pass


class Limited(Exception):
    pass


@dataclass
class RateLimits:
    """Per-integration request budgets of this process: a token bucket per integration."""

    clock: Callable[[], float] = time.monotonic
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, integration: int, per_minute: int | None) -> None:
        if per_minute is None:
            return
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(integration, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * per_minute / 60.0)
            if tokens < 1.0:
                self._buckets[integration] = (tokens, now)
                raise Limited
            self._buckets[integration] = (tokens - 1.0, now)


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def problem(status: int, title: str, detail: str, kind: str, **headers: str) -> Response:
    body = {"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail}
    return Response(orjson.dumps(body), status, headers or None, media_type=PROBLEM_JSON)


async def _read(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise TooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class Ingestion:
    """What the endpoints share: the runtime, the SNS verifier, the rate limits, a short-lived
    cache of keys, and the group-commit writer."""

    runtime: Runtime
    sns: SnsVerifier = field(default_factory=SnsVerifier)
    limits: RateLimits = field(default_factory=RateLimits)
    _writer: GroupCommit | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Unknown keys are trusted to be unknown too: ``(None,)``.
        self._keys: Trusted[tuple[Found | None]] = Trusted(
            self.runtime.settings.credential_cache_seconds
        )

    # --- the shared path -------------------------------------------------------------------

    def forget(self) -> None:
        """An integration was created: a key known to be unknown a moment ago is looked up
        afresh. (A revocation needs no call: see ``warroom.revocations``.)"""
        self._keys.clear()

    def lookup(self, key: str, source: AlertSource) -> Found | None:
        if not key or len(key) > 200:
            return None
        digest = key_hash(key)
        cached = self._keys.get(digest)
        if cached is None:
            seen = REVOCATIONS.count
            with self.runtime.reading() as session:
                cached = (find(session, key),)
            self._keys.keep(digest, cached, seen=seen)
        return _of_source(cached[0], source)

    async def lookup_async(self, key: str, source: AlertSource) -> Found | None:
        """From the cache without leaving the event loop; a miss looks up on a thread."""
        cached = self._keys.get(key_hash(key)) if key and len(key) <= 200 else None
        if cached is not None:
            return _of_source(cached[0], source)
        return await run_in_threadpool(self.lookup, key, source)

    @property
    def writer(self) -> GroupCommit:
        if self._writer is None:
            self._writer = GroupCommit(
                self.runtime.engine, self.runtime.writer, self.runtime.wakeup.notify
            )
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    async def store(
        self,
        found: Found,
        body: bytes,
        ctype: str,
        parse: Callable[[], Notification],
        digest: str | None = None,
    ) -> Outcome:
        """Durable before the answer. ``parse`` runs on the writer thread, which the request
        waits for anyway; the body is compressed here, beside it. ``digest`` (the body's
        SHA-256) lets the writer recognise a replayed body without parsing it."""
        now = self.runtime.clock()
        job = Job(
            found.sender, None, body, ctype, now, parse=parse, kept=packed(body), digest=digest
        )
        outcome = await asyncio.wrap_future(self.writer.submit(job))
        self.counted(found, outcome.replay, outcome.alerts)
        return outcome

    def store_sync(self, found: Found, notification: Notification, body: bytes, ctype: str) -> bool:
        """The same for the vendor-compatible routes, which run on a thread of their own."""
        job = Job(found.sender, notification, body, ctype, self.runtime.clock(), kept=packed(body))
        outcome = self.writer.write(job)
        return self.counted(found, outcome.replay, outcome.alerts)

    def counted(self, found: Found, replay: bool, alerts: int) -> bool:
        if replay:
            INGEST_REPLAYS.labels(found.sender.source.value).inc()
        if alerts:
            ALERTS_INGESTED.labels(found.sender.source.value).inc(alerts)
            self.runtime.wakeup.notify()
        return not replay

    def refuse(self, found: Found, body: bytes, ctype: str, reason: str, kind: str) -> None:
        """Keep a refused body with its reason, for the operator wondering where alerts went."""
        INGEST_REFUSED.labels(found.sender.source.value, kind).inc()
        job = Job(
            found.sender,
            Notification(None, []),
            body,
            ctype,
            self.runtime.clock(),
            outcome="refused",
            detail=reason,
        )
        self.writer.submit(job)  # not awaited: the refusal is answered all the same

    # --- /api/v1/ingest/<source>/<key> -------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        name = request.path_params["source"]
        source = PATH_SOURCES.get(name)
        if source is None:
            known = ", ".join(PATH_SOURCES)
            return problem(404, "Not found", f"{name!r} is not a source: use {known}", "not-found")
        key = request.path_params.get("key") or _bearer(request)
        if not key:
            return problem(
                401,
                "Unauthorized",
                "the integration key goes in the URL or as a Bearer token",
                "unauthorized",
            )
        try:
            body = await _read(request)
        except TooLarge:
            INGEST_REFUSED.labels(source.value, "too-large").inc()
            return problem(413, "Payload too large", "the body is over 512 KB", "too-large")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            found = await self.lookup_async(key, source)
        except (Unavailable, Conflict, OperationalError):  # a locked database is transient too
            return _unavailable()
        if found is None:
            INGEST_REFUSED.labels(source.value, "unknown-key").inc()
            return problem(
                404, "Not found", f"no active {source.value} integration has this key", "not-found"
            )
        try:
            self.limits.take(found.sender.id, found.options.get("rate_limit"))
        except Limited:
            INGEST_REFUSED.labels(source.value, "rate-limited").inc()
            return problem(
                429,
                "Too many requests",
                "this integration's rate limit is reached: retry later",
                "rate-limited",
                **{"Retry-After": "30"},
            )
        ctype = headers.get("content-type", "")
        try:
            if source is AlertSource.CLOUDWATCH:  # may fetch a certificate: not on the writer
                checked = await run_in_threadpool(self.parse, found, body, ctype, headers)
                outcome = await self.store(found, body, ctype, lambda: checked)
            else:
                outcome = await self.store(
                    found,
                    body,
                    ctype,
                    lambda: self.parse(found, body, ctype, headers),
                    # Alertmanager's key is a function of its body alone, and it signs nothing.
                    # A small body parses faster than its digest is looked up.
                    body_digest(body)
                    if source is AlertSource.ALERTMANAGER and len(body) >= DIGEST_FROM
                    else None,
                )
        except Unsigned as exc:
            self.refuse(found, body, ctype, exc.message, "unsigned")
            return problem(401, "Unauthorized", exc.message, "unsigned")
        except Malformed as exc:
            self.refuse(found, body, ctype, exc.message, "malformed")
            return problem(400, "Bad request", exc.message, "malformed")
        except Unavailable as exc:
            return _unavailable(exc.message)
        except OperationalError:
            return _unavailable()
        answer = {
            "status": "ignored" if outcome.ignored else "accepted",
            "alerts": outcome.told,
            "replay": outcome.replay,
        } | ({"detail": outcome.ignored} if outcome.ignored else {})
        return _json(answer, 202)

    def parse(self, found: Found, body: bytes, ctype: str, headers: dict[str, str]) -> Notification:
        source = found.sender.source
        if source is AlertSource.ALERTMANAGER:
            return alertmanager.parse(load_json(body))
        if source is AlertSource.GRAFANA:
            if found.secret is not None:
                check_signature(found.secret, found.options, body, headers, self.runtime.clock())
            return alertmanager.parse(load_json(body), grafana=True)
        if source is AlertSource.DATADOG:
            return datadog.parse(datadog.decode(body, ctype))
        if source is AlertSource.GENERIC:
            return generic.parse(load_json(body), headers.get("idempotency-key") or None)
        topics = list(found.options.get("topics", []))
        return cloudwatch.parse_sns(self.sns, topics, body, headers, self.runtime.clock())

    # --- PagerDuty Events API v2 -------------------------------------------------------------

    async def pagerduty(self, request: Request) -> Response:
        try:
            body = await _read(request)
        except TooLarge:
            INGEST_REFUSED.labels("pagerduty", "too-large").inc()
            return _pd_invalid(["The event is larger than 512 KB."], 413)
        return await run_in_threadpool(
            self.pagerduty_sync, body, request.headers.get("content-type", "")
        )

    def pagerduty_sync(self, body: bytes, ctype: str) -> Response:
        try:
            data = load_json(body)
            key = pagerduty.routing_key(data)
        except Malformed as exc:
            return _pd_invalid([exc.message])
        except pagerduty.InvalidEvent as exc:
            return _pd_invalid(exc.errors)
        try:
            found = self.lookup(key, AlertSource.PAGERDUTY)
        except (Unavailable, OperationalError):
            return _json({"status": "unavailable", "message": "Try again later"}, 503)
        if found is None:
            INGEST_REFUSED.labels("pagerduty", "unknown-key").inc()
            return _pd_invalid(["Invalid routing key"])
        try:
            self.limits.take(found.sender.id, found.options.get("rate_limit"))
        except Limited:
            INGEST_REFUSED.labels("pagerduty", "rate-limited").inc()
            return _json(
                {
                    "status": "throttle event",
                    "message": "Requests for this service "
                    "are arriving too quickly. Please retry later.",
                },
                429,
            )
        try:
            notification = pagerduty.parse(data, body)
        except pagerduty.InvalidEvent as exc:
            self.refuse(found, body, ctype, "; ".join(exc.errors), "malformed")
            return _pd_invalid(exc.errors)
        try:
            self.store_sync(found, notification, body, ctype)
        except Malformed as exc:
            return _pd_invalid([exc.message])
        except (Unavailable, OperationalError):
            return _json({"status": "unavailable", "message": "Try again later"}, 503)
        dedup = notification.observations[0].key
        return _json({"status": "success", "message": "Event processed", "dedup_key": dedup}, 202)

    # --- Opsgenie Alert API -----------------------------------------------------------------

    async def opsgenie_create(self, request: Request) -> Response:
        return await self._opsgenie(request, None)

    async def opsgenie_close(self, request: Request) -> Response:
        return await self._opsgenie(request, Signal.RESOLVE)

    async def opsgenie_acknowledge(self, request: Request) -> Response:
        return await self._opsgenie(request, Signal.ACKNOWLEDGE)

    async def _opsgenie(self, request: Request, signal: Signal | None) -> Response:
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        try:
            body = await _read(request)
        except TooLarge:
            return _og(413, "Request body is larger than 512 KB.", started, request_id)
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        identifier = request.path_params.get("identifier", "")
        id_type = request.query_params.get("identifierType", "id")
        return await run_in_threadpool(
            self.opsgenie_sync,
            signal,
            scheme,
            key.strip(),
            identifier,
            id_type,
            body,
            request.headers.get("content-type", ""),
            started,
            request_id,
        )

    def opsgenie_sync(
        self,
        signal: Signal | None,
        scheme: str,
        key: str,
        identifier: str,
        id_type: str,
        body: bytes,
        ctype: str,
        started: float,
        request_id: str,
    ) -> Response:
        if scheme.lower() != "geniekey" or not key:
            return _og(
                401,
                "Could not authenticate: use Authorization: GenieKey <key>",
                started,
                request_id,
            )
        try:
            found = self.lookup(key, AlertSource.OPSGENIE)
        except (Unavailable, OperationalError):
            return _og(503, "Service unavailable, try again later.", started, request_id)
        if found is None:
            INGEST_REFUSED.labels("opsgenie", "unknown-key").inc()
            return _og(401, "Could not authenticate: unknown or revoked key", started, request_id)
        try:
            self.limits.take(found.sender.id, found.options.get("rate_limit"))
        except Limited:
            INGEST_REFUSED.labels("opsgenie", "rate-limited").inc()
            return _og(429, "Too many requests.", started, request_id)
        try:
            if signal is None:
                notification = opsgenie.create(load_json(body), body)
            else:
                notification = opsgenie.act(signal, identifier, id_type, body)
        except (opsgenie.Invalid, Malformed) as exc:
            reason = exc.message if isinstance(exc, Malformed) else str(exc)
            self.refuse(found, body, ctype, reason, "malformed")
            return _og(422, reason, started, request_id)
        try:
            self.store_sync(found, notification, body, ctype)
        except Malformed as exc:
            return _og(422, exc.message, started, request_id)
        except (Unavailable, OperationalError):
            return _og(503, "Service unavailable, try again later.", started, request_id)
        return _json(
            {
                "result": "Request will be processed",
                "took": _took(started),
                "requestId": request_id,
            },
            202,
        )

    def routes(self) -> list[Route]:
        return [
            NamedRoute("/api/v1/ingest/{source}/{key}", self.endpoint, methods=["POST", "PUT"]),
            NamedRoute("/api/v1/ingest/{source}", self.endpoint, methods=["POST", "PUT"]),
            NamedRoute("/v2/enqueue", self.pagerduty, methods=["POST"]),
            NamedRoute("/v2/alerts", self.opsgenie_create, methods=["POST"]),
            NamedRoute("/v2/alerts/{identifier}/close", self.opsgenie_close, methods=["POST"]),
            NamedRoute(
                "/v2/alerts/{identifier}/acknowledge", self.opsgenie_acknowledge, methods=["POST"]
            ),
        ]


def _of_source(found: Found | None, source: AlertSource) -> Found | None:
    """A key works only at its own source's endpoint."""
    return found if found is not None and found.sender.source is source else None


def _bearer(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def _unavailable(
    detail: str = "the database is unreachable; nothing was stored: retry",
) -> Response:
    return problem(
        503,
        "Service unavailable",
        detail,
        "unavailable",
        **{"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _pd_invalid(errors: list[str], status: int = 400) -> Response:
    return _json(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, status
    )


def _took(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _og(status: int, message: str, started: float, request_id: str) -> Response:
    return _json({"message": message, "took": _took(started), "requestId": request_id}, status)
