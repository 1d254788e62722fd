"""The database goes away under a running API: 503 with Retry-After, nothing half-written.

The test cuts a TCP proxy it owns between warroom and PostgreSQL, never the shared server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import Clock
from tests.fakes import Proxy
from tests.web.conftest import serving
from tests.web.test_api import declare
from warroom.config import Settings
from warroom.db import engine as engine_module
from warroom.db.engine import make_engine
from warroom.domain.types import Access
from warroom.runtime import Runtime
from warroom.services import tokens
from warroom.web.app import create_app


@pytest.fixture
def proxied(postgres_server_url: str) -> Iterator[tuple[Runtime, Proxy]]:
    url = make_url(postgres_server_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    runtime = Runtime(settings=Settings(database_url=through, user="ops"), clock=Clock())
    yield runtime, proxy
    proxy.close()
    runtime.engine.dispose()


def member(runtime: Runtime) -> dict[str, str]:
    _, secret = runtime.write(
        lambda op: tokens.create(op, holder="ops", access=Access.MEMBER, name="ops"),
        by="ops",
        at=None,
    )
    return {"Authorization": f"Bearer {secret}"}


def test_it_answers_503_while_the_database_is_cut_off_and_loses_nothing(
    proxied: tuple[Runtime, Proxy],
) -> None:
    runtime, proxy = proxied
    auth = member(runtime)
    with serving(create_app(runtime)) as http:
        before = http.get("/api/v1/incidents", headers=auth, params={"include_closed": True}).json()
        proxy.cut()
        response = http.post(
            "/api/v1/incidents/declare",
            json={"severity": "SEV1", "title": "During the outage"},
            headers=auth,
        )
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"] == "application/problem+json"
        assert http.get("/readyz").status_code == 503
        scraped = http.get("/metrics")  # a scrape still answers, and says so
        assert scraped.status_code == 200
        assert "warroom_database_up 0.0" in scraped.text
        proxy.restore()
        after = http.get("/api/v1/incidents", headers=auth, params={"include_closed": True}).json()
        assert after["items"] == before["items"]  # the refused write left nothing behind
        declare(http, auth, "After the outage")


def test_it_answers_503_when_every_database_connection_is_busy(postgres_server_url: str) -> None:
    settings = Settings(database_url=postgres_server_url, user="ops")
    runtime = Runtime(settings=settings, clock=Clock())
    runtime.engine  # noqa: B018 - migrations checked on the default engine
    runtime.engine.dispose()
    runtime.__dict__["engine"] = make_engine(
        postgres_server_url, pool_size=1, max_overflow=0, pool_timeout=0.5
    )
    _, secret = runtime.write(
        lambda op: tokens.create(op, holder="ops", access=Access.MEMBER, name="busy"),
        by="ops",
        at=None,
    )
    auth = {"Authorization": f"Bearer {secret}"}
    try:
        with serving(create_app(runtime)) as http:
            assert http.get("/api/v1/incidents", headers=auth).status_code == 200
            with runtime.engine.connect():  # the pool's only connection, taken
                for response in (
                    http.get("/api/v1/incidents", headers=auth),
                    http.post(
                        "/api/v1/incidents/declare",
                        json={"severity": "SEV1", "title": "While the pool is taken"},
                        headers=auth,
                    ),
                ):
                    assert response.status_code == 503
                    assert response.headers["retry-after"] == "5"
                    assert "connection" in response.json()["detail"]
            declared = http.post(
                "/api/v1/incidents/declare",
                json={"severity": "SEV1", "title": "Once it is free"},
                headers=auth,
            )
            assert declared.status_code == 201
            listed = http.get("/api/v1/incidents", headers=auth).json()["items"]
            titles = [incident["title"] for incident in listed]
            assert "Once it is free" in titles
            assert "While the pool is taken" not in titles  # nothing half-written
    finally:
        runtime.engine.dispose()


def test_it_replaces_pooled_connections_the_database_dropped_while_idle(
    proxied: tuple[Runtime, Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart (or a firewall) drops the pool's idle connections between two requests:
    the next request pings them, finds them gone and answers from a new connection instead
    of failing with 503."""
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.2)
    runtime, proxy = proxied
    auth = member(runtime)
    with serving(create_app(runtime)) as http:
        declare(http, auth, "Before the restart")
        proxy.cut()  # every connection in the pool is now dead
        proxy.restore()
        time.sleep(0.3)  # idle past the ping threshold
        response = http.get("/api/v1/incidents", headers=auth)
        assert response.status_code == 200
        assert "Before the restart" in [i["title"] for i in response.json()["items"]]
        declare(http, auth, "After the restart")
