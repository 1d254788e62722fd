"""How the CLI reaches warroom: always through the REST API.

With ``WARROOM_SERVER`` set, requests go over HTTP to that server, authenticated by
``WARROOM_TOKEN``. Without it, the same API app runs in-process on the local database, as the
local user with full access. Either way a command sends the same request and prints the same
answer, so the CLI behaves identically against a laptop's SQLite and a team's server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import anyio
import httpx

from warroom.domain.errors import (
    BadInput,
    Conflict,
    NotFound,
    Refused,
    Unavailable,
    WarroomError,
)

if TYPE_CHECKING:
    from warroom.cli.runtime import Invocation

TIMEOUT_SECONDS = 15.0
LOCAL_USER_HEADER = "Warroom-Local-User"
LOCAL_BASE = "http://warroom.local"


@dataclass
class Client:
    """One invocation's connection to the API. ``on_behalf_of`` (remote ``--by``) is added to
    every write, which the server allows only for admin tokens."""

    http: httpx.Client
    where: str
    on_behalf_of: str | None = None

    def get(self, path: str, **params: Any) -> Any:
        query = {key: value for key, value in params.items() if value is not None}
        return self._send("GET", path, params=query)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        payload = {key: value for key, value in (body or {}).items() if value is not None}
        if self.on_behalf_of:
            payload["on_behalf_of"] = self.on_behalf_of
        return self._send("POST", path, json=payload)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        payload = {key: value for key, value in body.items() if value is not None}
        if self.on_behalf_of:
            payload["on_behalf_of"] = self.on_behalf_of
        return self._send("PUT", path, json=payload)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        payload = {key: value for key, value in body.items() if value is not None}
        if self.on_behalf_of:
            payload["on_behalf_of"] = self.on_behalf_of
        return self._send("PATCH", path, json=payload)

    def delete(self, path: str) -> Any:
        return self._send("DELETE", path)

    def text(self, path: str, **params: Any) -> str:
        """A GET whose answer is a document (TOML, iCalendar), not JSON."""
        query = {key: value for key, value in params.items() if value is not None}
        response: httpx.Response = self._send("GET", path, raw=True, params=query)
        return response.text

    def post_text(self, path: str, content: str, media_type: str) -> Any:
        return self._send(
            "POST", path, content=content.encode(), headers={"Content-Type": media_type}
        )

    def public(self, path: str) -> bytes:
        """A GET of the anonymous public surface (the status page), outside /api/v1."""
        response: httpx.Response = self._send("GET", path, raw=True, prefix="")
        return response.content

    def _send(
        self, method: str, path: str, *, raw: bool = False, prefix: str = "/api/v1", **kwargs: Any
    ) -> Any:
        try:
            response = self.http.request(method, prefix + path, **kwargs)
        except httpx.TimeoutException:
            raise Unavailable(
                f"the warroom server at {self.where} did not answer within "
                f"{TIMEOUT_SECONDS:.0f} s; the change may or may not have been made: "
                "check with `warroom show`"
            ) from None
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach the warroom server at {self.where}: {exc}") from None
        if not response.is_success:
            raise error_from(response, self.where)
        if raw:
            return response
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:
            raise Unavailable(
                f"{self.where} answered {method} {path} with something other than warroom's "
                "JSON: is WARROOM_SERVER the address of a warroom server?"
            ) from None


def error_from(response: httpx.Response, where: str) -> WarroomError:
    """The domain error a problem-details answer stands for, so the exit code is the same
    as if the command had run locally (product.md §7)."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    detail = str(problem.get("detail") or response.reason_phrase or "no detail given")
    status = response.status_code
    is_problem = response.headers.get("content-type", "").startswith("application/problem+json")
    if 300 <= status < 400:
        return Unavailable(
            f"the warroom server at {where} redirects to {response.headers.get('location')}: "
            "set WARROOM_SERVER to that address"
        )
    if status in (404, 405) and not is_problem:
        return Unavailable(
            f"{where} has no warroom API at {response.request.url.path}: "
            "is WARROOM_SERVER the address of a warroom server?"
        )
    if status == 429:
        return Unavailable(f"the warroom server at {where} asks to slow down: {detail}")
    if status == 409 and problem.get("rule"):
        return Refused(str(problem["rule"]), detail, hint=str(problem.get("hint") or ""))
    if status in (409, 412):
        return Conflict(detail)
    if status in (401, 403):
        return Unavailable(f"the warroom server at {where} refused the token: {detail}")
    if status == 404:
        return NotFound(detail)
    if 400 <= status < 500:
        return BadInput(detail)
    if status == 503:
        return Unavailable(detail)
    return Unavailable(f"the warroom server at {where} failed ({status}): {detail}")


class InProcess(httpx.BaseTransport):
    """Serve requests from an ASGI app in this process, one event loop per request: the
    transport of the CLI's local mode."""

    def __init__(self, app: Any) -> None:
        self._asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def handle() -> tuple[int, httpx.Headers, bytes]:
            response = await self._asgi.handle_async_request(request)
            # Raw bytes: the client decodes a compressed body itself, exactly once.
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
            return response.status_code, response.headers, raw

        status, headers, content = anyio.run(handle)
        return httpx.Response(status, headers=headers, content=content)


def connect(invocation: Invocation, by: str | None = None) -> Client:
    settings = invocation.settings
    if settings.server:
        token = settings.token.get_secret_value() if settings.token else ""
        if not token:
            raise Unavailable(
                f"WARROOM_SERVER is {settings.server} but WARROOM_TOKEN is not set: "
                "ask an admin for a token (`warroom token create`)"
            )
        http = httpx.Client(
            base_url=settings.server.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_SECONDS,
        )
        return Client(http, settings.server, on_behalf_of=by)

    http = httpx.Client(
        base_url=LOCAL_BASE,
        transport=InProcess(local_app(invocation)),
        headers={LOCAL_USER_HEADER: quote(by or settings.actor())},  # headers are ASCII
    )
    return Client(http, "the local database")


def local_app(invocation: Invocation) -> Any:
    """The API app over the local database, its caller named by a header instead of a token.
    Whoever runs the CLI where the database is has full access, as the database file or its
    credentials already give them; this app is never reachable from the network."""
    # The web stack and the database load only in local mode.
    from fastapi import Header

    from warroom.domain.types import Access
    from warroom.services.tokens import Caller
    from warroom.web.app import create_app
    from warroom.web.deps import get_caller

    def local_caller(local_user: str = Header(alias=LOCAL_USER_HEADER)) -> Caller:
        return Caller(handle=unquote(local_user), access=Access.ADMIN, token_id=0)

    app = create_app(invocation.runtime)
    app.dependency_overrides[get_caller] = local_caller
    return app
