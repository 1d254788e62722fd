"""The stage table of product.md §3, checked over every (stage, move, severity).

The expected table below is written from the specification, independently of the code's
table, so a wrong edge in either shows up as a failure.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from warroom.domain.errors import BadInput, Refused
from warroom.domain.facts import ClosureEvidence, IncidentFacts
from warroom.domain.lifecycle import MoveRequest, transition
from warroom.domain.policy import DEFAULT_POLICY
from warroom.domain.reclassify import reclassify
from warroom.domain.types import Move, Role, Severity, Stage

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
S = Stage
ACTIVE = {S.DETECTED, S.TRIAGED, S.DECLARED, S.INVESTIGATING, S.MITIGATED, S.RESOLVED, S.MONITORING}
DECLARED_STAGES = {S.DECLARED, S.INVESTIGATING, S.MITIGATED, S.RESOLVED, S.MONITORING, S.CLOSED}


def expected(stage: Stage, move: Move, sev: Severity) -> Stage | str:
    """The specification's answer: the final stage, or the id of the refusing rule."""
    sev3 = sev is Severity.SEV3
    if move in (Move.DISMISS, Move.MERGE):
        return S.CLOSED if stage in ACTIVE else "illegal-move"
    if move is Move.TRIAGE:
        return (S.BACKLOG if sev3 else S.TRIAGED) if stage is S.DETECTED else "illegal-move"
    if move is Move.DECLARE:
        if stage in (S.DETECTED, S.TRIAGED):
            return "sev3-is-a-ticket" if sev3 else S.DECLARED
        if stage is S.INVESTIGATING:
            if sev3:
                return "sev3-is-a-ticket"
            return S.INVESTIGATING if sev is Severity.SEV2 else "illegal-move"  # already declared
        return "illegal-move"
    if move is Move.INVESTIGATE:
        if stage in (S.DECLARED, S.MITIGATED, S.MONITORING):
            return S.INVESTIGATING
        if stage is S.TRIAGED:
            return S.INVESTIGATING if sev is Severity.SEV2 else "illegal-move"
        return "illegal-move"
    simple = {
        (Move.MITIGATE, S.INVESTIGATING): S.MITIGATED,
        (Move.RESOLVE, S.MITIGATED): S.RESOLVED,
        (Move.MONITOR, S.RESOLVED): S.MONITORING,
        (Move.CLOSE, S.MONITORING): S.CLOSED,
        (Move.CLOSE, S.BACKLOG): S.CLOSED,
    }
    if (move, stage) in simple:
        return simple[(move, stage)]
    if move is Move.BACKLOG:
        return S.BACKLOG if stage is S.TRIAGED and sev3 else "illegal-move"
    if move is Move.REOPEN:
        # A SEV3 reopens to triaged, and a triaged SEV3 goes on to the backlog by itself.
        return (S.BACKLOG if sev3 else S.INVESTIGATING) if stage is S.CLOSED else "illegal-move"
    if move is Move.POSTMORTEM:
        if stage is not S.CLOSED:
            return "illegal-move"
        return "postmortem-not-applicable" if sev3 else S.POSTMORTEM_COMPLETE
    return "illegal-move"


