"""The vocabulary of the workflow: severities, stages, moves and roles."""

from __future__ import annotations

import re
from enum import StrEnum


class Severity(StrEnum):
    SEV0 = "SEV0"
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"

    @property
    def rank(self) -> int:
        """0 is the most severe; a *higher* severity has a *lower* rank."""
        return int(self[3])  # the text itself: an enum's .value is a slow descriptor

    def is_more_severe_than(self, other: Severity) -> bool:
        return self.rank < other.rank

    @property
    def is_major(self) -> bool:
        """SEV0 and SEV1 must be declared and run by an Incident Commander."""
        return self.rank <= 1

    def raised(self) -> Severity:
        return Severity(f"SEV{max(self.rank - 1, 0)}")

    @classmethod
    def parse(cls, text: str) -> Severity:
        match = re.fullmatch(r"(?i)\s*sev\s*-?\s*([0-3])\s*", text)
        if match is None:
            raise ValueError(f"{text!r} is not a severity: use SEV0, SEV1, SEV2 or SEV3")
        return cls(f"SEV{match.group(1)}")


class Stage(StrEnum):
    DETECTED = "detected"
    TRIAGED = "triaged"
    DECLARED = "declared"
    INVESTIGATING = "investigating"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    MONITORING = "monitoring"
    CLOSED = "closed"
    POSTMORTEM_COMPLETE = "postmortem_complete"
    BACKLOG = "backlog"

    @property
    def is_active(self) -> bool:
        return self not in INACTIVE_STAGES


INACTIVE_STAGES = frozenset({Stage.BACKLOG, Stage.CLOSED, Stage.POSTMORTEM_COMPLETE})
ACTIVE_STAGES = frozenset(s for s in Stage if s not in INACTIVE_STAGES)


class Move(StrEnum):
    TRIAGE = "triage"
    DISMISS = "dismiss"
    MERGE = "merge"
    DECLARE = "declare"
    INVESTIGATE = "investigate"
    BACKLOG = "backlog"
    MITIGATE = "mitigate"
    RESOLVE = "resolve"
    MONITOR = "monitor"
    CLOSE = "close"
    REOPEN = "reopen"
    POSTMORTEM = "postmortem"
    REMINDER = "reminder"
    MISSED = "missed"
    ALERT = "alert"  # an alert joined, was moved, acknowledged or resolved
    PAGE = "page"  # someone was paged or notified, acknowledged a page, or could not be reached


class Role(StrEnum):
    IC = "ic"
    COMMS = "comms"
    SCRIBE = "scribe"
    SME = "sme"
    RESPONDER = "responder"

    @property
    def display_name(self) -> str:
        return ROLE_TITLES[self]

    @property
    def single_holder(self) -> bool:
        """Every role but subject-matter expert is held by one person at a time."""
        return self is not Role.SME


ROLE_TITLES = {
    Role.IC: "Incident Commander",
    Role.COMMS: "Communications Lead",
    Role.SCRIBE: "Scribe",
    Role.SME: "Subject-Matter Expert",
    Role.RESPONDER: "Responder",
}


class DismissReason(StrEnum):
    NOISE = "noise"
    DUPLICATE = "duplicate"
    TEST = "test"


class MitigationKind(StrEnum):
    ROLLBACK = "rollback"
    FEATURE_FLAG = "feature-flag"
    FAILOVER_DB = "failover-db"
    SCALE_UP = "scale-up"
    RATE_LIMIT = "rate-limit"
    MAINTENANCE = "maintenance"
    OTHER = "other"


class NoteKind(StrEnum):
    HYPOTHESIS = "hypothesis"
    CHANGE = "change"
    SYSTEM = "system"
    RUNBOOK = "runbook"
    OTHER = "other"


class ReportSource(StrEnum):
    CUSTOMER = "customer"
    INTERNAL = "internal"
    SYNTHETIC = "synthetic"
    ALERT = "alert"  # opened by an alert from a monitoring tool


class UpdateStatus(StrEnum):
    """The "Current Status" line of a status update (product.md §4)."""

    INVESTIGATING = "Investigating"
    IDENTIFIED = "Identified"
    IMPLEMENTING_FIX = "Implementing Fix"
    MONITORING = "Monitoring"

    @classmethod
    def parse(cls, text: str) -> UpdateStatus:
        wanted = re.sub(r"[\s_-]+", " ", text.strip()).lower()
        for status in cls:
            if status.value.lower() == wanted:
                return status
        choices = ", ".join(s.value for s in cls)
        raise ValueError(f"{text!r} is not a status: use one of {choices}")


class PublicStatus(StrEnum):
    """What the status page says about an incident (product.md §4)."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Visibility(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


INCIDENT_ID = re.compile(r"(?i)^\s*(?:inc-?)?(\d{1,12})\s*$")


def parse_incident_number(text: str) -> int:
    """Accept ``INC-42``, ``inc42`` or ``42``."""
    match = INCIDENT_ID.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not an incident id: use INC-42 or 42")
    return int(match.group(1))


def format_incident_id(number: int) -> str:
    return f"INC-{number}"


HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def normalise_handle(text: str) -> str:
    """A person's handle: lowercase letters, digits, dot, dash, underscore; no leading @."""
    handle = text.strip().removeprefix("@").lower()
    if not HANDLE.match(handle):
        raise ValueError(
            f"{text!r} is not a handle: use 1-63 lowercase letters, digits, '.', '-' or '_'"
        )
    return handle


class Access(StrEnum):
    """What an API token may do: read; also write; also manage tokens and act for others."""

    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"

    def allows(self, needed: Access) -> bool:
        order = [Access.VIEWER, Access.MEMBER, Access.ADMIN]
        return order.index(self) >= order.index(needed)


class WebhookAudience(StrEnum):
    """What a webhook receives."""

    EVENTS = "events"  # every timeline event
    EXECUTIVES = "executives"  # the executive list: the SEV0 executive notification


class EventKind(StrEnum):
    """Kinds of timeline entries. The timeline is append-only."""

    DETECTED = "detected"
    REPORTED = "reported"
    ACKNOWLEDGED = "acknowledged"
    STAGE = "stage"
    DECLARED = "declared"
    SEVERITY = "severity"
    ROLE = "role"
    NOTE = "note"
    UPDATE = "update"
    REFUSED = "refused"
    ESCALATED = "escalated"
    ACTION = "action"
    VISIBILITY = "visibility"
    MERGED = "merged"
    POSTMORTEM = "postmortem"
    REMINDER = "reminder"
    MISSED = "missed"
    ALERT = "alert"  # an alert joined, was moved, acknowledged or resolved
    PAGE = "page"  # someone was paged or notified, acknowledged a page, or could not be reached
    PUBLISHED = "published"  # an update appeared on the public status page
    CUSTOMER_EMAIL = "customer-email"  # the customer e-mail after a major incident was sent
