"""The severity classifier of product.md §2, including its normative examples verbatim."""

from __future__ import annotations

import json
from typing import Any

import pytest

from warroom.domain.classifier import classify, parse_answers
from warroom.domain.errors import BadInput
from warroom.domain.policy import DEFAULT_POLICY
from warroom.domain.types import Severity

NORMATIVE = [
    (
        '{"core_impact":"degraded","customers_affected_pct":100,"slowdown_factor":10,"workaround":false}',
        "SEV1",
    ),
    ('{"core_impact":"cosmetic","customer_facing":true}', "SEV3"),
    (
        '{"core_impact":"unavailable","revenue_critical":true,"customers_affected_pct":100,"workaround":false}',
        "SEV0",
    ),
    ('{"core_impact":"non_core","customers_affected_pct":100,"workaround":true}', "SEV2"),
    ('{"core_impact":"degraded","error_rate_pct":15,"workaround":false}', "SEV1"),
    ('{"internal_only":true,"core_impact":"degraded","error_rate_pct":40,"unsure":true}', "SEV2"),
]


def run(data: dict[str, Any]) -> Severity:
    return classify(parse_answers(data), DEFAULT_POLICY).severity


@pytest.mark.parametrize(("payload", "expected"), NORMATIVE)
def test_it_classifies_the_normative_examples(payload: str, expected: str) -> None:
    assert run(json.loads(payload)).value == expected


@pytest.mark.parametrize(
    ("pct", "workaround", "expected"),
    [
        (9.99, False, Severity.SEV2),
        (10, False, Severity.SEV1),
        (49.9, False, Severity.SEV1),
        (50, False, Severity.SEV0),
        (50, None, Severity.SEV0),  # a workaround counts only when known to exist
        (50, True, Severity.SEV1),
        (49.9, True, Severity.SEV2),
    ],
)
def test_it_draws_the_customer_share_boundaries_at_10_and_50_percent(
    pct: float, workaround: bool | None, expected: Severity
) -> None:
    data: dict[str, Any] = {"core_impact": "unavailable", "customers_affected_pct": pct}
    if workaround is not None:
        data["workaround"] = workaround
    assert run(data) is expected


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"error_rate_pct": 4.99}, Severity.SEV2),
        ({"error_rate_pct": 5}, Severity.SEV1),
        ({"slowdown_factor": 9.9}, Severity.SEV2),
        ({"slowdown_factor": 10}, Severity.SEV1),
        ({}, Severity.SEV2),
    ],
)
def test_it_draws_the_degradation_boundaries_at_5_percent_errors_and_10x_slowdown(
    answers: dict[str, Any], expected: Severity
) -> None:
    assert run({"core_impact": "degraded", **answers}) is expected


@pytest.mark.parametrize(
    "key", ["production_down", "data_loss", "active_breach", "compliance_violation"]
)
def test_it_makes_each_absolute_condition_a_sev0_even_when_internal(key: str) -> None:
    result = classify(parse_answers({key: True, "internal_only": True}), DEFAULT_POLICY)
    assert result.severity is Severity.SEV0
    assert result.declare is True


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"vulnerability": "exploitable"}, Severity.SEV1),
        ({"vulnerability": "patch_needed"}, Severity.SEV2),
        ({"compliance_risk": True}, Severity.SEV1),
        ({"revenue_loss": True}, Severity.SEV1),
        ({"core_impact": "non_core"}, Severity.SEV2),
        ({"core_impact": "none"}, Severity.SEV3),
        ({}, Severity.SEV3),
        ({"production_down": False}, Severity.SEV3),
    ],
)
def test_it_applies_the_remaining_rules(answers: dict[str, Any], expected: Severity) -> None:
    assert run(answers) is expected


def test_it_never_matches_a_missing_answer() -> None:
    # Unavailable with no customer share known: neither the 50 % rule nor the 10 % rule holds.
    assert run({"core_impact": "unavailable"}) is Severity.SEV2


def test_it_raises_one_level_when_unsure_and_says_why() -> None:
    result = classify(parse_answers({"core_impact": "non_core", "unsure": True}), DEFAULT_POLICY)
    assert result.severity is Severity.SEV1
    assert "uncertain: rules gave SEV2" in result.reasons
    assert result.declare is True


def test_it_keeps_sev0_at_sev0_when_unsure() -> None:
    result = classify(parse_answers({"production_down": True, "unsure": True}), DEFAULT_POLICY)
    assert result.severity is Severity.SEV0
    assert "uncertain: rules gave SEV0" in result.reasons


def test_it_declares_when_unsure_even_at_sev2() -> None:
    result = classify(parse_answers({"unsure": True}), DEFAULT_POLICY)
    assert result.severity is Severity.SEV2
    assert result.declare is True


def test_it_caps_internal_only_at_sev2_unless_absolute() -> None:
    data = {"core_impact": "unavailable", "revenue_critical": True, "internal_only": True}
    result = classify(parse_answers(data), DEFAULT_POLICY)
    assert result.severity is Severity.SEV2
    assert any(reason.startswith("internal only") for reason in result.reasons)
    assert result.declare is False


def test_it_returns_the_levels_requirements_column() -> None:
    result = classify(parse_answers({"production_down": True}), DEFAULT_POLICY).to_json()
    assert set(result) == {"severity", "reasons", "declare", "requirements"}
    requirements = result["requirements"]
    assert requirements["acknowledge_within"] == "2m"
    assert requirements["update_cadence"] == "15m"
    assert requirements["roles"] == ["ic", "comms", "scribe"]
    assert requirements["executive_notification_within"] == "15m"
    assert requirements["postmortem_within"] == "24h"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"blast_radius": 3}, "blast_radius"),
        ({"production_down": "yes"}, "production_down"),
        ({"customers_affected_pct": "30"}, "customers_affected_pct"),
        ({"customers_affected_pct": 130}, "customers_affected_pct"),
        ({"error_rate_pct": -1}, "error_rate_pct"),
        ({"slowdown_factor": 0.5}, "slowdown_factor"),
        ({"customers_affected_pct": True}, "customers_affected_pct"),
        ({"core_impact": "broken"}, "core_impact"),
        ({"vulnerability": "maybe"}, "vulnerability"),
        ({"customer_facing": True, "internal_only": True}, "customer_facing and internal_only"),
    ],
)
def test_it_refuses_bad_answers_naming_the_key(data: dict[str, Any], named: str) -> None:
    with pytest.raises(BadInput) as refused:
        parse_answers(data)
    assert refused.value.message.startswith(named)


def test_it_refuses_input_that_is_not_an_object() -> None:
    with pytest.raises(BadInput, match="JSON object"):
        parse_answers([1, 2])


def test_it_uses_the_thresholds_of_the_policy() -> None:
    policy = DEFAULT_POLICY.model_copy(
        update={"classifier": DEFAULT_POLICY.classifier.model_copy(update={"error_rate_pct": 20})}
    )
    answers = parse_answers({"core_impact": "degraded", "error_rate_pct": 15})
    assert classify(answers, policy).severity is Severity.SEV2