def incident(stage: Stage, sev: Severity, **changes: object) -> IncidentFacts:
    major = sev.is_major
    facts = IncidentFacts(
        number=7,
        title="checkout errors",
        severity=sev,
        stage=stage,
        stage_entered_at=NOW - timedelta(hours=2),
        detected_at=NOW - timedelta(hours=5),
        declared_at=NOW - timedelta(hours=4) if major and stage in DECLARED_STAGES else None,
        closed_at=NOW - timedelta(hours=2) if stage is S.CLOSED else None,
        roles={Role.IC: ("ic",)} if major else {Role.RESPONDER: ("responder",)},
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


def request(move: Move, sev: Severity, **changes: object) -> MoveRequest:
    base = MoveRequest(
        move=move,
        at=NOW,
        actor="ic" if sev.is_major else "responder",
        reason="because",
        merge_target=incident(S.INVESTIGATING, Severity.SEV1, number=8),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


CASES = [(stage, move, sev) for stage in Stage for move in Move for sev in Severity]


@pytest.mark.parametrize(("stage", "move", "sev"), CASES, ids=lambda v: str(v))
def test_it_allows_exactly_the_moves_of_the_stage_table(
    stage: Stage, move: Move, sev: Severity
) -> None:
    want = expected(stage, move, sev)
    facts = incident(stage, sev)
    if isinstance(want, Stage):
        outcome = transition(facts, request(move, sev), DEFAULT_POLICY)
        assert outcome.stage is want
    else:
        with pytest.raises(Refused) as refused:
            transition(facts, request(move, sev), DEFAULT_POLICY)
        assert refused.value.rule == want
        assert refused.value.hint


def test_it_records_every_stage_a_move_passes_through() -> None:
    outcome = transition(
        incident(S.DETECTED, Severity.SEV1, severity=None),
        request(Move.DECLARE, Severity.SEV1, severity=Severity.SEV1),
        DEFAULT_POLICY,
    )
    assert outcome.entered == (S.TRIAGED, S.DECLARED)
    assert outcome.declares is True
    triaged = transition(
        incident(S.DETECTED, Severity.SEV3), request(Move.TRIAGE, Severity.SEV3), DEFAULT_POLICY
    )
    assert triaged.entered == (S.TRIAGED, S.BACKLOG)


def test_it_resolves_with_a_permanent_mitigation() -> None:
    outcome = transition(
        incident(S.INVESTIGATING, Severity.SEV1),
        request(Move.MITIGATE, Severity.SEV1, permanent=True),
        DEFAULT_POLICY,
    )
    assert outcome.entered == (S.MITIGATED, S.RESOLVED)
    assert outcome.stage is S.RESOLVED


def test_it_declares_an_undeclared_sev2_in_place() -> None:
    outcome = transition(
        incident(S.INVESTIGATING, Severity.SEV2),
        request(Move.DECLARE, Severity.SEV2),
        DEFAULT_POLICY,
    )
    assert outcome.stage is S.INVESTIGATING
    assert outcome.entered == ()
    assert outcome.declares is True


def test_it_reopens_a_dismissed_incident_to_triage() -> None:
    outcome = transition(
        incident(S.CLOSED, Severity.SEV1, dismissed=True),
        request(Move.REOPEN, Severity.SEV1),
        DEFAULT_POLICY,
    )
    assert outcome.stage is S.TRIAGED


def test_it_needs_a_severity_to_triage_or_declare_a_detection() -> None:
    unclassified = incident(S.DETECTED, Severity.SEV1, severity=None)
    for move in (Move.TRIAGE, Move.DECLARE):
        with pytest.raises(BadInput, match="no severity yet"):
            transition(unclassified, request(move, Severity.SEV1), DEFAULT_POLICY)


def test_it_needs_a_reason_to_dismiss_or_reopen() -> None:
    with pytest.raises(BadInput, match="reason"):
        transition(
            incident(S.INVESTIGATING, Severity.SEV1),
            request(Move.DISMISS, Severity.SEV1, reason="  "),
            DEFAULT_POLICY,
        )
    with pytest.raises(BadInput, match="reason"):
        transition(
            incident(S.CLOSED, Severity.SEV1),
            request(Move.REOPEN, Severity.SEV1, reason=None),
            DEFAULT_POLICY,
        )


def test_it_refuses_a_post_mortem_for_a_dismissed_incident() -> None:
    with pytest.raises(Refused) as refused:
        transition(
            incident(S.CLOSED, Severity.SEV1, dismissed=True),
            request(Move.POSTMORTEM, Severity.SEV1),
            DEFAULT_POLICY,
        )
    assert refused.value.rule == "postmortem-not-applicable"


def test_it_refuses_to_merge_into_an_inactive_incident() -> None:
    closed = incident(S.CLOSED, Severity.SEV1, number=8)
    with pytest.raises(Refused) as refused:
        transition(
            incident(S.INVESTIGATING, Severity.SEV1),
            request(Move.MERGE, Severity.SEV1, merge_target=closed),
            DEFAULT_POLICY,
        )
    assert refused.value.rule == "merge-target-inactive"
    assert refused.value.hint == "Reopen INC-8 first, or dismiss INC-7 as a duplicate."


def test_it_offers_only_the_moves_the_incident_s_state_allows_when_refusing_one() -> None:
    declared = incident(S.INVESTIGATING, Severity.SEV1)
    with pytest.raises(Refused) as refused:
        transition(declared, request(Move.CLOSE, Severity.SEV1), DEFAULT_POLICY)
    assert refused.value.rule == "illegal-move"
    # Already declared: declaring again would be refused, so it is not offered.
    assert refused.value.hint == "From investigating it can: dismiss, merge, mitigate."
    ticket = incident(S.CLOSED, Severity.SEV3)
    with pytest.raises(Refused) as refused:
        transition(ticket, request(Move.RESOLVE, Severity.SEV3), DEFAULT_POLICY)
    assert refused.value.hint == "From closed it can: reopen."  # a SEV3 takes no post-mortem


def test_it_points_a_merge_into_a_merged_incident_at_its_survivor() -> None:
    merged = incident(S.CLOSED, Severity.SEV1, number=10, merged_into=8)
    with pytest.raises(Refused) as refused:
        transition(
            incident(S.INVESTIGATING, Severity.SEV1),
            request(Move.MERGE, Severity.SEV1, merge_target=merged),
            DEFAULT_POLICY,
        )
    assert refused.value.rule == "merge-target-inactive"
    assert refused.value.hint == "INC-10 was merged into INC-8: merge into INC-8 instead."


def test_it_refuses_a_move_dated_before_the_current_stage_began() -> None:
    facts = incident(S.INVESTIGATING, Severity.SEV1)
    # One second apart, in one minute: the message shows the seconds that tell them apart.
    with pytest.raises(
        BadInput,
        match=r"09:59:59 UTC is before INC-7 entered investigating \(2026-03-02 10:00:00 UTC\)",
    ):
        transition(
            facts,
            request(Move.MITIGATE, Severity.SEV1, at=facts.stage_entered_at - timedelta(seconds=1)),
            DEFAULT_POLICY,
        )


# --- closure criteria ------------------------------------------------------------------------


def monitoring_since(minutes: float, sev: Severity = Severity.SEV1) -> IncidentFacts:
    return incident(S.MONITORING, sev, stage_entered_at=NOW - timedelta(minutes=minutes))


def close(facts: IncidentFacts, **changes: object) -> Refused | None:
    sev = facts.severity or Severity.SEV1
    try:
        transition(facts, request(Move.CLOSE, sev, **changes), DEFAULT_POLICY)
    except Refused as refused:
        return refused
    return None


def test_it_refuses_closure_before_30_minutes_of_monitoring() -> None:
    refused = close(monitoring_since(10))
    assert refused is not None
    assert refused.rule == "closure-window"
    assert "10m" in refused.message
    assert "2026-03-02 12:20 UTC" in refused.hint


def test_it_closes_at_exactly_30_minutes_of_monitoring() -> None:
    assert close(monitoring_since(30)) is None
    assert close(monitoring_since(29.9)) is not None


def test_it_refuses_closure_after_a_customer_report_in_the_window() -> None:
    evidence = ClosureEvidence(customer_reports=(NOW - timedelta(minutes=5),))
    refused = close(monitoring_since(60), evidence=evidence)
    assert refused is not None
    assert refused.rule == "closure-customer-report"
    assert "2026-03-02 12:25 UTC" in refused.hint


def test_it_ignores_customer_reports_from_before_the_window() -> None:
    evidence = ClosureEvidence(customer_reports=(NOW - timedelta(minutes=31),))
    assert close(monitoring_since(60), evidence=evidence) is None


def test_it_refuses_closure_after_a_linked_alert_fired_in_the_window() -> None:
    evidence = ClosureEvidence(alerts_fired=(NOW - timedelta(minutes=1),))
    refused = close(monitoring_since(60), evidence=evidence)
    assert refused is not None
    assert refused.rule == "closure-alert-fired"


def test_it_refuses_closure_with_linked_alerts_still_open() -> None:
    refused = close(monitoring_since(60), evidence=ClosureEvidence(open_alerts=2))
    assert refused is not None
    assert refused.rule == "closure-alerts-open"


def test_it_lets_only_the_ic_close_a_sev1() -> None:
    refused = close(monitoring_since(60), actor="someone-else")
    assert refused is not None
    assert refused.rule == "closure-confirmer"
    assert "ic" in refused.message


def test_it_lets_the_responder_close_a_sev2() -> None:
    assert close(monitoring_since(60, Severity.SEV2), actor="responder") is None
    refused = close(monitoring_since(60, Severity.SEV2), actor="ic")
    assert refused is not None
    assert refused.rule == "closure-confirmer"


def test_it_names_every_unmet_criterion() -> None:
    refused = close(monitoring_since(5), actor="someone-else")
    assert refused is not None
    assert refused.rule == "closure-window"
    assert "closure-confirmer" in refused.hint


# --- reclassification ------------------------------------------------------------------------


def test_it_declares_an_undeclared_incident_raised_to_sev1() -> None:
    change = reclassify(
        incident(S.TRIAGED, Severity.SEV2), Severity.SEV1, reason="spreading", at=NOW
    )
    assert change.stage is S.DECLARED
    assert change.declares is True
    in_place = reclassify(
        incident(S.INVESTIGATING, Severity.SEV2), Severity.SEV0, reason="outage", at=NOW
    )
    assert in_place.stage is S.INVESTIGATING
    assert in_place.declares is True


def test_it_moves_a_raised_ticket_back_to_triage() -> None:
    change = reclassify(incident(S.BACKLOG, Severity.SEV3), Severity.SEV2, reason="worse", at=NOW)
    assert change.stage is S.TRIAGED
    assert change.declares is False


def test_it_lowers_to_sev3_only_from_triage() -> None:
    change = reclassify(incident(S.TRIAGED, Severity.SEV2), Severity.SEV3, reason="minor", at=NOW)
    assert change.stage is S.BACKLOG
    with pytest.raises(Refused) as refused:
        reclassify(incident(S.INVESTIGATING, Severity.SEV2), Severity.SEV3, reason="minor", at=NOW)
    assert refused.value.rule == "sev3-only-from-triage"
    # Already SEV2: the hint does not send it to SEV2 again (that is refused as no change).
    assert refused.value.hint == "It stays SEV2 while worked; dismiss it if it was noise."
    with pytest.raises(Refused) as refused:
        reclassify(incident(S.INVESTIGATING, Severity.SEV1), Severity.SEV3, reason="minor", at=NOW)
    assert refused.value.hint == "Lower it to SEV2 instead, or dismiss it if it was noise."


def test_it_keeps_the_stage_when_lowering_a_declared_incident() -> None:
    change = reclassify(
        incident(S.INVESTIGATING, Severity.SEV0), Severity.SEV1, reason="contained", at=NOW
    )
    assert change.stage is S.INVESTIGATING
    assert change.raised is False


def test_it_refuses_to_reclassify_a_closed_incident() -> None:
    with pytest.raises(Refused) as refused:
        reclassify(incident(S.CLOSED, Severity.SEV1), Severity.SEV0, reason="x", at=NOW)
    assert refused.value.rule == "illegal-move"


def test_it_needs_a_reason_and_a_real_change_to_reclassify() -> None:
    with pytest.raises(BadInput, match="reason"):
        reclassify(incident(S.TRIAGED, Severity.SEV2), Severity.SEV1, reason=" ", at=NOW)
    with pytest.raises(BadInput, match="already SEV2"):
        reclassify(incident(S.TRIAGED, Severity.SEV2), Severity.SEV2, reason="same", at=NOW)
