"""Alerts into incidents: grouping, resolution, and what closure needs to know. (Listing and
moving alerts: :mod:`warroom.services.alert_views`.)

Ingestion only makes alerts durable (:mod:`warroom.ingest.store`) and marks them ``pending``;
the worker runs :func:`group_pending` promptly after, in transactions of its own. An alert
joins the active incident of its grouping key (e.g. ``service=checkout``) whose last alert came
in within the group window; otherwise it opens a new incident in ``detected`` with the
proposal of :func:`warroom.domain.alerts.propose`. An alert first seen already resolved opens
nothing: nothing is wrong any more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from warroom.db.alert_models import Alert, Integration
from warroom.db.models import Incident, Service
from warroom.domain.actions import notification_actions
from warroom.domain.alerts import (
    AlertSource,
    AlertStatus,
    Proposal,
    clip,
    group_key,
    propose,
    routed_service,
    service_name,
)
from warroom.domain.errors import BadInput, Conflict
from warroom.domain.facts import ClosureEvidence
from warroom.domain.types import ACTIVE_STAGES, EventKind, ReportSource, Stage
from warroom.ingest.store import Sql, settle
from warroom.services import directory
from warroom.services.incident_rows import created
from warroom.services.records import (
    Op,
    acknowledge_implied,
    add_actions,
    facts,
    record,
    service,
    touch,
)

BATCH = 1000
# What the timeline was told last (Alert.noted), as plain text: an enum's .value is slow in
# the loop over a storm's alerts.
FIRING, RESOLVED = AlertStatus.FIRING.value, AlertStatus.RESOLVED.value
TITLE_MAX = 300
LISTED = 3  # alerts named in a timeline entry; the rest are counted
# Serialises grouping across workers on PostgreSQL, so two alerts of one group arriving
# together open one incident, not two. (SQLite has one writer at a time anyway.)
GROUPING_LOCK = 0x5741_5252_4F4F_4D01
INTAKE = Sql("sqlite")  # SQLite's statements for the intake (decision 95)


@dataclass
class _Pass:
    """One grouping pass: what it looked up (each group and service once) and what it will
    tell each incident's timeline (one entry per incident and kind of change, not per alert:
    a storm of a thousand alerts is one line, not a thousand)."""

    op: Op
    groups: dict[str, Incident | None] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    incidents: dict[int, Incident] = field(default_factory=dict)
    joined: dict[int, list[Pending]] = field(default_factory=lambda: defaultdict(list))
    acknowledged: dict[int, list[Pending]] = field(default_factory=lambda: defaultdict(list))
    resolved: dict[int, list[Pending]] = field(default_factory=lambda: defaultdict(list))

    def incident(self, number: int) -> Incident:
        if number not in self.incidents:
            found = self.op.session.get(Incident, number)
            assert found is not None
            self.incidents[number] = found
        return self.incidents[number]

    def service(self, name: str) -> Service:
        if name not in self.services:
            self.services[name] = service(self.op, name)
        return self.services[name]

    def joinable(self, key: str) -> Incident | None:
        if key not in self.groups:
            self.groups.update(_joinable(self.op, {key}))
        return self.groups[key]

    def preload(self, services: set[str], groups: set[str]) -> None:
        """Each service and group the pass needs, in one query each."""
        if services:
            cleaned = {name.strip().lower(): name for name in services}
            for found in self.op.session.scalars(
                select(Service).where(Service.name.in_(list(cleaned)))
            ):
                self.services[cleaned[found.name]] = found
        if groups:
            self.groups.update(_joinable(self.op, groups))


@dataclass
class Pending:
    """What grouping reads of an alert, and the three things it changes: its incident, its
    service and what the timeline has been told. Plain rows, not ORM objects: a storm brings
    tens of thousands."""

    id: int
    source: AlertSource
    dedup_key: str
    status: AlertStatus
    summary: str
    labels: dict[str, str]
    severity_hint: str | None
    starts_at: datetime
    acknowledged_at: datetime | None
    incident_id: int | None
    service_id: int | None
    noted: str | None
    default_service: str
    service: Service | None = None
    read_incident: int | None = None  # as read: the settling update checks nothing moved it

    def __post_init__(self) -> None:
        self.read_incident = self.incident_id


PENDING = (
    select(
        Alert.id,
        Alert.source,
        Alert.dedup_key,
        Alert.status,
        Alert.summary,
        Alert.labels,
        Alert.severity_hint,
        Alert.starts_at,
        Alert.acknowledged_at,
        Alert.incident_id,
        Alert.service_id,
        Alert.noted,
        Service.name,
    )
    .join(Integration, Integration.id == Alert.integration_id)
    .join(Service, Service.id == Integration.service_id)
    .where(Alert.pending)
    .order_by(Alert.id)
)
# Only if the alert is as the pass read it: ingestion may have resolved or acknowledged it
# meanwhile, a merge or a move relinked it, or another worker settled it (SQLite has no row
# locks to keep two workers apart). Then the pass is rolled back and the next one reads afresh.
SETTLED = (
    update(Alert)
    .where(
        Alert.id == bindparam("b_id"),
        Alert.pending.is_(True),
        Alert.status == bindparam("b_status"),
        Alert.acknowledged_at.is_not_distinct_from(bindparam("b_acknowledged")),
        Alert.incident_id.is_not_distinct_from(bindparam("b_read_incident")),
    )
    .values(
        incident_id=bindparam("b_incident"),
        service_id=bindparam("b_service"),
        noted=bindparam("b_noted"),
        pending=False,
    )
    .execution_options(synchronize_session=False)
)


def fold_intake(session: Session) -> int:
    """Fold in the firing notices the ingestion writer appended and has not folded into
    alerts yet, or that a stopped process left behind (SQLite, decision 95). Its own short
    transaction, before a grouping pass: the pass itself only reads until it writes."""
    if session.get_bind().dialect.name == "postgresql":
        return 0
    return settle(session.connection().exec_driver_sql, INTAKE)


def group_pending(op: Op, limit: int = BATCH) -> int:
    """Tell incidents' timelines what their alerts did; open incidents for new groups."""
    session = op.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": GROUPING_LOCK})
    pending = [Pending(*row) for row in session.connection().execute(PENDING.limit(limit))]
    if not pending:
        return 0
    work = _Pass(op)
    # Each unlinked alert's service (after routing rules) and group. The severity proposal
    # waits until an alert opens an incident: in a storm most alerts join one.
    routes: dict[int, _Route] = {}
    for alert in pending:
        if alert.incident_id is None:
            name = service_name(alert.labels.get("service")) or alert.default_service
            routed = routed_service(alert.labels, name, op.policy) or alert.default_service
            key = group_key(alert.labels, routed, op.policy.alerts.group_by)
            routes[alert.id] = _Route(name, routed, key)
    work.preload({r.service for r in routes.values()}, {r.key for r in routes.values() if r.key})
    for alert in pending:
        _settle(work, alert, routes.get(alert.id))
    _settled(session, pending)
    _tell(work)
    session.flush()
    return len(pending)


