"""Severity policy: the defaults of product.md §1 and §3, all of it overridable in ``warroom.toml``.

Nothing here is a constant of the code: every rule that depends on a number reads it from a
:class:`Policy`, and the defaults below are simply the policy a team gets without a file.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from warroom.domain.durations import format_duration, parse_duration
from warroom.domain.paging import parse_target
from warroom.domain.types import Role, Severity


def _duration(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, timedelta):
        return value
    raise ValueError("expected a duration like 90s, 15m or 4h")


Duration = Annotated[
    timedelta, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)
]


class Notify(StrEnum):
    PAGE_ALL_HANDS = "page-all-hands"
    PAGE_ONCALL = "page-oncall"
    CHAT_ONCALL = "chat-oncall"
    NONE = "none"


class WarRoom(StrEnum):
    YES = "yes"
    ON_REQUEST = "on-request"
    NO = "no"


class StatusPage(StrEnum):
    AT_DECLARATION = "at-declaration"
    IF_CUSTOMER_VISIBLE = "if-customer-visible"
    NEVER = "never"


class PostmortemRule(StrEnum):
    MANDATORY = "mandatory"
    OPTIONAL = "optional"
    NONE = "none"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeverityLevel(_Strict):
    """One column of the tables in product.md §1."""

    description: str
    notify: Notify
    incident_channel: bool
    war_room: WarRoom
    executive_notification_within: Duration | None = None
    inform_team_lead: bool = False
    status_page: StatusPage
    acknowledge_within: Duration | None = None
    mitigate_within: Duration | None = None
    resolve_within: Duration | None = None
    roles: tuple[Role, ...]
    update_cadence: Duration | None = None
    update_after_stage_change: Duration | None = None
    customer_email_within: Duration | None = None
    postmortem: PostmortemRule
    postmortem_within: Duration | None = None
    escalate_after: Duration | None = None
    escalate_to: Severity | None = None

    def requirements(self) -> dict[str, Any]:
        """The level's column as JSON-ready data (durations as ``15m``-style strings)."""
        return self.model_dump(mode="json")


DEFAULT_LEVELS: dict[Severity, SeverityLevel] = {
    Severity.SEV0: SeverityLevel(
        description="critical outage",
        notify=Notify.PAGE_ALL_HANDS,
        incident_channel=True,
        war_room=WarRoom.YES,
        executive_notification_within=timedelta(minutes=15),
        status_page=StatusPage.AT_DECLARATION,
        acknowledge_within=timedelta(minutes=2),
        mitigate_within=timedelta(minutes=30),
        resolve_within=timedelta(hours=2),
        roles=(Role.IC, Role.COMMS, Role.SCRIBE),
        update_cadence=timedelta(minutes=15),
        customer_email_within=timedelta(hours=24),
        postmortem=PostmortemRule.MANDATORY,
        postmortem_within=timedelta(hours=24),
    ),
    Severity.SEV1: SeverityLevel(
        description="major degradation",
        notify=Notify.PAGE_ONCALL,
        incident_channel=True,
        war_room=WarRoom.ON_REQUEST,
        inform_team_lead=True,
        status_page=StatusPage.AT_DECLARATION,
        acknowledge_within=timedelta(minutes=5),
        mitigate_within=timedelta(hours=1),
        resolve_within=timedelta(hours=4),
        roles=(Role.IC,),
        update_cadence=timedelta(minutes=30),
        customer_email_within=timedelta(hours=24),
        postmortem=PostmortemRule.MANDATORY,
        postmortem_within=timedelta(hours=48),
        escalate_after=timedelta(hours=4),
        escalate_to=Severity.SEV0,
    ),
    Severity.SEV2: SeverityLevel(
        description="minor issue",
        notify=Notify.CHAT_ONCALL,
        incident_channel=False,
        war_room=WarRoom.NO,
        status_page=StatusPage.IF_CUSTOMER_VISIBLE,
        acknowledge_within=timedelta(minutes=15),
        mitigate_within=timedelta(hours=4),
        resolve_within=timedelta(hours=24),
        roles=(Role.RESPONDER,),
        update_after_stage_change=timedelta(minutes=30),
        postmortem=PostmortemRule.OPTIONAL,
        escalate_after=timedelta(hours=8),
        escalate_to=Severity.SEV1,
    ),
    Severity.SEV3: SeverityLevel(
        description="low impact",
        notify=Notify.NONE,
        incident_channel=False,
        war_room=WarRoom.NO,
        status_page=StatusPage.NEVER,
        roles=(Role.RESPONDER,),
        postmortem=PostmortemRule.NONE,
    ),
}


class LifecyclePolicy(_Strict):
    """The workflow's own clocks (product.md §3 and §5)."""

    monitoring_window: Duration = timedelta(minutes=30)
    no_progress_escalation: Duration = timedelta(minutes=30)
    declaration_delay: Duration = timedelta(minutes=10)
    premature_reopen_window: Duration = timedelta(hours=24)


class ClassifierPolicy(_Strict):
    """Thresholds of the severity rules in product.md §2."""

    sev0_customers_pct: float = Field(default=50, ge=0, le=100)
    sev1_customers_pct: float = Field(default=10, ge=0, le=100)
    error_rate_pct: float = Field(default=5, ge=0, le=100)
    slowdown_factor: float = Field(default=10, ge=1)


DEFAULT_SEVERITY_MAP: dict[str, Severity] = {
    # Prometheus and Grafana conventions, PagerDuty's and Opsgenie's levels, Datadog's types.
    "critical": Severity.SEV1,
    "page": Severity.SEV1,
    "p1": Severity.SEV1,
    "error": Severity.SEV2,
    "high": Severity.SEV2,
    "major": Severity.SEV2,
    "p2": Severity.SEV2,
    "warning": Severity.SEV3,
    "warn": Severity.SEV3,
    "minor": Severity.SEV3,
    "p3": Severity.SEV3,
    "info": Severity.SEV3,
    "low": Severity.SEV3,
    "p4": Severity.SEV3,
    "p5": Severity.SEV3,
}


