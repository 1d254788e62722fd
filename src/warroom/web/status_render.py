"""Every public representation of a :class:`Snapshot`: the page (Jinja2), the
Statuspage-compatible JSON (integrations.md §8) and the history feeds (§9a, feedgen).

Rendering is pure: the live server, the cache and the static export all call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from feedgen.feed import FeedGenerator
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from warroom.domain.statuspage import STATUS_LABEL, ComponentStatus, readable_on
from warroom.services.status_views import PublicComponent, PublicIncident, Snapshot

# The paths of the Statuspage-compatible JSON, under /api/v2/.
JSON_PATHS = (
    "summary.json",
    "status.json",
    "components.json",
    "incidents.json",
    "incidents/unresolved.json",
    "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json",
    "scheduled-maintenances/active.json",
)
FEED_ITEMS = 50


def stamp(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 with milliseconds and the page's offset (``Z`` for UTC)."""
    if moment is None:
        return None
    text = moment.astimezone(zone).isoformat(timespec="milliseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# -- JSON ---------------------------------------------------------------------------------


def _page(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "id": snapshot.page_id,
        "name": snapshot.name,
        "url": snapshot.url,
        "time_zone": snapshot.zone.key,
        "updated_at": stamp(snapshot.updated_at, snapshot.zone),
    }


def _component(snapshot: Snapshot, component: PublicComponent) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": component.public_id,
        "name": component.name,
        "status": component.status.value,
        "created_at": stamp(component.created_at, snapshot.zone),
        "updated_at": stamp(component.updated_at, snapshot.zone),
        "position": component.position,
        "description": component.description,
        "showcase": component.showcase,
        "start_date": component.start_date.isoformat() if component.start_date else None,
        "group_id": component.group_id,
        "page_id": snapshot.page_id,
        "group": component.is_group,
        "only_show_if_degraded": component.only_show_if_degraded,
    }
    if component.is_group:
        data["components"] = list(component.children)
    return data


def _moved(
    affected: tuple[dict[str, Any], ...] | None, existing: set[str]
) -> list[dict[str, Any]] | None:
    """The components an update moved, among those that still exist (a removed component
    vanishes from every list)."""
    moved = [
        item
        for item in affected or ()
        if item["code"] in existing and item["old_status"] != item["new_status"]
    ]
    return moved or None