@dataclass(frozen=True)
class _Route:
    name: str  # the service the alert names (or its integration's)
    service: str  # after routing rules
    key: str | None  # its group


def _settled(session: Session, pending: list[Pending]) -> None:
    """Write what the pass decided, each alert only if it is as the pass read it."""
    settled = session.connection().execute(
        SETTLED,
        [
            {
                "b_id": a.id,
                "b_status": a.status,
                "b_acknowledged": a.acknowledged_at,
                "b_read_incident": a.read_incident,
                "b_incident": a.incident_id,
                "b_service": a.service.id if a.service else a.service_id,
                "b_noted": a.noted,
            }
            for a in pending
        ],
    )
    if settled.rowcount != len(pending):
        raise Conflict(
            f"{len(pending) - settled.rowcount} alert(s) changed while being grouped; "
            "the next pass takes them"
        )


def _settle(work: _Pass, alert: Pending, route: _Route | None) -> None:
    if route is not None and not _group(work, alert, route):
        alert.noted = RESOLVED  # first seen resolved: nothing is wrong now
        return
    number = alert.incident_id
    assert number is not None
    if alert.acknowledged_at is not None and alert.noted == FIRING:
        alert.noted = "acknowledged"
        work.acknowledged[number].append(alert)
    if alert.status is AlertStatus.RESOLVED and alert.noted != RESOLVED:
        alert.noted = RESOLVED
        work.resolved[number].append(alert)


