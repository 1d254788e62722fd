"""The paging API over HTTP: configuring who is paged (admins), contacts and overrides
(members), who is on call, pages and their acknowledgement links, the TOML round trip and the
pager-load report."""

from __future__ import annotations

from functools import partial

import httpx
from icalendar import Calendar

from tests.conftest import START, World
from tests.web.test_api import token
from warroom.domain.types import Access, Severity
from warroom.services import declaration
from warroom.services.lifecycle import acknowledge

HANDOFF = "2026-03-02T09:00"  # a Monday, Berlin time


def configure(client: httpx.Client, admin: dict[str, str]) -> None:
    policy = {"name": "payments", "tiers": ["primary@5m", "secondary", "lead"], "repeat": 1}
    schedule = {"name": "payments", "zone": "Europe/Berlin", "team": "payments"}
    layers = "/api/v1/schedules/payments/layers"
    secondary = {"level": "secondary", "participants": ["cat"], "handoff": HANDOFF}
    steps = [
        ("POST", "/api/v1/policies", policy),
        ("POST", "/api/v1/teams", {"name": "payments", "lead": "lee", "policy": "payments"}),
        ("POST", "/api/v1/services", {"name": "checkout", "team": "payments"}),
        ("POST", "/api/v1/schedules", schedule),
        ("PUT", f"{layers}/primary", {"participants": ["ana", "ben"], "handoff": HANDOFF}),
        ("PUT", f"{layers}/secondary", secondary),
        ("POST", "/api/v1/people/ana/contacts", {"kind": "email", "address": "ana@example.test"}),
    ]
    for method, path, body in steps:
        answer = client.request(method, path, json=body, headers=admin)
        assert answer.is_success, (path, answer.text)


def test_it_answers_a_directory_change_with_what_it_stored(
    client: httpx.Client, world: World
) -> None:
    admin = token(world, "root", Access.ADMIN)
    configure(client, admin)
    layers = "/api/v1/schedules/payments/layers"
    added = client.put(
        f"{layers}/nights",
        json={"level": "secondary", "participants": ["dee"], "handoff": HANDOFF},
        headers=admin,
    )
    assert added.status_code == 200, added.text
    assert [layer["name"] for layer in added.json()["layers"]] == [
        "primary",
        "secondary",
        "nights",
    ]
    removed = client.delete(f"{layers}/secondary", headers=admin)
    assert [layer["name"] for layer in removed.json()["layers"]] == ["primary", "nights"]
    assert client.get("/api/v1/schedules/payments", headers=admin).json() == removed.json()
    contact = client.post(
        "/api/v1/people/dee/contacts",
        json={"kind": "email", "address": "dee@example.test"},
        headers=admin,
    )
    assert contact.status_code == 201, contact.text
    assert [c["address"] for c in contact.json()["contacts"]] == ["dee@example.test"]
    renamed = client.put("/api/v1/people/dee", json={"name": "Dee Dee"}, headers=admin)
    assert (renamed.json()["name"], len(renamed.json()["contacts"])) == ("Dee Dee", 1)


def test_it_answers_who_is_on_call_now_and_later(client: httpx.Client, world: World) -> None:
    admin = token(world, "root", Access.ADMIN)
    configure(client, admin)
    now = client.get("/api/v1/oncall", headers=admin).json()
    assert [(row["level"], row["person"]) for row in now] == [
        ("primary", "ana"),
        ("secondary", "cat"),
    ]
    later = client.get(
        "/api/v1/oncall",
        params={"team": "payments", "at": "2026-03-09T09:30:00+01:00"},
        headers=admin,
    ).json()
    assert later[0]["person"] == "ben"


