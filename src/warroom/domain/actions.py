"""The pending actions a severity level asks for, at declaration and at closure (§1, §3).

An action is something a transport (Slack, paging, e-mail, the status page) or a person
delivers. Until the transport is installed it stays pending on the checklist, and
``warroom checklist ID done KEY`` records that someone did it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from warroom.domain.facts import IncidentFacts
from warroom.domain.policy import Notify, Policy, StatusPage, WarRoom
from warroom.domain.timefmt import utc_text
from warroom.domain.types import Severity


@dataclass(frozen=True)
class ActionSpec:
    key: str
    title: str
    due_at: datetime | None = None


def notification_actions(
    incident: IncidentFacts, severity: Severity, policy: Policy, at: datetime
) -> list[ActionSpec]:
    """What the level's notification policy asks for when it (re)runs at ``at``."""
    level = policy.level(severity)
    ack_by = at + level.acknowledge_within if level.acknowledge_within else None
    specs: list[ActionSpec] = []
    if level.notify is Notify.PAGE_ALL_HANDS:
        specs.append(ActionSpec("page-all-hands", "Page everyone on the all-hands list", ack_by))
    elif level.notify is Notify.PAGE_ONCALL:
        specs.append(ActionSpec("page-oncall", "Page the service's on-call", ack_by))
    elif level.notify is Notify.CHAT_ONCALL:
        specs.append(ActionSpec("notify-oncall", "Tell the on-call by chat or e-mail (no page)"))
    if level.executive_notification_within is not None:
        specs.append(
            ActionSpec(
                "notify-executives",
                "Notify the executives",
                at + level.executive_notification_within,
            )
        )
    if level.inform_team_lead:
        specs.append(ActionSpec("inform-team-lead", "Inform the team lead"))
    return specs


def declaration_actions(
    incident: IncidentFacts, severity: Severity, policy: Policy, at: datetime, channel: str | None
) -> list[ActionSpec]:
    level = policy.level(severity)
    specs: list[ActionSpec] = []
    if level.incident_channel and channel:
        specs.append(ActionSpec("incident-channel", f"Create the incident channel #{channel}"))
    specs.append(
        ActionSpec("initial-status", "Post the initial status (severity, IC, description)")
    )
    if level.status_page is StatusPage.AT_DECLARATION or (
        level.status_page is StatusPage.IF_CUSTOMER_VISIBLE and incident.customer_visible
    ):
        specs.append(ActionSpec("status-page", "Set the status page entry to Investigating"))
    if level.war_room is WarRoom.YES:
        specs.append(ActionSpec("war-room", "Open the war room (video call) and share the link"))
    return specs + notification_actions(incident, severity, policy, at)


def closure_actions(
    incident: IncidentFacts, policy: Policy, at: datetime, responders: list[str]
) -> list[ActionSpec]:
    if incident.severity is None:
        return []
    level = policy.level(incident.severity)
    thanks = ", ".join(responders) if responders else "the responders"
    specs = [
        ActionSpec(
            "announce-resolution",
            f"Post in the incident channel: Incident resolved at {utc_text(at)}; "
            f"thanks to {thanks}",
        )
    ]
    if incident.customer_visible or level.status_page is StatusPage.AT_DECLARATION:
        specs.append(ActionSpec("status-page-resolved", "Set the status page entry to Resolved"))
    if level.customer_email_within is not None:
        specs.append(
            ActionSpec(
                "customer-email",
                "E-mail customers what happened",
                at + level.customer_email_within,
            )
        )
    if level.postmortem_within is not None:
        specs.append(
            ActionSpec(
                "schedule-postmortem",
                "Schedule the post-mortem meeting",
                at + level.postmortem_within,
            )
        )
    return specs


def postmortem_due(incident: IncidentFacts, policy: Policy) -> datetime | None:
    if (
        incident.severity is None
        or incident.closed_at is None
        or incident.dismissed
        or incident.stage.is_active  # reopened: due again from its next closure
    ):
        return None
    within: timedelta | None = policy.level(incident.severity).postmortem_within
    return incident.closed_at + within if within is not None else None