def _group(work: _Pass, alert: Pending, route: _Route) -> bool:
    """Attach the alert to its group's incident, or open one. ``False``: neither."""
    key = route.key
    alert.service = work.service(route.service)
    incident = work.joinable(key) if key else None
    if incident is None:
        if alert.status is AlertStatus.RESOLVED:
            return False
        op = work.op
        proposal = propose(alert.labels, alert.severity_hint, route.name, op.policy)
        incident = _open(op, alert, replace(proposal, service=route.service), key)
        work.incidents[incident.id] = incident
        if key:
            work.groups[key] = incident
    else:
        number = incident.id
        alert.incident_id = number
        work.joined[number].append(alert)
    alert.noted = FIRING
    return True


def _named(alerts: list[Pending]) -> str:
    named = "; ".join(f"#{a.id} {a.summary}" for a in alerts[:LISTED])
    more = len(alerts) - LISTED
    return named + (f"; and {more} more" if more > 0 else "")


def _sources(alerts: list[Pending]) -> str:
    sources = {a.source.value for a in alerts}
    return sources.pop() if len(sources) == 1 else "several sources"


def _tell(work: _Pass) -> None:
    op = work.op
    for number, alerts in work.joined.items():
        incident = work.incident(number)
        if len(alerts) == 1:
            [alert] = alerts
            summary = f"alert #{alert.id} joined from {alert.source.value}: {alert.summary}"
        else:
            summary = f"{len(alerts)} alerts joined from {_sources(alerts)}: {_named(alerts)}"
        # An alert joining changes no timer: the incident itself is left alone.
        record(op, incident, EventKind.ALERT, summary, change="joined", alerts=_ids(alerts))
    for number, alerts in work.acknowledged.items():
        incident = work.incident(number)
        source = _sources(alerts)
        record(
            op,
            incident,
            EventKind.ALERT,
            f"acknowledged in {source}: {_named(alerts)}",
            change="acknowledged",
            alerts=_ids(alerts),
        )
        if incident.stage.is_active and incident.acknowledged_at is None:
            acknowledge_implied(op, incident, f"alert acknowledged in {source}")
            touch(op, incident)  # the acknowledge target is met: its timers settle
    for number, alerts in work.resolved.items():
        incident = work.incident(number)
        still_open = _open_count(op.session, number)
        tail = (
            "; all linked alerts are resolved"
            if still_open == 0
            else f"; {still_open} linked alert{'s' if still_open > 1 else ''} still firing"
        )
        head = (
            f"alert #{alerts[0].id} resolved: {alerts[0].summary}"
            if len(alerts) == 1
            else f"{len(alerts)} alerts resolved: {_named(alerts)}"
        )
        record(
            op,
            incident,
            EventKind.ALERT,
            head + tail,
            change="resolved",
            alerts=_ids(alerts),
            open_alerts=still_open,
        )


def _ids(alerts: list[Pending]) -> list[int]:
    return [a.id for a in alerts]


def _joinable(op: Op, keys: set[str]) -> dict[str, Incident | None]:
    """For each group, its newest active incident that still has a firing alert, or whose
    last alert came in within the window. The last alert is the one with the highest id: an
    index lookup per incident."""
    since = op.now - op.policy.alerts.group_window
    last_alert = (
        select(Alert.first_seen_at)
        .where(Alert.incident_id == Incident.id)
        .order_by(Alert.id.desc())
        .limit(1)
        .correlate(Incident)
        .scalar_subquery()
    )
    still_firing = (
        select(Alert.id)
        .where(Alert.incident_id == Incident.id, Alert.status == AlertStatus.FIRING)
        .limit(1)
        .correlate(Incident)
        .exists()
    )
    found: dict[str, Incident | None] = dict.fromkeys(keys)
    rows = op.session.execute(
        select(Incident, last_alert, still_firing)
        .where(Incident.alert_group.in_(list(keys)), Incident.stage.in_(ACTIVE_STAGES))
        .order_by(Incident.id)
    )
    for incident, last, firing in rows:
        recent = firing or (last or incident.detected_at) >= since
        if recent and incident.alert_group is not None:
            found[incident.alert_group] = incident  # the newest wins
    # A group whose incident was merged as a duplicate follows it to the survivor.
    orphans = [key for key, incident in found.items() if incident is None]
    if orphans:
        merged = op.session.execute(
            select(Incident.alert_group, Incident.merged_into_id)
            .where(Incident.alert_group.in_(orphans), Incident.merged_into_id.is_not(None))
            .order_by(Incident.id)
        )
        for key, survivor_id in merged:
            survivor = op.session.get(Incident, survivor_id)
            if survivor is not None and survivor.stage.is_active and key is not None:
                found[key] = survivor
    return found