def test_it_lets_members_manage_contacts_and_overrides_but_not_configuration(
    client: httpx.Client, world: World
) -> None:
    admin = token(world, "root", Access.ADMIN)
    configure(client, admin)
    member = token(world, "ben", Access.MEMBER)
    refused = client.post("/api/v1/teams", json={"name": "sneaky"}, headers=member)
    assert refused.status_code == 403
    added = client.post(
        "/api/v1/people/ben/contacts",
        json={"kind": "slack", "address": "U024BE7LH"},
        headers=member,
    )
    assert added.status_code == 201
    swap = client.post(
        "/api/v1/schedules/payments/overrides",
        json={"person": "ben", "start": "2026-03-02T10:00:00Z", "end": "2026-03-02T18:00:00Z"},
        headers=member,
    )
    assert swap.status_code == 201
    now = client.get("/api/v1/oncall", headers=member).json()
    assert now[0]["person"] == "ben"
    theirs = client.post(
        "/api/v1/people/ana/contacts",
        json={"kind": "webhook", "address": "http://127.0.0.1:9/steal"},
        headers=member,
    )
    assert theirs.status_code == 403
    bad_level = client.post(
        "/api/v1/schedules/payments/overrides",
        json={
            "person": "ben",
            "start": "2026-03-02T10:00:00Z",
            "end": "2026-03-02T18:00:00Z",
            "level": "BAD LEVEL!",
        },
        headers=member,
    )
    assert bad_level.status_code == 422


def test_it_refuses_bad_paging_data_naming_the_problem(client: httpx.Client, world: World) -> None:
    admin = token(world, "root", Access.ADMIN)
    cases = [
        ("/api/v1/schedules", {"name": "x", "zone": "Mars/Olympus"}, "not a time zone"),
        ("/api/v1/policies", {"name": "p", "tiers": ["primary@1s"]}, "between 30s and 24h"),
        ("/api/v1/policies", {"name": "p", "tiers": ["primary@99999999999999999999m"]}, "365d"),
        ("/api/v1/policies", {"name": "p", "tiers": ["boss:alice"]}, "not a tier target"),
        ("/api/v1/people/ana/contacts", {"kind": "email", "address": "ana"}, "not an e-mail"),
        (
            "/api/v1/people/ana/contacts",
            {"kind": "email", "address": "x@@ex.test"},
            "not an e-mail",
        ),
        (
            "/api/v1/people/ana/contacts",
            {"kind": "email", "address": "a\u0001b@ex.test"},
            "not an e-mail",
        ),
        (
            "/api/v1/people/ana/contacts",
            {"kind": "pagerduty", "address": "abc"},
            "is not a PagerDuty integration (routing) key",
        ),
        ("/api/v1/people/ana/contacts", {"kind": "slack", "address": "@ana"}, "Slack user id"),
        ("/api/v1/teams", {"name": "payments", "policy": "missing"}, "does not exist"),
    ]
    for path, body, problem in cases:
        answer = client.post(path, json=body, headers=admin)
        assert answer.status_code in (400, 404, 422), (path, answer.text)
        assert problem in answer.text, (path, answer.text)
    weird = [
        ("POST", "/api/v1/schedules", {"name": "y", "zone": "America"}, "not a time zone"),
        ("GET", "/api/v1/oncall?at=9999-12-31T23:00:00Z", None, "outside 1970-2200"),
        ("GET", "/api/v1/paging/load?zone=America", None, "not a time zone"),
    ]
    for method, path, body, problem in weird:
        answer = client.request(method, path, json=body, headers=admin)
        assert answer.status_code == 422, (path, answer.text)
        assert problem in answer.text, (path, answer.text)
    nul = client.post(
        "/api/v1/paging/import",
        content=b'[[person]]\nhandle = "ok"\nname = "a\\u0000b"\n',
        headers=admin | {"Content-Type": "application/toml"},
    )
    assert nul.status_code == 422
    assert "the file.person[0].name contains a NUL character" in nul.text
    assert client.get("/api/v1/people/ok", headers=admin).status_code == 404
    deep = client.post(
        "/api/v1/paging/import",
        content=b"x = " + b"[" * 5000 + b"]" * 5000,
        headers=admin | {"Content-Type": "application/toml"},
    )
    assert deep.status_code == 422
    layer = client.put(
        "/api/v1/schedules/nowhere/layers/primary",
        json={"participants": ["ana"], "handoff": HANDOFF},
        headers=admin,
    )
    assert layer.status_code == 404


def test_it_exports_the_schedule_as_icalendar(client: httpx.Client, world: World) -> None:
    admin = token(world, "root", Access.ADMIN)
    configure(client, admin)
    answer = client.get(
        "/api/v1/schedules/payments/calendar.ics",
        params={"person": "ana", "days": 28},
        headers=admin,
    )
    assert answer.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(answer.content).walk("VEVENT")
    assert events
    assert all("ana" in str(event["SUMMARY"]) for event in events)