def _incident(snapshot: Snapshot, incident: PublicIncident) -> dict[str, Any]:
    zone = snapshot.zone
    existing = {c.public_id for c in snapshot.components}
    return {
        "id": incident.public_id,
        "name": incident.name,
        "status": incident.status.value,
        "impact": incident.impact.value,
        "created_at": stamp(incident.created_at, zone),
        "updated_at": stamp(incident.updated_at, zone),
        "monitoring_at": stamp(incident.monitoring_at, zone),
        "resolved_at": stamp(incident.resolved_at, zone),
        "started_at": stamp(incident.started_at, zone),
        "shortlink": f"{snapshot.url}/status/incidents/{incident.public_id}",
        "page_id": snapshot.page_id,
        "incident_updates": [
            {
                "id": update.public_id,
                "status": update.status.value,
                "body": update.body,
                "incident_id": incident.public_id,
                "created_at": stamp(update.created_at, zone),
                "updated_at": stamp(update.created_at, zone),
                "display_at": stamp(update.at, zone),
                "affected_components": _moved(update.affected, existing),
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for update in incident.updates
        ],
        "components": [
            {"id": public_id, "name": name, "status": status.value}
            for public_id, name, status in incident.components
        ],
    }


def json_documents(snapshot: Snapshot) -> dict[str, bytes]:
    """Every JSON path (relative to /api/v2/) and its body."""
    page = _page(snapshot)
    status = {
        "indicator": snapshot.indicator.indicator,
        "description": snapshot.indicator.description,
    }
    components = [_component(snapshot, c) for c in snapshot.components]
    recent = [_incident(snapshot, i) for i in snapshot.incidents[:50]]
    unresolved = [_incident(snapshot, i) for i in snapshot.unresolved]
    documents: dict[str, dict[str, Any]] = {
        "summary.json": {
            "page": page,
            "status": status,
            "components": components,
            "incidents": unresolved,
            "scheduled_maintenances": [],
        },
        "status.json": {"page": page, "status": status},
        "components.json": {"page": page, "components": components},
        "incidents.json": {"page": page, "incidents": recent},
        "incidents/unresolved.json": {"page": page, "incidents": unresolved},
        # Scheduled maintenance is not modelled yet: always-empty lists, never null.
        "scheduled-maintenances.json": {"page": page, "scheduled_maintenances": []},
        "scheduled-maintenances/upcoming.json": {"page": page, "scheduled_maintenances": []},
        "scheduled-maintenances/active.json": {"page": page, "scheduled_maintenances": []},
    }
    return {path: orjson.dumps(body) for path, body in documents.items()}


# -- HTML ---------------------------------------------------------------------------------

_templates = Environment(
    loader=PackageLoader("warroom.web", "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)

_BANNER = {
    "none": "ok",
    "maintenance": "maintenance",
    "minor": "minor",
    "major": "major",
    "critical": "critical",
}


def _local(snapshot: Snapshot):  # type: ignore[no-untyped-def]
    def format_time(moment: datetime | None, with_date: bool = True) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(snapshot.zone)
        text = local.strftime("%b %d, %Y %H:%M" if with_date else "%H:%M")
        return f"{text} {local.tzname()}"

    return format_time


def _paragraphs(text: str) -> Markup:
    parts = [p.strip() for p in text.split("\n\n") if p.strip()]
    return Markup("").join(Markup("<p>{}</p>").format(p) for p in parts)


@dataclass(frozen=True)
class Stale:
    """Served while the database is unreachable: the snapshot's age, shown on the page."""

    since: datetime
    minutes: int


def page_html(snapshot: Snapshot, *, stale: Stale | None = None) -> str:
    visible = [
        c
        for c in snapshot.components
        if c.group_id is None
        and (not c.only_show_if_degraded or c.status is not ComponentStatus.OPERATIONAL)
    ]
    children = {c.public_id: c for c in snapshot.components if c.group_id is not None}
    resolved = [i for i in snapshot.incidents if i.resolved]
    return _templates.get_template("status/page.html").render(
        s=snapshot,
        banner=_BANNER[snapshot.indicator.indicator],
        components=visible,
        children=children,
        active=snapshot.unresolved,
        past=resolved[:20],
        stale=stale,
        when=_local(snapshot),
        paragraphs=_paragraphs,
        labels=STATUS_LABEL,
        on_accent=readable_on(snapshot.accent),
    )


def incident_html(snapshot: Snapshot, incident: PublicIncident, *, stale: Stale | None) -> str:
    return _templates.get_template("status/incident.html").render(
        s=snapshot,
        incident=incident,
        stale=stale,
        when=_local(snapshot),
        paragraphs=_paragraphs,
        labels=STATUS_LABEL,
        on_accent=readable_on(snapshot.accent),
    )


def form_html(snapshot: Snapshot, template: str, **context: Any) -> str:
    return _templates.get_template(f"status/{template}").render(
        s=snapshot, on_accent=readable_on(snapshot.accent), stale=None, **context
    )


# -- feeds --------------------------------------------------------------------------------


def _feed(snapshot: Snapshot) -> FeedGenerator:
    feed = FeedGenerator()
    host = snapshot.url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "warroom"
    # A tag URI's date only has to be one when the name was held: a fixed one keeps the id.
    feed.id(f"tag:{host},2026:{snapshot.page_id}/history")
    feed.title(f"{snapshot.name} - Incident History")
    feed.description(f"Incidents on {snapshot.name}")
    feed.link(href=f"{snapshot.url}/status", rel="alternate")
    feed.updated(snapshot.updated_at.astimezone(UTC))
    feed.language("en")
    for incident in reversed(snapshot.incidents[:FEED_ITEMS]):
        # feedgen keeps entries newest-first when added oldest-first.
        entry = feed.add_entry()
        link = f"{snapshot.url}/status/incidents/{incident.public_id}"
        created_year = incident.created_at.year
        entry.id(f"tag:{host},{created_year}:Incident/{incident.public_id}")
        entry.guid(f"tag:{host},{created_year}:Incident/{incident.public_id}", permalink=False)
        entry.title(incident.name)
        entry.link(href=link, rel="alternate")
        entry.published(incident.created_at.astimezone(UTC))
        entry.updated(incident.updated_at.astimezone(UTC))
        body = "".join(
            f"<p><small>{escape(_local(snapshot)(u.at))}</small><br>"
            f"<strong>{escape(STATUS_LABEL[u.status])}</strong> - {escape(u.body)}</p>"
            for u in incident.updates
        )
        entry.content(body, type="html")
        entry.description(body)
    return feed


def atom(snapshot: Snapshot) -> bytes:
    feed = _feed(snapshot)
    feed.link(href=f"{snapshot.url}/status/history.atom", rel="self")
    return bytes(feed.atom_str(pretty=False))


def rss(snapshot: Snapshot) -> bytes:
    return bytes(_feed(snapshot).rss_str(pretty=False))


# -- the static export --------------------------------------------------------------------


def files(snapshot: Snapshot) -> dict[str, bytes]:
    """The whole public surface as files, by path relative to the export's root, laid out
    like the URLs so any web server can serve the directory as it is. Incident pages come
    first: written in this order, every page and document that links to one finds it."""
    found = {
        f"status/incidents/{incident.public_id}/index.html": incident_html(
            snapshot, incident, stale=None
        ).encode()
        for incident in snapshot.incidents
    }
    for path, body in json_documents(snapshot).items():
        found[f"api/v2/{path}"] = body
    found["status/index.html"] = page_html(snapshot).encode()
    found["status/history.atom"] = atom(snapshot)
    found["status/history.rss"] = rss(snapshot)
    return found