def _open(op: Op, alert: Pending, proposal: Proposal, key: str | None) -> Incident:
    # Detection is when the monitoring tool saw it start (never later than now): the
    # acknowledge target counts from there.
    detected = min(alert.starts_at, op.now)
    at = replace(op, at=detected)
    severity = proposal.severity
    incident = Incident(
        title=clip(" ".join(alert.summary.split()) or alert.dedup_key, TITLE_MAX),
        severity=severity,
        severity_confirmed=False,
        stage=Stage.DETECTED,
        stage_entered_at=detected,
        source=ReportSource.ALERT,
        service=alert.service,
        detected_at=detected,
        major_since=detected if severity is not None and severity.is_major else None,
        alert_group=key,
        created_at=op.now,
        updated_at=op.now,
    )
    op.session.add(incident)
    op.session.flush()
    op.touched[incident.id] = incident
    created(op.session, incident.id)
    alert.incident_id = incident.id
    proposed = f", proposed {severity.value}" if severity else ""
    record(
        at,
        incident,
        EventKind.DETECTED,
        f"detected by alert #{alert.id} from {alert.source.value}: {incident.title}{proposed}",
        source=ReportSource.ALERT.value,
        alert=alert.id,
        severity=severity.value if severity else None,
        service=alert.service.name if alert.service else None,
        team=proposal.team,
        group=key,
        reasons=list(proposal.reasons) or None,
    )
    if proposal.team:
        incident.team_id = _team_id(op, proposal.team)
    if severity is not None:
        # The proposal pages as the level says (product.md §3: paging uses the proposed
        # severity). The executive notification waits for a declaration.
        wanted = notification_actions(facts(op.session, incident), severity, op.policy, detected)
        add_actions(op, incident, [a for a in wanted if a.key in DETECTION_ACTIONS])
    return incident


DETECTION_ACTIONS = frozenset({"page-all-hands", "page-oncall", "notify-oncall"})


def _team_id(op: Op, name: str) -> int | None:
    """The routing rule's team, made on first use like a service; a name that cannot be a
    team's is left out (the detection entry still shows it)."""
    known: dict[str, int | None] = op.session.info.setdefault(ROUTED_TEAMS, {})
    if name not in known:
        try:
            known[name] = directory.save_team(op, name).id
        except BadInput:
            known[name] = None
    return known[name]


ROUTED_TEAMS = "warroom.routed-teams"


def _open_count(session: Session, incident_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.incident_id == incident_id, Alert.status == AlertStatus.FIRING)
        )
        or 0
    )


# --- closure ------------------------------------------------------------------------------


def closure_facts(session: Session, incident_id: int) -> dict[str, Any]:
    """What closure needs from linked alerts: when each started, and how many still fire."""
    rows = session.execute(
        select(Alert.starts_at, Alert.first_seen_at, Alert.status).where(
            Alert.incident_id == incident_id
        )
    ).all()
    # Prometheus dates an alert from before its `for:` delay: one first heard of inside the
    # monitoring window fired inside it, whatever start it claims.
    return {
        "alerts_fired": tuple(sorted(max(started, seen) for started, seen, _ in rows)),
        "open_alerts": sum(1 for _, _, status in rows if status is AlertStatus.FIRING),
    }


def with_alerts(session: Session, incident_id: int, evidence: ClosureEvidence) -> ClosureEvidence:
    return replace(evidence, **closure_facts(session, incident_id))
