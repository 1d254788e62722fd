"""``GET /api/v1/events``: the timeline of every incident as server-sent events.

Clients resume with ``Last-Event-ID`` (or ``?after=``). Events are read from the timeline by
id. Ids are handed out before their transaction commits, so a later id can become visible
before an earlier one: a gap in the ids is waited on for a moment before it is passed over
(a rolled-back transaction leaves a gap for ever).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from warroom.db.models import ApiToken, TimelineEvent
from warroom.runtime import Runtime
from warroom.services.webhooks import event_payload
from warroom.web.deps import RuntimeDep, Viewer

router = APIRouter(prefix="/api/v1")

POLL_SECONDS = 0.25
GAP_PATIENCE_SECONDS = 2.0
HEARTBEAT_SECONDS = 15.0
MAX_ID = 2**63 - 1
BATCH = 200


def _latest(runtime: Runtime) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.max(TimelineEvent.id))) or 0


def _token_valid(runtime: Runtime, token_id: int) -> bool:
    with runtime.reading() as session:
        token = session.get(ApiToken, token_id)
        return token is not None and token.revoked_at is None


def _frames(runtime: Runtime, after: int, limit: int | None, token_id: int) -> Iterator[str]:
    last, sent = after, 0
    gap_since: float | None = None
    quiet_since = checked_at = time.monotonic()
    seen = runtime.wakeup.generation
    yield "retry: 2000\n\n"
    while limit is None or sent < limit:
        with runtime.reading() as session:
            rows = session.scalars(
                select(TimelineEvent)
                .where(TimelineEvent.id > last)
                .order_by(TimelineEvent.id)
                .limit(BATCH)
            ).all()
            frames = []
            for row in rows:
                if row.id != last + 1:
                    gap_since = gap_since or time.monotonic()
                    if time.monotonic() - gap_since < GAP_PATIENCE_SECONDS:
                        break
                gap_since = None
                payload = event_payload(row, row.actor.handle if row.actor else None)
                frames.append(
                    f"id: {row.id}\nevent: {row.kind.value}\ndata: {json.dumps(payload)}\n\n"
                )
                last = row.id
        for frame in frames:
            yield frame
            sent += 1
            quiet_since = time.monotonic()
            if limit is not None and sent >= limit:
                return
        if time.monotonic() - checked_at > HEARTBEAT_SECONDS:
            checked_at = time.monotonic()
            if not _token_valid(runtime, token_id):  # a revoked token loses its stream too
                yield "event: revoked\ndata: {}\n\n"
                return
        if time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
            quiet_since = time.monotonic()
            yield ": still here\n\n"
        seen = runtime.wakeup.wait(seen, POLL_SECONDS)


@router.get("/events", summary="Live timeline events (server-sent events)")
def events_route(
    runtime: RuntimeDep,
    _caller: Viewer,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Send events after this id.")
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=10_000, description="Close after this many.")
    ] = None,
) -> StreamingResponse:
    start = after if after is not None else None
    if start is None and last_event_id and last_event_id.strip().isdigit():
        start = min(int(last_event_id.strip()), MAX_ID)
    if start is None:
        start = _latest(runtime)  # a new subscriber starts with what happens next
    return StreamingResponse(
        _frames(runtime, start, limit, _caller.token_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
