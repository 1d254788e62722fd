"""The REST API: tokens, problem details, ETags, and the lifecycle over HTTP."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from tests.conftest import World
from tests.web.conftest import serving
from warroom.config import Settings
from warroom.db.alert_models import Integration
from warroom.db.models import ApiToken, TimelineEvent
from warroom.domain.alerts import AlertSource
from warroom.domain.errors import BadInput
from warroom.domain.types import Access, EventKind, MitigationKind, Move
from warroom.jobs.worker import fire_one
from warroom.revocations import REVOCATIONS, Trusted
from warroom.runtime import Runtime
from warroom.services import integrations, lifecycle, tokens
from warroom.services.records import Op
from warroom.web.app import create_app


def token(world: World, holder: str, access: Access = Access.MEMBER) -> dict[str, str]:
    _, secret = world.act(
        "admin", lambda op: tokens.create(op, holder=holder, access=access, name="test")
    )
    return {"Authorization": f"Bearer {secret}"}


def declare(
    client: httpx.Client, auth: dict[str, str], title: str = "Checkout errors"
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/incidents/declare", json={"severity": "SEV1", "title": title}, headers=auth
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_it_needs_a_valid_token_and_enough_access(client: httpx.Client, world: World) -> None:
    missing = client.get("/api/v1/incidents")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert (
        client.get("/api/v1/incidents", headers={"Authorization": "Bearer wr_nope"}).status_code
        == 401
    )
    viewer = token(world, "vera", Access.VIEWER)
    assert client.get("/api/v1/incidents", headers=viewer).status_code == 200
    refused = client.post("/api/v1/incidents", json={"title": "x"}, headers=viewer)
    assert refused.status_code == 403
    assert "member" in refused.json()["detail"]


def test_it_documents_the_token_once_for_the_whole_api(client: httpx.Client) -> None:
    """/docs asks for the token once (its "Authorize" button), not in every operation's form."""
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert [(s["type"], s["scheme"]) for s in schemes.values()] == [("http", "bearer")]
    (name,) = schemes
    incident = schema["paths"]["/api/v1/incidents/{incident_id}"]["get"]
    assert incident["security"] == [{name: []}]
    assert "authorization" not in [p["name"].lower() for p in incident.get("parameters", [])]
    wrong_scheme = client.get("/api/v1/incidents", headers={"Authorization": "Basic d3I6eA=="})
    assert wrong_scheme.status_code == 401
    assert "Bearer" in wrong_scheme.json()["detail"]


def test_it_revokes_a_token(client: httpx.Client, world: World) -> None:
    auth = token(world, "alice")
    with world.runtime.reading() as session:
        [stored] = tokens.listing(session)
    assert stored.secret_hash not in auth["Authorization"]  # only the hash is kept
    assert client.get("/api/v1/incidents", headers=auth).status_code == 200  # now cached
    world.act("admin", lambda op: tokens.revoke(op, stored.id))
    assert client.get("/api/v1/incidents", headers=auth).status_code == 401


