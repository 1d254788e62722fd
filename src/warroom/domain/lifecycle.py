"""The incident lifecycle of product.md §3: the stage table as data, and one ``transition()``.

Each :class:`Edge` says which move takes an incident from which stages to which stage, and
which guards must pass. ``transition()`` finds the edge, runs its guards and returns an
:class:`Outcome` describing what changed; it never touches storage and never reads the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from warroom.domain.durations import humanize
from warroom.domain.errors import BadInput, Refused
from warroom.domain.facts import ClosureEvidence, IncidentFacts
from warroom.domain.policy import Policy
from warroom.domain.timefmt import utc_text
from warroom.domain.types import ACTIVE_STAGES, Move, Severity, Stage


@dataclass(frozen=True)
class MoveRequest:
    move: Move
    at: datetime
    actor: str
    severity: Severity | None = None
    reason: str | None = None
    permanent: bool = False
    evidence: ClosureEvidence = field(default_factory=ClosureEvidence)
    merge_target: IncidentFacts | None = None


@dataclass(frozen=True)
class Outcome:
    move: Move
    source: Stage
    stage: Stage
    entered: tuple[Stage, ...]
    severity: Severity | None
    declares: bool


@dataclass(frozen=True)
class Ctx:
    incident: IncidentFacts
    request: MoveRequest
    policy: Policy

    @property
    def severity(self) -> Severity | None:
        """The severity the move works with: the one it names, else the incident's."""
        return self.request.severity or self.incident.severity


Guard = Callable[[Ctx], Refused | None]
Selector = Callable[[Ctx], bool]


def _always(ctx: Ctx) -> bool:
    return True


@dataclass(frozen=True)
class Edge:
    move: Move
    sources: frozenset[Stage]
    target: Stage
    when: Selector = _always
    guards: tuple[Guard, ...] = ()
    then: tuple[Stage, ...] = ()


def _stages(*stages: Stage) -> frozenset[Stage]:
    return frozenset(stages)


# --- guards -------------------------------------------------------------------------------


def severity_known(ctx: Ctx) -> Refused | None:
    if ctx.severity is None:
        raise BadInput(
            f"{ctx.incident.label} has no severity yet: name one, e.g. "
            f"`warroom {ctx.request.move.value} {ctx.incident.label} SEV1`"
        )
    return None


def not_a_ticket(ctx: Ctx) -> Refused | None:
    if ctx.severity is Severity.SEV3:
        return Refused(
            "sev3-is-a-ticket",
            f"{ctx.incident.label} is SEV3: a low-impact ticket is never declared",
            hint="Triage it as SEV3 to put it in the backlog, or raise its severity first.",
        )
    return None


def not_yet_declared(ctx: Ctx) -> Refused | None:
    if ctx.incident.declared:
        return Refused(
            "illegal-move",
            f"{ctx.incident.label} was already declared at {utc_text(ctx.incident.declared_at)}",
            hint="Change its severity with `warroom severity` instead.",
        )
    return None


def sev2_only(ctx: Ctx) -> Refused | None:
    if ctx.incident.severity is not Severity.SEV2:
        level = ctx.incident.severity.value if ctx.incident.severity else "an unclassified incident"
        return Refused(
            "illegal-move",
            f"{ctx.incident.label} is {level}: only a SEV2 goes from triaged to investigating",
            hint=f"Declare it first: `warroom declare {ctx.incident.label}`."
            if ctx.incident.severity and ctx.incident.severity.is_major
            else "Set its severity (SEV2) first.",
        )
    return None


def merge_target_active(ctx: Ctx) -> Refused | None:
    target = ctx.request.merge_target
    if target is None:
        raise BadInput("merge needs the incident it duplicates: --into ID")
    if target.number == ctx.incident.number:
        raise BadInput(f"{ctx.incident.label} cannot be merged into itself")
    if not target.stage.is_active:
        survivor = f"INC-{target.merged_into}" if target.merged_into is not None else None
        return Refused(
            "merge-target-inactive",
            f"{target.label} is {target.stage.value}: merge only into an active incident",
            hint=f"{target.label} was merged into {survivor}: merge into {survivor} instead."
            if survivor
            else f"Reopen {target.label} first, or dismiss {ctx.incident.label} as a duplicate.",
        )
    return None