class AlertPolicy(_Strict):
    """How alerts are grouped into incidents and what their severity hints propose."""

    # Alerts with the same values of these labels share an incident ("service" is the routed
    # service); an empty list opens an incident per alert.
    group_by: tuple[str, ...] = ("service",)
    # An alert joins an active incident of its group only if the group's last alert came in
    # within this window; otherwise it opens a new incident.
    group_window: Duration = timedelta(hours=4)
    # A source's severity hint (lower-case) -> the proposed level. SEV0 pages all hands, so
    # only a routing rule or an explicit SEV0 proposes it.
    severity_map: dict[str, Severity] = Field(default_factory=lambda: dict(DEFAULT_SEVERITY_MAP))


class RoutingRule(_Strict):
    """Labels (or Datadog tags) to match exactly; the first matching rule routes the alert to a
    service and team and may propose a severity."""

    match: dict[str, str]
    service: str | None = None
    team: str | None = None
    severity: Severity | None = None


class PagingPolicy(_Strict):
    """Who is reached beyond a service's own on-call (product.md §1 and §3)."""

    # SEV0 pages everyone here at once; entries are tier targets (``person:ana``, ``team:sre``,
    # ``schedule:platform:primary``) or bare handles.
    all_hands: tuple[str, ...] = ()
    # The SEV0 executive notification goes to these people's contact methods (and to the
    # executive-list webhooks).
    executives: tuple[str, ...] = ()
    # How often a page runs through all its tiers again when nobody acknowledges, for
    # policies that do not say (the built-in primary → secondary → lead included).
    repeat: int = Field(default=1, ge=0, le=5)

    @field_validator("all_hands", "executives", mode="before")
    @classmethod
    def _targets(cls, value: object) -> object:
        if not isinstance(value, list | tuple):
            return value
        return tuple(_as_target(item) for item in value)


def _as_target(item: object) -> str:
    if not isinstance(item, str):
        raise ValueError(f"{item!r} is not a person, team or schedule")
    text = item if ":" in item or item == "all-hands" else f"person:{item}"
    return parse_target(text)


_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


class StatusPagePolicy(_Strict):
    """The public status page's branding and its customers (``[status_page]``)."""

    name: str = Field(default="Status", min_length=1, max_length=100)
    # Where customers reach the page (links in feeds, e-mails and the JSON's shortlinks);
    # default WARROOM_PUBLIC_URL.
    url: str | None = None
    logo_url: str | None = None
    # The brand colour of the header and links; text on it is black or white, whichever reads.
    accent: str = "#0b5cad"
    time_zone: str = "Etc/UTC"
    # Who gets the customer e-mail after a SEV0/SEV1 besides the confirmed subscribers.
    customers: tuple[str, ...] = ()
    history_days: int = Field(default=90, ge=7, le=365)

    @field_validator("accent")
    @classmethod
    def _colour(cls, value: str) -> str:
        if not _COLOUR.fullmatch(value):
            raise ValueError(f"{value!r} is not a colour like #0b5cad")
        return value.lower()

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone like Europe/Berlin") from None
        return value

    @field_validator("url", "logo_url")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("customers", mode="before")
    @classmethod
    def _addresses(cls, value: object) -> object:
        if not isinstance(value, list | tuple):
            return value
        for item in value:
            if not isinstance(item, str) or "@" not in item.strip(" @"):
                raise ValueError(f"{item!r} is not an e-mail address")
        return tuple(dict.fromkeys(item.strip().lower() for item in value))


class SlackPolicy(_Strict):
    """How incidents live in Slack (``[slack]``); the token and secret are settings."""

    # A message marked with this reaction in an incident channel is added to the timeline.
    timeline_emoji: str = Field(default="pushpin", pattern=r"^[a-z0-9_+'-]{1,100}$")
    # The incident channel is archived once the post-mortem is complete.
    archive_after_postmortem: bool = True
    # A SEV0's standing war-room bridge, posted in its channel at declaration.
    war_room_url: str | None = None
    # Pinned with the initial status, beside the runbook links of the incident's alerts.
    runbook_url: str | None = None

    @field_validator("war_room_url", "runbook_url")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class Policy(_Strict):
    """Everything the rules need to know about a team's process."""

    severity: dict[Severity, SeverityLevel] = Field(default_factory=lambda: dict(DEFAULT_LEVELS))
    lifecycle: LifecyclePolicy = Field(default_factory=LifecyclePolicy)
    classifier: ClassifierPolicy = Field(default_factory=ClassifierPolicy)
    alerts: AlertPolicy = Field(default_factory=AlertPolicy)
    routing: tuple[RoutingRule, ...] = ()
    paging: PagingPolicy = Field(default_factory=PagingPolicy)
    # Who is reached for what: `warroom escalate ID --team database` pages the target named
    # here for "database" (``team:dba``, ``person:ana``…), else the team called "database".
    escalation_matrix: dict[str, str] = Field(default_factory=dict)
    status_page: StatusPagePolicy = Field(default_factory=StatusPagePolicy)
    slack: SlackPolicy = Field(default_factory=SlackPolicy)

    @field_validator("escalation_matrix", mode="before")
    @classmethod
    def _matrix(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        return {str(need).strip().lower(): _as_target(target) for need, target in value.items()}

    def level(self, severity: Severity) -> SeverityLevel:
        return self.severity[severity]


DEFAULT_POLICY = Policy()
