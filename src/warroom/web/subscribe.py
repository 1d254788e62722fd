"""The subscribe form (``/status/subscribe``) and the signed links mailed to subscribers
(``/status/subscribe/confirm/…``, ``/status/unsubscribe/…``). A GET only shows; a POST acts.
"""

from __future__ import annotations

import threading
import time
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
from warroom.web import status_render
from warroom.web.metrics import NamedRoute
from warroom.web.status_page import UNAVAILABLE, Surface

FORM_LIMIT = 4096


class FormLimiter:
    """The public form sends mail to whatever address it is given: a few requests a minute
    per client, and a ceiling for the whole process, keep it from being used to flood
    someone's inbox (or warroom's outbox)."""

    PER_CLIENT = 5
    TOTAL = 60
    WINDOW = 60.0

    def __init__(self) -> None:
        self._seen: dict[str, list[float]] = {}
        self._all: list[float] = []
        self._lock = threading.Lock()

    def allow(self, client: str, now: float) -> bool:
        with self._lock:
            horizon = now - self.WINDOW
            self._all = [t for t in self._all if t > horizon]
            mine = [t for t in self._seen.get(client, []) if t > horizon]
            if len(mine) >= self.PER_CLIENT or len(self._all) >= self.TOTAL:
                self._seen[client] = mine
                return False
            mine.append(now)
            self._seen[client] = mine
            self._all.append(now)
            if len(self._seen) > 10_000:  # forget quiet clients
                self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > horizon}
            return True


class SubscribeRoutes:
    """The subscribe form and the links mailed to subscribers, drawn with the page's
    branding from the same :class:`Surface`."""

    def __init__(self, runtime: Runtime, surface: Surface) -> None:
        self.runtime = runtime
        self.surface = surface
        self.limiter = FormLimiter()

    # -- subscribing ------------------------------------------------------------------------

    async def _form(self, template: str, status: int = 200, **context: Any) -> Response:
        try:
            state = await self.surface.current()
        except Unavailable:
            return _unavailable()
        body = status_render.form_html(state.snapshot, template, **context)
        return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    async def subscribe_form(self, request: Request) -> Response:
        return await self._form("subscribe.html", form=True, email=None, message=None)

    async def subscribe(self, request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > FORM_LIMIT:
                return await self._form(
                    "subscribe.html",
                    413,
                    form=True,
                    message="That form is too large.",
                    problem=True,
                )
        if not self.limiter.allow(request.client.host if request.client else "", time.monotonic()):
            return await self._form(
                "subscribe.html",
                429,
                form=True,
                problem=True,
                message="Too many requests: please try again in a minute.",
            )
        try:
            fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
        except (UnicodeDecodeError, ValueError):
            return await self._form(
                "subscribe.html",
                400,
                form=True,
                message="That form could not be read.",
                problem=True,
            )
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
        return [
            NamedRoute("/status/subscribe", self.subscribe_form, methods=["GET"]),
            NamedRoute("/status/subscribe", self.subscribe, methods=["POST"]),
            NamedRoute("/status/subscribe/confirm/{token}", self.confirm_form, methods=["GET"]),
            NamedRoute("/status/subscribe/confirm/{token}", self.confirm, methods=["POST"]),
            NamedRoute("/status/unsubscribe/{token}", self.unsubscribe_form, methods=["GET"]),
            NamedRoute("/status/unsubscribe/{token}", self.unsubscribe, methods=["POST"]),
        ]


def _unavailable() -> Response:
    return HTMLResponse(
        UNAVAILABLE, status_code=503, headers={"Retry-After": "30", "Cache-Control": "no-store"}
    )