def test_it_serves_a_calendar_feed_a_calendar_app_can_subscribe_to(
    client: httpx.Client, world: World
) -> None:
    admin = token(world, "root", Access.ADMIN)
    configure(client, admin)
    url = client.get(
        "/api/v1/schedules/payments/feed", params={"person": "ana"}, headers=admin
    ).json()["url"]
    assert url.startswith("http://127.0.0.1:8000/calendar/")
    path = url.removeprefix("http://127.0.0.1:8000")

    feed = client.get(path)  # no token: the signed URL is the credential
    assert feed.status_code == 200
    events = Calendar.from_ical(feed.content).walk("VEVENT")
    assert events
    assert all("ana" in str(event["SUMMARY"]) for event in events)
    assert client.get(path.replace(".ics", "0.ics")).status_code == 404


def test_it_lists_pages_newest_first_a_page_of_them_at_a_time(
    client: httpx.Client, world: World
) -> None:
    admin = token(world, "root", Access.ADMIN)
    configure(client, admin)

    def declare(title: str) -> int:
        return world.act(
            "oscar",
            lambda op: declaration.declare_new(op, Severity.SEV1, title, service_name="checkout"),
        ).id

    numbers = [declare(title) for title in ("one", "two", "three")]

    def incidents(**params: int) -> list[str]:
        rows = client.get("/api/v1/pages", params=params, headers=admin).json()
        return [row["incident"] for row in rows]

    newest = [f"INC-{n}" for n in reversed(numbers)]
    assert incidents(limit=2) == newest[:2]
    assert incidents(limit=2, offset=2) == newest[2:]
    assert incidents(limit=2, offset=4) == []
    assert client.get("/api/v1/pages", params={"offset": -1}, headers=admin).status_code == 422


def test_it_acknowledges_a_page_through_its_link_with_one_button(
    client: httpx.Client, world: World
) -> None:
    admin = token(world, "root", Access.ADMIN)
    configure(client, admin)
    number = world.act(
        "oscar",
        lambda op: declaration.declare_new(
            op, Severity.SEV1, "Checkout down", service_name="checkout"
        ),
    ).id
    link = _link(world, number)

    shown = client.get(link)
    assert shown.status_code == 200
    assert "Acknowledge as ana" in shown.text
    pages = client.get("/api/v1/pages", params={"incident": f"INC-{number}"}, headers=admin).json()
    assert pages[0]["state"] == "open"  # looking at the link acknowledges nothing

    world.later(minutes=1)
    done = client.post(link)
    assert done.status_code == 200
    assert "Acknowledged by ana" in done.text
    [page] = client.get("/api/v1/pages", params={"incident": f"INC-{number}"}, headers=admin).json()
    assert (page["state"], page["acknowledged_by"], page["seconds_to_acknowledge"]) == (
        "acknowledged",
        "ana",
        60.0,
    )
    assert client.get(link[:-3] + "xyz").status_code == 404