def test_it_refuses_a_token_revoked_elsewhere_once_its_cache_window_ends(
    client: httpx.Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = token(world, "alice")
    assert client.get("/api/v1/incidents", headers=auth).status_code == 200
    # Another node (or the CLI on the database) revokes it: this process is not told.
    with world.runtime.sessions.begin() as session:
        session.execute(update(ApiToken).values(revoked_at=world.clock()))
    assert client.get("/api/v1/incidents", headers=auth).status_code == 200  # still trusted
    later = time.monotonic() + world.runtime.callers.seconds + 0.1
    monkeypatch.setattr("warroom.revocations.time.monotonic", lambda: later)
    assert client.get("/api/v1/incidents", headers=auth).status_code == 401


def test_it_looks_credentials_up_on_every_request_when_told_to_trust_them_for_no_time(
    world: World,
) -> None:
    world.runtime.settings.credential_cache_seconds = 0  # WARROOM_CREDENTIAL_CACHE_SECONDS=0
    auth = token(world, "alice")
    _, key = world.act(
        "admin",
        lambda op: integrations.create(
            op, AlertSource.GENERIC, "checkout", None, integrations.Options()
        ),
    )
    alert = json.dumps({"summary": "checkout is failing", "dedup_key": "checkout"})
    with serving(create_app(world.runtime)) as client:

        def answers() -> tuple[int, int]:
            return (
                client.get("/api/v1/incidents", headers=auth).status_code,
                client.post(f"/api/v1/ingest/generic/{key}", content=alert).status_code,
            )

        assert answers() == (200, 202)
        # Another process revokes both on the database: this one is not told, and need not be.
        with world.runtime.sessions.begin() as session:
            session.execute(update(ApiToken).values(revoked_at=world.clock()))
            session.execute(update(Integration).values(revoked_at=world.clock()))
        assert answers() == (401, 404)


def test_it_authenticates_without_waiting_for_a_write_in_progress(
    client: httpx.Client, world: World
) -> None:
    """Only recording a token's use (at most once a minute) takes a writer's turn: a junk
    token, or a token used a moment ago, is answered while a long write holds SQLite."""
    if world.runtime.engine.dialect.name != "sqlite":
        pytest.skip("the process-wide writer lock is SQLite's")
    alice = token(world, "alice")
    assert client.get("/api/v1/incidents", headers=alice).status_code == 200  # use recorded
    REVOCATIONS.bump()  # every cache of callers forgets: the next request looks up
    with world.runtime.writer():  # a long write in progress
        junk = client.get("/api/v1/incidents", headers={"Authorization": "Bearer wr_x"}, timeout=5)
        known = client.get("/api/v1/incidents", headers=alice, timeout=5)
    assert (junk.status_code, known.status_code) == (401, 200)


def test_it_keeps_no_lookup_that_a_revocation_overtook(world: World) -> None:
    _, secret = world.act(
        "admin", lambda op: tokens.create(op, holder="alice", access=Access.MEMBER, name="t")
    )
    callers: Trusted[tokens.Caller] = Trusted(world.runtime.settings.credential_cache_seconds)
    seen = REVOCATIONS.count
    with world.runtime.reading() as session:
        found = tokens.identify(session, secret, world.clock())
    assert found is not None
    with world.runtime.reading() as session:
        [stored] = tokens.listing(session)
    world.act("admin", lambda op: tokens.revoke(op, stored.id))  # commits meanwhile
    callers.keep(tokens.digest(secret), found[0], seen=seen)
    assert callers.get(tokens.digest(secret)) is None


def test_it_does_not_forget_tokens_for_a_revocation_that_rolled_back(world: World) -> None:
    _, secret = world.act(
        "admin", lambda op: tokens.create(op, holder="alice", access=Access.MEMBER, name="t")
    )
    before = REVOCATIONS.count

    def revoke_then_fail(op: Op) -> None:
        [stored] = tokens.listing(op.session)
        tokens.revoke(op, stored.id)
        raise BadInput("changed my mind")

    with pytest.raises(BadInput):
        world.act("admin", revoke_then_fail)
    assert REVOCATIONS.count == before
    with world.runtime.reading() as session:
        assert tokens.identify(session, secret, world.clock()) is not None


def test_it_runs_the_lifecycle_as_the_tokens_person(client: httpx.Client, world: World) -> None:
    alice = token(world, "alice")
    incident = declare(client, alice)
    assert (incident["id"], incident["stage"], incident["ic"]) == ("INC-1", "declared", "alice")
    world.later(minutes=1)
    assert (
        client.post(
            "/api/v1/incidents/INC-1/investigate", json={"performed_by": "bob"}, headers=alice
        ).status_code
        == 200
    )
    world.later(minutes=5)
    assert (
        client.post(
            "/api/v1/incidents/1/mitigate",
            json={"action": "rollback", "performed_by": "bob"},
            headers=alice,
        ).status_code
        == 200
    )
    world.later(minutes=5)
    assert client.post("/api/v1/incidents/1/resolve", headers=alice).status_code == 200
    assert client.post("/api/v1/incidents/1/monitor", headers=alice).status_code == 200
    world.later(minutes=10)
    early = client.post("/api/v1/incidents/1/close", headers=alice)
    assert early.status_code == 409
    problem = early.json()
    assert (problem["rule"], problem["status"]) == ("closure-window", 409)
    assert problem["type"].endswith("/rule/closure-window")
    world.later(minutes=21)
    closed = client.post("/api/v1/incidents/1/close", headers=alice)
    assert closed.json()["stage"] == "closed"
    timeline = client.get("/api/v1/incidents/1/timeline", headers=alice).json()
    assert [e["data"].get("rule") for e in timeline if e["kind"] == "refused"] == ["closure-window"]
    assert {e["actor"] for e in timeline} >= {"alice"}


def test_it_shows_who_holds_each_role_after_a_handover(client: httpx.Client, world: World) -> None:
    alice = token(world, "alice")
    declare(client, alice)  # a SEV1: alice is its Incident Commander
    for role, person in [("ic", "bob"), ("sme", "carol"), ("sme", "dave"), ("comms", "erin")]:
        world.later(minutes=1)
        response = client.post(
            "/api/v1/incidents/INC-1/roles", json={"role": role, "person": person}, headers=alice
        )
        assert response.status_code == 200, response.text
    shown = client.get("/api/v1/incidents/INC-1", headers=alice).json()
    assert shown["ic"] == "bob"
    assert shown["roles"] == {"ic": ["bob"], "sme": ["carol", "dave"], "comms": ["erin"]}
    assert [(r["role"], r["person"], r["relieved_at"] is None) for r in shown["role_history"]] == [
        ("ic", "alice", False),
        ("ic", "bob", True),
        ("sme", "carol", True),
        ("sme", "dave", True),
        ("comms", "erin", True),
    ]


def test_it_refuses_a_write_based_on_a_stale_read(client: httpx.Client, world: World) -> None:
    alice = token(world, "alice")
    declare(client, alice)
    read = client.get("/api/v1/incidents/INC-1", headers=alice)
    tag = read.headers["etag"]
    world.later(minutes=1)
    client.post(
        "/api/v1/incidents/1/roles", json={"role": "comms", "person": "carol"}, headers=alice
    )
    stale = client.post("/api/v1/incidents/1/investigate", headers={**alice, "If-Match": tag})
    assert stale.status_code == 412
    fresh = stale.headers["etag"]
    ok = client.post("/api/v1/incidents/1/investigate", headers={**alice, "If-Match": fresh})
    assert ok.status_code == 200
    assert ok.headers["etag"] != fresh


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/api/v1/incidents/declare", {"severity": "SEV9", "title": "x"}, 422, "severity"),
        (
            "/api/v1/incidents/declare",
            {"severity": "SEV1", "title": "x", "colour": "red"},
            422,
            "colour",
        ),
        (
            "/api/v1/incidents/declare",
            {"severity": "SEV1", "title": "x", "at": "yesterday"},
            422,
            "at",
        ),
        ("/api/v1/incidents/declare", {"severity": "SEV1", "title": "   "}, 422, "title is empty"),
        ("/api/v1/incidents/INC-77/ack", {}, 404, "INC-77 does not exist"),
        ("/api/v1/incidents/banana/ack", {}, 404, "not an incident id"),
        ("/api/v1/classify", {"customers_affected_pct": 130}, 422, "customers_affected_pct"),
        (
            "/api/v1/incidents/declare",
            {"severity": "SEV1", "title": "x", "at": "0001-01-01T00:00:00Z"},
            422,
            "is before 1970",
        ),
        # The status page shows what is true now: a back-dated change is refused, not dropped.
        (
            "/api/v1/incidents/INC-1/comms/send",
            {"at": "2026-01-01T00:00:00Z"},
            422,
            "at: Extra inputs are not permitted",
        ),
    ],
)
def test_it_answers_client_mistakes_with_problem_details(
    client: httpx.Client, world: World, path: str, body: dict[str, Any], status: int, fragment: str
) -> None:
    response = client.post(path, json=body, headers=token(world, "alice"))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert fragment in response.json()["detail"]


