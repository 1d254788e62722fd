"""The incident routes' hot path (decision 107) answers exactly as the app does: the same
requests, sent to one server whose tokens are trusted from the cache (the hot path serves
them) and to one that looks every token up (FastAPI serves them), get the same answers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.concurrency import run_in_threadpool

from tests.conftest import Clock
from tests.web.conftest import serving
from warroom.config import Settings
from warroom.domain.types import Access
from warroom.runtime import Runtime
from warroom.services import tokens
from warroom.web import hot_path
from warroom.web.app import create_app

UPDATE = {"issue": "Checkout failing", "impact": "EU", "progress": "Rolled back", "next": "Watch"}

# (method, path, body or raw text, headers, which token)
REQUESTS: list[tuple[str, str, Any, dict[str, str], str]] = [
    ("POST", "/api/v1/incidents/declare", {"severity": "SEV1", "title": "Checkout"}, {}, "member"),
    ("POST", "/api/v1/incidents/INC-1/investigate", None, {}, "member"),
    ("POST", "/api/v1/incidents/INC-1/updates", UPDATE, {}, "member"),
    ("POST", "/api/v1/incidents/INC-1/updates", {"issue": "no impact given"}, {}, "member"),
    ("POST", "/api/v1/incidents/INC-1/updates", UPDATE | {"surprise": 1}, {}, "member"),
    ("POST", "/api/v1/incidents/INC-1/resolve", {}, {"If-Match": '"v1"'}, "member"),
    ("POST", "/api/v1/incidents/INC-1/close", None, {}, "member"),
    ("POST", "/api/v1/incidents/INC-1/investigate", None, {}, "viewer"),
    ("POST", "/api/v1/incidents/INC-1/notes", "not json", {}, "member"),
    ("POST", "/api/v1/incidents/INC-1/notes", {"text": "x", "kind": "nope"}, {}, "member"),
    ("POST", "/api/v1/incidents/INC-1/ack", {"on_behalf_of": "bob"}, {}, "member"),
    ("POST", "/api/v1/incidents/INC-1/ack", {"at": "yesterday"}, {}, "member"),
    ("POST", "/api/v1/incidents/INC-1/mitigate", {"kind": "rollback"}, {}, "member"),
    ("POST", "/api/v1/incidents/INC-9/investigate", None, {}, "member"),
    ("POST", "/api/v1/incidents/nonsense/investigate", None, {}, "member"),
    ("GET", "/api/v1/incidents/INC-1", None, {}, "viewer"),
    ("GET", "/api/v1/incidents/INC-1?at=2026-01-01T00:00:00Z", None, {}, "viewer"),
    ("GET", "/api/v1/incidents/INC-1?at=soon", None, {}, "viewer"),
    ("GET", "/api/v1/incidents/INC-1", None, {"Authorization": "Bearer wr_unknown"}, "viewer"),
    ("GET", "/api/v1/incidents/INC-9", None, {}, "viewer"),
]


@pytest.fixture
def servers(
    sqlite_template: Path, tmp_path: Path
) -> Iterator[list[tuple[httpx.Client, dict[str, str]]]]:
    """Two servers on two copies of one database and one clock: the first trusts tokens for
    a minute (its requests take the hot path once the token is known), the second looks
    every token up (its requests all go through FastAPI)."""
    clock = Clock()
    made = []
    for name, seconds in (("hot", 60.0), ("full", 0.0)):
        path = tmp_path / f"{name}.db"
        shutil.copy(sqlite_template, path)
        settings = Settings(
            database_url=f"sqlite:///{path}", user="admin", credential_cache_seconds=seconds
        )
        runtime = Runtime(settings=settings, clock=clock)
        auth: dict[str, str] = {}
        for holder, access in (("mia", Access.MEMBER), ("vic", Access.VIEWER)):
            auth["member" if access is Access.MEMBER else "viewer"] = new_token(
                runtime, holder, access
            )
        made.append((runtime, auth))
    with serving(create_app(made[0][0])) as hot, serving(create_app(made[1][0])) as full:
        yield [(hot, made[0][1]), (full, made[1][1])]
    for runtime, _ in made:
        runtime.engine.dispose()


def new_token(runtime: Runtime, holder: str, access: Access) -> str:
    _, secret = runtime.write(
        lambda op: tokens.create(op, holder=holder, access=access, name="t"), by="admin", at=None
    )
    return f"Bearer {secret}"


Request = tuple[str, str, Any, dict[str, str], str]


def send(client: httpx.Client, auth: dict[str, str], request: Request) -> httpx.Response:
    method, path, body, headers, who = request
    headers = {"Authorization": auth[who]} | headers
    if isinstance(body, str):
        headers["Content-Type"] = "text/plain"
        return client.request(method, path, content=body, headers=headers)
    return client.request(method, path, json=body, headers=headers)


def test_it_answers_the_incident_routes_as_the_app_does(
    servers: list[tuple[httpx.Client, dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    (hot, hot_auth), (full, full_auth) = servers
    for who in ("member", "viewer"):  # the first request looks the token up, on both
        assert hot.get("/api/v1/incidents", headers={"Authorization": hot_auth[who]}).is_success
    served = []
    original = run_in_threadpool

    async def counting(function: Any, *args: Any, **kwargs: Any) -> Any:
        served.append(function.__name__)
        return await original(function, *args, **kwargs)

    monkeypatch.setattr(hot_path, "run_in_threadpool", counting)
    for request in REQUESTS:
        taken = len(served)
        fast, slow = send(hot, hot_auth, request), send(full, full_auth, request)
        where = f"{request[0]} {request[1]}"
        assert fast.status_code == slow.status_code, where
        assert fast.headers.get("content-type") == slow.headers.get("content-type"), where
        assert fast.headers.get("etag") == slow.headers.get("etag"), where
        assert fast.headers.get("retry-after") == slow.headers.get("retry-after"), where
        assert fast.json() == slow.json(), where
        if fast.status_code in (200, 201, 404, 409, 412) and "wr_unknown" not in str(request):
            assert len(served) == taken + 1, f"{where}: the hot path did not serve it"
    # The plain writes and reads above took the hot path; the requests it cannot take whole
    # (bodies that do not validate, an unknown token, too little access) did not.
    assert "declare_new_route" in served
    assert "update_route" in served
    assert "get_route" in served


def test_it_counts_the_requests_it_serves_by_route(
    servers: list[tuple[httpx.Client, dict[str, str]]],
) -> None:
    (hot, auth), _ = servers
    member = {"Authorization": auth["member"]}
    assert hot.get("/api/v1/incidents", headers=member).is_success  # the token is looked up
    for _ in range(3):
        response = hot.post(
            "/api/v1/incidents/declare", json={"severity": "SEV2", "title": "x"}, headers=member
        )
        assert response.status_code == 201
    scraped = hot.get("/metrics").text
    counted = [
        line
        for line in scraped.splitlines()
        if line.startswith("warroom_http_requests_total{")
        and 'route="/api/v1/incidents/declare"' in line
        and 'status="201"' in line
    ]
    assert counted
    assert float(counted[0].rsplit(" ", 1)[1]) >= 3
