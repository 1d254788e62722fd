"""Changing an incident's severity after triage (product.md §3, "Shortcuts and side effects")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from warroom.domain.errors import BadInput, Refused
from warroom.domain.facts import IncidentFacts
from warroom.domain.types import Severity, Stage

RECLASSIFIABLE = frozenset(
    {
        Stage.DETECTED,
        Stage.TRIAGED,
        Stage.DECLARED,
        Stage.INVESTIGATING,
        Stage.MITIGATED,
        Stage.RESOLVED,
        Stage.MONITORING,
        Stage.BACKLOG,
    }
)


@dataclass(frozen=True)
class Reclassification:
    old: Severity
    new: Severity
    raised: bool
    stage: Stage
    entered: tuple[Stage, ...]
    declares: bool


def reclassify(
    incident: IncidentFacts, new: Severity, *, reason: str, at: datetime
) -> Reclassification:
    if not reason.strip():
        raise BadInput("a severity change needs a reason: --reason TEXT")
    if incident.stage not in RECLASSIFIABLE:
        raise Refused(
            "illegal-move",
            f"{incident.label} is {incident.stage.value}: its severity is final",
            hint=f"Reopen it first: `warroom reopen {incident.label} --reason TEXT`.",
        )
    old = incident.severity
    if old is None:
        raise BadInput(f"{incident.label} has no severity yet: triage it with `warroom triage`")
    if old is new:
        raise BadInput(f"{incident.label} is already {new.value}")
    if at < incident.stage_entered_at:
        raise BadInput("a severity change cannot be dated before the current stage began")

    raised = new.is_more_severe_than(old)
    if not raised:
        return _lowered(incident, old, new)

    entered: list[Stage] = []
    stage = incident.stage
    if stage is Stage.BACKLOG:
        entered.append(Stage.TRIAGED)
        stage = Stage.TRIAGED
    declares = new.is_major and not incident.declared
    if declares and stage in (Stage.DETECTED, Stage.TRIAGED):
        if stage is Stage.DETECTED:
            entered.append(Stage.TRIAGED)
        entered.append(Stage.DECLARED)
        stage = Stage.DECLARED
    return Reclassification(old, new, True, stage, tuple(entered), declares)


def _lowered(incident: IncidentFacts, old: Severity, new: Severity) -> Reclassification:
    if new is Severity.SEV3:
        if incident.stage is not Stage.TRIAGED:
            raise Refused(
                "sev3-only-from-triage",
                f"{incident.label} is {incident.stage.value}: only a triaged incident "
                "can become a SEV3 ticket",
                hint="Lower it to SEV2 instead, or dismiss it if it was noise."
                if old is not Severity.SEV2
                else "It stays SEV2 while worked; dismiss it if it was noise.",
            )
        return Reclassification(old, new, False, Stage.BACKLOG, (Stage.BACKLOG,), False)
    return Reclassification(old, new, False, incident.stage, (), False)