def test_it_edits_or_sends_the_customer_email_only_as_its_sender_read_it(
    client: httpx.Client, world: World
) -> None:
    alice, bob = token(world, "alice"), token(world, "bob")
    declare(client, alice)
    world.later(minutes=2).act("alice", lambda op: lifecycle.move(op, 1, Move.INVESTIGATE))
    world.later(minutes=5).act(
        "alice", lambda op: lifecycle.mitigate(op, 1, MitigationKind.ROLLBACK)
    )
    world.later(minutes=5).act("alice", lambda op: lifecycle.move(op, 1, Move.RESOLVE))
    path = "/api/v1/incidents/INC-1/comms"
    read = client.get(path, headers=alice)
    assert read.status_code == 200, read.text
    seen = read.headers["ETag"]
    edited = client.put(path, json={"subject": "Checkout trouble"}, headers=bob)
    assert edited.status_code == 200, edited.text
    assert edited.headers["ETag"] != seen

    # alice read the draft before bob's edit: neither her edit nor her send goes through.
    stale = {**alice, "If-Match": seen}
    lost = client.put(path, json={"body": "All fine now."}, headers=stale)
    assert lost.status_code == 412, lost.text
    assert "the customer e-mail changed since you read it" in lost.json()["detail"]
    assert lost.headers["ETag"] == edited.headers["ETag"]
    assert client.post(f"{path}/send", headers=stale).status_code == 412
    kept = client.get(path, headers=alice).json()
    assert (kept["subject"], kept["sent_at"]) == ("Checkout trouble", None)

    current = {**alice, "If-Match": edited.headers["ETag"]}
    rewritten = client.put(path, json={"body": "All fine now."}, headers=current)
    assert rewritten.status_code == 200, rewritten.text
    admin = token(world, "root", Access.ADMIN)
    fan = client.post("/api/v1/subscribers", json={"email": "fan@example.test"}, headers=admin)
    assert fan.status_code == 201, fan.text
    sent = client.post(f"{path}/send", headers={**alice, "If-Match": rewritten.headers["ETag"]})
    assert sent.status_code == 200, sent.text
    assert (sent.json()["body"], sent.json()["sent_at"] is not None) == ("All fine now.", True)


