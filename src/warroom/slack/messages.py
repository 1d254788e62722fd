"""What warroom says in Slack, as Block Kit: the pinned initial status, timeline posts with
their buttons, the channel topic, and the modals. Pure functions of plain values."""

from __future__ import annotations

from typing import Any

from warroom.notify.slack import escape

SECTION_LIMIT = 3000
TOPIC_LIMIT = 250

# Buttons on incident messages: their action ids, and the value each carries (``INC-42``).
ACK = "incident_ack"
UPDATE = "incident_update"
MITIGATE = "incident_mitigate"
PAGE_ACK = "warroom_acknowledge"  # on a page's direct message; its value is the page key

UPDATE_TEMPLATE = (
    "*Status update template* (`/incident-update` opens it as a form)\n"
    "```[YYYY-MM-DD HH:MM UTC] Update #N - STATUS\n"
    "Current Status: Investigating | Identified | Implementing Fix | Monitoring\n"
    "Issue: …\nImpact: …\nProgress: …\nNext Steps: …\nETA: … (or Unknown)\n"
    "Next Update: [YYYY-MM-DD HH:MM UTC]```"
)


def cut(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str, *, markdown: bool = True) -> dict[str, Any]:
    kind = "mrkdwn" if markdown else "plain_text"
    return {"type": "section", "text": {"type": kind, "text": cut(text or " ")}}


def buttons(incident: str) -> dict[str, Any]:
    def button(action_id: str, label: str, style: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": label},
            "value": incident,
        }
        if style:
            found["style"] = style
        return found

    return {
        "type": "actions",
        "block_id": f"incident-actions-{incident}",
        "elements": [
            button(ACK, "Acknowledge", "primary"),
            button(UPDATE, "Post update"),
            button(MITIGATE, "Mark mitigated"),
        ],
    }


def initial_status(
    *,
    incident: str,
    text: str,
    runbooks: list[str],
    war_room: str | None,
) -> tuple[str, list[dict[str, Any]]]:
    """The pinned first message of an incident channel: the initial status (severity, IC,
    description), the update template and the runbooks; a SEV0's war room."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(incident, 150)}},
        section(escape(text)),
    ]
    text = escape(text)
    if war_room:
        blocks.append(section(f"*War room:* <{escape(war_room)}|join the bridge>"))
    if runbooks:
        links = "\n".join(f"• <{escape(url)}|{escape(url)}>" for url in runbooks[:10])
        blocks.append(section(f"*Runbooks*\n{links}"))
    blocks.append(section(UPDATE_TEMPLATE))
    blocks.append(buttons(incident))
    return text, blocks


def post(
    text: str,
    *,
    incident: str | None = None,
    with_buttons: bool = False,
    mention: str | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """A timeline post: the text escaped (an alert's title cannot ping ``<!channel>`` or hide
    a link), a mention of the Slack user ``mention`` in front, the buttons if asked."""
    text = escape(text)
    if mention:
        text = f"<@{mention}> {text}"
    blocks = [section(text)]
    if with_buttons and incident:
        blocks.append(buttons(incident))
    return text, blocks


def topic(*, severity: str | None, ic: str | None, stage: str) -> str:
    """The channel topic: severity, IC and stage, plain text within Slack's 250."""
    parts = [severity or "untriaged", f"IC {ic}" if ic else "no IC", stage.replace("_", " ")]
    return cut(" · ".join(parts), TOPIC_LIMIT)


def channel_label(channel: str) -> str:
    return f"#{channel}"
