"""The worker's grouping step: alerts made durable by ingestion join or open incidents, a batch
per transaction, with the incidents' timers settled in the same transaction."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from warroom.db.engine import unit_of_work
from warroom.db.listen import announce
from warroom.domain.errors import Conflict
from warroom.domain.policy import Policy
from warroom.jobs.deliveries import Writer
from warroom.metrics import ALERTS_GROUPED
from warroom.services.alerts import BATCH, fold_intake, group_pending
from warroom.services.records import Op
from warroom.services.timers import SYSTEM_ACTOR, settle

log = logging.getLogger("warroom.worker")


def group_alerts(
    sessions: sessionmaker[Session],
    policy: Policy,
    *,
    now: datetime,
    limit: int = BATCH,
    writer: Writer = nullcontext,
) -> int:
    """One step: settle up to ``limit`` pending alerts; returns how many."""
    try:
        with writer(), unit_of_work(sessions) as session:
            fold_intake(session)
        with writer(), unit_of_work(sessions) as session:
            op = Op(session=session, policy=policy, actor=SYSTEM_ACTOR, at=now, now=now)
            done = group_pending(op, limit)
            if done:
                settle(op)
                announce(session)
    except Conflict as lost:
        log.info("grouping pass rolled back: %s", lost.message)
        return 0  # nothing was written; the next pass reads the alerts afresh
    ALERTS_GROUPED.inc(done)
    return done