def reason_given(ctx: Ctx) -> Refused | None:
    if not (ctx.request.reason or "").strip():
        raise BadInput(f"{ctx.request.move.value} needs a reason: --reason TEXT")
    return None


def not_merged(ctx: Ctx) -> Refused | None:
    if ctx.incident.merged_into is not None:
        return Refused(
            "merged-incident",
            f"{ctx.incident.label} was merged into INC-{ctx.incident.merged_into}",
            hint=f"Work on INC-{ctx.incident.merged_into} instead.",
        )
    return None


def postmortem_applicable(ctx: Ctx) -> Refused | None:
    incident = ctx.incident
    if incident.dismissed or incident.merged_into is not None:
        why = "was dismissed" if incident.dismissed else "was merged into another incident"
        return Refused(
            "postmortem-not-applicable",
            f"{incident.label} {why}: it takes no post-mortem",
            hint="Reopen it if it was a real incident after all.",
        )
    if incident.severity is Severity.SEV3:
        return Refused(
            "postmortem-not-applicable",
            f"{incident.label} is a SEV3 ticket: it takes no post-mortem",
            hint="List it for the sprint retrospective instead.",
        )
    return None


def closure_window(ctx: Ctx) -> Refused | None:
    window = ctx.policy.lifecycle.monitoring_window
    since = ctx.incident.stage_entered_at
    stable_for = ctx.request.at - since
    if stable_for >= window:
        return None
    return Refused(
        "closure-window",
        f"{ctx.incident.label} has been in monitoring for {humanize(stable_for)}; "
        f"closing needs {humanize(window)} of stability",
        hint=f"Keep monitoring: it can close from {utc_text(since + window)}.",
    )


def _window_start(ctx: Ctx) -> datetime:
    return ctx.request.at - ctx.policy.lifecycle.monitoring_window


def closure_customer_report(ctx: Ctx) -> Refused | None:
    start = _window_start(ctx)
    recent = [t for t in ctx.request.evidence.customer_reports if start < t <= ctx.request.at]
    if not recent:
        return None
    last = max(recent)
    window = ctx.policy.lifecycle.monitoring_window
    return Refused(
        "closure-customer-report",
        f"a customer report arrived at {utc_text(last)}, inside the {humanize(window)} window",
        hint="Check it; if it is unrelated, the incident can close from "
        f"{utc_text(last + window)}.",
    )


def closure_alert_fired(ctx: Ctx) -> Refused | None:
    start = _window_start(ctx)
    fired = [t for t in ctx.request.evidence.alerts_fired if start < t <= ctx.request.at]
    if not fired:
        return None
    last = max(fired)
    window = ctx.policy.lifecycle.monitoring_window
    return Refused(
        "closure-alert-fired",
        f"a linked alert fired at {utc_text(last)}, inside the {humanize(window)} window",
        hint=f"Investigate it; the incident can close from {utc_text(last + window)} "
        "if it stays quiet.",
    )


def closure_alerts_open(ctx: Ctx) -> Refused | None:
    count = ctx.request.evidence.open_alerts
    if count == 0:
        return None
    return Refused(
        "closure-alerts-open",
        f"{count} linked alert{'s are' if count > 1 else ' is'} still firing",
        hint="Close only once every linked alert has resolved.",
    )


def closers(incident: IncidentFacts) -> set[str]:
    """Who may confirm a closure: the IC of a SEV0/SEV1, the responder (or an IC) of a SEV2."""
    if incident.severity is not None and incident.severity.is_major:
        candidates = {incident.ic}
    else:
        candidates = {incident.responder, incident.ic}
    return {person for person in candidates if person is not None}


def closure_confirmer(ctx: Ctx) -> Refused | None:
    incident, actor = ctx.incident, ctx.request.actor
    allowed = closers(incident)
    if actor in allowed:
        return None
    major = incident.severity is not None and incident.severity.is_major
    role = "Incident Commander" if major else "responder"
    holders = ", ".join(sorted(allowed)) or "nobody yet"
    return Refused(
        "closure-confirmer",
        f"{actor} cannot close {incident.label}: only its {role} can ({holders})",
        hint=f"Ask {holders} to close it, or hand the role over with `warroom role`."
        if allowed
        else f"Assign a {role} with `warroom role` first.",
    )