def test_it_lets_only_admins_act_on_behalf_of_someone(client: httpx.Client, world: World) -> None:
    declare(client, token(world, "alice"))
    body = {"role": "scribe", "person": "sam", "on_behalf_of": "alice"}
    assert (
        client.post("/api/v1/incidents/1/roles", json=body, headers=token(world, "bob")).status_code
        == 403
    )
    admin = token(world, "root", Access.ADMIN)
    assert client.post("/api/v1/incidents/1/roles", json=body, headers=admin).status_code == 200
    last = client.get("/api/v1/incidents/1/timeline", headers=admin).json()[-1]
    assert (last["actor"], last["data"]["entered_by"]) == ("alice", "root")
    assert last["summary"].endswith("(by root on behalf of alice)")
    # The status page's and paging's writes record it the same way (here, a refusal).
    refused = client.post(
        "/api/v1/incidents/1/comms/send", json={"on_behalf_of": "dave"}, headers=admin
    )
    assert refused.status_code == 409
    last = client.get("/api/v1/incidents/1/timeline", headers=admin).json()[-1]
    assert (last["kind"], last["actor"], last["data"]["entered_by"]) == ("refused", "dave", "root")


def test_it_answers_text_no_database_can_store_with_422_and_stores_nothing(
    client: httpx.Client, world: World
) -> None:
    alice = token(world, "alice")
    unpaired = b'{"title": "checkout \\ud800 down"}'
    for path in ("/api/v1/incidents", "/api/v1/classify"):
        response = client.post(
            path,
            content=unpaired if path.endswith("incidents") else b'{"a\\ud800": 1}',
            headers={**alice, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/incidents", headers=alice).json()["items"] == []
    huge = client.post("/api/v1/classify", json={"slowdown_factor": 10**400}, headers=alice)
    assert huge.status_code == 422
    assert "slowdown_factor" in huge.json()["detail"]


def test_it_refuses_overlong_text_and_nul_characters_in_any_body(
    client: httpx.Client, world: World
) -> None:
    alice = token(world, "alice")
    admin = token(world, "root", Access.ADMIN)
    declare(client, alice)
    for path, body, headers, said in (
        ("/api/v1/incidents/1/escalate", {"reason": "x" * 1001}, alice, "reason"),
        ("/api/v1/incidents/1/severity", {"severity": "SEV2", "reason": "x" * 1001}, alice, ""),
        ("/api/v1/tokens", {"person": "bob", "name": "a\x00b"}, admin, "NUL"),
        ("/api/v1/incidents/1/notes", {"text": "ok", "at": "x" * 100_001}, alice, "longer"),
    ):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert said in response.json()["detail"]
    timeline = client.get("/api/v1/incidents/1/timeline", headers=alice).json()
    assert not any(event["kind"] in ("escalated", "severity") for event in timeline)


def test_it_takes_a_list_of_etags_in_if_match(client: httpx.Client, world: World) -> None:
    alice = token(world, "alice")
    declare(client, alice)
    current = client.get("/api/v1/incidents/1", headers=alice).headers["etag"]
    note = {"text": "checking"}
    listed = {**alice, "If-Match": f'"v0", {current}'}
    assert client.post("/api/v1/incidents/1/notes", json=note, headers=listed).status_code == 200
    current = client.get("/api/v1/incidents/1", headers=alice).headers["etag"]
    weak = {**alice, "If-Match": f"W/{current}"}  # If-Match compares strongly
    assert client.post("/api/v1/incidents/1/notes", json=note, headers=weak).status_code == 412


def test_it_keeps_answering_while_more_event_streams_are_open_than_it_has_threads(
    client: httpx.Client, world: World
) -> None:
    alice = token(world, "alice")
    streams = 45  # the thread pool that runs the API's routes has 40
    opened = threading.Semaphore(0)
    received: list[str] = []

    def watch() -> None:
        params = {"limit": 1}
        with (
            httpx.Client(base_url=client.base_url, timeout=30) as own,
            own.stream("GET", "/api/v1/events", params=params, headers=alice) as stream,
        ):
            opened.release()
            received.extend(line for line in stream.iter_lines() if line.startswith("event:"))

    watchers = [threading.Thread(target=watch) for _ in range(streams)]
    for watcher in watchers:
        watcher.start()
    for _ in range(streams):
        assert opened.acquire(timeout=30)
    listed = client.get("/api/v1/incidents", headers=alice, timeout=10)
    assert listed.status_code == 200
    declare(client, alice)  # every stream gets it, and ends
    for watcher in watchers:
        watcher.join(30)
    assert received.count("event: detected") == streams


def test_it_ignores_a_last_event_id_that_is_not_a_number(
    client: httpx.Client, world: World
) -> None:
    alice = token(world, "alice")
    declare(client, alice)
    odd = [(k.encode(), v.encode()) for k, v in alice.items()]
    odd.append((b"Last-Event-ID", "\u00b2".encode("latin-1")))  # "²" is a digit to Python
    response = client.get("/api/v1/events", params={"after": 0, "limit": 1}, headers=odd)
    assert response.status_code == 200
    assert "id: 1" in response.text


def test_it_pages_through_filtered_lists(client: httpx.Client, world: World) -> None:
    alice = token(world, "alice")
    for n in range(5):
        declare(client, alice, f"Incident {n}")
    first = client.get("/api/v1/incidents", params={"limit": 2}, headers=alice).json()
    assert [i["id"] for i in first["items"]] == ["INC-5", "INC-4"]
    second = client.get(
        "/api/v1/incidents", params={"limit": 2, "offset": first["next_offset"]}, headers=alice
    ).json()
    assert [i["id"] for i in second["items"]] == ["INC-3", "INC-2"]
    sev2 = client.get("/api/v1/incidents", params={"severity": "SEV2"}, headers=alice).json()
    assert sev2["items"] == []


def test_it_reminds_a_sev1_declared_through_the_api_after_30_minutes(
    client: httpx.Client, world: World
) -> None:
    declare(client, token(world, "alice"))
    world.later(minutes=30)
    while fire_one(world.runtime.sessions, world.runtime.policy, now=world.clock.now):
        pass
    timeline = client.get("/api/v1/incidents/1/timeline", headers=token(world, "alice")).json()
    reminders = [e for e in timeline if e["kind"] == "reminder"]
    assert (
        reminders[0]["summary"]
        == "status update #1 is due (2026-03-02 10:30 UTC): reminder to alice"
    )


def test_it_reports_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert len(ready["policy"]) == 16
    assert client.get("/openapi.json").json()["info"]["title"] == "warroom"


def test_it_answers_503_with_retry_after_when_the_database_is_unreachable() -> None:
    runtime = Runtime(settings=Settings(database_url="postgresql://postgres@127.0.0.1:9/none"))
    with serving(create_app(runtime)) as unreachable:
        response = unreachable.get("/api/v1/incidents", headers={"Authorization": "Bearer wr_x"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"


def test_it_streams_timeline_events_live_and_resumes_after_the_last_seen(
    client: httpx.Client, world: World
) -> None:
    alice = token(world, "alice")
    declare(client, alice, "First")
    received: list[str] = []

    def listen() -> None:
        with client.stream(
            "GET", "/api/v1/events", params={"after": 0, "limit": 3}, headers=alice
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            received.extend(
                line for line in stream.iter_lines() if line.startswith(("id:", "event:"))
            )

    listen()
    assert received[:3] == ["id: 0", "id: 1", "event: detected"]  # where it starts, then events
    last = int(received[-2].removeprefix("id: "))
    resumed = client.get(
        "/api/v1/events", params={"limit": 1}, headers={**alice, "Last-Event-ID": str(last)}
    )
    assert f"id: {last + 1}" in resumed.text


def test_it_ends_the_event_stream_of_a_token_revoked_meanwhile_at_once(
    client: httpx.Client, world: World
) -> None:
    alice = token(world, "alice")
    with world.runtime.reading() as session:
        [stored] = tokens.listing(session)
    with client.stream("GET", "/api/v1/events", headers=alice, timeout=5) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")  # the stream is open
        world.act("admin", lambda op: tokens.revoke(op, stored.id))
        revoked_at = time.monotonic()
        # Not at the next heartbeat, seconds away: the read would time out first.
        assert "event: revoked" in itertools.islice(lines, 10)
    assert time.monotonic() - revoked_at < 2


def test_it_ends_at_its_start_a_stream_opened_with_a_token_trusted_from_the_cache_but_revoked(
    client: httpx.Client, world: World
) -> None:
    alice = token(world, "alice")
    assert client.get("/api/v1/incidents", headers=alice).status_code == 200  # now cached
    # Another process revokes it on the database; this one still trusts it for seconds.
    with world.runtime.sessions.begin() as session:
        session.execute(update(ApiToken).values(revoked_at=world.clock()))
    with client.stream("GET", "/api/v1/events", headers=alice, timeout=5) as stream:
        assert "event: revoked" in itertools.islice(stream.iter_lines(), 10)


def ids_in(text: str) -> list[int]:
    return [int(line.removeprefix("id: ")) for line in text.splitlines() if line.startswith("id:")]


def test_it_resumes_a_reconnecting_browser_where_it_was_not_where_it_first_began(
    client: httpx.Client, world: World
) -> None:
    """A browser's EventSource reconnects to the URL it first opened, ``?after=0`` included,
    and says where it got to in Last-Event-ID: that wins."""
    alice = token(world, "alice")
    declare(client, alice, "First")
    first = client.get("/api/v1/events", params={"after": 0, "limit": 2}, headers=alice)
    assert ids_in(first.text) == [0, 1, 2]
    again = client.get(
        "/api/v1/events",
        params={"after": 0, "limit": 2},
        headers={**alice, "Last-Event-ID": "2"},
    )
    assert ids_in(again.text) == [2, 3, 4]


def test_it_tells_a_new_subscriber_where_it_starts_so_a_drop_before_any_event_loses_none(
    client: httpx.Client, world: World
) -> None:
    alice = token(world, "alice")
    declare(client, alice, "Before")
    with client.stream("GET", "/api/v1/events", headers=alice) as stream:
        head = list(itertools.islice(stream.iter_lines(), 2))  # "retry: …", then "id: …"
    starts = next(int(line.removeprefix("id: ")) for line in head if line.startswith("id:"))
    # The connection dropped before any event; this happens meanwhile:
    declare(client, alice, "While away")
    resumed = client.get(
        "/api/v1/events", params={"limit": 1}, headers={**alice, "Last-Event-ID": str(starts)}
    )
    assert ids_in(resumed.text) == [starts, starts + 1]
    assert '"incident": "INC-2"' in resumed.text


def test_it_waits_for_a_slow_transaction_before_passing_over_its_event(
    client: httpx.Client, world: World
) -> None:
    """On PostgreSQL a transaction takes its event's id before it commits. One that commits
    seconds after a later event is visible still gets its event sent, in order."""
    if world.runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time, in id order")
    alice = token(world, "alice")
    declare(client, alice, "First")
    with world.runtime.reading() as session:
        last = session.scalar(select(func.max(TimelineEvent.id)))
    assert last is not None
    slow = world.runtime.sessions()
    slow.add(
        TimelineEvent(
            incident_id=1,
            at=world.clock.now,
            recorded_at=world.clock.now,
            kind=EventKind.NOTE,
            summary="written slowly",
            data={},
        )
    )
    slow.flush()  # its id is taken; it is not committed
    client.post("/api/v1/incidents/1/notes", json={"text": "quick"}, headers=alice)
    received: list[str] = []

    def listen() -> None:
        received.append(
            client.get(
                "/api/v1/events", params={"after": last, "limit": 2}, headers=alice, timeout=30
            ).text
        )

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(2.5)  # longer than the stream used to wait for a gap
    slow.commit()
    slow.close()
    listener.join(30)
    summaries = [
        json.loads(line.removeprefix("data: "))["summary"]
        for line in received[0].splitlines()
        if line.startswith("data:")
    ]
    assert summaries[0] == "written slowly"
    assert "quick" in summaries[1]


def test_it_sends_a_subscriber_what_happens_after_it_subscribed(
    client: httpx.Client, world: World
) -> None:
    alice = token(world, "alice")
    declare(client, alice, "Before")
    lines: list[str] = []
    subscribed = threading.Event()

    def listen() -> None:
        with client.stream("GET", "/api/v1/events", params={"limit": 1}, headers=alice) as stream:
            for line in stream.iter_lines():
                subscribed.set()  # the retry: line arrives first
                lines.append(line)

    listener = threading.Thread(target=listen)
    listener.start()
    assert subscribed.wait(10)
    declare(client, alice, "After")
    listener.join(timeout=15)
    assert not listener.is_alive()
    data = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data:")]
    assert [(d["incident"], d["kind"]) for d in data] == [("INC-2", "detected")]


def test_it_honours_if_match_on_every_write(client: httpx.Client, world: World) -> None:
    alice = token(world, "alice")
    declare(client, alice)
    tag = client.get("/api/v1/incidents/1", headers=alice).headers["etag"]
    client.post(
        "/api/v1/incidents/1/roles", json={"role": "comms", "person": "carol"}, headers=alice
    )
    stale = {**alice, "If-Match": tag}
    assert (
        client.post("/api/v1/incidents/1/notes", json={"text": "x"}, headers=stale).status_code
        == 412
    )
    update = {"issue": "i", "impact": "i", "progress": "p", "next": "n"}
    assert client.post("/api/v1/incidents/1/updates", json=update, headers=stale).status_code == 412
    posted = client.post("/api/v1/incidents/1/updates", json=update, headers=alice)
    assert posted.headers["etag"].startswith('"v')


@pytest.mark.parametrize(
    ("path", "params"),
    [("/api/v1/incidents", {"offset": 10**20}), ("/api/v1/events", {"after": 10**20})],
)
def test_it_refuses_numbers_beyond_what_is_stored(
    client: httpx.Client, world: World, path: str, params: dict[str, int]
) -> None:
    response = client.get(path, params=params, headers=token(world, "alice"))
    assert response.status_code == 422


def test_it_manages_tokens_and_webhooks_for_admins_only(client: httpx.Client, world: World) -> None:
    admin, member = token(world, "root", Access.ADMIN), token(world, "alice")
    refused = client.get("/api/v1/tokens", headers=member)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this needs an admin token; yours is member"
    assert (
        client.post("/api/v1/webhooks", json={"url": "http://x.test"}, headers=member).status_code
        == 403
    )

    created = client.post(
        "/api/v1/tokens", json={"person": "grafana-bot", "access": "viewer"}, headers=admin
    )
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    listed = client.get("/api/v1/tokens", headers=admin).json()
    assert secret not in json.dumps(listed)  # shown once, at creation
    bot = next(row for row in listed if row["person"] == "grafana-bot")
    assert (bot["access"], bot["revoked"]) == ("viewer", False)
    bot_auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/incidents", headers=bot_auth).status_code == 200
    assert client.delete(f"/api/v1/tokens/{bot['id']}", headers=admin).json()["revoked"] is True
    assert client.get("/api/v1/incidents", headers=bot_auth).status_code == 401
    assert client.delete("/api/v1/tokens/999", headers=admin).status_code == 404

    hook = client.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example.com/exec", "audience": "executives"},
        headers=admin,
    )
    assert hook.status_code == 201, hook.text
    assert len(hook.json()["secret"]) == 64
    assert "secret" not in client.get("/api/v1/webhooks", headers=admin).json()[0]
    bad = client.post("/api/v1/webhooks", json={"url": "ftp://x"}, headers=admin)
    assert bad.status_code == 422
    assert "not a webhook URL" in bad.json()["detail"]
    removed = client.delete(f"/api/v1/webhooks/{hook.json()['id']}", headers=admin).json()
    assert (removed["active"], removed["disabled_reason"]) == (False, "removed")
    enabled = client.post(f"/api/v1/webhooks/{hook.json()['id']}/enable", headers=admin).json()
    assert (enabled["active"], enabled["disabled_reason"]) == (True, None)
    assert client.post("/api/v1/webhooks/99/enable", headers=admin).status_code == 404
