"""The modals: the status update template as a form, the mitigation, and the classifier's
questions for a declaration without a level. Each reads its submitted values back."""

from __future__ import annotations

from typing import Any

from warroom.domain.classifier import Answers
from warroom.domain.types import MitigationKind, UpdateStatus

UPDATE = "incident_update"
MITIGATE = "incident_mitigate"
DECLARE = "incident_declare"

QUESTIONS = (
    ("production_down", "Production is down"),
    ("data_loss", "Data is being lost"),
    ("active_breach", "A security breach is under way"),
    ("compliance_violation", "A compliance obligation is violated"),
    ("revenue_critical", "A revenue-critical feature is affected"),
    ("customer_facing", "Customers notice it"),
    ("workaround", "There is a workaround"),
    ("internal_only", "Only internal users are affected"),
)


def _text(
    block: str,
    label: str,
    *,
    multiline: bool = False,
    optional: bool = False,
    initial: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
    }
    if initial:
        element["initial_value"] = initial
    return {
        "type": "input",
        "block_id": block,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }


def _select(
    block: str, label: str, options: list[str], *, optional: bool = False
) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": {
            "type": "static_select",
            "action_id": "value",
            "options": [
                {"text": {"type": "plain_text", "text": option}, "value": option}
                for option in options
            ],
        },
    }


def _modal(
    callback: str, title: str, submit: str, blocks: list[dict[str, Any]], meta: str
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback,
        "private_metadata": meta,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def update(number: int) -> dict[str, Any]:
    return _modal(
        UPDATE,
        f"Update INC-{number}",
        "Post update",
        [
            _select(
                "status",
                "Current status (default: from the stage)",
                [s.value for s in UpdateStatus],
                optional=True,
            ),
            _text("issue", "Issue"),
            _text("impact", "Impact"),
            _text("progress", "Progress", multiline=True),
            _text("next", "Next steps"),
            _text("eta", "ETA", optional=True, initial="Unknown"),
            {
                "type": "input",
                "block_id": "public",
                "optional": True,
                "label": {"type": "plain_text", "text": "Status page"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [
                        {
                            "text": {
                                "type": "plain_text",
                                "text": "Also publish on the status page",
                            },
                            "value": "public",
                        }
                    ],
                },
            },
        ],
        str(number),
    )


def mitigate(number: int) -> dict[str, Any]:
    return _modal(
        MITIGATE,
        f"Mitigate INC-{number}",
        "Mark mitigated",
        [
            _select("kind", "What stopped the bleeding", [k.value for k in MitigationKind]),
            _text("note", "Note", optional=True),
        ],
        str(number),
    )


def declare(title: str, channel: str) -> dict[str, Any]:
    return _modal(
        DECLARE,
        "Declare an incident",
        "Declare",
        [
            _text("title", "What is happening", initial=title or None),
            {
                "type": "input",
                "block_id": "facts",
                "optional": True,
                "label": {"type": "plain_text", "text": "What is true now"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [
                        {"text": {"type": "plain_text", "text": label}, "value": key}
                        for key, label in QUESTIONS
                    ],
                },
            },
            _text("customers_affected_pct", "Customers affected (%)", optional=True),
            _text("error_rate_pct", "Error rate (%)", optional=True),
        ],
        channel,
    )


def value(state: dict[str, Any], block: str) -> Any:
    """The submitted value of an input block: text, the selected option, or the checked ones."""
    element = (state.get(block) or {}).get("value") or {}
    kind = element.get("type")
    if kind == "static_select":
        selected = element.get("selected_option")
        return selected.get("value") if selected else None
    if kind == "checkboxes":
        return [option.get("value") for option in element.get("selected_options") or []]
    return element.get("value")


def answers(state: dict[str, Any]) -> tuple[Answers, dict[str, str]]:
    """The classifier's answers from the declare modal, and errors by block."""
    checked = set(value(state, "facts") or [])
    numbers: dict[str, float] = {}
    errors: dict[str, str] = {}
    for block in ("customers_affected_pct", "error_rate_pct"):
        raw = (value(state, block) or "").strip().rstrip("%")
        if not raw:
            continue
        try:
            number = float(raw)
        except ValueError:
            errors[block] = "a percentage, like 12.5"
            continue
        if not 0 <= number <= 100:
            errors[block] = "between 0 and 100"
            continue
        numbers[block] = number
    facts = {key: (key in checked) for key, _ in QUESTIONS}
    return Answers(**facts, **numbers), errors  # type: ignore[arg-type]