CLOSURE_CRITERIA: tuple[Guard, ...] = (
    closure_window,
    closure_customer_report,
    closure_alert_fired,
    closure_alerts_open,
    closure_confirmer,
)


def _reopens_to_triage(ctx: Ctx) -> bool:
    return ctx.incident.dismissed or ctx.incident.severity in (None, Severity.SEV3)


def _unclassified(ctx: Ctx) -> bool:
    return ctx.incident.severity is None


def _is_sev3(ctx: Ctx) -> bool:
    return ctx.severity is Severity.SEV3


# --- the table ------------------------------------------------------------------------------

ACTIVE = frozenset(ACTIVE_STAGES)

EDGES: tuple[Edge, ...] = (
    Edge(Move.TRIAGE, _stages(Stage.DETECTED), Stage.TRIAGED, guards=(severity_known,)),
    # A dismissed detection reopens to triaged without a severity; triage gives it one.
    Edge(
        Move.TRIAGE,
        _stages(Stage.TRIAGED),
        Stage.TRIAGED,
        when=_unclassified,
        guards=(severity_known,),
    ),
    Edge(Move.DISMISS, ACTIVE, Stage.CLOSED, guards=(reason_given,)),
    Edge(Move.MERGE, ACTIVE, Stage.CLOSED, guards=(merge_target_active,)),
    Edge(
        Move.DECLARE,
        _stages(Stage.DETECTED),
        Stage.DECLARED,
        guards=(severity_known, not_a_ticket),
        then=(Stage.TRIAGED,),
    ),
    Edge(
        Move.DECLARE,
        _stages(Stage.TRIAGED),
        Stage.DECLARED,
        guards=(severity_known, not_a_ticket),
    ),
    Edge(
        Move.DECLARE,
        _stages(Stage.INVESTIGATING),
        Stage.INVESTIGATING,
        guards=(not_a_ticket, not_yet_declared),
    ),
    Edge(Move.INVESTIGATE, _stages(Stage.DECLARED), Stage.INVESTIGATING),
    Edge(Move.INVESTIGATE, _stages(Stage.TRIAGED), Stage.INVESTIGATING, guards=(sev2_only,)),
    Edge(Move.INVESTIGATE, _stages(Stage.MITIGATED, Stage.MONITORING), Stage.INVESTIGATING),
    Edge(Move.BACKLOG, _stages(Stage.TRIAGED), Stage.BACKLOG, when=_is_sev3),
    Edge(Move.CLOSE, _stages(Stage.BACKLOG), Stage.CLOSED),
    Edge(Move.MITIGATE, _stages(Stage.INVESTIGATING), Stage.MITIGATED),
    Edge(Move.RESOLVE, _stages(Stage.MITIGATED), Stage.RESOLVED),
    Edge(Move.MONITOR, _stages(Stage.RESOLVED), Stage.MONITORING),
    Edge(Move.CLOSE, _stages(Stage.MONITORING), Stage.CLOSED, guards=CLOSURE_CRITERIA),
    Edge(
        Move.REOPEN,
        _stages(Stage.CLOSED),
        Stage.TRIAGED,
        when=_reopens_to_triage,
        guards=(reason_given, not_merged),
    ),
    Edge(
        Move.REOPEN, _stages(Stage.CLOSED), Stage.INVESTIGATING, guards=(reason_given, not_merged)
    ),
    Edge(
        Move.POSTMORTEM,
        _stages(Stage.CLOSED),
        Stage.POSTMORTEM_COMPLETE,
        guards=(postmortem_applicable,),
    ),
)

# Moves the platform makes by itself once a stage is entered (product.md §3: "automatic when
# triaged SEV3").
AUTOMATIC: tuple[tuple[Stage, Move], ...] = ((Stage.TRIAGED, Move.BACKLOG),)


# Guards that look only at the incident, never at what a request brings (a reason, a target,
# who asks): a move one of them refuses is refused whatever is sent, so no hint offers it.
STATE_GUARDS: frozenset[Guard] = frozenset(
    {not_a_ticket, not_yet_declared, sev2_only, not_merged, postmortem_applicable}
)


