"""Signed links that need no token: the one-click acknowledgement link in every page
(``GET /ack/{token}`` shows the page and one button, ``POST`` acknowledges it), and the
calendar feed of a schedule (``/calendar/{token}.ics``).

A GET never acknowledges: mail scanners and chat previews open links, and must not stop an
escalation with nobody there.
"""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, Response

from warroom.db.models import Page, Person, Schedule
from warroom.domain.errors import NotFound
from warroom.domain.paging import PageState
from warroom.services import acklinks, oncall, page_stops, page_views
from warroom.web.deps import RuntimeDep

links = APIRouter(tags=["paging"])

PAGE_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "color:#111}button{font:inherit;padding:.6rem 1.4rem;background:#b00020;color:#fff;"
    "border:0;border-radius:.3rem}p.done{color:#0b6b2f}"
)


def _html(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{PAGE_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>",
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _describe(page: Page, runtime: Any) -> str:
    with runtime.reading() as session:
        row = page_views.page_row(session, session.merge(page))
        incident = page_views.incident_summary(session, page.incident_id)
    return (
        f"<p><strong>{escape(incident)}</strong></p>"
        f"<p>{escape(row['reason'])}, tier {row['tier']} of {row['tiers']}.</p>"
    )


@links.get(
    "/ack/{token}", summary="The page an acknowledgement link is for", include_in_schema=False
)
def ack_form(token: Annotated[str, Path(max_length=200)], runtime: RuntimeDep) -> HTMLResponse:
    """A GET only shows the page: mail scanners and chat previews open links, and must not
    acknowledge a page by doing so (it would stop the escalation with nobody there)."""
    try:
        with runtime.reading() as session:
            page, handle = page_views.link_holder(session, token, runtime.clock())
            session.expunge(page)
    except NotFound as exc:
        return _html("Link not valid", f"<p>{escape(exc.message)}</p>", 404)
    about = _describe(page, runtime)
    if page.state is not PageState.OPEN:
        return _html("Nothing to acknowledge", about + f"<p>{_state_text(page)}</p>")
    return _html(
        "Acknowledge this page?",
        about + f'<form method="post"><button>Acknowledge as {escape(handle)}</button></form>',
    )


@links.post("/ack/{token}", summary="Acknowledge through a link", include_in_schema=False)
def ack_submit(
    token: Annotated[str, Path(max_length=200)],
    runtime: RuntimeDep,
) -> HTMLResponse:
    try:
        with runtime.reading() as session:
            _page, handle = page_views.link_holder(session, token, runtime.clock())
    except NotFound as exc:
        return _html("Link not valid", f"<p>{escape(exc.message)}</p>", 404)
    page = runtime.write(lambda op: page_stops.acknowledge_with_link(op, token), by=handle, at=None)
    about = _describe(page, runtime)
    return _html("Acknowledged", about + f'<p class="done">{_state_text(page)}</p>')


FEED_PAST = timedelta(days=7)
FEED_AHEAD = timedelta(days=90)


@links.get("/calendar/{token}.ics", summary="A subscribed calendar feed", include_in_schema=False)
def calendar_feed(token: Annotated[str, Path(max_length=100)], runtime: RuntimeDep) -> Response:
    """The shifts of the last week and the next 90 days, for calendar apps that poll the URL
    (``warroom schedule feed NAME``); the signed URL is the credential."""
    now = runtime.clock()
    try:
        with runtime.reading() as session:
            schedule_id, person_id = acklinks.verify_feed(session, token, now)
            schedule = session.get(Schedule, schedule_id)
            someone = session.get(Person, person_id) if person_id else None
            if schedule is None or (person_id and someone is None):
                raise NotFound("this calendar feed does not exist")
            body = oncall.calendar(
                session,
                schedule,
                now - FEED_PAST,
                now + FEED_AHEAD,
                someone.handle if someone else None,
            )
    except NotFound:
        return Response(status_code=404)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=900"},
    )


def _state_text(page: Page) -> str:
    if page.state is PageState.ACKNOWLEDGED and page.acknowledged_by is not None:
        return f"Acknowledged by {escape(page.acknowledged_by.handle)}: the escalation stopped."
    return {
        PageState.ACKNOWLEDGED: "Already acknowledged.",
        PageState.EXHAUSTED: "Every tier was paged; nobody acknowledged in time.",
        PageState.ENDED: "Paging has ended: the incident is resolved or no longer needs it.",
    }.get(page.state, "Open.")