def test_it_round_trips_the_paging_directory_through_toml(
    client: httpx.Client, world: World
) -> None:
    admin = token(world, "root", Access.ADMIN)
    configure(client, admin)
    exported = client.get("/api/v1/paging/export", headers=admin)
    assert exported.status_code == 200
    text = exported.text.replace('"ana@example.test"', '"ana@corp.example.test"')
    text = text.replace('lead = "lee"', 'lead = "mo"')

    applied = client.post(
        "/api/v1/paging/import",
        content=text.encode(),
        headers=admin | {"Content-Type": "application/toml"},
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["schedules"] == 1
    teams = client.get("/api/v1/teams", headers=admin).json()
    assert teams[0]["lead"] == "mo"
    contacts = client.get("/api/v1/people/ana", headers=admin).json()["contacts"]
    assert {c["address"] for c in contacts} == {"ana@example.test", "ana@corp.example.test"}
    again = client.get("/api/v1/paging/export", headers=admin).text
    assert again.count("[[schedule.layer]]") == 2

    broken = client.post(
        "/api/v1/paging/import",
        content=b'[[team]]\nname = "x"\ncolour = "red"\n',
        headers=admin | {"Content-Type": "application/toml"},
    )
    assert broken.status_code == 422
    assert "colour" in broken.text


def test_it_refuses_override_times_at_the_calendar_s_edge_and_adds_an_override_once(
    client: httpx.Client, world: World
) -> None:
    admin = token(world, "root", Access.ADMIN)
    configure(client, admin)

    def imported(start: str, end: str, level: str = "Primary") -> httpx.Response:
        body = (
            f'[[override]]\nschedule = "payments"\nperson = "ben"\nlevel = "{level}"\n'
            f"start = {start}\nend = {end}\n"
        )
        return client.post(
            "/api/v1/paging/import",
            content=body.encode(),
            headers=admin | {"Content-Type": "application/toml"},
        )

    for start, end in [
        ("9999-12-31T23:00:00-05:00", "9999-12-31T23:30:00-05:00"),
        ("0001-01-01T00:00:00+05:00", "2027-01-01T00:00:00Z"),
    ]:
        edge = imported(start, end)
        assert edge.status_code == 422, edge.text
        assert "outside 1970-2200" in edge.text
    # The same file twice: one override (its level is stored lowercased).
    for _ in range(2):
        once = imported("2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z")
        assert once.status_code == 200, once.text
    overrides = client.get("/api/v1/schedules/payments", headers=admin).json()["overrides"]
    assert [(o["person"], o["level"]) for o in overrides] == [("ben", "primary")]


def test_it_shows_a_webhook_contact_by_its_origin_only(client: httpx.Client, world: World) -> None:
    """A chat tool's incoming webhook carries its secret in the path: nobody reads it back."""
    admin, viewer = token(world, "root", Access.ADMIN), token(world, "vic", Access.VIEWER)
    configure(client, admin)
    secret_url = "https://chat.example.test/services/T0/B0/s3cr3t"
    added = client.post(
        "/api/v1/people/ana/contacts",
        json={"kind": "webhook", "address": secret_url},
        headers=admin,
    )
    assert added.status_code == 201, added.text
    shown = client.get("/api/v1/people/ana", headers=viewer).text
    assert "https://chat.example.test/…" in shown
    assert "s3cr3t" not in shown
    exported = client.get("/api/v1/paging/export", headers=admin).text
    assert "s3cr3t" not in exported
    reimported = client.post(
        "/api/v1/paging/import",
        content=exported.encode(),
        headers=admin | {"Content-Type": "application/toml"},
    )
    assert reimported.status_code == 200, reimported.text
    contacts = client.get("/api/v1/people/ana", headers=admin).json()["contacts"]
    assert [c["kind"] for c in contacts].count("webhook") == 1  # the stored one, kept
    removed = client.post(
        "/api/v1/people/ana/contacts/remove",
        json={"kind": "webhook", "address": secret_url},
        headers=admin,
    )
    assert "webhook" not in [c["kind"] for c in removed.json()["contacts"]]


def test_it_reports_the_pager_load_per_person(client: httpx.Client, world: World) -> None:
    admin = token(world, "root", Access.ADMIN)
    configure(client, admin)
    for hour in (0, 1, 2):  # three pages in one night, each acknowledged: over the guidance
        world.clock.now = START.replace(day=4, hour=hour)
        number = world.act(
            "oscar",
            lambda op: declaration.declare_new(
                op, Severity.SEV1, "Night outage", service_name="checkout"
            ),
        ).id
        world.later(minutes=2).act("ana", partial(acknowledge, number=number))
    world.clock.now = START.replace(day=5)
    report = client.get("/api/v1/paging/load", params={"zone": "UTC"}, headers=admin).json()
    ana = next(row for row in report["people"] if row["person"] == "ana")
    assert (ana["pages"], ana["night_pages"], ana["worst_night"]) == (3, 3, 3)
    assert ana["heavy_nights"] == ["2026-03-03"]


def _link(world: World, number: int) -> str:
    from sqlalchemy import select

    from warroom.db.models import Page, PageDelivery
    from warroom.services import acklinks

    with world.runtime.reading() as session:
        page = session.scalars(select(Page).where(Page.incident_id == number)).one()
        delivery = session.scalars(
            select(PageDelivery).where(PageDelivery.page_id == page.id)
        ).first()
        assert delivery is not None
        return "/ack/" + acklinks.token(session, page.id, delivery.person_id, world.clock.now)
