"""``GET /api/v1/events``: the timeline of every incident as server-sent events.

Clients resume with ``Last-Event-ID`` (a browser's reconnection sends it), else ``?after=``.
Events are read from the timeline by id. On PostgreSQL ids are handed out before their
transaction commits, so a later id can become visible before an earlier one: a gap in the ids
is waited on until every transaction that was writing when it was seen has ended (a
rolled-back one leaves a gap for ever), at most ``GAP_LIMIT_SECONDS``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from warroom.db.models import ApiToken, TimelineEvent
from warroom.revocations import REVOCATIONS
from warroom.runtime import Runtime
from warroom.services.webhooks import event_payload
from warroom.wakeup import Wakeup
from warroom.web.deps import RuntimeDep, Viewer

router = APIRouter(prefix="/api/v1")

POLL_SECONDS = 0.25
TICK_SECONDS = 0.05  # how often a stream looks whether this process committed something
# A writer takes its row's id a moment before its transaction id: a gap is not passed over
# sooner than this, even once no writer seen with it is left.
GAP_GRACE_SECONDS = 0.5
# A long transaction of something else (a migration, a bulk import) must not hold the stream
# up for its whole length.
GAP_LIMIT_SECONDS = 30.0
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


# The transactions writing at this moment (PostgreSQL): one of them may hold a missing id.
WRITING = text("SELECT x::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) AS x")


@dataclass
class Gap:
    """Ids missing before a visible one, and the transactions that were writing when that
    was seen."""

    seen_at: float
    writers: list[int]

    @classmethod
    def seen(cls, session: Session) -> Gap:
        postgresql = session.get_bind().dialect.name == "postgresql"
        writers = list(session.scalars(WRITING)) if postgresql else []
        return cls(time.monotonic(), writers)

    def passable(self, session: Session) -> bool:
        """Whether the missing ids will never come. On SQLite one transaction writes at a
        time, in id order: a gap is a rollback's, at once."""
        if session.get_bind().dialect.name != "postgresql":
            return True
        waited = time.monotonic() - self.seen_at
        if waited >= GAP_LIMIT_SECONDS:
            return True
        if waited < GAP_GRACE_SECONDS:
            return False
        still = set(session.scalars(WRITING)).intersection(self.writers)
        self.writers = sorted(still)
        return not still


def _read(runtime: Runtime, last: int, gap: Gap | None) -> tuple[list[str], int, Gap | None]:
    """The frames of the events after ``last`` that may be sent now, in id order."""
    frames = []
    with runtime.reading() as session:
        rows = session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.id > last)
            .order_by(TimelineEvent.id)
            .limit(BATCH)
        ).all()
        for row in rows:
            if row.id != last + 1:
                gap = gap or Gap.seen(session)
                if not gap.passable(session):
                    break
            gap = None
            payload = event_payload(row, row.actor.handle if row.actor else None)
            frames.append(f"id: {row.id}\nevent: {row.kind.value}\ndata: {json.dumps(payload)}\n\n")
            last = row.id
    return frames, last, gap


async def _changed(wakeup: Wakeup, seen: int, timeout: float) -> int:
    """Wait for a commit of this process, or ``timeout`` seconds, on the event loop: an open
    stream holds no thread between reads, so dashboards cannot use up the API's threads."""
    ends = time.monotonic() + timeout
    while wakeup.generation == seen and time.monotonic() < ends:
        await anyio.sleep(TICK_SECONDS)
    return wakeup.generation


async def _frames(
    runtime: Runtime, after: int, limit: int | None, token_id: int
) -> AsyncIterator[str]:
    last, sent = after, 0
    gap: Gap | None = None
    quiet_since = checked_at = time.monotonic()
    # None: the token is checked once more as the stream starts (a revocation may have come
    # after it was authenticated, from the cache).
    revocations: int | None = None
    seen = runtime.wakeup.generation
    # The id of where the stream starts: a client that loses the connection before the first
    # event resumes from here, not from whatever is newest when it comes back.
    yield f"retry: 2000\nid: {after}\n\n"
    while limit is None or sent < limit:
        frames, last, gap = await run_in_threadpool(_read, runtime, last, gap)
        for frame in frames:
            yield frame
            sent += 1
            quiet_since = time.monotonic()
            if limit is not None and sent >= limit:
                return
        if time.monotonic() - checked_at > HEARTBEAT_SECONDS or revocations != REVOCATIONS.count:
            checked_at, revocations = time.monotonic(), REVOCATIONS.count
            # A revoked token loses its stream too: at once when this node hears of it (see
            # warroom.revocations), else at the next heartbeat.
            if not await run_in_threadpool(_token_valid, runtime, token_id):
                yield "event: revoked\ndata: {}\n\n"
                return
        if time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
            quiet_since = time.monotonic()
            yield ": still here\n\n"
        seen = await _changed(runtime.wakeup, seen, POLL_SECONDS)


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
    # A reconnecting browser repeats the URL it first opened (with its ``after``) and adds
    # Last-Event-ID: that is where it is.
    start = after
    resume = (last_event_id or "").strip()
    if resume.isascii() and resume.isdigit():
        start = min(int(resume[:20]), MAX_ID)
    if start is None:
        start = _latest(runtime)  # a new subscriber starts with what happens next
    return StreamingResponse(
        _frames(runtime, start, limit, _caller.token_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
