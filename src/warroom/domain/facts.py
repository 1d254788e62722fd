"""Read-only snapshots of an incident: what the rules look at.

The services build these from the database; the domain never sees a session or a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warroom.domain.types import Role, Severity, Stage


@dataclass(frozen=True)
class IncidentFacts:
    number: int
    title: str
    severity: Severity | None
    stage: Stage
    stage_entered_at: datetime
    detected_at: datetime
    declared_at: datetime | None = None
    acknowledged_at: datetime | None = None
    closed_at: datetime | None = None
    stage_times: Mapping[Stage, datetime] = field(default_factory=dict)
    roles: Mapping[Role, tuple[str, ...]] = field(default_factory=dict)
    dismissed: bool = False
    merged_into: int | None = None
    customer_visible: bool = False

    @property
    def declared(self) -> bool:
        return self.declared_at is not None

    @property
    def ic(self) -> str | None:
        holders = self.roles.get(Role.IC, ())
        return holders[0] if holders else None

    @property
    def responder(self) -> str | None:
        holders = self.roles.get(Role.RESPONDER, ())
        return holders[0] if holders else None

    @property
    def label(self) -> str:
        return f"INC-{self.number}"


@dataclass(frozen=True)
class ClosureEvidence:
    """What happened during the monitoring window, gathered by the caller."""

    customer_reports: tuple[datetime, ...] = ()
    alerts_fired: tuple[datetime, ...] = ()
    open_alerts: int = 0


@dataclass(frozen=True)
class Event:
    """One timeline entry as the read-time rules (checklist, anti-patterns) see it."""

    kind: str
    at: datetime
    actor: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