def allowed_moves(stage: Stage, ctx: Ctx | None = None) -> list[Move]:
    """The moves out of ``stage``; with ``ctx``, only those the incident's own state allows."""
    moves = set()
    for edge in EDGES:
        if stage not in edge.sources:
            continue
        if ctx is not None:
            probe = Ctx(
                ctx.incident, replace(ctx.request, move=edge.move, severity=None), ctx.policy
            )
            if not edge.when(probe) or any(
                guard(probe) is not None for guard in edge.guards if guard in STATE_GUARDS
            ):
                continue
        moves.add(edge.move)
    return sorted(moves, key=list(Move).index)


def _find_edge(ctx: Ctx) -> Edge | None:
    for edge in EDGES:
        if edge.move is ctx.request.move and ctx.incident.stage in edge.sources and edge.when(ctx):
            return edge
    return None


def _illegal(ctx: Ctx) -> Refused:
    stage, move = ctx.incident.stage, ctx.request.move
    choices = ", ".join(m.value for m in allowed_moves(stage, ctx) if m is not Move.BACKLOG)
    return Refused(
        "illegal-move",
        f"{ctx.incident.label} is {stage.value}: it cannot {move.value} from there",
        hint=f"From {stage.value} it can: {choices}." if choices else "It is finished.",
    )


def _first_refusal(ctx: Ctx, guards: tuple[Guard, ...]) -> Refused | None:
    refusals = [r for r in (guard(ctx) for guard in guards) if r is not None]
    if not refusals:
        return None
    first = refusals[0]
    if len(refusals) > 1:
        others = ", ".join(r.rule for r in refusals[1:])
        first.hint = f"{first.hint} Also unmet: {others}."
    return first


def check_not_before_stage(incident: IncidentFacts, at: datetime) -> None:
    if at < incident.stage_entered_at:
        raise BadInput(
            f"{utc_text(at, seconds=True)} is before {incident.label} entered "
            f"{incident.stage.value} ({utc_text(incident.stage_entered_at, seconds=True)}): "
            "a stage move cannot be dated earlier"
        )


def transition(incident: IncidentFacts, request: MoveRequest, policy: Policy) -> Outcome:
    """Apply one move to an incident, or raise :class:`Refused` naming the rule that refused."""
    check_not_before_stage(incident, request.at)
    ctx = Ctx(incident, request, policy)
    edge = _find_edge(ctx)
    if edge is None:
        raise _illegal(ctx)
    refusal = _first_refusal(ctx, edge.guards)
    if refusal is not None:
        raise refusal

    severity = ctx.severity
    entered = list(edge.then)
    if edge.target is not incident.stage:
        entered.append(edge.target)
    stage = edge.target
    for trigger, follow in AUTOMATIC:
        if stage is trigger:
            follow_ctx = Ctx(_at_stage(incident, stage, severity), request, policy)
            follow_edge = next(
                (
                    e
                    for e in EDGES
                    if e.move is follow and stage in e.sources and e.when(follow_ctx)
                ),
                None,
            )
            if follow_edge is not None:
                stage = follow_edge.target
                entered.append(stage)
    if request.permanent and request.move is Move.MITIGATE:
        entered.append(Stage.RESOLVED)
        stage = Stage.RESOLVED

    declares = Stage.DECLARED in entered or (request.move is Move.DECLARE and not incident.declared)
    return Outcome(
        move=request.move,
        source=incident.stage,
        stage=stage,
        entered=tuple(entered),
        severity=severity,
        declares=declares,
    )


def _at_stage(incident: IncidentFacts, stage: Stage, severity: Severity | None) -> IncidentFacts:
    return replace(incident, stage=stage, severity=severity)


def unmet_closure_criteria(
    incident: IncidentFacts, evidence: ClosureEvidence, policy: Policy, at: datetime
) -> list[Refused]:
    """The closure criteria that would refuse a closure at ``at``, whoever confirms it."""
    request = MoveRequest(Move.CLOSE, at, actor="", evidence=evidence)
    ctx = Ctx(incident, request, policy)
    found = (guard(ctx) for guard in CLOSURE_CRITERIA if guard is not closure_confirmer)
    return [refusal for refusal in found if refusal is not None]
